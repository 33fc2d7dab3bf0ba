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
