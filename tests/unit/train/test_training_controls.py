"""The controls that let training find its best point by itself: dev evaluations every N steps
(``eval_every``) competing for the kept weights, early stopping (``patience``), checkpoint averaging
(``average_last``), ``epochs = "auto"`` with a time budget, and layer-wise learning-rate decay
(``layer_decay``); and that a run with evaluations between epoch ends still resumes bit for bit.

Dev scores are rigged (as in ``test_contracts``): each evaluation gets the next score of a list and
records the weights it saw, so the expected weights are known without trusting the loop."""
from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from entitune import Sentence, Tagger, TrainConfig, fit
from entitune.errors import ConfigError
from entitune.options import FinetuneConfig
from entitune.tags import label_set
from entitune.train import CheckpointOptions, JsonlLog, build_optimizer
from entitune.train.averaging import planned_evaluations
from entitune.train.compact import COMPACT_SUFFIX
from entitune.train.loop import DevEvaluation
from entitune.train.optim import layer_depths
from tests.helpers.data import TINY_SENTENCES

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
LABELS = label_set([t for s in SENTENCES for t in s.tags])
TRAIN = SENTENCES * 2  # 12 windows: 3 optimizer steps an epoch at batch size 4
BASE = dict(lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0, seed=1)


def _tagger(tiny_bert) -> Tagger:
    return Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4, seed=0)


class RiggedDev:
    """Dev scores given in advance, one per evaluation (``run()`` call); each call records the
    weights the model had (full embedding layout, as the loop keeps them)."""

    def __init__(self, model: nn.Module, scores) -> None:
        self.model = model
        self.scores = list(scores)
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def run(self) -> dict:
        self.snapshots.append({k: v.detach().clone() for k, v in self.model.state_dict().items()
                               if not k.endswith(COMPACT_SUFFIX)})
        return {"call": len(self.snapshots)}

    def evaluation(self) -> DevEvaluation:
        return DevEvaluation(run=self.run, score=lambda report: self.scores[report["call"] - 1], metric="rigged")


def _rig(monkeypatch, tagger, scores) -> RiggedDev:
    import entitune.train.tagging as tagging

    rigged = RiggedDev(tagger, scores)
    monkeypatch.setattr(tagging, "dev_evaluation", lambda *args, **kwargs: rigged.evaluation())
    return rigged


