"""``Predictor``: words or raw text -> tags and entities with character offsets and scores.

The one decode path of entitune: evaluation, the CLI and (later) the server all call
``Predictor.tag``. Windows are batched by length under ``torch.inference_mode``, merged back per
sentence (``encode.merge_windows``), then decoded per sentence by the head over whole sentences.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .encode import collate, length_grouped_batches, merge_windows
from .model import Tagger
from .tags import spans_from_tags, to_iob2
from .text import join_words, split_words
from .types import Entity


@dataclass(frozen=True)
class Tagged:
    """Tags of one word sequence (IOB2) and the probability the model gave each chosen tag.

    ``native`` holds the tags in the model's own scheme (the same as ``tags`` for IOB2 models).
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    scores: tuple[float, ...]
    native: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Prediction:
    """A tagged input: its text, words with offsets, tags, and entities."""

    text: str
    words: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    tags: tuple[str, ...]
    entities: tuple[Entity, ...]

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "words": list(self.words),
            "tags": list(self.tags),
            "entities": [e.to_dict() for e in self.entities],
        }


class Predictor:
    """Batched, windowed tagging with a ``Tagger`` or an exported model (``onnx_backend.OnnxTagger``).

    Args:
        tagger: the model; anything with ``score_windows(batch)``, ``word_encoder``, ``pad_id``,
            ``labels``, ``settings`` and a ``head`` with ``decode`` (put in eval mode here).
        batch_size: windows per forward pass.
    """

    def __init__(self, tagger: Tagger, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tagger = tagger
        self.batch_size = batch_size

    @torch.inference_mode()
    def tag(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag word sequences; every word gets a tag, however long the sentence."""
        tagger = self.tagger
        was_training = tagger.training
        if was_training:  # switching modes walks every module: only when needed
            tagger.eval()
        try:
            merged = self._word_scores(sentences)
            return self._decode(sentences, merged)
        finally:
            if was_training:
                tagger.train(True)

    def _word_scores(self, sentences: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Per sentence, a (words, labels) score tensor merged from its windows."""
        tagger = self.tagger
        windows = tagger.word_encoder.encode(sentences)
        window_scores: list[torch.Tensor | None] = [None] * len(windows)
        lengths = [len(w.input_ids) for w in windows]
        for idx in length_grouped_batches(lengths, self.batch_size, seed=0, shuffle=False):
            # shape: (batch, words, labels)
            scores = tagger.score_windows(collate([windows[i] for i in idx], tagger.pad_id))
            for row, i in enumerate(idx):
                window_scores[i] = scores[row, : windows[i].n_words]
        if all(w.first_word == 0 and w.n_words == len(sentences[w.sentence]) for w in windows):
            return window_scores  # type: ignore[return-value]  # one window per sentence, in order
        return merge_windows(windows, window_scores, [len(s) for s in sentences])

    def _decode(self, sentences: Sequence[Sequence[str]], merged: list[torch.Tensor]) -> list[Tagged]:
        """Decode whole sentences with the head, batched by length."""
        tagger = self.tagger
        scheme = tagger.settings.scheme
        labels = tagger.labels
        device = tagger.head.classifier.weight.device
        out: list[Tagged | None] = [None] * len(sentences)
        # decoding is cheap and batching never changes its result: decode in larger groups
        for idx in length_grouped_batches([len(s) for s in sentences], max(self.batch_size, 64), seed=0, shuffle=False):
            longest = max(len(sentences[i]) for i in idx)
            if longest == 0:
                for i in idx:
                    out[i] = Tagged((), (), (), ())
                continue
            # shape: (batch, words, labels)
            padded = torch.zeros((len(idx), longest, len(labels)))
            mask = torch.zeros((len(idx), longest), dtype=torch.bool)
            for row, i in enumerate(idx):
                n = len(sentences[i])
                if n:
                    padded[row, :n] = merged[i]
                    mask[row, :n] = True
            tag_ids, probs = tagger.head.decode(padded.to(device), mask.to(device))
            tag_ids, probs = tag_ids.cpu().tolist(), probs.cpu().tolist()
            for row, i in enumerate(idx):
                n = len(sentences[i])
                native = tuple(labels[t] for t in tag_ids[row][:n])
                tags = native if scheme == "IOB2" else tuple(to_iob2(native, scheme))
                out[i] = Tagged(tuple(sentences[i]), tags, tuple(probs[row][:n]), native)
        return out  # type: ignore[return-value]

    def predict(self, inputs: Sequence[str | Sequence[str]]) -> list[Prediction]:
        """Tag raw texts (split into words here) or pre-split word lists.

        Entity offsets index the raw text; for pre-split words they index the words joined by
        single spaces (the ``text`` of the result). An entity's score is the mean probability of
        its words' tags.
        """
        texts: list[str] = []
        word_lists: list[list[str]] = []
        offsets: list[list[tuple[int, int]]] = []
        for item in inputs:
            if isinstance(item, str):
                split = split_words(item)
                texts.append(item)
                word_lists.append([w for w, _, _ in split])
                offsets.append([(s, e) for _, s, e in split])
            else:
                words = [str(w) for w in item]
                text, offs = join_words(words)
                texts.append(text)
                word_lists.append(words)
                offsets.append(offs)
        results: list[Prediction] = []
        for text, offs, tagged in zip(texts, offsets, self.tag(word_lists)):
            entities = []
            for span in spans_from_tags(tagged.tags):
                start, end = offs[span.start][0], offs[span.end - 1][1]
                score = sum(tagged.scores[span.start : span.end]) / (span.end - span.start)
                entities.append(Entity(text[start:end], span.label, start, end, score, span.start, span.end))
            results.append(Prediction(text, tagged.words, tuple(offs), tagged.tags, tuple(entities)))
        return results


BACKENDS = ("auto", "torch", "onnx")


def load_model(path, backend: str = "auto", threads: int | None = None):
    """A model for ``Predictor`` from a directory: ``Tagger.load`` (backend ``torch``) or
    ``OnnxTagger.load`` for an ``entitune export`` directory (backend ``onnx``). ``auto`` picks
    ``onnx`` when the directory holds ``model.onnx``."""
    from .errors import ConfigError
    from .onnx_backend import OnnxTagger, is_onnx_export

    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnx" or (backend == "auto" and is_onnx_export(path)):
        return OnnxTagger.load(path, threads=threads)
    return Tagger.load(path)
