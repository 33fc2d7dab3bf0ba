"""Contracts of the JSON Lines reader and writer (``data/jsonl.py``): every refusal is one
``DataFormatError`` whose text is exactly ``path:line: why`` (users read it, so the path, the line
and the words are all part of the rule), and its valid neighbour is read; the boundaries of a span
(empty, touching, out of range); how ``doc`` values number documents; what a span line keeps (its
text and offsets); and what the writer renders (shape, non-ASCII text, spans of joined words)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data.jsonl import read_jsonl, sentence_entities, write_jsonl
from entitune.errors import DataFormatError
from entitune.types import Sentence

#: a valid line put before each bad one, so that a refusal must name line 2, not 1 or None
GOOD = '{"tokens": ["ok"], "tags": ["O"]}'


def _file(tmp_path, *lines: str):
    path = tmp_path / "d.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _refusal(tmp_path, bad: str) -> tuple[str, DataFormatError]:
    path = _file(tmp_path, GOOD, bad)
    with pytest.raises(DataFormatError) as info:
        list(read_jsonl(path))
    return str(path), info.value


def _span(text: str, *entities: tuple) -> str:
    return json.dumps(
        {
            "text": text,
            "entities": [dict(zip(("start", "end", "label"), e)) for e in entities],
        }
    )


REFUSALS = [
    # (bad line, why): each on line 2
    (
        '{"text": "a b", "entities": {}}',
        "'entities' must be a list of {start, end, label} objects",
    ),
    (
        '{"text": "a b", "entities": [{"start": 0, "end": 1, "label": "X"}, {"start": 2}]}',
        "entity 1 must be an object with start, end and label",
    ),
    (
        '{"text": "a b", "entities": [{"start": "0", "end": 1.5, "label": "X"}]}',
        "entity 0: start and end must be integers, found '0', 1.5",
    ),
    (
        '{"text": "a b", "entities": [{"start": 0, "end": "1", "label": "X"}]}',
        "entity 0: start and end must be integers, found 0, '1'",
    ),
    (
        _span("a b", (0, 1, "A B")),
        "entity 0: label must be a non-empty string without spaces, found 'A B'",
    ),
    (
        _span("a b", (0, 1, "")),
        "entity 0: label must be a non-empty string without spaces, found ''",
    ),
    (
        '{"text": "a b", "entities": [{"start": 0, "end": 1, "label": 5}]}',
        "entity 0: label must be a non-empty string without spaces, found 5",
    ),
    (
        _span("a b", (2, 2, "X")),
        "entity 0 [2, 2) is out of range for a text of 3 characters",
    ),
    (
        _span("a b", (2, 4, "X")),
        "entity 0 [2, 4) is out of range for a text of 3 characters",
    ),
    (
        _span("a b", (0, 2, "X")),
        "entity 0 'a ' starts or ends with whitespace; trim the span",
    ),
    (_span("abc", (0, 2, "X"), (1, 3, "Y")), "entities [0, 2) and [1, 3) overlap"),
    ('{"tokens": ["a"], "tags": ["O"]', "not valid JSON (Expecting ',' delimiter)"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON (nested too deeply)"),
    ('["tokens", "tags"]', "expected a JSON object with tokens+tags or text+entities"),
    (
        '{"tokens": "ab", "tags": ["O", "O"]}',
        "'tokens' must be a list of strings, none empty or only spaces",
    ),
    (
        '{"tokens": ["a", " "], "tags": ["O", "O"]}',
        "'tokens' must be a list of strings, none empty or only spaces",
    ),
    (
        '{"tokens": ["a"], "tags": "O"}',
        "'tags' must be a list of strings, one per token",
    ),
    ('{"tokens": ["a"]}', "'tags' must be a list of strings, one per token"),
    ('{"tokens": ["a", "b"], "tags": ["O"]}', "2 tokens but 1 tags"),
    (
        '{"tokens": ["a"], "tags": ["PER"]}',
        "tag 'PER' is neither 'O' nor B-TYPE / I-TYPE",
    ),
    ('{"text": 5, "entities": []}', "'text' must be a string"),
    ('{"words": ["a"], "labels": ["O"]}', "expected keys tokens+tags or text+entities"),
    (
        '{"tokens": ["a\\ud800"], "tags": ["O"]}',
        (
            "a JSON string contains a lone surrogate (U+D800) at character 1: "
            "not a Unicode character (a \\uD800-\\uDFFF escape without its pair)"
        ),
    ),
]


@pytest.mark.parametrize("bad, why", REFUSALS, ids=[w[:40] for _, w in REFUSALS])
def test_each_refusal_is_exactly_path_line_and_why(tmp_path, bad, why):
    path, err = _refusal(tmp_path, bad)
    assert (err.path, err.line, err.why) == (path, 2, why)
    assert str(err) == f"{path}:2: {why}"


def test_the_valid_neighbours_of_the_refusals_are_read(tmp_path):
    """A label with no space, a span that ends at the text's end, spans that touch (one's end is the
    next one's start) and tokens with inner spaces are all accepted."""
    path = _file(
        tmp_path,
        _span("ab c", (0, 1, "A"), (1, 2, "B"), (3, 4, "C")),
        '{"tokens": ["a b"], "tags": ["B-X"]}',
    )
    first, second = read_jsonl(path)
    assert first.words == ("a", "b", "c") and first.tags == ("B-A", "B-B", "B-C")
    assert second.words == ("a b",) and second.tags == ("B-X",)


