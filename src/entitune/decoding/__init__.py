"""Decoding, in numpy: emission scores -> tags and their probabilities. ``TagDecoder`` is a tagging
head's decoding rule as data (softmax or CRF, constraints, learned transitions), ``viterbi`` and
``marginals`` the algorithms. Every backend decodes with this code at inference (the PyTorch model
and an ONNX export alike), and it needs nothing but numpy."""
from .decoder import KINDS, TagDecoder, Transitions, constraint_tables
from .viterbi import FORBIDDEN, log_softmax, logsumexp, marginals, path_allowed, viterbi

__all__ = ["FORBIDDEN", "KINDS", "TagDecoder", "Transitions", "constraint_tables", "log_softmax", "logsumexp",
           "marginals", "path_allowed", "viterbi"]
