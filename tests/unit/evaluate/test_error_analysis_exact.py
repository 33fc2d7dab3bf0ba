"""The error analysis (``evaluate.errors``) field by field on a case counted by hand: which prediction
partners a wrong gold span (the largest overlap, the leftmost on ties), the overlapping predictions
themselves, the whole report of ``error_analysis`` (sentences without errors skipped, never the end
of the list; every span with its text), the 10 largest confusions by default, most frequent first,
and the console lines of ``format_errors`` word for word (5 confusions at most)."""

from __future__ import annotations

from entitune.evaluate import compare_spans, error_analysis, format_errors
from entitune.types import Span


def test_the_partner_of_a_wrong_boundary_is_the_largest_overlap():
    """Gold 0-10 overlapped by 0-6 (6 words) and 7-9 (2 words), both of its type: 0-6 is the partner.
    Broken: overlap measured as ``min(end) + max(start)`` (7-9 would win). Both predictions are
    ``overlapping``, in their order."""
    c = compare_spans([Span(0, 10, "PER")], [Span(0, 6, "PER"), Span(7, 9, "PER")])
    assert c.errors[0].kind == "wrong_boundary" and c.errors[0].pred == Span(
        0, 6, "PER"
    )
    assert c.overlapping == (Span(0, 6, "PER"), Span(7, 9, "PER")) and c.correct == ()
    right = compare_spans([Span(0, 10, "PER")], [Span(0, 2, "PER"), Span(3, 9, "PER")])
    assert right.errors[0].pred == Span(3, 9, "PER")
    tie = compare_spans([Span(0, 4, "PER")], [Span(0, 2, "LOC"), Span(2, 4, "LOC")])
    assert tie.errors[0].kind == "both" and tie.errors[0].pred == Span(0, 2, "LOC")


def test_errors_are_listed_in_word_order():
    c = compare_spans(
        [Span(1, 2, "ORG"), Span(4, 5, "LOC")],
        [Span(0, 1, "PER"), Span(4, 5, "PER"), Span(6, 7, "X")],
    )
    assert [(e.kind, (e.gold or e.pred).start) for e in c.errors] == [
        ("spurious", 0),
        ("missed", 1),
        ("wrong_type", 4),
        ("spurious", 6),
    ]
    assert c.overlapping == (Span(4, 5, "PER"),)


WORDS = [["ann", "said"], ["ann", "lee", "in", "rome"], ["see", "ibm", "now"]]
GOLD = [
    [Span(0, 1, "PER")],
    [Span(0, 2, "PER"), Span(3, 4, "LOC")],
    [Span(1, 2, "ORG")],
]
PRED = [
    [Span(0, 1, "PER")],
    [Span(0, 2, "PER"), Span(3, 4, "ORG")],
    [Span(0, 1, "PER")],
]


def _span(start, end, label, text):
    return {"start": start, "end": end, "label": label, "text": text}


def test_the_whole_report_counted_by_hand():
    """Sentence 0 has no error (skipped, and the next ones still listed), sentence 1 a wrong type,
    sentence 2 a spurious PER before a missed ORG; every span of an erroneous sentence is listed
    with its text."""
    report = error_analysis(GOLD, PRED, WORDS, [1, 3, 8])
    assert report == {
        "counts": {
            "gold": 4,
            "pred": 4,
            "correct": 2,
            "overlapping": 1,
            "missed": 1,
            "spurious": 1,
            "wrong_type": 1,
            "wrong_boundary": 0,
            "both": 0,
        },
        "confusion": {
            "labels": ["LOC", "ORG", "PER", "none"],
            "matrix": [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 2, 0], [0, 0, 1, 0]],
        },
        "top_confusions": [
            {"gold": "LOC", "pred": "ORG", "count": 1},
            {"gold": "ORG", "pred": "none", "count": 1},
            {"gold": "none", "pred": "PER", "count": 1},
        ],
        "sentences": [
            {
                "sentence": 1,
                "line": 3,
                "words": ["ann", "lee", "in", "rome"],
                "gold": [_span(0, 2, "PER", "ann lee"), _span(3, 4, "LOC", "rome")],
                "pred": [_span(0, 2, "PER", "ann lee"), _span(3, 4, "ORG", "rome")],
                "errors": [
                    {
                        "kind": "wrong_type",
                        "gold": _span(3, 4, "LOC", "rome"),
                        "pred": _span(3, 4, "ORG", "rome"),
                    }
                ],
            },
            {
                "sentence": 2,
                "line": 8,
                "words": ["see", "ibm", "now"],
                "gold": [_span(1, 2, "ORG", "ibm")],
                "pred": [_span(0, 1, "PER", "see")],
                "errors": [
                    {
                        "kind": "spurious",
                        "gold": None,
                        "pred": _span(0, 1, "PER", "see"),
                    },
                    {"kind": "missed", "gold": _span(1, 2, "ORG", "ibm"), "pred": None},
                ],
            },
        ],
    }


