"""A run killed at ANY point resumes to the run that was never interrupted, bit for bit: final
weights, where and why it stopped, every evaluation (score, best or not), the best evaluation kept,
the running sums of checkpoint averaging and the average's verdict. Two runs that stop early are
cut at every save point (``save_every=1``: after each optimizer step, before and after each
epoch-end evaluation, and where training stopped):

- ``patience``: a streak without improvement that a better score breaks mid-way, ties with the
  best (no improvement), then an early stop in the middle of an epoch, averaging the streak's last
  evaluations (the average is kept);
- ``time budget``: a clock that restarts from another time in each process, evaluations every 3
  steps, a stop in the middle of an epoch, averaging the planned last evaluations (the average
  loses to the best single evaluation).

A kill is an exception raised right after the n-th checkpoint file is complete (as a SIGKILL there
would leave the directory); the run is then resumed in the same directory, which keeps only the
newest 2 checkpoints, as a real run would. Dev scores are a function of the weights: the
uninterrupted run's n-th evaluation gets the n-th score of a list, and any other run looks its
weights up, so a resumed run whose weights differ by one bit fails at that evaluation.

The loop is driven directly on a BERT-shaped model of a few hundred parameters (with dropout and
compact embedding rows), so the whole file runs in seconds."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import entitune.train.loop as loop
from entitune.errors import ConfigError
from entitune.train import CheckpointOptions, TrainConfig
from entitune.train import checkpoint as ckpt
from entitune.train.compact import COMPACT_SUFFIX
from entitune.train.loop import DevEvaluation, train_loop

VOCAB, HIDDEN, LABELS = 24, 8, 3


class TinyEncoder(nn.Module):
    """BERT's parameter names on a few hundred weights: embeddings (with dropout), 2 residual layers."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.embeddings.LayerNorm = nn.LayerNorm(HIDDEN)
        self.embeddings.dropout = nn.Dropout(0.2)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(nn.Linear(HIDDEN, HIDDEN) for _ in range(2))

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
    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.encoder = TinyEncoder()
            self.head = nn.Linear(HIDDEN, LABELS)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.head(self.encoder(batch["input_ids"]))
        real = batch["attention_mask"].bool()
        return F.cross_entropy(logits[real], batch["labels"][real])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        return float(batch["attention_mask"].sum())


class TinyData:
    """12 random sentences of 2-6 token ids (4 optimizer steps an epoch at batch size 3)."""

    def __init__(self) -> None:
        rng = random.Random(0)
        self.examples = [[rng.randrange(2, VOCAB) for _ in range(rng.randrange(2, 7))] for _ in range(12)]
        self.lengths = [len(e) for e in self.examples]

    def collate(self, indices) -> dict[str, torch.Tensor]:
        ids = torch.zeros(len(indices), max(self.lengths[i] for i in indices), dtype=torch.long)
        for row, i in enumerate(indices):
            ids[row, : self.lengths[i]] = torch.tensor(self.examples[i])
        return {"input_ids": ids, "attention_mask": (ids > 0).long(), "labels": ids % LABELS}


DATA = TinyData()
#: token id 1 never occurs: its embedding row must stay as it was through every resume
USED_IDS = sorted({i for e in DATA.examples for i in e})


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith(COMPACT_SUFFIX)}


def digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class WeightScores:
    """Dev scores as a function of the weights. With ``scores``: the n-th evaluation scores the n-th
    of them, and the weights it saw are entered in ``table``; without: the weights are looked up, and
    weights the uninterrupted run never evaluated fail the test there."""

    def __init__(self, model: nn.Module, table: dict[str, float], scores: list[float] | None = None) -> None:
        self.model, self.table, self.scores, self.calls = model, table, scores, 0

    def run(self) -> dict:
        key = digest(weights(self.model))
        if self.scores is not None:
            self.table[key] = self.scores[self.calls]
        elif key not in self.table:
            raise AssertionError("evaluated weights that the uninterrupted run never had")
        self.calls += 1
        return {"weights": key}

    def evaluation(self) -> DevEvaluation:
        return DevEvaluation(run=self.run, score=lambda report: self.table[report["weights"]], metric="rigged")


class Killed(BaseException):
    """What stops a run right after a checkpoint is complete (a BaseException: nothing catches it)."""


@dataclass
class Scenario:
    config: TrainConfig
    scores: list[float]  # of the uninterrupted run's evaluations, in order, then the average's
    evaluation_steps: list[int]
    stopped: dict
    average_steps: list[int]
    average_kept: bool
    # checkpoint writes of the uninterrupted run: one a step (but at a patience stop), two at an epoch end
    # (before and after its evaluation), one at the stop
    saves: int


