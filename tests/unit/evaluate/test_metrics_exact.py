"""Exact outputs of the metrics module that mutation testing (scripts/mutation.sh) found unpinned:
the report's text, the empty-input values and the error messages."""
import pytest

from entitune.evaluate.metrics import entity_scores, format_report, token_micro_f1


def test_format_report_text_is_exactly_the_table():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC"]]
    report = {**entity_scores(gold, pred), "token_micro_f1": 0.8, "words": 5, "words_untagged": 1,
              "invalid_sequences": 2}
    assert format_report(report).split("\n") == [
        "type                 precision    recall        f1  support",
        "LOC                     1.0000    0.5000    0.6667        2",
        "PER                     1.0000    1.0000    1.0000        1",
        "entity (micro)          1.0000    0.6667    0.8000        3",
        "token micro F1 (word accuracy) 0.8000 | words 5 | untagged 1 | invalid sequences 2",
    ]


def test_no_words_score_zero():
    assert token_micro_f1([], []) == 0.0
    assert token_micro_f1([[]], [[]]) == 0.0
    assert entity_scores([], [])["entity"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_sentence_count_mismatch_message():
    with pytest.raises(ValueError, match=r"^2 gold sentences but 1 predicted$"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match=r"^sentence 1: 2 gold tags but 1 predicted$"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
