"""Exact behaviour of the tag functions that mutation testing (scripts/mutation.sh) found unpinned:
evidence counts of scheme detection, BIOES chunking as conlleval does it, label sets, error
messages, and which labels decide the transition rules. Mutants that cannot change behaviour are
listed in docs/mutation_survivors.md."""
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from entitune.errors import TagSchemeError
from entitune.tags import (
    allowed_transitions, bioes_to_iob2, detect_scheme, entity_types, first_invalid, from_iob2, invalid_starts,
    iob2_to_bioes, is_valid_sequence, label_set, spans_from_tags, tags_from_spans, to_iob2,
)
from entitune.types import Span

BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
bioes_tag = st.sampled_from(["O"] + [f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC")])


# --- labels -----------------------------------------------------------------------------------

def test_label_set_iob2_sorts_types_and_puts_o_first():
    assert label_set(["B-PER", "I-PER", "O", "B-LOC"]) == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    assert label_set(["O", "O"]) == ("O",)
    assert label_set([]) == ("O",)


def test_label_set_bioes_has_four_prefixes_per_type():
    assert label_set(["S-PER", "O", "B-LOC", "E-LOC"], "BIOES") == (
        "O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER")


def test_entity_types_in_first_seen_order_without_o():
    assert entity_types(["O", "B-LOC", "I-LOC", "B-PER", "S-ORG", "L-MISC"]) == ["LOC", "PER", "ORG", "MISC"]
    assert entity_types(["O"]) == []


# --- scheme detection: the evidence counts ------------------------------------------------------

def test_detect_scheme_bilou_counts_l_u_and_e_s_tags():
    assert detect_scheme([["U-PER", "B-LOC", "L-LOC", "S-ORG"], ["U-X"]]) == ("BILOU", 4)
    assert detect_scheme([["B-LOC", "L-LOC"]]) == ("BILOU", 1)  # L alone is BILOU
    assert detect_scheme([["U-LOC", "O"]]) == ("BILOU", 1)  # U alone is BILOU


def test_detect_scheme_bioes_counts_e_and_s_tags():
    assert detect_scheme([["B-PER", "E-PER", "S-LOC"], ["S-X", "O"]]) == ("BIOES", 3)
    assert detect_scheme([["B-PER", "E-PER"]]) == ("BIOES", 1)  # E alone is BIOES
    assert detect_scheme([["S-PER"]]) == ("BIOES", 1)  # S alone is BIOES


def test_detect_scheme_iob1_needs_more_i_starts_than_b_tags():
    # two entity-starting I- tags, two B- tags: a tie is IOB2
    tie = [["I-PER", "O", "B-LOC", "I-LOC", "O", "I-ORG", "B-ORG"]]
    assert detect_scheme(tie) == ("IOB2", 2)
    # three I- starts against two B- tags: IOB1
    assert detect_scheme(tie + [["I-MISC"]]) == ("IOB1", 3)


def test_detect_scheme_counts_an_i_after_another_type_as_a_start():
    assert detect_scheme([["B-PER", "I-LOC"]]) == ("IOB2", 1)
    assert detect_scheme([["B-PER", "I-PER", "I-PER"]]) == ("IOB2", 0)


def test_invalid_starts_finds_i_tags_that_open_an_entity():
    assert invalid_starts(["O", "I-PER", "B-LOC", "I-ORG", "I-ORG", "B-PER", "I-PER"]) == [1, 3]
    assert invalid_starts(["I-PER", "I-PER", "O"]) == [0]
    assert invalid_starts(["B-PER", "I-PER"]) == []
    assert invalid_starts([]) == []


# --- conversion -------------------------------------------------------------------------------

def test_iob2_to_bioes_reads_invalid_iob2_leniently():
    assert iob2_to_bioes(["O", "I-PER", "I-PER", "I-LOC"]) == ["O", "B-PER", "E-PER", "S-LOC"]


def test_bioes_to_iob2_reads_invalid_bioes_leniently():
    assert bioes_to_iob2(["I-PER", "E-PER", "O", "E-LOC"]) == ["B-PER", "I-PER", "O", "B-LOC"]


def test_from_iob2_writes_bilou_prefixes():
    assert from_iob2(["B-PER", "I-PER", "B-LOC", "O"], "BILOU") == ["B-PER", "L-PER", "U-LOC", "O"]
    assert from_iob2(["B-PER", "I-PER", "B-LOC", "O"], "BIOES") == ["B-PER", "E-PER", "S-LOC", "O"]


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=6))
@example("XXXX")  # mutmut's placeholder string: a type may be called anything
def test_iob1_writes_a_sentence_initial_entity_with_i_whatever_its_type_is_called(typ):
    assert from_iob2([f"B-{typ}", f"I-{typ}", f"B-{typ}"], "IOB1") == [f"I-{typ}", f"I-{typ}", f"B-{typ}"]


