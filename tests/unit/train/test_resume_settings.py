"""Resuming checks the settings: a checkpoint written under other training settings is refused, one
that differs only in the evaluation batch size (which does not change the weights) is resumed.
Found unpinned by mutation testing (scripts/mutation.sh)."""
from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from entitune import Sentence, Tagger, TrainConfig, fit
from entitune.errors import ConfigError
from entitune.tags import label_set
from entitune.train import CheckpointOptions
from tests.helpers.data import TINY_SENTENCES

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
LABELS = label_set([t for s in SENTENCES for t in s.tags])
CONFIG = TrainConfig(epochs=1, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0, seed=3, eval_batch_size=64)


@pytest.fixture(scope="module")
def checkpoint(tiny_bert, tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    fit(_tagger(tiny_bert), SENTENCES, None, CONFIG, checkpoints=CheckpointOptions(directory, save_every=1, keep=1))
    assert list(directory.glob("step-*.pt"))
    return directory


def _tagger(tiny_bert, **options) -> Tagger:
    return Tagger.from_encoder(tiny_bert, LABELS, **{"max_length": 16, "stride": 4, "seed": 0, **options})


def _resume(tiny_bert, checkpoint, tmp_path, config, **model_options):
    directory = tmp_path / "resume"
    shutil.copytree(checkpoint, directory)
    notices = []
    fit(_tagger(tiny_bert, **model_options), SENTENCES, None, config,
        checkpoints=CheckpointOptions(directory, keep=1, resume=True, notice=notices.append))
    return notices


@pytest.mark.parametrize("change", [{"lr": 2e-3}, {"seed": 4}, {"batch_size": 2}])
def test_resume_refuses_a_checkpoint_written_with_other_training_settings(tiny_bert, checkpoint, tmp_path, change):
    with pytest.raises(ConfigError, match="the checkpoint was written with other training settings"):
        _resume(tiny_bert, checkpoint, tmp_path, replace(CONFIG, **change))


def test_resume_accepts_another_evaluation_batch_size(tiny_bert, checkpoint, tmp_path):
    notices = _resume(tiny_bert, checkpoint, tmp_path, replace(CONFIG, eval_batch_size=8))
    assert any(n.startswith("resuming from step") for n in notices)


@pytest.mark.parametrize("model_options", [{"context": 8}, {"max_length": 24}, {"constrained": False}])
def test_resume_refuses_a_checkpoint_of_a_model_with_other_settings(tiny_bert, checkpoint, tmp_path, model_options):
    """Document context, window length or decoding change no weight shape, so the weights would load:
    the checkpoint's model settings are compared, and the message names what differs."""
    name = next(iter(model_options))
    with pytest.raises(ConfigError, match=f"a model with other settings.*{name}: "):
        _resume(tiny_bert, checkpoint, tmp_path, CONFIG, **model_options)
