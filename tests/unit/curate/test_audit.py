"""``audit``: cleanlab's ranking of annotation errors, each issue classified by what the annotation
got wrong; planted errors in a tiny file come first, with their classes and lines."""
from __future__ import annotations

import json

import numpy as np
import pytest

from entitune.curate.audit import class_issues, class_probabilities, entity_issues, summary
from entitune.options import AuditConfig
from entitune.recipes.curation import audit, fold_assignment
from entitune.terminal import Console
from entitune.types import Sentence, TextExample
from tests.helpers.data import TINY_SENTENCES, write_bio

CLASSES = ["O", "ACTOR", "YEAR"]


def _probs(rows):
    """(words, 3) probabilities over O, ACTOR, YEAR from each word's most likely class and its share."""
    out = np.full((len(rows), 3), 0.0)
    for w, (cls, p) in enumerate(rows):
        out[w] = (1 - p) / 2
        out[w, CLASSES.index(cls)] = p
    return out


def test_entity_issues_are_classified_and_ranked_by_cleanlabs_quality():
    """Four sentences whose annotation the model contradicts with different confidence: each gives
    one issue of the class named for the annotation's mistake, ranked by the probability the model
    leaves for the given labels (lowest first), the confident contradictions flagged. Ten agreeing
    sentences give none.

    Broken (classes named from the model's side, or ranked highest first), the order or the classes
    below change."""
    sentences, predicted, probs = [], [], []
    agree = (("drew", "barrymore", "films"), ("B-ACTOR", "I-ACTOR", "O"), [("ACTOR", .97), ("ACTOR", .97), ("O", .98)])
    for _ in range(10):
        sentences.append(Sentence(agree[0], agree[1]))
        predicted.append(agree[1])
        probs.append(_probs(agree[2]))
    cases = [  # given tags, predicted tags, probabilities: the annotation's mistake
        (("O", "O", "O"), ("B-ACTOR", "I-ACTOR", "O"), [("ACTOR", .99), ("ACTOR", .99), ("O", .99)]),  # missing
        (("B-YEAR", "I-YEAR", "O"), ("B-ACTOR", "I-ACTOR", "O"), [("ACTOR", .9), ("ACTOR", .9), ("O", .99)]),  # type
        (("B-ACTOR", "O", "O"), ("B-ACTOR", "I-ACTOR", "O"), [("ACTOR", .95), ("ACTOR", .6), ("O", .99)]),  # boundary
        (("O", "O", "B-YEAR"), ("O", "O", "O"), [("O", .99), ("O", .99), ("O", .5)]),  # spurious, unsure
    ]
    for given, pred, rows in cases:
        sentences.append(Sentence(("drew", "barrymore", "films"), given))
        predicted.append(pred)
        probs.append(_probs(rows))
    issues = entity_issues(sentences, predicted, probs, CLASSES)
    assert [(x["sentence"], x["kind"]) for x in issues] == [
        (10, "missing_entity"), (11, "wrong_type"), (12, "wrong_boundary"), (13, "spurious_entity")]
    scores = [x["score"] for x in issues]
    assert scores == sorted(scores)
    assert issues[1]["given"] == {"start": 0, "end": 2, "label": "YEAR", "text": "drew barrymore"}
    assert issues[1]["suggested"]["label"] == "ACTOR" and issues[1]["types"] == ["ACTOR", "YEAR"]
    # the given labels' probability: p(O) = .005 at the missed actor, p(YEAR) = .05, p(O) = .2 at the
    # word cut from the actor, p(YEAR) = .25 at the unsure year
    assert scores == pytest.approx([0.005, 0.05, 0.2, 0.25])
    assert issues[0]["given"] is None and issues[3]["suggested"] is None
    assert issues[0]["flagged"] and not issues[3]["flagged"]  # confident learning: sure, and unsure
    s = summary(issues)
    assert s["issues"] == 4 and s["by_class"]["wrong_type"] == 1 and s["by_type"] == {"ACTOR": 3, "YEAR": 2}


def test_class_probabilities_sum_the_tags_of_a_type():
    """B-, I-, E-, S- of one type make its class; a type the model never learnt gets 0."""
    got = class_probabilities(np.array([[0.1, 0.2, 0.3, 0.4]]), ["O", "B-X", "E-X", "S-Y"], ["O", "X", "Y", "Z"])
    assert got.tolist() == [[0.1, 0.5, 0.4, 0.0]]


