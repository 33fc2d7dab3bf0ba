"""``Scorer``: what ``Predictor`` needs from a model, whatever runs it (PyTorch, the fast PyTorch
path, onnxruntime). Backends (``entitune.backends``) implement it; ``HeadScorer`` is the part they
share: labels, padding id and decoding by the model's ``decoding.TagDecoder``.

The predictor layer speaks numpy: a scorer takes a batch of numpy arrays (``encode.pad_batch``)
and returns numpy scores, and every backend decodes them with the same numpy code. So the layer
needs no torch: an ONNX export runs with numpy, tokenizers and onnxruntime alone, and a PyTorch
model and its export decode with one code (the decoder's tables are the only thing that differs,
and an export carries its model's).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..artifact.settings import ClassifierSettings, TaggerSettings
from ..decoding import TagDecoder
from ..encode import WordEncoder


@runtime_checkable
class Scorer(Protocol):
    """A model as the predictor sees it.

    ``score_windows`` takes a padded batch of windows (``encode.pad_batch``: numpy arrays) and gives
    float32 scores as a numpy array, (batch, words, labels) for a tagger, (batch, labels) for a
    classifier; ``decode`` turns merged scores (batch, words, labels) and a word mask (batch,
    words) into tag ids and their probabilities (batch, words). ``streams``: how many batches may
    be scored at once on worker threads (1: one after another).
    """

    settings: TaggerSettings | ClassifierSettings
    word_encoder: WordEncoder
    streams: int

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def pad_id(self) -> int: ...

    def score_windows(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...

    def decode(self, scores: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class HeadScorer:
    """What every backend shares: labels from ``settings``, the tokenizer's padding id, and
    decoding with ``decoder`` (a tagger's ``decoding.TagDecoder``: constrained Viterbi, CRF
    marginals; None for a classifier, whose scores ``ClassPredictor`` reads). Subclasses set
    ``settings``, ``tokenizer``, ``decoder`` and ``word_encoder``, and implement ``score_windows``."""

    settings: TaggerSettings | ClassifierSettings
    tokenizer: object
    decoder: TagDecoder | None
    word_encoder: WordEncoder
    streams: int = 1

    @property
    def labels(self) -> tuple[str, ...]:
        return self.settings.labels

    @property
    def pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else 0

    def decode(self, scores: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag ids (int64) and their probabilities (float32), (batch, words), by the model's decoder."""
        if self.decoder is None:
            raise TypeError(f"a {self.settings.task} model has no tag decoder; ClassPredictor reads its scores")
        return self.decoder.decode(scores, mask)
