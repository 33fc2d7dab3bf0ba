"""Small immutable value types passed between the layers: sentences, spans, entities, tagged
sequences and predictions. Pure Python."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sentence:
    """One sentence: its words and, when annotated, one tag per word.

    ``line`` is the 1-based line in the source file where the sentence starts (0 if unknown),
    kept so that later checks can point at the file. ``doc`` numbers the document the sentence
    belongs to (CoNLL ``-DOCSTART-`` blocks; 0 when the format has none). Readers of formats
    that carry the raw text (span JSONL, KLUE, KMOU) keep it in ``text``, with each word's
    ``(start, end)`` character offsets in ``offsets`` when they are known.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    line: int = 0
    doc: int = 0
    text: str | None = None
    offsets: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.tags is not None and len(self.tags) != len(self.words):
            raise ValueError(f"{len(self.words)} words but {len(self.tags)} tags")
        if self.offsets is not None and len(self.offsets) != len(self.words):
            raise ValueError(f"{len(self.words)} words but {len(self.offsets)} offsets")

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class TextExample:
    """One text to classify and, when annotated, its labels (one for single-label data, any number
    for multi-label data); ``line`` is the 1-based line where it starts in its file (0 if unknown)."""

    text: str
    labels: tuple[str, ...] | None = None
    line: int = 0


@dataclass(frozen=True)
class Span:
    """An entity over word positions ``[start, end)`` with its type."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Entity:
    """A predicted entity: surface text, type, character offsets ``[start, end)``, and score.

    ``word_start``/``word_end`` give the same entity over word positions ``[word_start, word_end)``.
    """

    text: str
    label: str
    start: int
    end: int
    score: float
    word_start: int = field(default=0)
    word_end: int = field(default=0)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "score": round(float(self.score), 6),
            "word_start": self.word_start,
            "word_end": self.word_end,
        }


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
    """A tagged input: its text, words with character offsets, tags, and entities."""

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


@dataclass(frozen=True)
class Classification:
    """A classified text: the best label, its probability, and every label's probability (in the
    model's label order). Multi-label models give every label over their threshold in ``labels``."""

    text: str
    label: str | None
    score: float
    labels: tuple[str, ...]
    scores: dict[str, float]

    def to_dict(self, all_scores: bool = False) -> dict:
        out: dict = {"text": self.text, "label": self.label, "score": round(float(self.score), 6)}
        if self.labels != ((self.label,) if self.label is not None else ()):  # a multi-label answer
            out["labels"] = list(self.labels)
        if all_scores:
            out["scores"] = {k: round(float(v), 6) for k, v in self.scores.items()}
        return out
