import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.errors import TagSchemeError
from entitune.tags import (
    allowed_transitions, bioes_to_iob2, detect_scheme, iob1_to_iob2, iob2_to_bioes, is_valid_sequence,
    spans_from_tags, split_tag, tags_from_spans,
)
from entitune.types import Span

TYPES = ["PER", "LOC", "ORG"]
any_tag = st.sampled_from(["O"] + [f"{p}-{t}" for p in "BI" for t in TYPES])


@st.composite
def spans(draw, max_len=12):
    n = draw(st.integers(0, max_len))
    out, i = [], 0
    while i < n:
        if draw(st.booleans()):
            length = draw(st.integers(1, n - i))
            out.append(Span(i, i + length, draw(st.sampled_from(TYPES))))
            i += length
        else:
            i += 1
    return n, out


def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("U-LOC") == ("S", "LOC")
    assert split_tag("O") == ("O", "")
    with pytest.raises(TagSchemeError, match="neither"):
        split_tag("PER")


def test_detect_scheme():
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == ("IOB2", 0)
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC"]]) == ("IOB1", 2)
    assert detect_scheme([["S-PER", "B-LOC", "E-LOC"]])[0] == "BIOES"


def test_iob1_to_iob2_keeps_b_between_same_type():
    assert iob1_to_iob2(["I-PER", "B-PER", "I-PER", "O", "I-LOC", "I-ORG"]) == [
        "B-PER", "B-PER", "I-PER", "O", "B-LOC", "B-ORG"]


@given(spans())
def test_spans_round_trip_iob2_and_bioes(case):
    n, sp = case
    iob2 = tags_from_spans(sp, n)
    assert spans_from_tags(iob2) == sp
    assert is_valid_sequence(iob2, ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"])
    bioes = iob2_to_bioes(iob2)
    assert spans_from_tags(bioes) == sp
    assert bioes_to_iob2(bioes) == iob2


@given(st.lists(any_tag, max_size=15))
def test_conlleval_and_strict_match_seqeval(tags):
    from seqeval.metrics.sequence_labeling import get_entities
    from seqeval.scheme import IOB2, Entities

    lenient = [(s.label, s.start, s.end - 1) for s in spans_from_tags(tags, "conlleval")]
    assert lenient == get_entities(tags)
    strict = sorted((s.label, s.start, s.end) for s in spans_from_tags(tags, "strict"))
    theirs = sorted((e.tag, e.start, e.end) for e in Entities([tags], IOB2).entities[0])
    assert strict == theirs


@given(st.lists(any_tag, max_size=15))
def test_iob1_conversion_gives_valid_iob2_with_same_lenient_entities(tags):
    converted = iob1_to_iob2(tags)
    assert is_valid_sequence(converted, ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"])


def test_allowed_transitions_iob2():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start, trans, end = allowed_transitions(labels)
    assert start == [True, True, False, True, False]
    assert not trans[0][2] and trans[1][2] and trans[2][2] and not trans[3][2] and not trans[1][4]
    assert all(end)


def test_allowed_transitions_bioes():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    start, trans, end = allowed_transitions(labels)
    assert start == [True, True, False, False, True]
    assert end == [True, False, False, True, True]
    assert trans[1] == [False, False, True, True, False]


def test_tags_from_spans_rejects_overlap():
    with pytest.raises(TagSchemeError, match="overlaps"):
        tags_from_spans([Span(0, 2, "A"), Span(1, 3, "B")], 4)


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOES", "BILOU"])
@given(spans())
def test_every_scheme_round_trips_and_keeps_the_entities(scheme, case):
    from entitune.tags import from_iob2, to_iob2

    n, sp = case
    iob2 = tags_from_spans(sp, n)
    written = from_iob2(iob2, scheme)
    assert to_iob2(written, scheme) == iob2
    assert spans_from_tags(written, "conlleval") == sp


@given(spans())
def test_io_round_trips_when_no_two_entities_of_one_type_touch(case):
    from entitune.tags import from_iob2, to_iob2

    n, sp = case
    touching = any(a.end == b.start and a.label == b.label for a, b in zip(sp, sp[1:]))
    iob2 = tags_from_spans(sp, n)
    io = from_iob2(iob2, "IO")
    assert all(t == "O" or t.startswith("I-") for t in io)
    # IO cannot keep two touching entities of one type apart: they merge; otherwise it is exact
    assert (to_iob2(io, "IO") == iob2) == (not touching)


@pytest.mark.parametrize("scheme", ["IOB1", "BIOES", "BILOU"])
def test_detect_scheme_recognises_written_schemes(scheme):
    from entitune.tags import from_iob2

    sentences = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "B-ORG", "I-ORG"], ["O", "B-PER"]]
    assert detect_scheme(from_iob2(s, scheme) for s in sentences)[0] == scheme
