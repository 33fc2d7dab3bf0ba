"""Error analysis (``evaluate.errors``): a hand-made file with exactly one error of each class, the
counting invariants on random tags, splits and merges, and the error messages."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.data import load_annotated
from entitune.evaluate import compare_spans, entity_scores, error_analysis, format_errors, tagging_report
from entitune.tags import spans_from_tags
from entitune.types import Span, Tagged

from tests.helpers.data import write_bio

# (words, gold tags, predicted tags): one sentence per error class, a correct span beside the
# missed one, and a sentence without errors
HAND_MADE = [
    (["drew", "barrymore", "films", "in", "paris"], ["B-ACTOR", "I-ACTOR", "O", "O", "B-LOC"],
     ["B-ACTOR", "I-ACTOR", "O", "O", "O"]),                                     # correct + missed
    (["show", "me", "films"], ["O", "O", "O"], ["O", "O", "B-GENRE"]),               # spurious
    (["steven", "spielberg", "films"], ["B-DIRECTOR", "I-DIRECTOR", "O"], ["B-ACTOR", "I-ACTOR", "O"]),  # wrong type
    (["movies", "from", "the", "1980s"], ["O", "O", "B-YEAR", "I-YEAR"], ["O", "O", "O", "B-YEAR"]),     # boundary
    (["bruce", "willis", "movies"], ["B-ACTOR", "I-ACTOR", "O"], ["O", "B-DIRECTOR", "O"]),             # both
    (["films", "in", "paris"], ["O", "O", "B-LOC"], ["O", "O", "B-LOC"]),                                # no error
]


@pytest.fixture
def hand_made(tmp_path):
    """The gold file and the predicted file, read back as the evaluation reads data."""
    gold = load_annotated(write_bio(tmp_path / "gold.bio", [(w, g) for w, g, _ in HAND_MADE])).sentences
    pred = load_annotated(write_bio(tmp_path / "pred.bio", [(w, p) for w, _, p in HAND_MADE])).sentences
    tagged = [Tagged(s.words, s.tags, (1.0,) * len(s)) for s in pred]
    labels = sorted({t for _, g, p in HAND_MADE for t in (*g, *p)})
    return gold, tagged, labels


def test_one_error_of_each_class(hand_made):
    gold, tagged, labels = hand_made
    report = tagging_report(gold, tagged, labels, errors=True)
    errors = report["errors"]
    assert errors["counts"] == {"gold": 6, "pred": 6, "correct": 2, "overlapping": 3, "missed": 1, "spurious": 1,
                                "wrong_type": 1, "wrong_boundary": 1, "both": 1}
    by_sentence = {s["sentence"]: s for s in errors["sentences"]}
    assert sorted(by_sentence) == [0, 1, 2, 3, 4]  # the last sentence has no error
    assert [e["kind"] for i in range(5) for e in by_sentence[i]["errors"]] == \
        ["missed", "spurious", "wrong_type", "wrong_boundary", "both"]
    assert by_sentence[0]["errors"][0] == {"kind": "missed", "gold": {"start": 4, "end": 5, "label": "LOC", "text": "paris"},
                                           "pred": None}
    assert by_sentence[1]["errors"][0]["pred"] == {"start": 2, "end": 3, "label": "GENRE", "text": "films"}
    assert by_sentence[2]["errors"][0]["gold"]["label"] == "DIRECTOR"
    assert by_sentence[2]["errors"][0]["pred"]["label"] == "ACTOR"
    assert by_sentence[3]["errors"][0]["gold"]["text"] == "the 1980s"
    assert by_sentence[3]["errors"][0]["pred"]["text"] == "1980s"
    assert by_sentence[4]["errors"][0]["pred"] == {"start": 1, "end": 2, "label": "DIRECTOR", "text": "willis"}
    # every sentence entry carries the whole picture: its words, file line, all gold and predicted spans
    assert by_sentence[0]["words"] == HAND_MADE[0][0] and by_sentence[0]["line"] == 1
    assert [s["label"] for s in by_sentence[0]["gold"]] == ["ACTOR", "LOC"]
    assert [s["label"] for s in by_sentence[0]["pred"]] == ["ACTOR"]

    confusion = errors["confusion"]
    assert confusion["labels"] == ["ACTOR", "DIRECTOR", "GENRE", "LOC", "YEAR", "none"]
    cells = {(g, p): n for g, row in zip(confusion["labels"], confusion["matrix"])
             for p, n in zip(confusion["labels"], row) if n}
    assert cells == {("ACTOR", "ACTOR"): 1, ("ACTOR", "DIRECTOR"): 1, ("DIRECTOR", "ACTOR"): 1, ("LOC", "LOC"): 1,
                     ("LOC", "none"): 1, ("YEAR", "YEAR"): 1, ("none", "GENRE"): 1}
    assert errors["top_confusions"] == [{"gold": g, "pred": p, "count": 1} for g, p in
                                        [("ACTOR", "DIRECTOR"), ("DIRECTOR", "ACTOR"), ("LOC", "none"), ("none", "GENRE")]]
    # the same spans as entity F1: correct / pred and correct / gold are its precision and recall
    assert report["entity"]["precision"] == pytest.approx(2 / 6) and report["entity"]["recall"] == pytest.approx(2 / 6)
    text = format_errors(errors)
    assert "missed 1 | spurious 1 | wrong type 1 | wrong boundary 1 | both 1 | in 5 sentences" in text
    assert "gold spans 6 = correct 2 + missed 1" in text


def test_without_errors_flag_the_report_is_unchanged(hand_made):
    gold, tagged, labels = hand_made
    assert "errors" not in tagging_report(gold, tagged, labels)


def test_split_and_merge():
    """One gold span predicted as two pieces: one wrong_boundary error, two overlapping predictions
    (the one-to-one identity no longer holds, the two counting identities still do)."""
    split = compare_spans([Span(0, 4, "PER")], [Span(0, 1, "PER"), Span(1, 4, "PER")])
    assert [(e.kind, e.pred) for e in split.errors] == [("wrong_boundary", Span(1, 4, "PER"))]  # largest overlap
    assert len(split.overlapping) == 2
    merged = compare_spans([Span(0, 2, "PER"), Span(2, 4, "LOC")], [Span(0, 4, "LOC")])
    assert [e.kind for e in merged.errors] == ["both", "wrong_boundary"] and len(merged.overlapping) == 1
    # the partner with the same boundaries wins over a larger overlap of the same type
    assert compare_spans([Span(0, 2, "PER")], [Span(0, 2, "ORG")]).errors[0].kind == "wrong_type"


tag = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"])


@st.composite
def gold_pred(draw):
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=6))
    return ([draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths],
            [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths])


@given(gold_pred())
def test_counts_add_up(case):
    """The invariants of the module docstring, on random tags, and the classes re-derived from
    their definitions."""
    gold_tags, pred_tags = case
    gold = [spans_from_tags(t) for t in gold_tags]
    pred = [spans_from_tags(t) for t in pred_tags]
    r = error_analysis(gold, pred)
    c = r["counts"]
    assert c["gold"] == c["correct"] + c["missed"] + c["wrong_type"] + c["wrong_boundary"] + c["both"]
    assert c["pred"] == c["correct"] + c["spurious"] + c["overlapping"]
    scores = entity_scores(gold_tags, pred_tags, "strict")["entity"]
    assert scores["recall"] == pytest.approx(c["correct"] / c["gold"] if c["gold"] else 0.0)
    assert scores["precision"] == pytest.approx(c["correct"] / c["pred"] if c["pred"] else 0.0)
    labels, matrix = r["confusion"]["labels"], r["confusion"]["matrix"]
    for label, row in zip(labels, matrix):
        if label == "none":
            assert sum(row) == c["spurious"] and row[-1] == 0
        else:
            assert sum(row) == sum(s.label == label for spans in gold for s in spans)
    one_to_one = True
    for g_spans, p_spans in zip(gold, pred):
        comparison = compare_spans(g_spans, p_spans)
        overlaps = lambda a, b: a.start < b.end and b.start < a.end  # noqa: E731
        for e in comparison.errors:
            if e.kind == "spurious":
                assert not any(overlaps(e.pred, g) for g in g_spans)
            elif e.kind == "missed":
                assert not any(overlaps(e.gold, p) for p in p_spans)
            else:
                assert overlaps(e.gold, e.pred) and e.gold != e.pred
                same_bounds = (e.gold.start, e.gold.end) == (e.pred.start, e.pred.end)
                assert same_bounds == (e.kind == "wrong_type")
                assert (e.gold.label == e.pred.label) == (e.kind == "wrong_boundary")
        for s in [*g_spans, *p_spans]:
            others = p_spans if s in g_spans else g_spans
            one_to_one &= sum(overlaps(s, o) for o in others) <= 1
    if one_to_one:
        assert c["overlapping"] == c["wrong_type"] + c["wrong_boundary"] + c["both"]


@pytest.mark.parametrize("gold, pred, message", [
    ([Span(0, 2, "PER"), Span(1, 3, "LOC")], [], "gold spans .* overlap"),
    ([], [Span(0, 0, "PER")], "predicted span .* is empty"),
])
def test_bad_spans_are_refused(gold, pred, message):
    with pytest.raises(ValueError, match=message):
        compare_spans(gold, pred)


def test_sentence_counts_must_agree():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        error_analysis([[], []], [[]])
