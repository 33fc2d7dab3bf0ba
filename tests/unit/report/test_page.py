"""The report's pure parts: reading log.jsonl (a cut-short last line, a bad line), the fixed
palette, and the page escaping what it shows."""
from __future__ import annotations

import io
import json

import pytest

from entitune.errors import DataFormatError
from entitune.report import PALETTE, build_report, palette_for, parse_run_log

EVENTS = [{"event": "start", "total_steps": 4, "steps_per_epoch": 2},
          {"event": "step", "step": 1, "loss": 2.0, "lr": 0.1}, {"event": "step", "step": 2, "loss": 1.0, "lr": 0.05},
          {"event": "epoch", "epoch": 1, "train_loss": 1.5, "metric": "entity_f1", "score": 0.4, "is_best": True,
           "dev": {"token_micro_f1": 0.8}},
          {"event": "start", "total_steps": 4, "steps_per_epoch": 2, "resumed_after_step": 2},
          {"event": "step", "step": 3, "loss": 0.5, "lr": 0.02}]


def test_log_with_a_cut_short_last_line():
    text = "".join(json.dumps(e) + "\n" for e in EVENTS) + '{"event": "st'
    log = parse_run_log(io.StringIO(text))
    assert [s["step"] for s in log.steps] == [1, 2, 3] and log.starts == 2 and log.steps_per_epoch == 2
    assert log.metric == "entity_f1" and log.best["epoch"] == 1


def test_a_bad_line_inside_the_log_is_an_error_at_its_line():
    text = json.dumps(EVENTS[0]) + "\n[1, 2]\n" + json.dumps(EVENTS[1]) + "\n"
    with pytest.raises(DataFormatError, match=r"log.jsonl:2: not a JSON object"):
        parse_run_log(io.StringIO(text))


def test_palette_is_fixed_and_distinct():
    assert len(set(PALETTE)) == len(PALETTE)
    assert palette_for(["B", "A"]) == {"A": PALETTE[0], "B": PALETTE[1]}
    assert palette_for(["A", "ZZZ"])["ZZZ"] == palette_for(["A", "Q"])["Q"]  # by place, not by name


def test_words_are_escaped():
    errors = {"counts": {"gold": 1, "pred": 0, "correct": 0, "overlapping": 0, "missed": 1, "spurious": 0,
                         "wrong_type": 0, "wrong_boundary": 0, "both": 0},
              "confusion": {"labels": ["X", "none"], "matrix": [[0, 1], [0, 0]]},
              "top_confusions": [{"gold": "X", "pred": "none", "count": 1}],
              "sentences": [{"sentence": 0, "words": ["<script>", "&"], "gold": [{"start": 0, "end": 1, "label": "X"}],
                             "pred": [], "errors": [{"kind": "missed", "gold": {"start": 0, "end": 1, "label": "X"},
                                                     "pred": None}]}]}
    report = {"entity": {"precision": 0, "recall": 0, "f1": 0}, "per_type": {}, "errors": errors}
    page = build_report(title="<run>", task="ner", log=None, eval_report=report, eval_name="eval.json")
    assert "&lt;script&gt; &amp;" in page and page.count("<script>") == 1  # the page's own
    assert "<h1>&lt;run&gt;</h1>" in page and page.count('<article class="sent"') == 1