class Heard:
    """A listener that keeps what it hears."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.evaluations: list = []
        self.epochs: list = []
        self.total_steps = None

    def on_start(self, total_steps, steps_per_epoch, start_step=0):
        self.total_steps = total_steps

    def on_step(self, step, loss, subwords_per_s, lr):
        self.steps.append(step)

    def on_epoch(self, result):
        self.epochs.append(result)

    def on_evaluation(self, result):
        self.evaluations.append(result)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -------------------------------------------------------------------------------------------
# eval_every and the best of all evaluations


def test_eval_every_evaluates_every_n_steps_and_at_each_epoch_end(tiny_bert, monkeypatch, tmp_path):
    """3 steps an epoch, 2 epochs, ``eval_every=2``: evaluations after steps 2, 3 (epoch end), 4 and
    6 (epoch end; step 6 is not evaluated twice), each heard by the listener, written to log.jsonl
    and summarised (step, epoch, score) in the result.

    Broken (the step test uses the step within the epoch, or the epoch's last step is evaluated
    twice, or mid-epoch evaluations are not logged), the steps or the counts differ."""
    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.1, 0.2, 0.3, 0.4])
    heard, log = Heard(), JsonlLog(tmp_path / "log.jsonl")
    from entitune.train import Listeners

    result = fit(tagger, TRAIN, SENTENCES, TrainConfig(epochs=2, eval_every=2, **BASE), Listeners(heard, log))
    log.close()

    assert planned_evaluations([3, 3], 2) == [2, 3, 4, 6]
    assert [(e.step, e.epoch, e.epoch_end) for e in result.evaluations] == [(2, 1, False), (3, 1, True), (4, 2, False),
                                                                            (6, 2, True)]
    assert len(rigged.snapshots) == 4 and [e.step for e in heard.evaluations] == [2, 3, 4, 6]
    assert [e.score for e in result.evaluations] == [0.1, 0.2, 0.3, 0.4]
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["step"], e["epoch"], e["score"]) for e in events if e["event"] == "evaluation"] == \
        [(2, 1, 0.1), (3, 1, 0.2), (4, 2, 0.3), (6, 2, 0.4)]
    summary = result.to_dict()
    assert [e["step"] for e in summary["evaluations"]] == [2, 3, 4, 6] and "dev" not in summary["evaluations"][0]
    assert summary["stopped"] == {"reason": "completed", "step": 6, "epoch": 2}
    # the epoch lines carry their epoch-end evaluation, as before
    assert [(e.epoch, e.score) for e in result.epochs] == [(1, 0.2), (2, 0.4)]


def test_the_best_of_all_evaluations_is_kept_even_between_epoch_ends(tiny_bert, monkeypatch):
    """The dev score peaks at the evaluation after step 4, in the middle of epoch 2: the model ends
    with the weights it had then, and ``best_step``/``best_epoch`` say so.

    Broken (only epoch-end evaluations compete for the best, as before ``eval_every``), the model
    ends with the weights of step 3 or step 6."""
    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.1, 0.2, 0.9, 0.4])
    result = fit(tagger, TRAIN, SENTENCES, TrainConfig(epochs=2, eval_every=2, **BASE))

    assert (result.best_step, result.best_epoch, result.best_score) == (4, 2, 0.9)
    assert _same(tagger.state_dict(), rigged.snapshots[2]), "not the weights of the best (step 4) evaluation"
    assert not _same(tagger.state_dict(), rigged.snapshots[3])
    assert [e.is_best for e in result.evaluations] == [True, True, True, False]


def test_dev_evaluation_does_not_move_the_training_random_streams(tiny_bert, monkeypatch):
    """A dev evaluation that draws from torch's, Python's and numpy's random generators leaves
    training exactly as one that draws nothing (the loop saves and restores the states).

    Broken (no save/restore around ``dev.run()``), the dropout masks after the first evaluation
    differ and so do the final weights: and a run resumed from a checkpoint written just before an
    evaluation would no longer match one that was not interrupted."""
    finals = []
    for draws in (False, True):
        tagger = _tagger(tiny_bert)
        rigged = RiggedDev(tagger, [0.1 * k for k in range(1, 10)])  # rising: the last weights are kept

        def run(rigged=rigged, draws=draws) -> dict:
            if draws:
                torch.rand(100), random.random(), np.random.rand(3)
            return rigged.run()

        import entitune.train.tagging as tagging

        monkeypatch.setattr(tagging, "dev_evaluation", lambda *a, rigged=rigged, run=run, **k: DevEvaluation(
            run=run, score=lambda report, rigged=rigged: rigged.scores[report["call"] - 1]))
        fit(tagger, TRAIN, SENTENCES, TrainConfig(epochs=2, eval_every=1, **BASE))
        finals.append(tagger.state_dict())
    assert _same(*finals), "a dev evaluation changed the training that followed it"


# -------------------------------------------------------------------------------------------
# patience


def test_patience_stops_after_k_evaluations_without_improvement(tiny_bert, monkeypatch, tmp_path):
    """``eval_every=1``, ``patience=2``: the best score comes at step 2, steps 3 and 4 do worse, so
    training stops right after step 4 (in epoch 2) with step 2's weights, and says why and where.
    A run resumed from the checkpoint written at the stop trains no further.

    Broken (the count of evaluations without improvement is off by one, or is not reset by a better
    score), training stops at step 3 or 5, or runs all 9 steps."""
    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.1, 0.5, 0.4, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9])
    heard = Heard()
    config = TrainConfig(epochs=3, eval_every=1, patience=2, **BASE)
    directory = tmp_path / "run"
    result = fit(tagger, TRAIN, SENTENCES, config, heard, CheckpointOptions(directory, save_every=1, keep=1000))

    assert heard.steps == [1, 2, 3, 4], "did not stop right after step 4"
    assert result.stopped == {"reason": "patience", "step": 4, "epoch": 2, "patience": 2}
    assert [e.step for e in result.evaluations] == [1, 2, 3, 4] and result.best_step == 2
    assert _same(tagger.state_dict(), rigged.snapshots[1])
    # the stopped epoch is reported with the evaluation it stopped at
    assert [(e.epoch, e.score) for e in result.epochs] == [(1, 0.4), (2, 0.3)]

    resumed, again = _tagger(tiny_bert), Heard()
    _rig(monkeypatch, resumed, [0.0] * 9)
    result = fit(resumed, TRAIN, SENTENCES, config, again, CheckpointOptions(directory, keep=1000, resume=True))
    assert again.steps == [] and result.stopped["reason"] == "patience"
    assert _same(resumed.state_dict(), tagger.state_dict())


def test_patience_needs_dev_and_averaging_fits_inside_it(tiny_bert):
    """Patience without a dev set, an average longer than the patience, a layer decay outside (0, 1]
    and a zero time budget are one-line ``ConfigError``s.

    Broken (no check), patience without dev silently never stops."""
    with pytest.raises(ConfigError, match="needs a dev set"):
        fit(_tagger(tiny_bert), TRAIN, None, TrainConfig(epochs=2, patience=1, **BASE))
    with pytest.raises(ConfigError, match="at most patience"):
        TrainConfig(patience=2, average_last=3)
    with pytest.raises(ConfigError, match="layer_decay"):
        TrainConfig(layer_decay=0.0)
    with pytest.raises(ConfigError, match="time budget"):
        TrainConfig(time_budget_s=0)


# -------------------------------------------------------------------------------------------
# checkpoint averaging


def _mean(snapshots: list[dict]) -> dict:
    """The mean of state dicts, computed here in float64 (integer buffers: the last one's)."""
    out = {}
    for k, last in snapshots[-1].items():
        if last.is_floating_point():
            out[k] = torch.stack([s[k].double() for s in snapshots]).mean(0).to(last.dtype)
        else:
            out[k] = last
    return out


@pytest.mark.parametrize("average_score, kept", [(0.9, True), (0.65, False)])
def test_average_of_the_last_k_evaluations_is_kept_only_when_dev_prefers_it(tiny_bert, monkeypatch, average_score,
                                                                             kept):
    """Six evaluations (``eval_every=1``, 2 epochs), ``average_last=3``: the averaged weights are the
    mean of those seen at steps 4, 5 and 6, scored on dev once more; kept when that score (0.9)
    beats the best single evaluation (0.7, step 3), else step 3's weights are kept. Both scores are
    recorded.

    Broken (the window is off by one, the sum is not divided by K, or the average is kept whatever
    it scores), the final weights are not the expected mean, or are the mean though it scored lower."""
    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.1, 0.2, 0.7, 0.4, 0.5, 0.6, average_score])
    result = fit(tagger, TRAIN, SENTENCES, TrainConfig(epochs=2, eval_every=1, average_last=3, **BASE))

    assert len(rigged.snapshots) == 7  # six evaluations and the average's
    assert result.average == {"evaluations": 3, "steps": [4, 5, 6], "metric": "rigged", "score": average_score,
                              "best_score": 0.7, "kept": kept}
    final = tagger.state_dict()
    expected = _mean(rigged.snapshots[3:6])
    torch.testing.assert_close(rigged.snapshots[6], expected, rtol=1e-6, atol=1e-7)  # what dev scored
    if kept:
        torch.testing.assert_close(final, expected, rtol=1e-6, atol=1e-7)
    else:
        assert _same(final, rigged.snapshots[2]), "the average was kept though it scored below step 3's weights"


