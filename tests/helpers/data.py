"""Tiny labelled sentences and their vocabulary, file writers for them, and the real datasets
(``../shared/data``, or ``$ENTITUNE_DATA``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORDS = ["show", "me", "films", "with", "drew", "barrymore", "from", "the", "1980s", "what", "movies",
         "star", "bruce", "willis", "directed", "by", "steven", "spielberg", "in", "paris", "a", "of"]
TINY_SENTENCES = [
    (["show", "me", "films", "with", "drew", "barrymore"], ["O", "O", "O", "O", "B-ACTOR", "I-ACTOR"]),
    (["what", "movies", "star", "bruce", "willis"], ["O", "O", "O", "B-ACTOR", "I-ACTOR"]),
    (["films", "directed", "by", "steven", "spielberg"], ["O", "O", "O", "B-DIRECTOR", "I-DIRECTOR"]),
    (["movies", "from", "the", "1980s"], ["O", "O", "O", "B-YEAR"]),
    (["films", "in", "paris"], ["O", "O", "B-PLOT"]),
    (["drew", "barrymore", "movies", "of", "the", "1980s"], ["B-ACTOR", "I-ACTOR", "O", "O", "O", "B-YEAR"]),
]


def tiny_sentences():
    """``TINY_SENTENCES`` as ``Sentence`` objects."""
    from entitune.types import Sentence

    return [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]


#: the entities of ``TINY_SENTENCES`` by their words: the tiny tagger (``tiny_tagger_dir``) learnt
#: them, and tags them in any sentence of the tiny vocabulary
TINY_ENTITIES = {("drew", "barrymore"): "ACTOR", ("bruce", "willis"): "ACTOR", ("steven", "spielberg"): "DIRECTOR",
                 ("1980s",): "YEAR", ("paris",): "PLOT"}


def gold_entities(item) -> list[tuple[str, str, int, int]]:
    """``(text, label, start, end)`` of each ``TINY_ENTITIES`` entity in a raw text (split as
    ``Predictor.predict`` splits it) or in a word list (offsets into the words joined by single
    spaces), in order: what the tiny tagger must predict there."""
    from entitune.data.text import join_words, split_words

    if isinstance(item, str):
        text, split = item, split_words(item)
    else:
        text, offsets = join_words([str(w) for w in item])
        split = [(w, s, e) for w, (s, e) in zip(item, offsets)]
    words = [w.lower() for w, _, _ in split]
    found, i = [], 0
    while i < len(words):
        for key, label in TINY_ENTITIES.items():
            if tuple(words[i : i + len(key)]) == key:
                start, end = split[i][1], split[i + len(key) - 1][2]
                found.append((text[start:end], label, start, end))
                i += len(key)
                break
        else:
            i += 1
    return found


def entity_spans(prediction) -> list[tuple[str, str, int, int]]:
    """``(text, label, start, end)`` of a prediction's entities (a ``Prediction`` or its dict)."""
    if isinstance(prediction, dict):
        return [(e["text"], e["label"], e["start"], e["end"]) for e in prediction["entities"]]
    return [(e.text, e.label, e.start, e.end) for e in prediction.entities]


def data_dir() -> Path:
    """Real datasets: $ENTITUNE_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("ENTITUNE_DATA", REPO.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """Path to a real data file; in CI (CI=true) a missing file fails, elsewhere it skips."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        message = f"real data not found: {path} (set ENTITUNE_DATA)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_bio(path: Path, sentences) -> Path:
    """``(words, tags)`` pairs as an MIT-style ``TAG<TAB>word`` file."""
    path.write_text("".join("".join(f"{t}\t{w}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences))
    return path


#: Tiny labelled texts over the tiny vocabulary: three classes told apart by a few words each, with
#: filler words that every class uses.
TINY_TEXTS = [
    ("show me films with drew barrymore", "actor"),
    ("what movies star bruce willis", "actor"),
    ("drew barrymore movies of the 1980s", "actor"),
    ("movies with bruce willis from paris", "actor"),
    ("films directed by steven spielberg", "director"),
    ("what movies did steven spielberg direct", "director"),
    ("spielberg directed the films in paris", "director"),
    ("a movie directed by spielberg", "director"),
    ("movies from the 1980s", "year"),
    ("films of the 1980s in paris", "year"),
    ("show me a movie from the 1980s", "year"),
    ("what films are from the 1980s", "year"),
]


def write_texts_csv(path: Path, rows, header: bool = False) -> Path:
    """``(text, label)`` rows as a CSV of ``label,text`` (quoted), with a header row if asked."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        if header:
            writer.writerow(["label", "text"])
        for text, label in rows:
            writer.writerow([label, text])
    return path


def tiny_texts():
    """``TINY_TEXTS`` as ``TextExample`` objects."""
    from entitune.types import TextExample

    return [TextExample(t, (label,), i + 1) for i, (t, label) in enumerate(TINY_TEXTS)]
