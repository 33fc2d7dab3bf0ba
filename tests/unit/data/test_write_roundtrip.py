"""Contracts of the writers (``data/write.py``): the exact text of each format (a blank line after
every sentence, nothing at all for no sentences), write -> read giving back the sentences in every
format, the refusal of an unknown format word for word; and the documents ``replace_mentions``
numbers its copies with."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data import read_sentences
from entitune.data.augment import replace_mentions
from entitune.data.jsonl import sentence_entities
from entitune.data.write import WRITE_FORMATS, write_bio, write_conll, write_sentences
from entitune.errors import ConfigError
from entitune.types import Sentence

SENTENCES = [
    Sentence(("Jane", "Doe", "runs"), ("B-PER", "I-PER", "O")),
    Sentence(("Paris",), ("B-LOC",)),
]


def test_each_format_renders_exactly():
    assert (
        write_conll([])
        == write_bio([])
        == write_sentences([], "conll")
        == write_sentences([], "jsonl")
        == ""
    )
    assert (
        write_sentences(SENTENCES, "conll")
        == "Jane\tB-PER\nDoe\tI-PER\nruns\tO\n\nParis\tB-LOC\n\n"
    )
    assert (
        write_sentences(SENTENCES, "bio")
        == "B-PER\tJane\nI-PER\tDoe\nO\truns\n\nB-LOC\tParis\n\n"
    )
    assert (
        write_sentences(SENTENCES[1:], "jsonl")
        == '{"tokens": ["Paris"], "tags": ["B-LOC"]}\n'
    )
    assert (
        write_sentences(SENTENCES[1:], "jsonl-spans")
        == '{"text": "Paris", "entities": [{"start": 0, "end": 5, "label": "LOC"}]}\n'
    )


def test_an_unknown_format_is_refused_by_name():
    with pytest.raises(ConfigError) as info:
        write_sentences(SENTENCES, "xml")
    assert (
        str(info.value)
        == "output format must be one of conll, bio, jsonl, jsonl-spans, got 'xml'"
    )


_word = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
    min_size=1,
    max_size=5,
)
_sentence = st.lists(
    st.tuples(_word, st.sampled_from(["O", "B-A", "B-B"])), min_size=1, max_size=5
)


@settings(max_examples=30, deadline=None)
@given(
    sentences=st.lists(_sentence, min_size=1, max_size=4),
    fmt=st.sampled_from(WRITE_FORMATS),
)
def test_what_a_writer_writes_its_reader_reads_back(tmp_path_factory, sentences, fmt):
    """Words (no spaces, no tag-like word in BIO's word column) and IOB2 tags survive write -> read
    in every format (span JSONL, which splits words at punctuation again: the same text and
    entity offsets)."""
    given_ = [
        Sentence(tuple(w for w, _ in s), tuple(t for _, t in s)) for s in sentences
    ]
    path = (
        tmp_path_factory.mktemp("w")
        / f"d.{'jsonl' if fmt.startswith('jsonl') else fmt}"
    )
    path.write_text(write_sentences(given_, fmt), encoding="utf-8")
    back = read_sentences(path, "jsonl" if fmt.startswith("jsonl") else fmt)
    if fmt == "jsonl-spans":
        assert [sentence_entities(s) for s in back] == [
            sentence_entities(s) for s in given_
        ]
    else:
        assert [(s.words, s.tags) for s in back] == [(s.words, s.tags) for s in given_]


def test_replace_mentions_copies_are_documents_of_their_own_from_first_doc():
    s = [
        Sentence(("films", "with", "drew"), ("O", "O", "B-ACTOR")),
        Sentence(("bruce",), ("B-ACTOR",)),
    ]
    assert [c.doc for c in replace_mentions(s, copies=2, seed=1)] == [0, 1, 2, 3]
    assert [c.doc for c in replace_mentions(s, copies=1, seed=1, first_doc=5)] == [5, 6]