def test_average_before_an_early_stop_covers_the_evaluations_without_improvement(tiny_bert, monkeypatch):
    """``patience=2``, ``average_last=2``: the best at step 2, then steps 3 and 4 without
    improvement stop the run; the average is that of steps 3 and 4, the two last evaluations (a
    running sum started when an early stop became possible, not K copies of the weights).

    Broken (only the planned end of the run is averaged), an early-stopped run has no average."""
    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.1, 0.5, 0.4, 0.3, 0.8])
    result = fit(tagger, TRAIN, SENTENCES, TrainConfig(epochs=3, eval_every=1, patience=2, average_last=2, **BASE))

    assert result.stopped["step"] == 4 and result.average["steps"] == [3, 4] and result.average["kept"]
    torch.testing.assert_close(tagger.state_dict(), _mean(rigged.snapshots[2:4]), rtol=1e-6, atol=1e-7)


# -------------------------------------------------------------------------------------------
# exact resume with evaluations between epoch ends


def test_resume_with_eval_every_and_averaging_gives_the_uninterrupted_run(tiny_bert, tmp_path):
    """Real dev evaluation every 2 steps, averaging of the last 2 evaluations, 3 epochs of 3 steps:
    runs resumed from checkpoints written between evaluations (step 1, 5), at an epoch end (3) and
    right after an evaluation whose weights went into the running sum (8) end with the final
    weights, evaluations and average of the run that was not interrupted, bit for bit.

    Broken (the evaluations, the patience count or the running sum are not in the checkpoint, or an
    evaluation moves the random streams), a resumed run keeps other weights or scores."""
    config = TrainConfig(epochs=3, eval_every=2, average_last=2, **BASE)
    full_dir = tmp_path / "full"
    full = _tagger(tiny_bert)
    expected_result = fit(full, TRAIN, SENTENCES, config, checkpoints=CheckpointOptions(full_dir, save_every=1, keep=1000))
    expected = full.state_dict()
    assert [e.step for e in expected_result.evaluations] == [2, 3, 4, 6, 8, 9]
    assert expected_result.average["steps"] == [8, 9]

    for step in (1, 3, 5, 8):
        directory = tmp_path / f"from-{step}"
        directory.mkdir()
        shutil.copy(full_dir / f"step-{step:08d}.pt", directory)  # as if killed right after writing it
        resumed = _tagger(tiny_bert)
        result = fit(resumed, TRAIN, SENTENCES, config, checkpoints=CheckpointOptions(directory, keep=1000, resume=True))
        assert [(e.step, e.score, e.is_best) for e in result.evaluations] == \
            [(e.step, e.score, e.is_best) for e in expected_result.evaluations], f"resumed from step {step}"
        assert result.average == expected_result.average, f"resumed from step {step}"
        assert _same(resumed.state_dict(), expected), f"resumed from step {step}: other final weights"


