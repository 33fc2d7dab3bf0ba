"""Checkpoint averaging (``TrainConfig.average_last``): the mean of the weights at the last K dev
evaluations of a run, SWA-style, kept as running sums on the CPU (a sum of the weights, never K
copies of them).

A running sum must start at the first of the K evaluations, so the loop has to know beforehand
which evaluations will be the last. Two windows cover the ways a run ends:

- ``end``: the last K of the evaluations the run plans (every ``eval_every`` steps and at every
  epoch end, over all its epochs); a run that completes averages these.
- ``streak``: under ``patience`` P (K <= P), the K evaluations that close a streak of P without a
  better dev score: those made P-K+1 to P evaluations after the best. A better score restarts it.
  A run stopped by patience averages these.

Both sums end at the newest evaluation, so whichever holds more evaluations is the average of the
last ones (``result``). A run cut short by its time budget averages what its windows hold (fewer
than K evaluations, or none: then there is no average).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class RunningSum:
    """The sum of state dicts added so far, on the CPU: floating tensors summed in float32, other
    tensors (integer buffers) kept as last added. ``steps``: the optimizer steps of the evaluations
    added."""

    def __init__(self, total: dict[str, torch.Tensor] | None = None, steps: Sequence[int] = ()) -> None:
        self.total = total
        self.steps = list(steps)

    @property
    def count(self) -> int:
        return len(self.steps)

    @torch.no_grad()
    def add(self, state: dict[str, torch.Tensor], step: int) -> None:
        if self.total is None:
            self.total = {k: _summable(v).clone() for k, v in state.items()}
        else:
            for k, v in state.items():
                if v.is_floating_point():
                    self.total[k] += _summable(v)
                else:
                    self.total[k] = v.detach().to("cpu").clone()
        self.steps.append(step)

    def mean(self, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean of the states added, each tensor in the dtype and on the device of ``like``'s."""
        assert self.total is not None and self.count, "nothing added"
        return {k: ((v / self.count) if v.is_floating_point() else v).to(like[k].device, like[k].dtype)
                for k, v in self.total.items()}

    def to_state(self) -> dict:
        """Tensors and plain values for a checkpoint (``checkpoint.save_step``)."""
        return {"total": self.total, "steps": list(self.steps)}

    @classmethod
    def from_state(cls, state: dict) -> "RunningSum":
        return cls(state["total"], state["steps"])


def _summable(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach().to("cpu")
    return tensor.float() if tensor.is_floating_point() else tensor


class LastEvaluations:
    """The running sums of the ``end`` and ``streak`` windows (module docstring).

    Args:
        k: evaluations to average.
        patience: the loop's patience (0: no early stop, no streak window).
        planned: the optimizer steps of every evaluation the run plans, in order.
    """

    def __init__(self, k: int, patience: int, planned: Sequence[int]) -> None:
        self.k = k
        self.patience = patience
        self.end_from = planned[-k] if len(planned) >= k else (planned[0] if planned else 0)
        self.end = RunningSum()
        self.streak = RunningSum()

    def observe(self, state: Callable[[], dict[str, torch.Tensor]], step: int, since_best: int) -> None:
        """The evaluation at ``step``, ``since_best`` evaluations after the best so far (0: it is the
        best); ``state()`` gives the weights then (asked for only when a window takes them)."""
        takes_end = step >= self.end_from
        takes_streak = bool(self.patience) and since_best >= self.patience - self.k + 1
        if self.patience and since_best == 0:
            self.streak = RunningSum()  # a better score: the early stop, if any, moves on
        if not (takes_end or takes_streak):
            return
        weights = state()
        if takes_end:
            self.end.add(weights, step)
        if takes_streak:
            self.streak.add(weights, step)

    def result(self) -> RunningSum | None:
        """The window of the last evaluations (the one holding more), or None when both are empty."""
        best = max((self.end, self.streak), key=lambda s: s.count)
        return best if best.count else None

    def to_state(self) -> dict:
        return {"end": self.end.to_state(), "streak": self.streak.to_state()}

    def load(self, state: dict) -> None:
        self.end = RunningSum.from_state(state["end"])
        self.streak = RunningSum.from_state(state["streak"])


def planned_evaluations(epoch_steps: Sequence[int], eval_every: int) -> list[int]:
    """The optimizer steps after which the loop evaluates: every ``eval_every`` steps (counted over
    the run) inside an epoch, and at every epoch's end; ``epoch_steps``: the steps of each epoch.

    >>> planned_evaluations([5, 5], 2)
    [2, 4, 5, 6, 8, 10]
    >>> planned_evaluations([3, 3], 0)
    [3, 6]
    """
    steps: list[int] = []
    done = 0
    for n in epoch_steps:
        if eval_every:
            steps += [s for s in range(done + 1, done + n) if s % eval_every == 0]
        done += n
        steps.append(done)
    return steps
