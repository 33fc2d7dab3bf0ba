"""Mention replacement, a data augmentation for NER (Dai & Adel 2020, "An Analysis of Simple Data
Augmentation for Named Entity Recognition"): a copy of a training sentence in which every entity
mention is swapped for another mention of the same type drawn from the training data. The tagger
sees familiar contexts around unfamiliar names, which is what data whose test set is mostly new
entities (WNUT-17) asks of it. Written here because it is a dozen lines over the IOB2 spans this
package already reads; the augmentation libraries (nlpaug and the like) work on raw text and would
lose the tags.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from ..tags import spans_from_tags
from ..types import Sentence


def mention_pool(sentences: Sequence[Sentence]) -> dict[str, list[tuple[str, ...]]]:
    """Every entity mention's words in ``sentences`` (IOB2), by type, in reading order (repeats kept:
    a frequent mention is drawn as often as it occurs).

    >>> mention_pool([Sentence(("films", "with", "drew", "barrymore"), ("O", "O", "B-ACTOR", "I-ACTOR"))])
    {'ACTOR': [('drew', 'barrymore')]}
    """
    pool: dict[str, list[tuple[str, ...]]] = {}
    for s in sentences:
        for span in spans_from_tags(s.tags or ()):
            pool.setdefault(span.label, []).append(tuple(s.words[span.start:span.end]))
    return pool


def replace_mentions(sentences: Sequence[Sentence], copies: int, seed: int, first_doc: int = 0) -> list[Sentence]:
    """``copies`` new sentences for each of ``sentences`` (IOB2) that holds an entity, each mention
    swapped for one drawn (seeded, uniformly from ``mention_pool``) of the same type; sentences
    without entities give none. Each copy keeps its source's ``line`` and is a document of its own
    (``doc`` from ``first_doc`` up), so document context never reads a copy as a neighbour; raw
    ``text`` and ``offsets`` are dropped (they describe the source's words).

    >>> s = [Sentence(("films", "with", "drew", "barrymore"), ("O", "O", "B-ACTOR", "I-ACTOR")),
    ...      Sentence(("bruce", "willis", "movies"), ("B-ACTOR", "I-ACTOR", "O")),
    ...      Sentence(("hello",), ("O",))]
    >>> [c.words for c in replace_mentions(s, copies=1, seed=7)]
    [('films', 'with', 'bruce', 'willis'), ('drew', 'barrymore', 'movies')]
    """
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    pool = mention_pool(sentences)
    rng = random.Random(seed)
    out: list[Sentence] = []
    for s in sentences:
        source_tags = s.tags or ()
        spans = spans_from_tags(source_tags)
        if not spans:
            continue
        for _ in range(copies):
            words: list[str] = []
            tags: list[str] = []
            last = 0
            for span in spans:
                words += s.words[last:span.start]
                tags += source_tags[last:span.start]
                mention = rng.choice(pool[span.label])
                words += mention
                tags += [f"B-{span.label}"] + [f"I-{span.label}"] * (len(mention) - 1)
                last = span.end
            words += s.words[last:]
            tags += source_tags[last:]
            out.append(Sentence(tuple(words), tuple(tags), s.line, first_doc + len(out)))
    return out