# -------------------------------------------------------------------------------------------
# epochs "auto" and the time budget


def test_epochs_auto_maps_to_a_capped_schedule_with_patience():
    """``epochs="auto"``: the schedule decays over ``max_epochs`` and patience defaults to 3; a
    number given as text (the command line) is a number; anything else is one line.

    Broken (auto left to the training settings, or the default patience lost), auto trains the
    fixed default or never stops."""
    auto = TrainConfig.of(FinetuneConfig(train="t.bio", out="o", epochs="auto", max_epochs=4))
    assert (auto.epochs, auto.patience) == (4, 3)
    assert TrainConfig.of(FinetuneConfig(train="t.bio", out="o", epochs="auto", patience=5)).patience == 5
    fixed = FinetuneConfig(train="t.bio", out="o", epochs="7")
    assert fixed.epochs == 7 and TrainConfig.of(fixed).patience == 0 and fixed.selects_on_dev
    assert not FinetuneConfig(train="t.bio", out="o", epochs=1).selects_on_dev
    assert FinetuneConfig(train="t.bio", out="o", epochs=1, eval_every=5).selects_on_dev
    assert TrainConfig.of(FinetuneConfig(train="t.bio", out="o", time_budget_minutes=1.5)).time_budget_s == 90.0
    with pytest.raises(ConfigError, match="whole number or 'auto'"):
        FinetuneConfig(train="t.bio", out="o", epochs="many")
    with pytest.raises(ConfigError, match="dev"):
        FinetuneConfig(train="t.bio", out="o", epochs="auto", dev_fraction=0.0)
    from entitune.options import build_config

    assert build_config(FinetuneConfig, {"train": "t.bio", "out": "o", "epochs": "auto"}).epochs == "auto"
    assert build_config(FinetuneConfig, {"train": "t.bio", "out": "o", "epochs": 2}).epochs == 2


def test_epochs_auto_stops_when_dev_stops_improving(tiny_bert, monkeypatch):
    """``epochs="auto"`` with ``max_epochs=4`` and ``patience=1``: the schedule is 12 steps long, the
    epoch-end score falls after epoch 1, so training stops at the end of epoch 2 (step 6).

    Broken (auto does not stop on dev), all 12 steps run."""
    tagger = _tagger(tiny_bert)
    _rig(monkeypatch, tagger, [0.5, 0.4, 0.9, 0.9])
    heard = Heard()
    config = TrainConfig.of(FinetuneConfig(train="t.bio", out="o", epochs="auto", max_epochs=4, patience=1, batch_size=4, lr=1e-3,
                            head_lr=1e-2, warmup=0.0, seed=1))
    result = fit(tagger, TRAIN, SENTENCES, config, heard)
    assert heard.total_steps == 12 and heard.steps[-1] == 6
    assert result.stopped == {"reason": "patience", "step": 6, "epoch": 2, "patience": 1} and result.best_epoch == 1


