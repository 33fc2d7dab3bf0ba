"""``--refit``: choose where to stop on dev held out from --train, then train again on all of it.

The rules: the second run trains on every training example (no dev), to the first run's best epoch
(and step, scaled to the larger data, with --eval-every), keeps the average only where it won, and
carries a multi-label threshold; the options refuse refit where nothing was held out or nothing is
chosen; the selection keeps its log, not its weights; and the saved model is the second run's.
"""
from __future__ import annotations

import json

import pytest

from entitune.errors import ConfigError
from entitune.train.loop import DevEvaluation
from entitune.options import FinetuneConfig
from entitune.recipes.training import LOG_FILE, REFIT_DIR, finetune, refit_config
from entitune.terminal import Console
from tests.helpers.data import TINY_SENTENCES, write_bio


def _chosen(best_epoch=2, best_step=10, train=90, dev=10, average=None, model=None) -> dict:
    return {"train": {"best_epoch": best_epoch, "best_step": best_step, "best_score": 0.7,
                      **({"average": average} if average is not None else {})},
            "data": {"train": train, "dev": dev}, "model": model or {}}


def test_the_second_run_stops_where_dev_said_on_all_the_data():
    config = FinetuneConfig(train="t.bio", out="o", epochs=5, refit=True, eval_every=5, patience=2)
    final, point = refit_config(config, _chosen())
    assert (final.epochs, final.dev_fraction, final.patience, final.eval_every, final.refit) == (2, 0.0, 0, 0, False)
    assert final.max_steps == 12  # best step 10 on 90 examples; 100 examples take ceil(10 * 100 / 90) steps
    assert point["train_examples"] == 100 and point["dev_examples"] == 10 and point["dev_score"] == 0.7
    # epoch ends only: the best epoch alone says where to stop (no step limit)
    final, _ = refit_config(FinetuneConfig(train="t.bio", out="o", epochs=5, refit=True), _chosen(best_epoch=4))
    assert (final.epochs, final.max_steps) == (4, None)


def test_the_average_is_kept_only_where_it_won_and_the_threshold_is_carried():
    config = FinetuneConfig(train="t.bio", out="o", epochs=4, refit=True, average_last=2, task="classify")
    assert refit_config(config, _chosen(average={"kept": True}))[0].average_last == 2
    assert refit_config(config, _chosen(average={"kept": False}))[0].average_last == 0
    multi = _chosen(model={"multi_label": True, "threshold": 0.35})
    assert refit_config(config, multi)[0].threshold == 0.35
    assert refit_config(config, _chosen(model={"multi_label": False, "threshold": 0.5}))[0].threshold is None
    given = FinetuneConfig(train="t.bio", out="o", epochs=4, refit=True, threshold=0.6, task="classify")
    assert refit_config(given, multi)[0].threshold == 0.6  # --threshold wins over the chosen one


@pytest.mark.parametrize("options, message", [
    ({"dev": "d.bio"}, "--dev file"),
    ({"dev_fraction": 0.0}, "dev_fraction above 0"),
    ({"epochs": 1}, "chooses nothing on dev"),
])
def test_refit_is_refused_where_there_is_nothing_to_refit(options, message):
    with pytest.raises(ConfigError, match=message):
        FinetuneConfig(train="t.bio", out="o", refit=True, **({"epochs": 3} | options))


def test_a_refit_run_trains_the_second_model_on_every_example(tiny_bert, tmp_path, monkeypatch):
    """Dev scores rigged so that epoch 2 of 3 is best: the saved model is a 2-epoch run on all 24
    sentences (18 + the 6 held out), not the selection's, and its log says so."""
    import entitune.train.tagging as tagging

    scores = iter([0.2, 0.9, 0.5])
    monkeypatch.setattr(tagging, "dev_evaluation",
                        lambda *a, **k: DevEvaluation(run=lambda: {}, score=lambda report: next(scores), metric="rigged"))
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 4)  # 24 sentences
    config = FinetuneConfig(train=str(train), out=str(tmp_path / "run"), model=str(tiny_bert), epochs=3, refit=True,
                            dev_fraction=0.25, max_length=16, stride=4, batch_size=4, lr=1e-3, head_lr=1e-2,
                            warmup=0.0, word_features="none", threads=1)
    result = finetune(config, Console(quiet=True))
    chosen = json.loads((tmp_path / "run" / REFIT_DIR / LOG_FILE).read_text())
    assert chosen["data"] == {"train": 18, "dev": 6, "test": 0} and chosen["train"]["best_epoch"] == 2
    assert not (tmp_path / "run" / REFIT_DIR / "model.safetensors").exists()  # the selection keeps no weights
    log = json.loads((tmp_path / "run" / LOG_FILE).read_text())
    assert log["data"]["train"] == 24 and log["data"]["dev"] == 0
    assert len(log["train"]["epochs"]) == 2 and log["refit"]["epochs"] == 2 and log["refit"]["dev_score"] == 0.9
    assert result.log["refit"] == log["refit"] and (tmp_path / "run" / "model.safetensors").exists()
