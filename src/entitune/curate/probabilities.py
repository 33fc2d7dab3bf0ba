"""What ``audit`` and ``select`` read from a saved model: each word's whole probability distribution
over the model's labels (``WordDistributions``), each text's over its classes (the classifier's
``Classification.scores``), and one vector per input for clustering (``mean_pooled``).

``Predictor.tag`` gives each word its decoded tag and that tag's probability; the other labels'
probabilities are computed on the way and dropped. ``WordDistributions`` is the predictor (same
windows, batching, merging and decoding: ``Predictor._finish`` runs unchanged) keeping them:

- linear head: the softmax of the word's scores, the distribution the decoder reads (with BIO
  constraints on, the decoded path is the best *allowed* one under these independent distributions);
- CRF and BiLSTM-CRF: each word's marginal distribution under the CRF (forward-backward over the
  whole sentence, transitions and constraints included), ``CRFHead.marginals``; the decoded tag's
  entry is the probability ``Predictor.tag`` reports for it.

This is the one place that reaches past the predictor's public surface (``_finish``, ``_merge``): a
public ``Predictor`` method giving the distributions would replace the subclass.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..encode import collate, length_grouped_batches
from ..errors import ConfigError
from ..predict import Predictor
from ..predict.predictor import InDocument
from ..types import Tagged

#: sentences whose distributions are computed together
GROUP = 128


@dataclass(frozen=True, eq=False)
class WordDistribution:
    """A tagged sentence and each word's probabilities over ``labels`` (words, labels), float64, rows
    summing to 1."""

    tagged: Tagged
    probs: np.ndarray


class WordDistributions(Predictor):
    """A ``Predictor`` that also keeps each word's distribution (see the module docstring). Make it
    from a loaded predictor's scorer: ``WordDistributions(entitune.load(path).scorer)``."""

    def distributions(self, sentences: Sequence[Sequence[str]]) -> list[WordDistribution]:
        """Tag ``sentences`` (as ``tag`` does) with every word's distribution over ``self.labels``."""
        return self.tag(sentences)  # type: ignore[return-value]  # _finish below makes the items

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels, in its own scheme (IOB2 or BIOES): the columns of ``probs``."""
        return tuple(self.scorer.labels)

    def _finish(self, sentences, windows, batches, scores):
        tagged = super()._finish(sentences, windows, batches, scores)
        plain = [s.item if isinstance(s, InDocument) else s for s in sentences]
        merged = [np.asarray(m, dtype=np.float32) for m in self._merge(plain, windows, batches, scores)]
        return [WordDistribution(t, p) for t, p in zip(tagged, self._probabilities(merged))]

    def _probabilities(self, merged: list[np.ndarray]) -> list[np.ndarray]:
        head = getattr(self.scorer, "head", None)
        if head is not None and hasattr(head, "marginals"):
            return _crf_marginals(head, merged)
        if self.scorer.settings.head != "linear":
            raise ConfigError(f"the word distributions of a {self.scorer.settings.head} model come from its CRF; "
                              "give the PyTorch model directory, not an ONNX export")
        return [_softmax(m) for m in merged]


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, float64. ``scores``: (words, labels)."""
    x = scores.astype(np.float64)
    x = np.exp(x - x.max(axis=-1, keepdims=True)) if x.size else x
    return x / x.sum(axis=-1, keepdims=True) if x.size else x


def _crf_marginals(head, merged: list[np.ndarray]) -> list[np.ndarray]:
    """Each sentence's CRF marginals (words, labels), sentences padded and run in groups."""
    import torch

    out: list[np.ndarray | None] = [None] * len(merged)
    lengths = [len(m) for m in merged]
    device = head.classifier.weight.device
    with torch.inference_mode():
        for idx in length_grouped_batches(lengths, GROUP, seed=0, shuffle=False):
            width = max(lengths[i] for i in idx)
            if width == 0:
                for i in idx:
                    out[i] = merged[i].astype(np.float64)
                continue
            # shape: (batch, words, labels) and (batch, words)
            padded = np.zeros((len(idx), width, merged[idx[0]].shape[1]), dtype=np.float32)
            for row, i in enumerate(idx):
                padded[row, : lengths[i]] = merged[i]
            mask = torch.arange(width).unsqueeze(0) < torch.tensor([lengths[i] for i in idx]).unsqueeze(1)
            marginals = head.marginals(torch.from_numpy(padded).to(device), mask.to(device)).double().cpu().numpy()
            for row, i in enumerate(idx):
                m = marginals[row, : lengths[i]]
                out[i] = m / m.sum(axis=-1, keepdims=True)
    return out  # type: ignore[return-value]


def mean_pooled(scorer, word_lists: Sequence[Sequence[str]], batch_size: int = 64) -> np.ndarray:
    """One vector per word list (n, hidden), float32: the mean of its words' vectors from the model's
    encoder (each word's first sub-token in the last layer, as the head reads it), over every
    window the input needs. Needs the PyTorch model (a ``TorchScorer``): an ONNX export's graph
    ends in label scores."""
    import torch

    model = getattr(scorer, "tagger", None)
    if model is None or not hasattr(model, "encode_words"):
        raise ConfigError("diversity clusters the encoder's vectors: give the PyTorch model directory, not an ONNX "
                          "export (or leave diversity off)")
    items = [list(w) or ["."] for w in word_lists]
    windows = scorer.word_encoder.encode(items)
    sums: np.ndarray | None = None
    counts = np.zeros(len(items), dtype=np.float64)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx in length_grouped_batches([len(w.input_ids) for w in windows], batch_size, seed=0, shuffle=False):
            batch = {k: v.to(device) for k, v in collate([windows[i] for i in idx], scorer.pad_id).items()}
            # shape: (batch, words, hidden)
            vectors = model.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                         batch["token_type_ids"]).float()
            mask = batch["word_mask"].unsqueeze(-1).float()
            pooled = (vectors * mask).sum(1).double().cpu().numpy()
            if sums is None:
                sums = np.zeros((len(items), pooled.shape[1]), dtype=np.float64)
            for row, i in enumerate(idx):
                sums[windows[i].sentence] += pooled[row]
                counts[windows[i].sentence] += float(mask[row].sum())
    assert sums is not None
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