def test_class_issues_rank_the_flipped_labels_first():
    """Thirty texts of three classes, three with a label the model contradicts: those three lead the
    ranking, lowest given-label probability first, with the model's class as the suggestion."""
    classes = ["a", "b", "c"]
    examples, rows = [], []
    for i in range(30):
        label = classes[i % 3]
        p = np.full(3, 0.05)
        p[i % 3] = 0.9
        examples.append(TextExample(f"text {i}", (label,)))
        rows.append(p)
    for i, given, confidence in ((4, "c", 0.97), (7, "a", 0.8), (11, "a", 0.6)):
        examples[i] = TextExample(f"text {i}", (given,))
        rows[i] = np.full(3, (1 - confidence) / 2)
        rows[i][i % 3] = confidence
    issues = class_issues(examples, np.array(rows), classes)
    assert [(x["index"], x["given"], x["suggested"]) for x in issues[:3]] == [(4, "c", "b"), (7, "a", "b"), (11, "a", "c")]
    # confident learning flags a text when the model is at least as sure of the other class as it is,
    # on average, of that class's own texts (0.9 here): only the 0.97 one
    assert [x["flagged"] for x in issues] == [True, False, False]


def test_folds_cover_every_example_once_and_are_seeded():
    a, b = fold_assignment(103, 5, 1), fold_assignment(103, 5, 1)
    assert a == b != fold_assignment(103, 5, 2)
    sizes = [a.count(k) for k in range(5)]
    assert sum(sizes) == 103 and max(sizes) - min(sizes) <= 1


PLANTED = [  # (index in the file, tags): a type swap, a boundary cut, a deleted entity, a spurious one
    (0, ["O", "O", "O", "O", "B-DIRECTOR", "I-DIRECTOR"]),
    (8, ["O", "O", "O", "B-DIRECTOR", "O"]),
    (9, ["O", "O", "O", "O"]),
    (10, ["B-YEAR", "O", "B-PLOT"]),
]


def _planted_file(tmp_path):
    rows = [(list(w), list(t)) for w, t in TINY_SENTENCES * 2]
    for i, tags in PLANTED:
        rows[i] = (rows[i][0], tags)
    return write_bio(tmp_path / "planted.bio", rows), rows


def test_audit_with_a_model_finds_the_planted_errors(tiny_tagger_dir, tmp_path):
    """The tiny tagger judges a file of its own sentences with four planted errors: the four are the
    issues, each of its class, at the line of its first word; issues.jsonl, summary.json and a
    self-contained audit.html are written."""
    path, rows = _planted_file(tmp_path)
    out = tmp_path / "audit"
    result = audit(AuditConfig(data=str(path), out=str(out), model=str(tiny_tagger_dir)), Console(quiet=True))
    found = {(x["sentence"], x["kind"]) for x in result.issues}
    assert found == {(0, "wrong_type"), (8, "wrong_boundary"), (9, "missing_entity"), (10, "spurious_entity")}
    lines = path.read_text().splitlines()
    for x in result.issues:
        span = x["given"] or x["suggested"]
        assert lines[x["line"] - 1].split("\t")[1] == x["words"][span["start"]]  # the first word's own line
    written = [json.loads(line) for line in (out / "issues.jsonl").read_text().splitlines()]
    assert [x["id"] for x in written] == [1, 2, 3, 4] and all(x["review"] is None for x in written)
    assert json.loads((out / "summary.json").read_text())["issues"] == 4
    page = (out / "audit.html").read_text()
    assert page.count('<article class="sent issue"') == 4 and "http" not in page


def test_audit_refuses_what_it_cannot_do(tmp_path, tiny_tagger_dir):
    path, _ = _planted_file(tmp_path)
    from entitune.errors import ConfigError

    with pytest.raises(ConfigError, match="give one or the other"):
        AuditConfig(data=str(path), out=str(tmp_path), model=str(tiny_tagger_dir), base={"epochs": 1})
    with pytest.raises(ConfigError, match="unknown train option 'epoch'"):
        AuditConfig(data=str(path), out=str(tmp_path), base={"epoch": 1})
    with pytest.raises(ConfigError, match="fewer than --folds"):
        write_bio(tmp_path / "two.bio", TINY_SENTENCES[:2])
        audit(AuditConfig(data=str(tmp_path / "two.bio"), out=str(tmp_path / "o"), folds=3), Console(quiet=True))