@pytest.mark.parametrize("convert", [to_iob2, from_iob2])
def test_unknown_scheme_message_lists_the_schemes(convert):
    with pytest.raises(TagSchemeError, match=r"^unknown tag scheme 'XYZ'; expected one of IOB1, IOB2, BIOES, BILOU, IO$"):
        convert(["O"], "XYZ")


# --- spans ------------------------------------------------------------------------------------

@given(st.lists(bioes_tag, max_size=12))
def test_conlleval_spans_of_bioes_tags_match_seqeval(tags):
    from seqeval.metrics.sequence_labeling import get_entities

    assert [(s.label, s.start, s.end - 1) for s in spans_from_tags(tags, "conlleval")] == get_entities(tags)


@given(st.lists(bioes_tag, max_size=12))
def test_strict_spans_of_bioes_tags_match_seqeval_iobes(tags):
    from seqeval.scheme import IOBES, Entities

    # strict mode reads a sentence as BIOES when it has an E- or S- tag (else as IOB2)
    assume(any(t[0] in "ES" for t in tags))
    ours = sorted((s.label, s.start, s.end) for s in spans_from_tags(tags, "strict"))
    assert ours == sorted((e.tag, e.start, e.end) for e in Entities([tags], IOBES).entities[0])


@pytest.mark.parametrize("tags, spans", [
    (["E-PER", "I-PER"], [(0, 1), (1, 2)]),  # conlleval: an I- after an E- starts a new chunk
    (["S-PER", "I-PER"], [(0, 1), (1, 2)]),
    (["S-PER", "E-PER"], [(0, 1), (1, 2)]),
    (["E-PER", "E-PER"], [(0, 1), (1, 2)]),
    (["B-PER", "S-PER"], [(0, 1), (1, 2)]),  # an S- ends an open chunk of its own type
    (["I-PER", "S-PER"], [(0, 1), (1, 2)]),
])
def test_conlleval_chunk_boundaries_around_e_and_s(tags, spans):
    assert [(s.start, s.end) for s in spans_from_tags(tags, "conlleval")] == spans


def test_strict_bioes_drops_entities_that_do_not_start_with_b_or_never_close():
    assert spans_from_tags(["O", "I-PER", "E-PER"], "strict") == []
    assert spans_from_tags(["B-PER", "I-PER", "O", "S-LOC"], "strict") == [Span(3, 4, "LOC")]
    assert spans_from_tags(["B-PER", "I-PER", "E-PER"], "strict") == [Span(0, 3, "PER")]


def test_unknown_span_mode_message():
    with pytest.raises(ValueError, match=r"^mode must be 'strict' or 'conlleval', got 'loose'$"):
        spans_from_tags(["O"], "loose")


def test_tags_from_spans_refuses_empty_and_out_of_range_spans():
    with pytest.raises(TagSchemeError, match=r"does not fit in 4 words$"):
        tags_from_spans([Span(1, 1, "X")], 4)
    with pytest.raises(TagSchemeError, match=r"does not fit in 4 words$"):
        tags_from_spans([Span(3, 5, "X")], 4)
    assert tags_from_spans([Span(3, 4, "X")], 4) == ["O", "O", "O", "B-X"]


# --- transitions ------------------------------------------------------------------------------

def test_bioes_rules_switch_on_with_e_or_s_labels_alone():
    # E- without S-: BIOES, so B-/I- must continue and may not end a sequence
    start, trans, end = allowed_transitions(["O", "B-PER", "I-PER", "E-PER"])
    assert end == [True, False, False, True]
    assert trans[1] == [False, False, True, True]
    # S- without E-: BIOES too
    _, trans, end = allowed_transitions(["O", "B-PER", "I-PER", "S-PER"])
    assert end == [True, False, False, True]
    assert trans[1][0] is False


def test_first_invalid_positions():
    assert first_invalid(["O", "I-PER"]) == 1
    assert first_invalid(["I-PER"]) == 0
    assert first_invalid(["B-PER", "I-PER"]) is None  # labels default to the tags seen (+ O): IOB2
    assert first_invalid(["B-PER", "I-LOC"]) == 1
    assert first_invalid(["O", "B-PER"], BIOES) == 1  # ends inside an entity: its last position
    assert first_invalid(["O", "O", "B-PER", "I-PER"], BIOES) == 3
    assert first_invalid(["B-PER", "I-PER", "E-PER", "O"], BIOES) is None
    assert first_invalid([], BIOES) is None


def test_the_given_labels_decide_the_scheme():
    # B-PER alone is valid IOB2, but not BIOES (a B- must be closed by an E-)
    assert first_invalid(["B-PER"]) is None
    assert first_invalid(["B-PER"], BIOES) == 0
    assert is_valid_sequence(["B-PER"]) is True
    assert is_valid_sequence(["B-PER"], BIOES) is False
    # labels in any order; an invalid label *order* says nothing about the tags
    assert is_valid_sequence(["B-PER", "E-PER"], ["O", "I-PER", "B-PER", "E-PER", "S-PER"]) is True
