"""Heads that turn word vectors into tag scores; each has ``forward``, ``loss`` and ``decode``."""
from .linear import LinearHead
from .viterbi import FORBIDDEN, constraint_tensors, viterbi

HEADS = ("linear",)

__all__ = ["FORBIDDEN", "HEADS", "LinearHead", "constraint_tensors", "viterbi"]
