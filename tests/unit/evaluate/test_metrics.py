import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.evaluate.metrics import entity_scores, format_report, token_micro_f1

tag = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])


@st.composite
def gold_pred(draw):
    lengths = draw(st.lists(st.integers(1, 10), min_size=1, max_size=6))
    gold = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    return gold, pred


@given(gold_pred())
def test_matches_seqeval(case):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold, pred = case
    lenient = entity_scores(gold, pred, "conlleval")
    assert lenient["entity"]["f1"] == pytest.approx(f1_score(gold, pred, zero_division=0))
    assert lenient["entity"]["precision"] == pytest.approx(precision_score(gold, pred, zero_division=0))
    assert lenient["entity"]["recall"] == pytest.approx(recall_score(gold, pred, zero_division=0))
    strict = entity_scores(gold, pred, "strict")
    assert strict["entity"]["f1"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2, zero_division=0))
    report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    for typ, m in strict["per_type"].items():
        if m["support"]:
            assert m["f1"] == pytest.approx(report[typ]["f1-score"])
            assert m["support"] == report[typ]["support"]


def test_known_values():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "O"]]
    s = entity_scores(gold, pred)
    assert s["entity"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3)}
    assert s["per_type"]["LOC"]["support"] == 1 and s["per_type"]["LOC"]["f1"] == 0.0
    assert token_micro_f1(gold, pred) == 0.75


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["O", "O"]], [["O"]])


def test_format_report_names_token_metric():
    s = entity_scores([["B-PER"]], [["B-PER"]])
    text = format_report({**s, "token_micro_f1": 1.0, "words": 1, "words_untagged": 0, "invalid_sequences": 0})
    assert "token micro F1 (word accuracy)" in text and "entity (micro)" in text
