"""Honest floors for integration tests: what a model-free tagger scores on the same data.

``lookup_baseline`` tags each test word with the tag it most often had in training (lowercased;
unseen words ``O``), then mends the IOB2 sequence (an ``I-X`` that does not continue an ``X`` span
becomes ``B-X``) so strict entity scoring gives it every span it found. A fine-tuned encoder that
does not clearly beat this has not learned much from its encoder.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from entitune.evaluate.metrics import entity_scores, token_micro_f1


def lookup_tags(words: Sequence[str], table: dict[str, str]) -> list[str]:
    """The table's tag for each word (``O`` when unseen), as a valid IOB2 sequence."""
    tags = [table.get(w.lower(), "O") for w in words]
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:] or tags[i - 1] == "O"):
            tags[i] = "B-" + tag[2:]
    return tags


def lookup_baseline(train: Sequence, test: Sequence) -> dict[str, float]:
    """Strict entity F1 and token micro F1 of the word -> most frequent tag table on ``test``."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for sentence in train:
        for word, tag in zip(sentence.words, sentence.tags):
            counts[word.lower()][tag] += 1
    table = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    gold = [list(s.tags) for s in test]
    pred = [lookup_tags(s.words, table) for s in test]
    return {"entity_f1": entity_scores(gold, pred)["entity"]["f1"], "token_micro_f1": token_micro_f1(gold, pred)}
