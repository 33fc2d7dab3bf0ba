"""Batched Viterbi decoding under transition scores, as tensor operations.

One decoder for every head: the linear head passes log-softmax scores and hard constraints
(0 allowed, ``FORBIDDEN`` not); a CRF passes its learned transitions plus the same constraints.
Loops run over time only, never over the batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

#: Score added to a forbidden transition: far below any path score, yet finite (no NaN from inf - inf).
FORBIDDEN = -1.0e4


def constraint_tensors(
    start: Sequence[bool], trans: Sequence[Sequence[bool]], end: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Allowed-transition tables (from ``tags.allowed_transitions``) as additive score tensors.

    Returns ``start`` (C,), ``trans`` (C, C) and ``end`` (C,) float tensors: 0 where allowed,
    ``FORBIDDEN`` where not.
    """

    def to_scores(allowed) -> torch.Tensor:
        t = torch.tensor(allowed, dtype=torch.bool)
        return torch.where(t, 0.0, FORBIDDEN).float()

    return to_scores(start), to_scores(trans), to_scores(end)


def register_constraints(
    module: torch.nn.Module, num_labels: int, constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None
) -> None:
    """Give a head ``start_constraint`` (C,), ``trans_constraint`` (C, C), ``end_constraint`` (C,)
    buffers: the given constraints, or zeros. Buffers move with ``.to(device)`` but are neither
    trained nor saved (they are rebuilt from the labels on load)."""
    if constraints is None:
        constraints = (torch.zeros(num_labels), torch.zeros(num_labels, num_labels), torch.zeros(num_labels))
    for name, tensor in zip(("start_constraint", "trans_constraint", "end_constraint"), constraints):
        module.register_buffer(name, tensor.float(), persistent=False)


def viterbi(
    emissions: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    trans: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """Best tag path of each sequence.

    Args:
        emissions: (batch, words, labels) scores of each label at each word.
        mask: (batch, words) bool, True on real words; each row is a prefix of Trues (no gaps),
            and may be all False.
        start: (labels,) score of starting with each label.
        trans: (labels, labels) score of moving from label i (row) to label j (column).
        end: (labels,) score of ending with each label.

    Returns:
        (batch, words) long tensor of label ids; positions where ``mask`` is False hold the last
        real label (callers ignore them).
    """
    if emissions.dim() != 3:
        raise ValueError(f"emissions must be (batch, words, labels), got shape {tuple(emissions.shape)}")
    if mask.shape != emissions.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match emissions {tuple(emissions.shape[:2])}")
    batch, words, labels = emissions.shape
    if words == 0:
        return torch.zeros((batch, 0), dtype=torch.long, device=emissions.device)
    emissions = emissions.float()
    mask = mask.bool()
    # shape: (batch, labels)
    score = start.unsqueeze(0) + emissions[:, 0]
    identity = torch.arange(labels, device=emissions.device).unsqueeze(0).expand(batch, labels)
    history: list[torch.Tensor] = []
    for t in range(1, words):
        # shape: (batch, prev labels, next labels)
        candidates = score.unsqueeze(2) + trans.unsqueeze(0) + emissions[:, t].unsqueeze(1)
        best, backpointer = candidates.max(dim=1)
        on = mask[:, t].unsqueeze(1)
        score = torch.where(on, best, score)
        # past a sequence's end the path stays put, so backtracking passes through padding
        history.append(torch.where(on, backpointer, identity))
    score = score + end.unsqueeze(0)
    last = score.argmax(dim=1)  # shape: (batch,)
    path = [last]
    for backpointer in reversed(history):
        last = backpointer.gather(1, last.unsqueeze(1)).squeeze(1)
        path.append(last)
    path.reverse()
    return torch.stack(path, dim=1)
