"""A run started from Python shows its progress when someone watches (a terminal, a notebook) and
stays silent in a script's log: ``fit`` without a listener picks ``default_listener``."""
from __future__ import annotations

from entitune import Tagger, TrainConfig, fit
from entitune.tags import label_set
from entitune.train import progress
from entitune.types import Sentence
from tests.helpers.data import TINY_SENTENCES


def _fit(tiny_bert):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    tagger = Tagger.from_encoder(str(tiny_bert), label_set([t for s in sentences for t in s.tags]), max_length=16,
                                 stride=4, seed=1)
    return fit(tagger, sentences, sentences[:2], TrainConfig(epochs=2, batch_size=4, lr=1e-3))


def test_a_watched_run_shows_a_bar_to_the_last_step_and_a_line_per_epoch(tiny_bert, monkeypatch, capsys):
    monkeypatch.setattr(progress, "watched", lambda: True)
    result = _fit(tiny_bert)
    err = capsys.readouterr().err
    steps = result.evaluations[-1].step
    assert "train" in err and f"{steps}/{steps}" in err and "100%" in err, err
    assert err.count("epoch 1: loss") == 1 and err.count("epoch 2: loss") == 1, err
    assert "dev entity_f1" in err


def test_an_unwatched_run_prints_nothing(tiny_bert, monkeypatch, capsys):
    monkeypatch.setattr(progress, "watched", lambda: False)
    _fit(tiny_bert)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
