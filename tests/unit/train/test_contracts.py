"""Contracts of the training loop that a silent bug would break without failing any other test:
the best dev epoch's weights are kept, a resumed run ends at the uninterrupted run's weights, the
learning rate decays after warm-up, and biases / LayerNorm are not decayed.

Each test is checked by ``tests/mutations/inject.py``: the bug named in its docstring is injected
into a copy of the source and the test must fail."""
from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from entitune import Sentence, Tagger, TrainConfig, fit
from entitune.tags import label_set
from entitune.train import CheckpointOptions, build_optimizer
from entitune.train.loop import DevEvaluation
from entitune.train.optim import lr_factor
from tests.helpers.data import TINY_SENTENCES

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
LABELS = label_set([t for s in SENTENCES for t in s.tags])


def _tagger(tiny_bert) -> Tagger:
    return Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4, seed=0)


def test_best_dev_epoch_weights_are_kept_not_the_last(tiny_bert, monkeypatch):
    """The dev score peaks at epoch 1 of 3: the model must end with epoch 1's weights.

    Broken (the saved "best" weights share memory with the live parameters, e.g. ``detach()``
    without ``clone()``), the "best" copy follows the optimizer and the model ends with the last
    epoch's weights while claiming ``best_epoch == 1``."""
    import entitune.train.tagging as tagging

    tagger = _tagger(tiny_bert)
    snapshots: list[dict] = []

    def run() -> dict:
        snapshots.append({k: v.detach().clone() for k, v in tagger.state_dict().items()})
        return {"epoch": len(snapshots)}

    evaluation = DevEvaluation(run=run, score=lambda report: 1.0 if report["epoch"] == 1 else 0.0)
    monkeypatch.setattr(tagging, "dev_evaluation", lambda *args, **kwargs: evaluation)
    config = TrainConfig(epochs=3, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0, seed=1, compact_embeddings=False)
    result = fit(tagger, SENTENCES * 2, SENTENCES, config)

    assert result.best_epoch == 1 and len(snapshots) == 3
    final = tagger.state_dict()
    for k, v in snapshots[0].items():
        assert torch.equal(final[k], v), f"{k}: not the best (first) epoch's weights"
    assert any(not torch.equal(final[k], v) for k, v in snapshots[-1].items()), "ended with the last epoch's weights"


def test_resume_from_epoch_end_and_mid_epoch_gives_the_uninterrupted_final_weights(tiny_bert, tmp_path):
    """A run resumed from the checkpoint written at the end of epoch 1, and one resumed from a
    mid-epoch checkpoint of epoch 2, end with exactly the final weights of the uninterrupted run.

    Broken (the end-of-epoch checkpoint records the wrong epoch, e.g. ``save(epoch, ...)`` instead
    of ``save(epoch + 1, ...)``), the resumed run trains epoch 1 again and ends elsewhere; a wrong
    step/skip count or RNG state breaks the mid-epoch case the same way."""
    config = TrainConfig(epochs=3, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.2, seed=2)
    train = SENTENCES * 2
    full_dir = tmp_path / "full"
    full = _tagger(tiny_bert)
    fit(full, train, None, config, checkpoints=CheckpointOptions(full_dir, save_every=1, keep=1000))
    expected = full.state_dict()
    saved = sorted(full_dir.glob("step-*.pt"))
    steps_per_epoch = len(saved) // config.epochs
    assert steps_per_epoch >= 2 and len(saved) == steps_per_epoch * config.epochs

    for name, step in [("epoch-end", steps_per_epoch), ("mid-epoch", steps_per_epoch + 1)]:
        directory = tmp_path / name
        directory.mkdir()
        shutil.copy(full_dir / f"step-{step:08d}.pt", directory)  # as if killed right after writing it
        resumed = _tagger(tiny_bert)
        fit(resumed, train, None, config, checkpoints=CheckpointOptions(directory, keep=1000, resume=True))
        written = sorted(p.name for p in directory.glob("step-*.pt"))
        assert written[-1] == f"step-{steps_per_epoch * config.epochs:08d}.pt", f"{name}: trained a different number of steps"
        for k, v in expected.items():
            assert torch.equal(resumed.state_dict()[k], v), f"resumed from {name}: {k} differs from the uninterrupted run"


def test_learning_rate_warms_up_then_decays_linearly_to_zero():
    """Linear warm-up to the peak over ``warmup_steps``, then linear decay to 0 at the last step.

    Broken (the rate stays at its peak after warm-up), the factor is 1.0 for every later step."""
    warmup, total = 4, 20
    factors = [lr_factor(s, warmup, total) for s in range(total)]
    assert factors[:warmup] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    after = factors[warmup:]
    assert after[0] == pytest.approx(1.0)
    assert all(b < a for a, b in zip(after, after[1:])), "not decaying after warm-up"
    steps = [a - b for a, b in zip(after, after[1:])]
    assert steps == pytest.approx([1 / (total - warmup)] * len(steps)), "not linear"
    assert lr_factor(total, warmup, total) == pytest.approx(0.0)
    assert lr_factor(total - 1, warmup, total) == pytest.approx(1 / (total - warmup))


def test_no_weight_decay_on_biases_and_layer_norm(tiny_bert):
    """Biases and LayerNorm parameters are optimised with weight decay 0; weight matrices with
    ``config.weight_decay``.

    Broken (decay applied to every group), biases and LayerNorm gains shrink toward 0 each step."""
    tagger = _tagger(tiny_bert)
    config = TrainConfig(weight_decay=0.05)
    optimizer = build_optimizer(tagger, config, 1e-3)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    checked_no_decay = checked_decay = 0
    for name, p in tagger.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith(".bias") or "LayerNorm" in name:
            assert decay_of[id(p)] == 0.0, f"{name} is weight-decayed"
            checked_no_decay += 1
        elif p.ndim == 2 and "embeddings" not in name:
            assert decay_of[id(p)] == pytest.approx(0.05), f"{name} is not weight-decayed"
            checked_decay += 1
    assert checked_no_decay > 5 and checked_decay > 5
    assert any(isinstance(m, nn.LayerNorm) for m in tagger.modules())
