"""``audit --fix-from``: the corrected copy holds exactly the accepted changes, in the file's own
format and scheme, every other byte as it was, and the original untouched; a review that does not
fit the file is one line at its line."""
from __future__ import annotations

import csv
import json

import pytest

from entitune.data import read_sentences, read_texts
from entitune.errors import DataFormatError
from entitune.options import AuditConfig
from entitune.recipes.curation import audit
from entitune.tags import spans_from_tags
from entitune.terminal import Console
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, write_bio


def _issue(sentence, words, kind, given, suggested, review):
    span = lambda s: None if s is None else {"start": s[0], "end": s[1], "label": s[2],  # noqa: E731
                                             "text": " ".join(words[s[0]:s[1]])}
    return {"id": sentence, "sentence": sentence, "kind": kind, "words": list(words), "given": span(given),
            "suggested": span(suggested), "score": 0.1, "flagged": True, "review": review}


def _write_review(path, issues):
    path.write_text("".join(json.dumps(x) + "\n" for x in issues))
    return path


def _fix(data, review, out, **kw):
    return audit(AuditConfig(data=str(data), out=str(out), fix_from=str(review), **kw), Console(quiet=True))


def test_the_fix_writes_exactly_the_accepted_changes_in_a_bio_file(tmp_path):
    """Four accepted issues (one of each kind but the combined one) and one rejected: the copy differs
    from the original in the tag fields of the accepted issues' words and nowhere else.

    Broken (a rejected issue applied, another line touched, the original rewritten), the line
    comparison below fails."""
    rows = [(list(w), list(t)) for w, t in TINY_SENTENCES]
    data = write_bio(tmp_path / "train.bio", rows)
    original = data.read_bytes()
    w = [r[0] for r in rows]
    review = _write_review(tmp_path / "reviewed.jsonl", [
        _issue(0, w[0], "wrong_type", (4, 6, "ACTOR"), (4, 6, "DIRECTOR"), "accept"),
        _issue(1, w[1], "wrong_boundary", (3, 5, "ACTOR"), (2, 5, "ACTOR"), "Accept"),
        _issue(2, w[2], "spurious_entity", (3, 5, "DIRECTOR"), None, "reject"),
        _issue(3, w[3], "spurious_entity", (3, 4, "YEAR"), None, "accept"),
        _issue(4, w[4], "missing_entity", None, (0, 1, "GENRE"), "accept"),
        _issue(5, w[5], "wrong_type", (0, 2, "ACTOR"), (0, 2, "YEAR"), None),  # not reviewed
    ])
    fixed = _fix(data, review, tmp_path / "out")
    assert fixed == tmp_path / "out" / "train.fixed.bio" and data.read_bytes() == original
    before, after = original.decode().splitlines(), fixed.read_text().splitlines()
    changed = {i: (a, b) for i, (a, b) in enumerate(zip(before, after)) if a != b}
    assert len(before) == len(after)
    starts = [s.line for s in read_sentences(data)]
    expected = {starts[0] + 3: "B-DIRECTOR", starts[0] + 4: "I-DIRECTOR",  # lines are 1-based; indices 0-based
                starts[1] + 1: "B-ACTOR", starts[1] + 2: "I-ACTOR",
                starts[3] + 2: "O", starts[4] - 1: "B-GENRE"}
    assert {i: b for i, (_, b) in changed.items()} == {i: f"{tag}\t{before[i].split(chr(9))[1]}"
                                                       for i, tag in expected.items()}
    fixed_spans = [spans_from_tags(s.tags) for s in read_sentences(fixed)]
    assert fixed_spans[2] == spans_from_tags(rows[2][1])  # the rejected issue left it as it was


def test_the_fix_keeps_a_conll_files_scheme_and_columns(tmp_path):
    """A BIOES CoNLL file with a POS column: the accepted change is written in BIOES, in the tag
    column, the word and POS columns as they were."""
    data = tmp_path / "train.conll"
    data.write_text("drew NN B-ACTOR\nbarrymore NN E-ACTOR\nfilms NNS O\n\nthe DT O\n1980s CD S-YEAR\n")
    words = ["drew", "barrymore", "films"]
    review = _write_review(tmp_path / "r.jsonl", [_issue(0, words, "wrong_boundary", (0, 2, "ACTOR"), (0, 3, "ACTOR"),
                                                         "accept")])
    fixed = _fix(data, review, tmp_path / "out")
    assert fixed.read_text() == "drew NN B-ACTOR\nbarrymore NN I-ACTOR\nfilms NNS E-ACTOR\n\nthe DT O\n1980s CD S-YEAR\n"


