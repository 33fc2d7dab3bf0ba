"""``ClassPredictor``: texts -> labels with probabilities, through the same batching engine as tagging.

A text longer than one window is read whole: every window is scored and the windows are combined
(``combine``). Single-label: the mean of the windows' log-probabilities, renormalised (a geometric
mean of their distributions). A window that carries no evidence gives every label about the same
log-probability, so it shifts them all alike and does not decide; a window with evidence does, however
many neutral windows surround it (the arithmetic mean of probabilities would dilute it). Multi-label:
each label's highest probability over the windows (a label holds if some part of the text shows it).
numpy, no torch: the scores come from any backend as numpy arrays.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..decoding import log_softmax
from ..encode import Window, text_windows
from ..types import Classification
from .engine import WindowScoring, as_sequence


def combine(logits: np.ndarray, multi_label: bool, windows: str = "all") -> np.ndarray:
    """(windows, labels) logits of one text -> (labels,) float32 probabilities (see the module
    docstring); ``windows="first"`` reads only the first window."""
    logits = np.asarray(logits, dtype=np.float32)
    if windows == "first":
        logits = logits[:1]
    if multi_label:
        return sigmoid(logits).max(axis=0)
    return np.exp(log_softmax(log_softmax(logits).mean(axis=0)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, float32, without overflow warnings for large negative logits."""
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


class ClassPredictor(WindowScoring):
    """Batched, windowed text classification with any backend's ``Scorer`` of a classifier.
    See ``engine.WindowScoring`` for ``batch_size`` and ``chunk_size``."""

    def classify(self, texts: Iterable[str | Sequence[str]]) -> list[Classification]:
        """Label each text (a pre-split word list is joined by spaces), from any iterable (a
        generator is read whole first: ``stream`` is the lazy form). A single string is one text (a
        list of one result), not a list of characters."""
        texts = as_sequence(texts)
        items = [t if isinstance(t, str) else " ".join(t) for t in texts]
        return list(self._run(self._chunks(items)))

    predict = classify  # the name the service and the CLI call

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, labels) combined probabilities, float32."""
        out = self.classify(texts)
        labels = self.scorer.labels
        return np.array([[c.scores[label] for label in labels] for c in out], dtype=np.float32).reshape(len(out), len(labels))

    def _windows(self, texts: Sequence[str]) -> list[Window]:
        return text_windows(self.scorer.word_encoder, texts, self.scorer.settings.pooling)

    def _finish(self, texts: Sequence[str], windows: list[Window], batches: list[list[int]],
                scores: list[np.ndarray]) -> list[Classification]:
        settings = self.scorer.settings
        per_text: list[list[tuple[int, np.ndarray]]] = [[] for _ in texts]
        for idx, batch_scores in zip(batches, scores):
            for row, i in enumerate(idx):
                per_text[windows[i].sentence].append((windows[i].first_word, batch_scores[row]))
        out = []
        labels = self.scorer.labels
        for text, rows in zip(texts, per_text):
            rows.sort(key=lambda r: r[0])  # windows in text order: "first" is the text's start
            probs = combine(np.stack([r[1] for r in rows]), settings.multi_label, settings.windows).tolist()
            best = max(range(len(labels)), key=probs.__getitem__)
            if settings.multi_label:
                chosen = tuple(label for label, p in zip(labels, probs) if p >= settings.threshold)
                label = labels[best] if probs[best] >= settings.threshold else None
            else:
                chosen, label = (labels[best],), labels[best]
            out.append(Classification(text, label, probs[best], chosen, dict(zip(labels, probs))))
        return out
