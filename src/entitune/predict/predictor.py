"""``Predictor``: words or raw text -> tags and entities with character offsets and scores.

The one decode path of entitune: evaluation, the CLI and the server all call ``Predictor.tag`` or
``Predictor.predict``. Windows are batched by length, scored by a ``Scorer`` (any backend), merged
back per sentence (``encode.merge_windows``), then decoded over whole sentences by the model's
decoder (``decoding.TagDecoder``, in numpy for every backend: no torch here). Batching and worker
threads are ``engine.WindowScoring``'s; for an fp32 export answers are the same with any number of streams (tested). An int8 export scales
activations per batch, so its scores can move in the last digits with the batching.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from ..data.text import join_words, split_words
from ..encode import Window, length_grouped_batches, merge_windows
from ..tags import spans_from_tags, to_iob2
from ..types import Entity, Prediction, Tagged
from .engine import WindowScoring, as_sequence


class Predictor(WindowScoring):
    """Batched, windowed tagging with any backend's ``Scorer``: words or raw text -> tags and
    entities. See ``engine.WindowScoring`` for ``batch_size`` and ``chunk_size``."""

    #: sentences decoded together (at least ``batch_size``)
    decode_group = 128

    def tag(self, sentences: Sequence[Sequence[str]], documents: Sequence[Hashable] | None = None) -> list[Tagged]:
        """Tag word sequences; every word gets a tag, however long the sentence. ``documents``, one id
        per sentence (a document is a run of consecutive sentences with equal ids), lets a model
        trained with document context (``settings.context``) read each sentence's neighbours; it
        changes nothing for a model without."""
        sentences = as_sequence(sentences)
        return list(self._run(self._document_chunks(sentences, None if documents is None else as_sequence(documents))))

    def _document_chunks(self, items: Sequence, documents: Sequence[Hashable] | None) -> Iterator[Sequence]:
        """``_chunks`` of ``items``, or with document context, of ``InDocument`` items in chunks that
        end at a document boundary (so a chunk's windows see all their neighbours)."""
        if documents is None or not self.scorer.word_encoder.context:
            yield from self._chunks(items)
            return
        if len(documents) != len(items):
            raise ValueError(f"{len(items)} inputs but {len(documents)} document ids")
        chunk: list[InDocument] = []
        for item, doc in zip(items, documents):
            if len(chunk) >= self.chunk_size and doc != chunk[-1].doc:
                yield chunk
                chunk = []
            chunk.append(InDocument(item, doc))
        if chunk:
            yield chunk

    def _windows(self, sentences: Sequence) -> list[Window]:
        if sentences and isinstance(sentences[0], InDocument):
            return self.scorer.word_encoder.encode([s.item for s in sentences], documents=[s.doc for s in sentences])
        return self.scorer.word_encoder.encode(sentences)

    def _finish(self, sentences: Sequence, windows: list[Window], batches: list[list[int]],
                scores: list[np.ndarray]) -> list[Tagged]:
        """Merge the batches' scores per sentence and decode them."""
        sentences = [s.item if isinstance(s, InDocument) else s for s in sentences]
        return self._decode(sentences, self._merge(sentences, windows, batches, scores))

    @staticmethod
    def _merge(sentences: Sequence[Sequence[str]], windows: list[Window], batches: list[list[int]],
               scores: list[np.ndarray]) -> list[np.ndarray]:
        """Per sentence, a (words, labels) score array merged from its windows' batch scores."""
        window_scores: list[np.ndarray | None] = [None] * len(windows)
        for idx, batch_scores in zip(batches, scores):
            for row, i in enumerate(idx):
                window_scores[i] = batch_scores[row, : windows[i].n_words]
        if all(w.first_word == 0 and w.n_words == len(sentences[w.sentence]) for w in windows):
            return window_scores  # type: ignore[return-value]  # one window per sentence, in order
        return merge_windows(windows, window_scores, [len(s) for s in sentences])

    def _decode(self, sentences: Sequence[Sequence[str]], merged: list[np.ndarray]) -> list[Tagged]:
        """Decode whole sentences with the head, batched by length."""
        scheme = self.scorer.settings.scheme
        labels = self.scorer.labels
        out: list[Tagged | None] = [None] * len(sentences)
        lengths = [len(s) for s in sentences]
        # decoding never depends on the grouping: large groups mean few (vectorised) numpy calls
        for idx in length_grouped_batches(lengths, max(self.batch_size, self.decode_group), seed=0, shuffle=False):
            if lengths[idx[0]] == 0:  # longest first: the whole group is empty sentences
                for i in idx:
                    out[i] = Tagged((), (), (), ())
                continue
            group_lengths = np.array([lengths[i] for i in idx])
            # shape: (batch, words, labels) and (batch, words), zeros past each sentence's end
            padded = np.zeros((len(idx), int(group_lengths.max()), len(labels)), dtype=np.float32)
            for row, i in enumerate(idx):
                if lengths[i]:
                    padded[row, : lengths[i]] = merged[i]
            mask = np.arange(padded.shape[1]) < group_lengths[:, None]
            tag_ids, probs = self.scorer.decode(padded, mask)
            tag_ids, probs = tag_ids.tolist(), probs.tolist()
            for row, i in enumerate(idx):
                n = lengths[i]
                native = tuple(labels[t] for t in tag_ids[row][:n])
                tags = native if scheme == "IOB2" else tuple(to_iob2(native, scheme))
                out[i] = Tagged(tuple(sentences[i]), tags, tuple(probs[row][:n]), native)
        return out  # type: ignore[return-value]

    def predict(self, inputs: Iterable[str | Sequence[str]], documents: Iterable[Hashable] | None = None) -> list[Prediction]:
        """Tag raw texts (split into words here) or pre-split word lists, from any iterable (a
        generator is read whole first: ``stream`` is the lazy form, with bounded memory).

        Entity offsets index the raw text; for pre-split words they index the words joined by
        single spaces (the ``text`` of the result). An entity's score is the mean probability of
        its words' tags. A single string is one input (a list of one result), not a list of characters.
        ``documents``: one document id per input, as for ``tag``.
        """
        inputs = as_sequence(inputs)
        documents = None if documents is None else as_sequence(documents)
        parsed: list[tuple[str, list[str], list[tuple[int, int]]]] = []

        def word_chunks() -> Iterator[list]:
            # split chunk by chunk, when the scorer's turn draws the chunk: overlapped with scoring
            for chunk in self._document_chunks(inputs, documents):
                split = [_split_input(item.item if isinstance(item, InDocument) else item) for item in chunk]
                parsed.extend(split)
                yield [InDocument(words, item.doc) if isinstance(item, InDocument) else words
                       for (_, words, _), item in zip(split, chunk)]

        results: list[Prediction] = []
        for tagged in self._run(word_chunks()):
            text, _, offs = parsed[len(results)]
            entities = []
            for span in spans_from_tags(tagged.tags):
                start, end = offs[span.start][0], offs[span.end - 1][1]
                score = sum(tagged.scores[span.start : span.end]) / (span.end - span.start)
                entities.append(Entity(text[start:end], span.label, start, end, score, span.start, span.end))
            results.append(Prediction(text, tagged.words, tuple(offs), tagged.tags, tuple(entities)))
        return results


class InDocument(NamedTuple):
    """An input (words or text) and the id of the document it belongs to."""

    item: object
    doc: Hashable


def _split_input(item: str | Sequence[str]) -> tuple[str, list[str], list[tuple[int, int]]]:
    """A raw text split into words, or pre-split words joined by single spaces: (text, words,
    character offsets of the words in the text)."""
    if isinstance(item, str):
        split = split_words(item)
        return item, [w for w, _, _ in split], [(s, e) for _, s, e in split]
    words = [str(w) for w in item]
    text, offsets = join_words(words)
    return text, words, offsets