def test_without_words_or_lines_spans_have_no_text_and_entries_no_line():
    entry = error_analysis(GOLD, PRED)["sentences"][0]
    assert entry == {
        "sentence": 1,
        "gold": [
            {"start": 0, "end": 2, "label": "PER"},
            {"start": 3, "end": 4, "label": "LOC"},
        ],
        "pred": [
            {"start": 0, "end": 2, "label": "PER"},
            {"start": 3, "end": 4, "label": "ORG"},
        ],
        "errors": [
            {
                "kind": "wrong_type",
                "gold": {"start": 3, "end": 4, "label": "LOC"},
                "pred": {"start": 3, "end": 4, "label": "ORG"},
            }
        ],
    }


def _confusions(pairs):
    """One sentence per (gold type, predicted type): a wrong_type error each."""
    return [[Span(0, 1, g)] for g, _ in pairs], [[Span(0, 1, p)] for _, p in pairs]


def test_top_confusions_are_the_10_largest_most_frequent_first_then_by_name():
    pairs = [(f"G{i:02d}", f"P{i:02d}") for i in range(12)] + [
        ("G11", "P11"),
        ("G10", "P10"),
        ("G10", "P10"),
    ]
    top = error_analysis(*_confusions(pairs))["top_confusions"]
    assert [(x["gold"], x["pred"], x["count"]) for x in top] == [
        ("G10", "P10", 3),
        ("G11", "P11", 2),
        *((f"G{i:02d}", f"P{i:02d}", 1) for i in range(8)),
    ]
    assert len(error_analysis(*_confusions(pairs), top=3)["top_confusions"]) == 3


def test_format_errors_word_for_word():
    assert format_errors(error_analysis(GOLD, PRED, WORDS)).split("\n") == [
        "errors: missed 1 | spurious 1 | wrong type 1 | wrong boundary 0 | both 0 | in 2 sentences",
        "gold spans 4 = correct 2 + missed 1 + wrong type 1 + wrong boundary 0 + both 0",
        "most frequent confusions (gold -> predicted): LOC -> ORG 1, ORG -> none 1, none -> PER 1",
    ]
    assert format_errors(error_analysis(GOLD[:1], PRED[:1])).split("\n") == [
        "errors: missed 0 | spurious 0 | wrong type 0 | wrong boundary 0 | both 0 | in 0 sentences",
        "gold spans 1 = correct 1 + missed 0 + wrong type 0 + wrong boundary 0 + both 0",
    ]


def test_format_errors_lists_the_5_most_frequent_confusions():
    pairs = [(f"G{i}", f"P{i}") for i in range(7)] + [("G6", "P6")]
    last = format_errors(error_analysis(*_confusions(pairs))).split("\n")[-1]
    assert (
        last
        == "most frequent confusions (gold -> predicted): G6 -> P6 2, G0 -> P0 1, G1 -> P1 1, G2 -> P2 1, G3 -> P3 1"
    )