BASE = dict(epochs=3, lr=1e-2, head_lr=3e-2, batch_size=3, warmup=0.25, seed=11)
SCENARIOS = {
    # best at 2, a tie (4) and a streak (3-5) that step 6 breaks, then 7-10 without improvement
    # (9 ties the best): patience 4 stops after step 10, in epoch 3; the average of 9 and 10 wins
    "patience": Scenario(
        TrainConfig(**BASE, eval_every=1, patience=4, average_last=2),
        [0.10, 0.30, 0.20, 0.30, 0.25, 0.50, 0.40, 0.45, 0.50, 0.10, 0.55],
        list(range(1, 11)), {"reason": "patience", "step": 10, "epoch": 3, "patience": 4}, [9, 10], True, 12),
    # 1 s a step, a 9.5 s budget: 10 steps; evaluations at 3, 4 (epoch end), 6, 8 (epoch end), 9 and
    # 10 (the stop); the planned last two are 9 and 12, so 9 and 10 are averaged, and lose to step 8
    "time budget": Scenario(
        TrainConfig(**BASE, eval_every=3, average_last=2, time_budget_s=9.5),
        [0.20, 0.50, 0.40, 0.60, 0.30, 0.35, 0.58],
        [3, 4, 6, 8, 9, 10], {"reason": "time_budget", "step": 10, "epoch": 3, "budget_s": 9.5}, [9, 10], False, 13),
}


@dataclass
class Outcome:
    result: object
    weights: dict
    window: dict  # the averaging window's running sum as a checkpoint stores it
    best_state: dict | None
    steps: list[int]  # steps this process trained
    start_step: int


def run(monkeypatch, scenario: Scenario, table: dict, directory, *, record: bool = False, kill_after: int | None = None,
        resume: bool = False, clock_from: float = 0.0) -> Outcome:
    """One process of the run: trains (or resumes) in ``directory``, writing a checkpoint every step;
    raises ``Killed`` right after its ``kill_after``-th checkpoint write. Its clock starts at
    ``clock_from`` and advances 1 s a step."""
    now = [clock_from]
    writes = [0]
    original_save = ckpt.save_step

    def save_step(obj, directory_, step, keep):
        path = original_save(obj, directory_, step, keep)
        writes[0] += 1
        if writes[0] == kill_after:
            raise Killed
        return path

    kept = {}
    original_keep = loop._keep_average

    def keep_average(model, window, best_state, dev, result):
        kept["window"] = {"steps": list(window.steps), "total": {k: v.clone() for k, v in window.total.items()}}
        kept["best_state"] = best_state
        return original_keep(model, window, best_state, dev, result)

    class Listener:
        def __init__(self) -> None:
            self.steps: list[int] = []
            self.start_step = 0

        def on_start(self, total_steps, steps_per_epoch, start_step=0):
            self.steps, self.start_step = [], start_step

        def on_step(self, step, loss, subwords_per_s, lr):
            self.steps.append(step)
            now[0] += 1.0

        def on_epoch(self, result):
            pass

    monkeypatch.setattr(ckpt, "save_step", save_step)
    monkeypatch.setattr(loop, "_keep_average", keep_average)
    monkeypatch.setattr(loop, "_clock", lambda: now[0])
    # one thread: a model this small trains about 10x slower on two threads of a busy 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = TinyModel()
        dev = WeightScores(model, table, scenario.scores if record else None)
        listener = Listener()
        result = train_loop(model, DATA, scenario.config, scenario.config.head_lr, dev.evaluation(), listener,
                            CheckpointOptions(directory, save_every=1, keep=1000 if record else 2, resume=resume),
                            USED_IDS)
    finally:
        torch.set_num_threads(threads)
        monkeypatch.undo()
    if record:
        assert writes[0] == scenario.saves, "the scenario's premise changed: another number of checkpoint writes"
    return Outcome(result, weights(model), kept.get("window"), kept.get("best_state"), listener.steps,
                   listener.start_step)


def _evaluations(result) -> list[tuple]:
    return [(e.step, e.epoch, e.epoch_end, e.metric, e.score, e.is_best, e.dev) for e in result.evaluations]


def _epochs(result) -> list[tuple]:
    # everything but the wall-clock seconds
    return [(e.epoch, e.train_loss, e.subwords, e.positions, e.dev, e.is_best, e.metric, e.score)
            for e in result.epochs]


