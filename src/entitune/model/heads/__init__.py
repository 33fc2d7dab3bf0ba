"""Heads: tagging heads turn word vectors into tag scores (``forward``, ``loss``, ``loss_weight``,
``decode``; all decode with the one batched Viterbi, ``viterbi``); ``ClassificationHead`` pools a
window into class scores."""
from __future__ import annotations

import torch

from ...errors import check_choice
from ...options.choices import HEADS
from .classify import ClassificationHead
from .crf import CRFHead
from .linear import LinearHead
from .viterbi import FORBIDDEN, constraint_tensors, viterbi


def build_head(
    kind: str, hidden: int, num_labels: int, dropout: float,
    constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None, lstm_hidden: int = 256,
) -> LinearHead | CRFHead:
    """The head named ``kind`` (one of ``HEADS``)."""
    check_choice("head", kind, HEADS)
    if kind == "linear":
        return LinearHead(hidden, num_labels, dropout, constraints)
    if kind == "crf":
        return CRFHead(hidden, num_labels, dropout, constraints)
    if kind == "bilstm-crf":
        return CRFHead(hidden, num_labels, dropout, constraints, lstm_hidden=lstm_hidden)
    raise AssertionError(kind)


__all__ = ["FORBIDDEN", "HEADS", "CRFHead", "ClassificationHead", "LinearHead", "build_head", "constraint_tensors", "viterbi"]
