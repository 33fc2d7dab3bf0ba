"""Batched constrained Viterbi, forward-backward marginals and log-softmax over emission scores, in
numpy (float32). Loops run over time only, never over the batch.

This is the decoder of every backend at inference (PyTorch, an ONNX export under onnxruntime): it
needs nothing but numpy, so a deployed export decodes without torch, and it is the one code that
turns scores into tags wherever a model runs. ``model.heads.viterbi`` (torch) is the training side's
twin; ``tests/unit/decoding`` checks that the two pick the same path on random emissions,
transitions and masks, ties included (both take the first best label), and that each path is the
best by brute force over every path. The arithmetic is the torch code's, in the same order and
precision, so the scores of the paths compared are the same floats.

Written here rather than taken from a library: none that is kept up decodes batched linear-chain
scores under hard transition constraints with marginals in numpy alone (the torch side is
entitune's own for the same reason, see ``model/heads/crf.py``), and the export's runtime must not
need torch.
"""
from __future__ import annotations

import numpy as np

#: Score added to a forbidden transition: far below any path score, yet finite (no NaN from inf - inf).
#: The same number as ``model.heads.viterbi.FORBIDDEN``.
FORBIDDEN = np.float32(-1.0e4)


def viterbi(emissions: np.ndarray, mask: np.ndarray, start: np.ndarray, trans: np.ndarray,
            end: np.ndarray) -> np.ndarray:
    """Best tag path of each sequence.

    Args:
        emissions: (batch, words, labels) scores of each label at each word.
        mask: (batch, words) bool, True on real words; each row is a prefix of Trues (no gaps),
            and may be all False.
        start: (labels,) score of starting with each label.
        trans: (labels, labels) score of moving from label i (row) to label j (column).
        end: (labels,) score of ending with each label.

    Returns:
        (batch, words) int64 label ids; positions where ``mask`` is False hold the last real label
        (callers ignore them). Of equally good labels the first is taken, at every step.
    """
    if emissions.ndim != 3:
        raise ValueError(f"emissions must be (batch, words, labels), got shape {emissions.shape}")
    if mask.shape != emissions.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match emissions {emissions.shape[:2]}")
    batch, words, labels = emissions.shape
    if words == 0:
        return np.zeros((batch, 0), dtype=np.int64)
    emissions = emissions.astype(np.float32, copy=False)
    mask = mask.astype(bool, copy=False)
    start, trans, end = (np.asarray(t, dtype=np.float32) for t in (start, trans, end))
    # shape: (batch, labels)
    score = start[None, :] + emissions[:, 0]
    identity = np.broadcast_to(np.arange(labels, dtype=np.int64), (batch, labels))
    history: list[np.ndarray] = []
    for t in range(1, words):
        # shape: (batch, prev labels, next labels)
        candidates = score[:, :, None] + trans[None, :, :] + emissions[:, t][:, None, :]
        backpointer = candidates.argmax(axis=1)
        best = np.take_along_axis(candidates, backpointer[:, None, :], axis=1)[:, 0]
        on = mask[:, t][:, None]
        score = np.where(on, best, score)
        # past a sequence's end the path stays put, so backtracking passes through padding
        history.append(np.where(on, backpointer, identity))
    score = score + end[None, :]
    last = score.argmax(axis=1)  # shape: (batch,)
    path = [last]
    for backpointer in reversed(history):
        last = np.take_along_axis(backpointer, last[:, None], axis=1)[:, 0]
        path.append(last)
    path.reverse()
    return np.stack(path, axis=1)


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(x))) along ``axis``, shifted by the maximum (finite inputs: the decoders' scores
    are, since a forbidden transition is ``FORBIDDEN``, not -inf)."""
    top = x.max(axis=axis, keepdims=True)
    return (np.log(np.exp(x - top).sum(axis=axis, keepdims=True)) + top).squeeze(axis)


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """log-softmax over the last axis, float32."""
    scores = scores.astype(np.float32, copy=False)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def marginals(emissions: np.ndarray, mask: np.ndarray, start: np.ndarray, trans: np.ndarray,
              end: np.ndarray) -> np.ndarray:
    """P(tag at word t = label) under a linear-chain CRF with these transition scores, by
    forward-backward in log space; (batch, words, labels) float32. Shapes as for ``viterbi``."""
    emissions = emissions.astype(np.float32, copy=False)
    mask = mask.astype(bool, copy=False)
    start, trans, end = (np.asarray(t, dtype=np.float32) for t in (start, trans, end))
    batch, words, labels = emissions.shape
    if words == 0:
        return np.zeros((batch, 0, labels), dtype=np.float32)
    # shape: (batch, labels)
    alpha = start[None, :] + emissions[:, 0]
    alphas = [alpha]
    for t in range(1, words):
        # shape: (batch, prev, next) -> (batch, next)
        nxt = logsumexp(alpha[:, :, None] + trans[None, :, :] + emissions[:, t][:, None, :], axis=1)
        alpha = np.where(mask[:, t][:, None], nxt, alpha)
        alphas.append(alpha)
    log_z = logsumexp(alpha + end[None, :], axis=1)
    beta = np.broadcast_to(end[None, :], (batch, labels))
    betas = [beta]
    for t in range(words - 2, -1, -1):
        # shape: (batch, this, next) -> (batch, this)
        nxt = logsumexp(trans[None, :, :] + (emissions[:, t + 1] + beta)[:, None, :], axis=2)
        beta = np.where(mask[:, t + 1][:, None], nxt, beta)
        betas.append(beta)
    betas.reverse()
    log_marginals = np.stack(alphas, axis=1) + np.stack(betas, axis=1) - log_z[:, None, None]
    return np.exp(log_marginals)


def path_allowed(tags: np.ndarray, mask: np.ndarray, start: np.ndarray, trans: np.ndarray,
                 end: np.ndarray) -> np.ndarray:
    """(batch,) True where the path ``tags`` (batch, words) breaks no constraint within ``mask``:
    every table entry it uses is 0 (constraint tables hold 0 where allowed, ``FORBIDDEN`` where not)."""
    lengths = mask.sum(axis=1)
    if tags.shape[1] == 0:
        return np.ones(tags.shape[0], dtype=bool)
    last = np.take_along_axis(tags, np.clip(lengths - 1, 0, None)[:, None], axis=1)[:, 0]
    ok = (trans[tags[:, :-1], tags[:, 1:]] == 0) | ~mask[:, 1:]
    edges = (start[tags[:, 0]] == 0) & (end[last] == 0)
    return ok.all(axis=1) & (edges | (lengths == 0))