def _same_state(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_same_run(got: Outcome, expected: Outcome, where: str) -> None:
    e, g = expected.result, got.result
    assert g.stopped == e.stopped, where
    assert _evaluations(g) == _evaluations(e), where
    assert (g.best_step, g.best_epoch, g.best_score, g.best_dev) == (e.best_step, e.best_epoch, e.best_score,
                                                                      e.best_dev), where
    assert g.average == e.average, where
    assert _epochs(g) == _epochs(e), where
    assert got.window["steps"] == expected.window["steps"], where
    assert _same_state(got.window["total"], expected.window["total"]), f"{where}: other running sums"
    assert _same_state(got.best_state, expected.best_state), f"{where}: other best weights"
    assert _same_state(got.weights, expected.weights), f"{where}: other final weights"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Each scenario's run without interruption: its outcome and the table of its dev scores."""
    out = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, scenario in SCENARIOS.items():
            table: dict[str, float] = {}
            outcome = run(monkeypatch, scenario, table, tmp_path_factory.mktemp("full"), record=True)
            out[name] = (outcome, table)
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_uninterrupted_runs_are_what_the_scenarios_say(uninterrupted, name):
    """The premises: where each run evaluates, stops, what it averages and keeps, and that the
    weights kept are those of the best evaluation or the average, as the scenario says."""
    scenario = SCENARIOS[name]
    outcome, table = uninterrupted[name]
    result = outcome.result
    assert [e.step for e in result.evaluations] == scenario.evaluation_steps
    assert [e.score for e in result.evaluations] == scenario.scores[:-1]
    assert result.stopped == scenario.stopped and outcome.steps == list(range(1, scenario.stopped["step"] + 1))
    assert result.average["steps"] == scenario.average_steps and result.average["kept"] == scenario.average_kept
    assert len(table) == len(scenario.scores), "two evaluations saw the same weights"
    best = max(scenario.scores[:-1])
    assert result.best_step == scenario.evaluation_steps[scenario.scores.index(best)]
    if scenario.average_kept:
        assert table[digest(outcome.weights)] == scenario.scores[-1]
    else:
        assert _same_state(outcome.weights, outcome.best_state) and table[digest(outcome.weights)] == best
    # the embedding row of a token the data never uses is untouched (compact training is exact)
    assert torch.equal(outcome.weights["encoder.embeddings.word_embeddings.weight"][1],
                       TinyModel().state_dict()["encoder.embeddings.word_embeddings.weight"][1])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_run_killed_after_any_checkpoint_resumes_to_the_uninterrupted_run(uninterrupted, tmp_path, name):
    """Killed right after each of its checkpoint writes in turn (after every step; at epoch ends
    both before and after the epoch-end evaluation; at the stop), resumed in the same directory
    from a clock that starts elsewhere: the same stop, evaluations, best evaluation, averaging sums,
    average and final weights, bit for bit, and each step trained exactly once over the two
    processes.

    Broken (the patience count, the best score or weights, an averaging window, the elapsed time,
    the random streams or the position in the data not carried by the checkpoint, or restored one
    step off), some resume point ends elsewhere."""
    scenario = SCENARIOS[name]
    expected, table = uninterrupted[name]
    for kill_after in range(1, scenario.saves + 1):
        directory = tmp_path / f"killed-after-{kill_after}"
        with pytest.MonkeyPatch.context() as monkeypatch:
            with pytest.raises(Killed):
                run(monkeypatch, scenario, table, directory, kill_after=kill_after, clock_from=1000.0)
            killed_at = ckpt.load_latest(directory)["step"]
            resumed = run(monkeypatch, scenario, table, directory, resume=True, clock_from=-5000.0)
        where = f"{name}: killed after checkpoint write {kill_after} (step {killed_at})"
        assert resumed.start_step == killed_at, where
        assert resumed.steps == list(range(killed_at + 1, scenario.stopped["step"] + 1)), where
        assert_same_run(resumed, expected, where)


@pytest.mark.parametrize(("first", "second"), [(2, 3), (5, 1), (6, 5), (9, 2)])
def test_a_resumed_run_killed_again_still_ends_as_the_uninterrupted_run(uninterrupted, tmp_path, first, second):
    """Killed, resumed, killed again ``second`` checkpoints later (across an epoch end and inside the
    patience streak), resumed again: the checkpoints a resumed run writes carry the state on as
    the first run's did."""
    scenario = SCENARIOS["patience"]
    expected, table = uninterrupted["patience"]
    directory = tmp_path / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        with pytest.raises(Killed):
            run(monkeypatch, scenario, table, directory, kill_after=first, clock_from=10.0)
        with pytest.raises(Killed):
            run(monkeypatch, scenario, table, directory, resume=True, kill_after=second, clock_from=20.0)
        resumed = run(monkeypatch, scenario, table, directory, resume=True, clock_from=30.0)
    assert_same_run(resumed, expected, f"killed after writes {first} and then {second}")


def test_a_resume_may_extend_the_time_budget_but_not_change_patience(uninterrupted, tmp_path):
    """The time budget is left out of the settings a checkpoint must share (a resumed run may be given
    more time, and then trains on); patience is not: resuming under another patience is refused."""
    from dataclasses import replace

    scenario = SCENARIOS["time budget"]
    _, table = uninterrupted["time budget"]
    directory = tmp_path / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        with pytest.raises(Killed):
            run(monkeypatch, scenario, table, directory, kill_after=3)
        longer = replace(scenario, config=replace(scenario.config, time_budget_s=10.5))
        with pytest.raises(AssertionError, match="never had"):  # step 11 is new: the table has no score for it
            run(monkeypatch, longer, table, directory, resume=True)
        assert ckpt.load_latest(directory)["step"] == 11  # trained past the 9.5 s stop (step 10)
        other = replace(scenario, config=replace(scenario.config, patience=3))
        with pytest.raises(ConfigError, match="other training settings"):
            run(monkeypatch, other, table, directory, resume=True)
