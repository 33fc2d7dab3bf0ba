"""Contracts of the training loop's controls, checked where they can break: ties (a tie with the
best is not better; the average must beat the best to be kept), the patience count at exactly P,
``eval_every`` on and around epoch ends, the time budget at exactly its limit, the learning rate of
every layer under ``layer_decay``, the head's default learning rates, and how many checkpoints stay.

The loop is driven directly (``train_loop``) on a model of a few hundred parameters that names its
weights as BERT does (``encoder.embeddings.*``, ``encoder.encoder.layer.N.*``, ``encoder.pooler.*``,
``head.*``), so a run takes milliseconds and many runs fit in a test. Dev scores are rigged: each
evaluation gets the next score of a list and records the weights it saw, so the weights the loop
must keep are known without trusting the loop."""
from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

import entitune.train.loop as loop
from entitune.errors import ConfigError
from entitune.train import CheckpointOptions, TrainConfig
from entitune.train import checkpoint as ckpt
from entitune.train.averaging import LastEvaluations, RunningSum, planned_evaluations
from entitune.train.compact import COMPACT_SUFFIX
from entitune.train.loop import DevEvaluation, train_loop
from entitune.train.optim import DEFAULT_HEAD_LR, build_optimizer, head_lr_for, layer_depths

VOCAB, HIDDEN, LABELS = 24, 8, 3


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: a model this small trains about 10x slower on two threads of a busy 2-core
    machine (the threads wait on each other around every tiny operation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyEncoder(nn.Module):
    """A BERT-shaped stack small enough to train in milliseconds: embeddings (word embedding,
    LayerNorm, dropout), ``layers`` residual tanh layers, a pooler (unused by the loss)."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.embeddings.LayerNorm = nn.LayerNorm(HIDDEN)
        self.embeddings.dropout = nn.Dropout(0.2)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(nn.Linear(HIDDEN, HIDDEN) for _ in range(layers))
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(HIDDEN, HIDDEN)

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embedding: nn.Module) -> None:
        self.embeddings.word_embeddings = embedding

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embeddings.dropout(self.embeddings.LayerNorm(self.embeddings.word_embeddings(ids)))
        for layer in self.encoder.layer:
            h = h + torch.tanh(layer(h))
        return h


class TinyModel(nn.Module):
    """A ``Trainable``: token classification over ``TinyEncoder``; the loss averages over real tokens."""

    def __init__(self, layers: int = 2, seed: int = 0, word_features: bool = False) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoder = TinyEncoder(layers)
            self.head = nn.Linear(HIDDEN, LABELS)
            if word_features:
                self.word_feature_net = nn.Linear(HIDDEN, HIDDEN)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.head(self.encoder(batch["input_ids"]))
        real = batch["attention_mask"].bool()
        return F.cross_entropy(logits[real], batch["labels"][real])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        return float(batch["attention_mask"].sum())


class TinyData:
    """``n`` random sentences of 2-6 token ids with a learnable label (id mod 3)."""

    def __init__(self, n: int = 12, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.examples = [[rng.randrange(1, VOCAB) for _ in range(rng.randrange(2, 7))] for _ in range(n)]
        self.lengths = [len(e) for e in self.examples]

    def used_ids(self) -> set[int]:
        return {i for e in self.examples for i in e}

    def collate(self, indices) -> dict[str, torch.Tensor]:
        width = max(self.lengths[i] for i in indices)
        ids = torch.zeros(len(indices), width, dtype=torch.long)
        for row, i in enumerate(indices):
            ids[row, : self.lengths[i]] = torch.tensor(self.examples[i])
        return {"input_ids": ids, "attention_mask": (ids > 0).long(), "labels": ids % LABELS}


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as the loop keeps them (full embedding layout)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith(COMPACT_SUFFIX)}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def mean_of(states: list[dict]) -> dict:
    """The mean of state dicts, computed here in float64."""
    return {k: torch.stack([s[k].double() for s in states]).mean(0).float() for k in states[0]}


class Rigged:
    """Dev scores given in advance, one per ``run()``; each run records the weights it saw."""

    def __init__(self, model: nn.Module, scores) -> None:
        self.model, self.scores, self.snapshots = model, list(scores), []

    def run(self) -> dict:
        self.snapshots.append(weights(self.model))
        return {"call": len(self.snapshots)}

    def evaluation(self) -> DevEvaluation:
        return DevEvaluation(run=self.run, score=lambda report: self.scores[report["call"] - 1], metric="rigged")


class Heard:
    """A listener that keeps the steps it heard and, at each evaluation, the model's weights."""

    def __init__(self, model: nn.Module | None = None) -> None:
        self.model, self.steps, self.evaluations, self.epochs, self.at_evaluation = model, [], [], [], []

    def on_start(self, total_steps, steps_per_epoch, start_step=0):
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch

    def on_step(self, step, loss, subwords_per_s, lr):
        self.steps.append(step)

    def on_epoch(self, result):
        self.epochs.append(result)

    def on_evaluation(self, result):
        self.evaluations.append(result)
        if self.model is not None:
            self.at_evaluation.append(weights(self.model))


#: 12 sentences at batch size 3: 4 optimizer steps an epoch
BASE = dict(lr=1e-2, head_lr=3e-2, batch_size=3, warmup=0.0, seed=7)


def train(scores=None, model=None, data=None, heard=None, checkpoints=None, used_ids=None, **config):
    """One run of the loop on the tiny model; returns (result, model, rigged dev or None, listener)."""
    model = model or TinyModel()
    data = data or TinyData()
    rigged = Rigged(model, scores) if scores is not None else None
    heard = heard or Heard(model)
    result = train_loop(model, data, TrainConfig(**{**BASE, **config}), config.get("head_lr", BASE["head_lr"]),
                        rigged.evaluation() if rigged else None, heard, checkpoints, used_ids)
    return result, model, rigged, heard


def test_tiny_fixture_has_four_steps_an_epoch_and_learns():
    """The premise of the step counts below: 4 optimizer steps an epoch, and training changes every
    trained group of weights (a test of which weights are kept means nothing if they never move)."""
    model = TinyModel()
    before = weights(model)
    result, model, _, heard = train(epochs=2)
    assert heard.steps_per_epoch == 4 and heard.steps == list(range(1, 9))
    after = weights(model)
    for key in ("encoder.embeddings.word_embeddings.weight", "encoder.encoder.layer.0.weight",
                "encoder.encoder.layer.1.weight", "head.weight"):
        assert not torch.equal(before[key], after[key]), key


# -------------------------------------------------------------------------------------------
# the best evaluation: strictly better wins; a tie keeps the earlier one


@pytest.mark.parametrize(("third", "best_step"), [(0.6, 2), (0.6 + 1e-12, 3), (0.6 - 1e-12, 2)])
def test_only_a_strictly_better_score_replaces_the_best_a_tie_keeps_the_earlier(third, best_step):
    """Evaluations after steps 1-4 score 0.2, 0.6, ``third``, 0.1: a third score equal to the best
    (0.6) is not better, so step 2's weights stay; one above it by 1e-12 wins; one below loses.

    Broken (``>=`` for ``>``: the later of two equal scores wins), the tie keeps step 3's weights
    and marks it best."""
    result, model, rigged, _ = train([0.2, 0.6, third, 0.1], epochs=1, eval_every=1)
    assert [e.step for e in result.evaluations] == [1, 2, 3, 4]
    assert [e.is_best for e in result.evaluations] == [True, True, best_step == 3, False]
    assert (result.best_step, result.best_epoch, result.best_score) == (best_step, 1, [0.6, third][best_step - 2])
    assert result.best_dev == {"call": best_step}
    assert same(weights(model), rigged.snapshots[best_step - 1])
    assert not same(weights(model), rigged.snapshots[4 - best_step])  # the other of steps 2 and 3


def test_the_first_evaluation_is_best_whatever_it_scores():
    """A first score of -1 (any real number) beats "nothing yet": its weights are kept when all later
    evaluations score lower.

    Broken (the best starts at 0 rather than -infinity), no evaluation is ever best and the last
    weights are kept."""
    result, model, rigged, _ = train([-1.0, -2.0, -3.0, -1.5], epochs=1, eval_every=1)
    assert [e.is_best for e in result.evaluations] == [True, False, False, False]
    assert result.best_step == 1 and result.best_score == -1.0
    assert same(weights(model), rigged.snapshots[0])


def test_without_dev_every_evaluation_is_best_and_the_last_weights_are_kept():
    """No dev set: nothing to compare, the model ends with its last weights, and ``best_epoch`` is
    the last epoch."""
    result, model, _, heard = train(None, epochs=2)
    assert [(e.step, e.is_best, e.score) for e in result.evaluations] == [(4, True, None), (8, True, None)]
    assert result.best_epoch == 2 and result.best_score is None
    assert same(weights(model), heard.at_evaluation[-1])


# -------------------------------------------------------------------------------------------
# averaging: kept only when dev scores it strictly above the best single evaluation


@pytest.mark.parametrize(("average_score", "kept"), [(0.7 + 1e-9, True), (0.7, False), (0.7 - 1e-9, False)])
def test_the_average_is_kept_only_when_it_scores_strictly_above_the_best(average_score, kept):
    """Eight evaluations (``eval_every=1``, 2 epochs), ``average_last=3``, the best single one at
    step 2 (0.7): the average of steps 6-8 is scored once more and kept when it scores above 0.7
    (by 1e-9), not when it ties or falls 1e-9 short; then step 2's weights and report stay.

    Broken (``>=``: a tie keeps the average), the tie ends with the average's weights."""
    scores = [0.1, 0.7, 0.3, 0.2, 0.4, 0.5, 0.6, 0.65, average_score]
    result, model, rigged, _ = train(scores, epochs=2, eval_every=1, average_last=3)
    assert len(rigged.snapshots) == 9
    assert result.average == {"evaluations": 3, "steps": [6, 7, 8], "metric": "rigged", "score": average_score,
                              "best_score": 0.7, "kept": kept}
    torch.testing.assert_close(rigged.snapshots[8], mean_of(rigged.snapshots[5:8]), rtol=1e-6, atol=1e-7)
    if kept:
        assert same(weights(model), rigged.snapshots[8]) and result.best_dev == {"call": 9}
    else:
        assert same(weights(model), rigged.snapshots[1]) and result.best_dev == {"call": 2}
    # the best single evaluation is still the one reported as best
    assert (result.best_step, result.best_score) == (2, 0.7)


def test_the_average_competes_with_the_best_single_evaluation_not_the_last():
    """The last evaluation (0.3) is far below the best (0.9); an average scoring 0.5 beats the last
    but not the best, so it is not kept.

    Broken (the average compared with the last score), the average's weights are kept."""
    result, model, rigged, _ = train([0.1, 0.9, 0.2, 0.3, 0.5], epochs=1, eval_every=1, average_last=2)
    assert result.average["steps"] == [3, 4] and not result.average["kept"]
    assert same(weights(model), rigged.snapshots[1])


def test_without_dev_the_average_of_the_last_k_evaluations_is_always_kept():
    """No dev set, 3 epochs, ``average_last=2``: nothing can score the average, so the model ends
    with the mean of the weights at the last two evaluations (the ends of epochs 2 and 3); with
    ``eval_every=3`` the evaluations between epoch ends count too (steps 9 and 12).

    Broken (the window starts one evaluation early or late, or the sum is not divided by K), the
    final weights are another mean."""
    for eval_every, steps in [(0, [8, 12]), (3, [9, 12])]:
        result, model, _, heard = train(None, epochs=3, eval_every=eval_every, average_last=2)
        at = {e.step: w for e, w in zip(heard.evaluations, heard.at_evaluation)}
        assert result.average["steps"] == steps and result.average["kept"] and result.average["score"] is None
        torch.testing.assert_close(weights(model), mean_of([at[s] for s in steps]), rtol=1e-6, atol=1e-7)


def test_running_sum_mean_keeps_dtypes_devices_and_integer_buffers():
    """Floating tensors are summed in float32 and the mean is given in the dtype of ``like``;
    integer buffers are the last added, never divided."""
    window = RunningSum()
    window.add({"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16), "n": torch.tensor([3])}, step=4)
    window.add({"w": torch.tensor([2.0, 4.0], dtype=torch.bfloat16), "n": torch.tensor([5])}, step=6)
    assert window.total["w"].dtype == torch.float32 and window.count == 2 and window.steps == [4, 6]
    mean = window.mean({"w": torch.zeros(2, dtype=torch.float64), "n": torch.zeros(1, dtype=torch.long)})
    assert mean["w"].dtype == torch.float64 and torch.equal(mean["w"], torch.tensor([1.5, 3.0], dtype=torch.float64))
    assert torch.equal(mean["n"], torch.tensor([5]))
    again = RunningSum.from_state(window.to_state())
    assert again.steps == [4, 6] and torch.equal(again.total["w"], window.total["w"])


def test_last_evaluations_windows_take_exactly_the_evaluations_they_should():
    """``patience=3``, ``k=2``, planned evaluations 1-10: the ``end`` window takes steps 9 and 10 (the
    last two planned); the ``streak`` window takes evaluations made 2 and 3 after the best, and a
    new best empties it. ``state()`` is asked for only when a window takes the weights."""
    windows = LastEvaluations(2, 3, list(range(1, 11)))
    asked = []

    def state(step):
        return lambda: asked.append(step) or {"w": torch.tensor([float(step)])}

    for step, since_best in [(1, 0), (2, 1), (3, 2), (4, 0), (5, 1), (6, 2), (7, 3)]:
        windows.observe(state(step), step, since_best)
    assert windows.streak.steps == [6, 7] and windows.end.steps == []
    assert asked == [3, 6, 7], "weights copied for an evaluation no window takes"
    assert windows.result() is windows.streak
    assert torch.equal(windows.result().mean({"w": torch.zeros(1)})["w"], torch.tensor([6.5]))

    ends = LastEvaluations(2, 0, list(range(1, 11)))
    for step in range(1, 11):
        ends.observe(state(step), step, 0)
    assert ends.end.steps == [9, 10] and ends.streak.steps == [] and ends.result() is ends.end
    assert LastEvaluations(2, 0, [1, 2, 3]).result() is None
    assert LastEvaluations(5, 0, [4, 8]).end_from == 4  # fewer planned than k: all of them


# -------------------------------------------------------------------------------------------
# patience


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_patience_counts_ties_as_no_improvement_and_stops_at_exactly_p(patience):
    """The best at step 2, then every evaluation ties it: a tie (an improvement by exactly 0) is no
    improvement, so training stops right after the ``patience``-th tie, at step 2 + P.

    Broken (a tie resets the count, or the stop waits for P + 1 or P - 1 evaluations), training
    runs on or stops a step early or late."""
    scores = [0.1, 0.5] + [0.5] * 20
    result, model, rigged, heard = train(scores, epochs=5, eval_every=1, patience=patience)
    stop = 2 + patience
    assert heard.steps == list(range(1, stop + 1))
    assert result.stopped == {"reason": "patience", "step": stop, "epoch": 1 + (stop - 1) // 4, "patience": patience}
    assert result.best_step == 2 and same(weights(model), rigged.snapshots[1])


def test_a_better_score_resets_the_patience_count():
    """``patience=2``: steps 3 and 5 fall below the best, but step 4 improves in between, so the
    stop comes only after steps 5 and 6 (two in a row without improvement).

    Broken (the count is not reset by a better score), training stops after step 5."""
    result, model, rigged, heard = train([0.1, 0.5, 0.4, 0.6, 0.3, 0.2, 0.9, 0.9], epochs=2, eval_every=1, patience=2)
    assert heard.steps[-1] == 6 and result.stopped["step"] == 6 and result.best_step == 4
    assert same(weights(model), rigged.snapshots[3])


def test_patience_at_epoch_ends_stops_after_the_epoch_and_reports_it():
    """Without ``eval_every``, patience counts epoch-end evaluations: epoch 1 best, epoch 2 worse,
    ``patience=1``: stop after epoch 2 (step 8), which is reported; epochs 3 and 4 never run.
    The mid-epoch stop (``eval_every=1``, step 6) reports its partial epoch with its 2 steps' loss."""
    result, model, rigged, heard = train([0.5, 0.4, 0.9, 0.9], epochs=4, patience=1)
    assert heard.steps == list(range(1, 9)) and [e.epoch for e in result.epochs] == [1, 2]
    assert result.stopped == {"reason": "patience", "step": 8, "epoch": 2, "patience": 1}
    assert same(weights(model), rigged.snapshots[0])

    losses = []

    class Losses(Heard):
        def on_step(self, step, loss, subwords_per_s, lr):
            super().on_step(step, loss, subwords_per_s, lr)
            losses.append(loss)

    result, _, _, heard = train([0.1, 0.2, 0.3, 0.4, 0.5, 0.4], heard=Losses(), epochs=3, eval_every=1, patience=1)
    assert heard.steps == list(range(1, 7)) and [e.step for e in result.evaluations] == list(range(1, 7))
    assert [e.epoch for e in result.epochs] == [1, 2] and result.epochs[-1].score == 0.4
    assert result.epochs[-1].train_loss == pytest.approx(sum(losses[4:6]) / 2, rel=1e-12)


def test_patience_without_dev_is_refused_and_average_must_fit_in_patience():
    """Patience without dev could never stop (one-line refusal); ``average_last`` may equal the
    patience (the whole streak averaged) but not exceed it."""
    with pytest.raises(ConfigError, match="needs a dev set"):
        train(None, epochs=1, patience=1)
    with pytest.raises(ConfigError, match="at most patience"):
        TrainConfig(patience=2, average_last=3)
    TrainConfig(patience=2, average_last=2)  # equal is allowed


# -------------------------------------------------------------------------------------------
# eval_every: multiples of the run's step count, each step evaluated once, epoch ends marked


def expected_evaluations(epoch_steps: list[int], eval_every: int) -> list[tuple[int, bool]]:
    """(step, epoch_end) of every evaluation, written out step by step (independent of ``planned_evaluations``)."""
    ends, total = set(), 0
    for n in epoch_steps:
        total += n
        ends.add(total)
    return [(s, s in ends) for s in range(1, total + 1) if s in ends or (eval_every and s % eval_every == 0)]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 14), batch_size=st.integers(1, 5), epochs=st.integers(1, 3), eval_every=st.integers(0, 7))
def test_evaluations_happen_at_multiples_of_eval_every_and_at_each_epoch_end_once(n, batch_size, epochs, eval_every):
    """For any data size, batch size, epoch count and ``eval_every``: an evaluation after every step
    that is a multiple of ``eval_every`` counted over the run (not within the epoch) and after
    every epoch's last step, each step at most once, ``epoch_end`` true exactly at epoch ends (an
    epoch's last step that is also a multiple is an epoch-end evaluation); ``planned_evaluations``
    (which averaging relies on) plans exactly these."""
    data = TinyData(n)
    steps_per_epoch = math.ceil(n / batch_size)
    rising = [k / 1000 for k in range(1, 200)]
    result, _, _, _ = train(rising, data=data, epochs=epochs, eval_every=eval_every, batch_size=batch_size)
    expected = expected_evaluations([steps_per_epoch] * epochs, eval_every)
    assert [(e.step, e.epoch_end) for e in result.evaluations] == expected
    assert [e.epoch for e in result.evaluations] == [1 + (s - 1) // steps_per_epoch for s, _ in expected]
    assert planned_evaluations([steps_per_epoch] * epochs, eval_every) == [s for s, _ in expected]


def test_an_epoch_end_that_is_a_multiple_of_eval_every_is_one_epoch_end_evaluation():
    """4 steps an epoch, ``eval_every=4``: the evaluations are after steps 4 and 8, both at epoch
    ends, none twice, none in between.

    Broken (the last step of an epoch also evaluated as a mid-epoch one), step 4 is evaluated
    twice or marked as not an epoch end."""
    result, _, rigged, _ = train([0.1, 0.2, 0.3], epochs=2, eval_every=4)
    assert [(e.step, e.epoch_end) for e in result.evaluations] == [(4, True), (8, True)] and len(rigged.snapshots) == 2


def test_without_dev_or_averaging_eval_every_adds_no_evaluations():
    """Without dev an evaluation has nothing to score: only averaging needs the weights between
    epoch ends. No dev and no averaging: epoch ends only."""
    result, _, _, _ = train(None, epochs=2, eval_every=1)
    assert [e.step for e in result.evaluations] == [4, 8]
    result, _, _, _ = train(None, epochs=2, eval_every=3, average_last=1)
    assert [e.step for e in result.evaluations] == [3, 4, 6, 8]


# -------------------------------------------------------------------------------------------
# the time budget


def ticking(monkeypatch, seconds_per_step: float, start: float = 100.0):
    """Replace the loop's clock by one that advances ``seconds_per_step`` at each step; returns a
    listener that ticks it."""
    now = [start]
    monkeypatch.setattr(loop, "_clock", lambda: now[0])

    class Ticking(Heard):
        def on_step(self, step, loss, subwords_per_s, lr):
            super().on_step(step, loss, subwords_per_s, lr)
            now[0] += seconds_per_step

    return Ticking


@pytest.mark.parametrize(("budget", "steps"), [(10.0, 2), (10.5, 3), (9.99, 2), (5.0, 1), (40.0, 8)])
def test_the_time_budget_stops_before_the_first_step_that_would_start_at_or_past_it(monkeypatch, budget, steps):
    """5 s a step: step k starts 5(k-1) s in. Training stops before a step that would start at or
    after the budget (10 s: 2 steps; 10.5 s: 3; 5 s: 1), and a budget the run never reaches stops
    nothing (8 steps, "completed").

    Broken (``>`` for ``>=``), a 10 s budget runs 3 steps."""
    listener = ticking(monkeypatch, 5.0)(None)
    result, _, _, heard = train(None, heard=listener, epochs=2, time_budget_s=budget)
    assert heard.steps == list(range(1, steps + 1))
    if steps < 8:
        assert result.stopped == {"reason": "time_budget", "step": steps, "epoch": 1 if steps <= 4 else 2,
                                  "budget_s": budget}
    else:
        assert result.stopped == {"reason": "completed", "step": 8, "epoch": 2}


def test_a_budget_spent_before_the_first_step_still_trains_one_step(monkeypatch):
    """A clock that jumps 100 s at every reading (setup, the first batch and every check take
    longer than the 5 s budget): one step is trained and scored all the same, then training stops.

    Broken (no exception for the first step), nothing is trained and nothing is scored."""
    now = [0.0]

    def clock():
        now[0] += 100.0
        return now[0]

    monkeypatch.setattr(loop, "_clock", clock)
    result, _, rigged, heard = train([0.5], epochs=2, time_budget_s=5.0)
    assert heard.steps == [1] and [e.step for e in result.evaluations] == [1] and len(rigged.snapshots) == 1
    assert result.stopped == {"reason": "time_budget", "step": 1, "epoch": 1, "budget_s": 5.0}


def test_the_time_budget_scores_the_last_weights_once_more_and_keeps_the_best(monkeypatch):
    """1 s a step, a 7 s budget, ``eval_every=2``, 4 steps an epoch: evaluations after steps 2, 4
    (epoch end), 6 and, where the budget stops training, 7; the best (step 4) is kept, and epoch 2
    is reported with its 3 steps.

    Broken (the stop skips the last evaluation, or keeps the last weights), step 7 is never scored
    or its weights are kept."""
    listener = ticking(monkeypatch, 1.0)(None)
    result, model, rigged, heard = train([0.1, 0.9, 0.3, 0.2], heard=listener, epochs=3, eval_every=2,
                                         time_budget_s=7.0)
    assert heard.steps == list(range(1, 8))
    assert [(e.step, e.epoch, e.epoch_end) for e in result.evaluations] == [(2, 1, False), (4, 1, True),
                                                                            (6, 2, False), (7, 2, True)]
    assert result.stopped == {"reason": "time_budget", "step": 7, "epoch": 2, "budget_s": 7.0}
    assert result.best_step == 4 and same(weights(model), rigged.snapshots[1])
    assert [(e.epoch, e.score) for e in result.epochs] == [(1, 0.9), (2, 0.2)]


def test_a_time_budget_spent_at_an_epoch_end_stops_in_that_epoch(monkeypatch):
    """1 s a step, a 4 s budget: epoch 1's 4 steps run, the budget is spent before epoch 2's first
    step: the stop is recorded in epoch 1, epoch 2 is not reported, and step 4 is scored once.

    Broken (the stop names the epoch it never started), ``stopped`` says epoch 2."""
    listener = ticking(monkeypatch, 1.0)(None)
    result, _, rigged, heard = train([0.5, 0.6], heard=listener, epochs=3, time_budget_s=4.0)
    assert heard.steps == [1, 2, 3, 4] and len(rigged.snapshots) == 1
    assert result.stopped == {"reason": "time_budget", "step": 4, "epoch": 1, "budget_s": 4.0}
    assert [e.epoch for e in result.epochs] == [1] and [e.step for e in result.evaluations] == [4]


# -------------------------------------------------------------------------------------------
# learning rates: layer decay and the head


def rates(model: nn.Module, config: TrainConfig, head_lr: float) -> dict[str, tuple[float, float]]:
    optimizer = build_optimizer(model, config, head_lr)
    in_groups = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(in_groups) == len(set(in_groups)), "a parameter is in two groups"
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    return {name: (group_of[id(p)]["lr"], group_of[id(p)]["weight_decay"])
            for name, p in model.named_parameters() if id(p) in group_of}


def test_layer_decay_gives_each_layer_lr_times_decay_to_its_depth():
    """3 layers, ``lr=1``, ``layer_decay=0.5`` (powers of two, so the rates are exact): layer l
    trains at 0.5^(3-l) (0.125, 0.25, 0.5), the embeddings (word embedding and LayerNorm) at
    0.5^4, the pooler above the layers at 1, the head and the word-feature layer at ``head_lr``
    (0.3, undecayed); weight decay 0 on biases, LayerNorm and the word embedding, 0.01 elsewhere.
    A frozen parameter is in no group.

    Broken (the exponent counted from the bottom, the embeddings at the bottom layer's rate, the
    head decayed, or the word-feature layer taken for encoder), some rate differs."""
    model = TinyModel(layers=3, word_features=True)
    model.encoder.pooler.dense.bias.requires_grad_(False)
    got = rates(model, TrainConfig(lr=1.0, layer_decay=0.5, weight_decay=0.01), head_lr=0.3)
    expected = {
        "encoder.embeddings.word_embeddings.weight": (0.0625, 0.0),
        "encoder.embeddings.LayerNorm.weight": (0.0625, 0.0), "encoder.embeddings.LayerNorm.bias": (0.0625, 0.0),
        "encoder.encoder.layer.0.weight": (0.125, 0.01), "encoder.encoder.layer.0.bias": (0.125, 0.0),
        "encoder.encoder.layer.1.weight": (0.25, 0.01), "encoder.encoder.layer.1.bias": (0.25, 0.0),
        "encoder.encoder.layer.2.weight": (0.5, 0.01), "encoder.encoder.layer.2.bias": (0.5, 0.0),
        "encoder.pooler.dense.weight": (1.0, 0.01),
        "head.weight": (0.3, 0.01), "head.bias": (0.3, 0.0),
        "word_feature_net.weight": (0.3, 0.01), "word_feature_net.bias": (0.3, 0.0),
    }
    assert got == expected


def test_without_layer_decay_every_encoder_parameter_has_lr_and_no_layers_are_needed():
    model = TinyModel(layers=3)
    got = rates(model, TrainConfig(lr=0.25, weight_decay=0.01), head_lr=0.5)
    assert {name: lr for name, (lr, _) in got.items()} == {
        name: 0.5 if name.startswith("head.") else 0.25 for name, _ in model.named_parameters()}

    class NoLayers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = nn.Linear(2, 2), nn.Linear(2, 2)

    build_optimizer(NoLayers(), TrainConfig(), 1e-3)
    with pytest.raises(ConfigError, match="cannot tell the encoder's layers"):
        build_optimizer(NoLayers(), TrainConfig(layer_decay=0.9), 1e-3)


def test_layer_depths_read_two_digit_layer_numbers():
    """12 layers: layer 11 is 1 deep, layer 10 is 2, layer 1 is 11, layer 0 is 12, the embeddings 13.

    Broken (one digit read), layers 10 and 11 are taken for layer 1 or for no layer."""
    names = ["encoder.embeddings.word_embeddings.weight", *(f"encoder.encoder.layer.{i}.output.dense.weight"
                                                            for i in range(12)), "encoder.pooler.dense.weight"]
    depths = layer_depths(names)
    assert [depths[n] for n in names] == [13, *range(12, 0, -1), 0]


def test_layer_decay_schedules_each_group_from_its_own_rate():
    """Under warm-up and decay every group's rate is its base rate times the schedule's factor: the
    ratios between layers stay those of ``layer_decay`` during training.

    Broken (every group set to the first group's rate), the layers train at one rate."""
    model = TinyModel(layers=2)
    seen = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", step)
        train(None, model=model, epochs=1, lr=1.0, layer_decay=0.5, warmup=0.5)
    base = [g["lr"] for g in build_optimizer(TinyModel(layers=2), TrainConfig(lr=1.0, layer_decay=0.5),
                                             BASE["head_lr"]).param_groups]
    # 4 steps, 2 of warm-up: factors 0.5, 1, 1, 0.5
    assert seen == [[b * f for b in base] for f in (0.5, 1.0, 1.0, 0.5)]
    assert sorted(set(base)) == [BASE["head_lr"], 0.125, 0.25, 0.5, 1.0]  # head, embeddings, layers 0-1, pooler


def test_head_learning_rate_defaults_per_head_and_an_explicit_one_wins():
    """Measured defaults: linear 1e-3, CRF and BiLSTM-CRF 1e-2 (their transitions start at zero),
    a classifier's 1e-3, any other head 1e-3; ``head_lr`` given overrides every one."""
    assert DEFAULT_HEAD_LR == {"linear": 1e-3, "crf": 1e-2, "bilstm-crf": 1e-2, "classify": 1e-3}
    plain = TrainConfig()
    assert [head_lr_for(h, plain) for h in ("linear", "crf", "bilstm-crf", "classify", "other")] == \
        [1e-3, 1e-2, 1e-2, 1e-3, 1e-3]
    given_lr = TrainConfig(head_lr=5e-4)
    assert {head_lr_for(h, given_lr) for h in ("linear", "crf", "bilstm-crf", "classify", "other")} == {5e-4}


@pytest.mark.parametrize(("head", "expected"), [("linear", 1e-3), ("crf", 1e-2), ("bilstm-crf", 1e-2)])
def test_fit_trains_each_head_at_its_default_rate(tiny_bert, monkeypatch, head, expected):
    """``fit`` hands the loop the default rate of the tagger's own head.

    Broken (the linear default for every head), a CRF head trains ten times slower."""
    import entitune.train.tagging as tagging
    from entitune import Sentence, Tagger, label_set
    from tests.helpers.data import TINY_SENTENCES

    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in sentences for t in s.tags]), head=head,
                                 max_length=16, stride=4)
    handed = []
    monkeypatch.setattr(tagging, "train_loop", lambda model, data, config, head_lr, *rest: handed.append(head_lr))
    tagging.fit(tagger, sentences, None, TrainConfig(epochs=1))
    assert handed == [expected]


