"""``Scorer``: what ``Predictor`` needs from a model, whatever runs it (PyTorch, the fast PyTorch
path, onnxruntime). Backends (``entitune.backends``) implement it; ``HeadScorer`` is the part they
share: labels, padding id and decoding by the model's own head.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from ..encode import WordEncoder
from ..artifact.settings import TaggerSettings


@runtime_checkable
class Scorer(Protocol):
    """A model as the predictor sees it.

    ``score_windows`` takes a collated batch of windows (``encode.collate``) and gives float32 CPU
    scores (batch, words, labels); ``decode`` turns merged scores (batch, words, labels) and a
    word mask (batch, words) into tag ids and their probabilities (batch, words). ``streams``:
    how many batches may be scored at once on worker threads (1: one after another).
    """

    settings: TaggerSettings
    word_encoder: WordEncoder
    streams: int

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def pad_id(self) -> int: ...

    def score_windows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def decode(self, scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class HeadScorer:
    """What every backend shares: labels from ``settings``, the tokenizer's padding id, and
    decoding with ``head`` (so every backend decodes with the same code: constrained Viterbi, CRF
    marginals). Subclasses set ``settings``, ``tokenizer``, ``head`` and ``word_encoder``, and
    implement ``score_windows``."""

    settings: TaggerSettings
    tokenizer: object
    head: torch.nn.Module
    word_encoder: WordEncoder
    streams: int = 1

    @property
    def labels(self) -> tuple[str, ...]:
        return self.settings.labels

    @property
    def pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else 0

    @torch.inference_mode()
    def decode(self, scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag ids and their probabilities (batch, words), on the CPU, by the head's decoder."""
        device = self.head.classifier.weight.device
        tags, probs = self.head.decode(scores.to(device), mask.to(device))
        return tags.cpu(), probs.cpu()