def test_time_budget_stops_cleanly_and_scores_the_last_weights(tiny_bert, monkeypatch):
    """A clock that advances 7 s per step and a 10 s budget: step 2 starts at 7 s, step 3 would
    start at 14 s, so training stops after step 2, in epoch 1, scores those weights once more and
    reports the partial epoch.

    Broken (the budget is not checked between steps, or the stop skips the last evaluation), all
    steps run, or the weights trained since the last evaluation are never scored."""
    import entitune.train.loop as loop

    now = [0.0]
    monkeypatch.setattr(loop, "_clock", lambda: now[0])

    class Ticking(Heard):
        def on_step(self, step, loss, subwords_per_s, lr):
            super().on_step(step, loss, subwords_per_s, lr)
            now[0] += 7.0

    tagger = _tagger(tiny_bert)
    rigged = _rig(monkeypatch, tagger, [0.3, 0.9])
    heard = Ticking()
    config = TrainConfig.of(FinetuneConfig(train="t.bio", out="o", epochs="auto", max_epochs=4, time_budget_minutes=10 / 60,
                            batch_size=4, lr=1e-3, head_lr=1e-2, warmup=0.0, seed=1))
    result = fit(tagger, TRAIN, SENTENCES, config, heard)
    assert heard.steps == [1, 2]
    assert result.stopped["reason"] == "time_budget" and (result.stopped["step"], result.stopped["epoch"]) == (2, 1)
    assert [(e.step, e.epoch_end) for e in result.evaluations] == [(2, True)] and len(rigged.snapshots) == 1
    assert len(result.epochs) == 1 and result.epochs[0].score == 0.3


# -------------------------------------------------------------------------------------------
# layer-wise learning-rate decay


def test_layer_decay_gives_each_layer_its_learning_rate(tiny_bert):
    """A 2-layer BERT with ``layer_decay=0.5``, ``lr=1e-4``: the embeddings train at 1e-4 x 0.5^3,
    layer 0 at 1e-4 x 0.5^2, layer 1 at 1e-4 x 0.5, the head at its own 1e-2; biases, LayerNorm and
    the word embedding still have no weight decay. At 1.0 every encoder parameter has ``lr``.

    Broken (the exponent counted from the bottom, the head decayed, or the decay groups merged with
    the weight-decay groups), some parameter gets another rate or decay."""
    tagger = _tagger(tiny_bert)
    lr, decay = 1e-4, 0.5
    optimizer = build_optimizer(tagger, TrainConfig(lr=lr, layer_decay=decay, weight_decay=0.01), 1e-2)
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    checked = {"embeddings": 0, "layer.0": 0, "layer.1": 0, "head": 0, "no_decay": 0}
    for name, p in tagger.named_parameters():
        group = group_of[id(p)]
        if name.startswith("head."):
            expected, checked["head"] = 1e-2, checked["head"] + 1
        elif ".embeddings." in name:
            expected, checked["embeddings"] = lr * decay ** 3, checked["embeddings"] + 1
        elif ".layer.0." in name:
            expected, checked["layer.0"] = lr * decay ** 2, checked["layer.0"] + 1
        else:
            assert ".layer.1." in name, name
            expected, checked["layer.1"] = lr * decay ** 1, checked["layer.1"] + 1
        assert group["lr"] == pytest.approx(expected), name
        no_decay = name.endswith(".bias") or "LayerNorm" in name or "word_embeddings" in name
        assert group["weight_decay"] == (0.0 if no_decay else 0.01), name
        checked["no_decay"] += no_decay
    assert all(checked.values()), checked

    plain = build_optimizer(tagger, TrainConfig(lr=lr, weight_decay=0.01), 1e-2)
    assert sorted({g["lr"] for g in plain.param_groups}) == [lr, 1e-2]


def test_layer_depths_of_other_encoder_families_and_the_refusal():
    """DistilBERT's ``transformer.layer.N.``, ALBERT's shared layer group (one layer; its embedding
    projection sits with the embeddings) and a pooler above the layers; an encoder whose layers
    cannot be told from the names is refused in one line.

    Broken (only BERT's ``encoder.layer.N.`` is read), DistilBERT is refused and ALBERT decays
    nothing."""
    distil = layer_depths(["encoder.embeddings.word_embeddings.weight", "encoder.transformer.layer.0.ffn.lin1.weight",
                           "encoder.transformer.layer.5.ffn.lin1.weight"])
    assert list(distil.values()) == [7, 6, 1]
    albert = layer_depths(["encoder.embeddings.word_embeddings.weight", "encoder.encoder.embedding_hidden_mapping_in.weight",
                           "encoder.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight", "encoder.pooler.weight"])
    assert list(albert.values()) == [2, 2, 1, 0]

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)

    with pytest.raises(ConfigError, match="cannot tell the encoder's layers") as error:
        build_optimizer(Odd(), TrainConfig(layer_decay=0.8), 1e-3)
    assert "\n" not in str(error.value)
    build_optimizer(Odd(), TrainConfig(), 1e-3)  # without decay nothing needs the layers