# -------------------------------------------------------------------------------------------
# how many checkpoints stay


@pytest.mark.parametrize(("keep", "save_every", "left"), [(1, 1, [8]), (3, 1, [6, 7, 8]), (2, 3, [6, 8]),
                                                           (10, 3, [3, 4, 6, 8]), (2, 0, [4, 8])])
def test_keep_leaves_the_newest_checkpoints(tmp_path, keep, save_every, left):
    """2 epochs of 4 steps: checkpoints every ``save_every`` steps and at each epoch end; the newest
    ``keep`` stay and the newest of all is the end of training.

    Broken (one too many or too few pruned), the count differs."""
    directory = tmp_path / "run"
    train(None, epochs=2, checkpoints=CheckpointOptions(directory, save_every=save_every, keep=keep))
    assert [int(p.name[5:13]) for p in ckpt.checkpoints(directory)] == left
    assert ckpt.load_latest(directory)["step"] == 8 and not list(directory.glob("*.tmp"))


def test_save_step_prunes_by_step_number_and_drops_stray_temporary_files(tmp_path):
    """Pruning goes by step number (step 10 is newer than step 9), and a stray ``.tmp`` left by a
    killed writer is removed at the next save."""
    (tmp_path / "step-00000003.pt.tmp").write_bytes(b"half")
    for step in (10, 9, 2, 11):
        ckpt.save_step({"step": step}, tmp_path, step, keep=2)
    assert [p.name for p in ckpt.checkpoints(tmp_path)] == ["step-00000010.pt", "step-00000011.pt"]
    assert ckpt.load_latest(tmp_path)["step"] == 11 and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ConfigError, match="keep_checkpoints >= 1"):
        CheckpointOptions(tmp_path, keep=0)