def test_the_fix_rewrites_only_the_changed_jsonl_lines(tmp_path):
    data = tmp_path / "spans.jsonl"
    lines = [{"text": "films with drew barrymore", "entities": [{"start": 11, "end": 25, "label": "DIRECTOR"}], "id": 7},
             {"text": "movies from the 1980s", "entities": [], "id": 8}]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    words = ["films", "with", "drew", "barrymore"]
    review = _write_review(tmp_path / "r.jsonl", [_issue(0, words, "wrong_type", (2, 4, "DIRECTOR"), (2, 4, "ACTOR"),
                                                         "accept")])
    fixed = _fix(data, review, tmp_path / "out").read_text().splitlines()
    assert json.loads(fixed[0]) == {**lines[0], "entities": [{"start": 11, "end": 25, "label": "ACTOR"}]}
    assert fixed[1] == json.dumps(lines[1])


def test_the_fix_of_labels_in_a_csv_file(tmp_path):
    """A quoted CSV: the accepted row gets its new label, quoted as the file quotes; others stay."""
    data = tmp_path / "news.csv"
    with open(data, "w", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for text, label in TINY_TEXTS[:4]:
            writer.writerow([label, text])
    original = data.read_text().splitlines()
    issue = {"id": 1, "index": 2, "kind": "wrong_label", "text": TINY_TEXTS[2][0], "given": "actor",
             "suggested": "year", "review": "accept"}
    fixed = _fix(data, _write_review(tmp_path / "r.jsonl", [issue]), tmp_path / "out")
    after = fixed.read_text().splitlines()
    assert after[2] == f'"year","{TINY_TEXTS[2][0]}"' and after[:2] + after[3:] == original[:2] + original[3:]
    assert [e.labels[0] for e in read_texts(fixed).examples] == ["actor", "actor", "year", "actor"]


@pytest.mark.parametrize("change, why", [
    ({"review": "maybe"}, "review must be 'accept' or 'reject'"),
    ({"words": ["other", "words"]}, "the issue's words differ from sentence 0"),
    ({"given": {"start": 0, "end": 1, "label": "ACTOR"}}, "is not in sentence 0"),
    ({"sentence": 99}, "is not a sentence of"),
])
def test_a_review_that_does_not_fit_the_file_is_one_error_at_its_line(tmp_path, change, why):
    rows = [(list(w), list(t)) for w, t in TINY_SENTENCES]
    data = write_bio(tmp_path / "train.bio", rows)
    good = _issue(1, rows[1][0], "wrong_type", (3, 5, "ACTOR"), (3, 5, "DIRECTOR"), "accept")
    bad = {**_issue(0, rows[0][0], "wrong_type", (4, 6, "ACTOR"), (4, 6, "DIRECTOR"), "accept"), **change}
    review = _write_review(tmp_path / "r.jsonl", [good, bad])
    with pytest.raises(DataFormatError) as err:
        _fix(data, review, tmp_path / "out")
    assert err.value.path == str(review) and err.value.line == 2 and why in err.value.why, str(err.value)
    assert not (tmp_path / "out" / "train.fixed.bio").exists()


def test_overlapping_accepted_suggestions_are_refused(tmp_path):
    rows = [(list(w), list(t)) for w, t in TINY_SENTENCES]
    data = write_bio(tmp_path / "train.bio", rows)
    w = rows[0][0]
    review = _write_review(tmp_path / "r.jsonl", [
        _issue(0, w, "missing_entity", None, (2, 4, "GENRE"), "accept"),
        _issue(0, w, "wrong_boundary", (4, 6, "ACTOR"), (3, 6, "ACTOR"), "accept")])
    with pytest.raises(DataFormatError, match=r"r.jsonl:2: its suggested span overlaps the one accepted at line 1"):
        _fix(data, review, tmp_path / "out")