def test_a_span_line_keeps_its_text_and_the_offsets_of_its_words(tmp_path):
    path = _file(tmp_path, "", _span("Jane  Doe ran", (0, 9, "PER")))
    (s,) = read_jsonl(path)
    assert s == Sentence(
        ("Jane", "Doe", "ran"),
        ("B-PER", "I-PER", "O"),
        2,
        0,
        "Jane  Doe ran",
        ((0, 4), (6, 9), (10, 13)),
    )


def test_doc_values_number_documents_by_first_appearance_and_compare_as_json(tmp_path):
    """Equal ``doc`` values (objects compared with sorted keys) share a number; numbers go 1, 2...
    in the order values first appear; a line without ``doc`` is document 0."""
    lines = [
        {"doc": "b"},
        {},
        {"doc": {"x": 1, "y": 2}},
        {"doc": "b"},
        {"doc": {"y": 2, "x": 1}},
        {"doc": None},
    ]
    path = _file(
        tmp_path,
        *(json.dumps({"tokens": ["w"], "tags": ["O"], **d}) for d in lines),
        _span("w", (0, 1, "X"))[:-1] + ', "doc": "b"}',
    )
    assert [s.doc for s in read_jsonl(path)] == [1, 0, 2, 1, 2, 3, 1]


def test_lines_with_no_words_give_no_sentence_but_keep_the_numbering(tmp_path):
    path = _file(
        tmp_path,
        '{"tokens": [], "tags": []}',
        '{"text": "  ", "entities": []}',
        "  ",
        GOOD,
    )
    assert [(s.words, s.line) for s in read_jsonl(path)] == [(("ok",), 4)]


def test_sentence_entities_uses_raw_text_only_with_its_offsets():
    """With ``text`` and ``offsets`` the spans are offsets in that text; with only one of them the
    words are joined by single spaces."""
    words, tags = ("Jane", "Doe"), ("B-PER", "I-PER")
    assert sentence_entities(
        Sentence(words, tags, text="Jane  Doe", offsets=((0, 4), (6, 9)))
    ) == ("Jane  Doe", [{"start": 0, "end": 9, "label": "PER"}])
    expected = ("Jane Doe", [{"start": 0, "end": 8, "label": "PER"}])
    assert sentence_entities(Sentence(words, tags, text="Jane  Doe")) == expected
    assert sentence_entities(Sentence(words, tags)) == expected


def test_write_jsonl_defaults_to_tokens_and_keeps_non_ascii_text():
    s = Sentence(("Zoë", "ran"), ("B-PER", "O"))
    assert write_jsonl([s]) == '{"tokens": ["Zoë", "ran"], "tags": ["B-PER", "O"]}\n'
    assert (
        write_jsonl([s], "spans")
        == '{"text": "Zoë ran", "entities": [{"start": 0, "end": 3, "label": "PER"}]}\n'
    )
    assert write_jsonl([]) == ""


def test_write_jsonl_refuses_an_unknown_shape_by_name():
    with pytest.raises(ValueError) as info:
        write_jsonl([Sentence(("a",), ("O",))], "Tokens")
    assert str(info.value) == "shape must be 'tokens' or 'spans', got 'Tokens'"


_words = st.lists(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Zs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=4,
    ).filter(lambda w: w.strip() == w and w.isprintable()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(words=_words, data=st.data())
def test_tokens_and_spans_round_trip_through_write_and_read(
    tmp_path_factory, words, data
):
    """write -> read gives back the words and tags (token shape), and the same entities (span shape)."""
    tags = data.draw(
        st.lists(
            st.sampled_from(["O", "B-A", "I-A", "B-B"]),
            min_size=len(words),
            max_size=len(words),
        )
    )
    tags = [
        ("B" + t[1:])
        if t.startswith("I-") and (i == 0 or tags[i - 1][2:] != t[2:])
        else t
        for i, t in enumerate(tags)
    ]
    s = Sentence(tuple(words), tuple(tags))
    path = tmp_path_factory.mktemp("rt") / "d.jsonl"
    path.write_text(write_jsonl([s]), encoding="utf-8")
    (back,) = read_jsonl(path)
    assert (back.words, back.tags) == (s.words, s.tags)
    path.write_text(write_jsonl([s], "spans"), encoding="utf-8")
    (back,) = read_jsonl(path)
    assert sentence_entities(back) == sentence_entities(s)
