"""Error analysis and the run report through the CLI: ``evaluate --errors`` on the tiny tagger,
``report`` on a real tiny training run (and on a classifier's), the page's sections and embedded
images, and the page in headless Chromium with the network off."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers.browser import artifacts, offline_chromium
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, write_bio

# the tiny taggers know ACTOR, DIRECTOR, YEAR and PLOT: LOC and GENRE spans are errors whatever they
# predict; the other sentences relabel what they learnt, inviting a wrong type, a wrong boundary, both
# wrong, and a spurious YEAR
HARD = TINY_SENTENCES + [
    (["films", "in", "paris"], ["O", "O", "B-LOC"]),
    (["drew", "barrymore", "films", "in", "paris"], ["B-DIRECTOR", "I-DIRECTOR", "B-GENRE", "O", "B-LOC"]),
    (["what", "movies", "star", "bruce", "willis"], ["O", "O", "O", "O", "B-ACTOR"]),
    (["films", "directed", "by", "steven", "spielberg"], ["O", "O", "O", "B-ACTOR", "O"]),
    (["movies", "from", "the", "1980s"], ["O", "O", "O", "O"]),
]
SECTIONS = ["summary", "curves", "scores", "confusion", "errors"]


def run(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def _spans(tags):
    from entitune.tags import spans_from_tags

    return [{"start": s.start, "end": s.end, "label": s.label} for s in spans_from_tags(tags)]


def _overlaps(a, b):
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_evaluate_errors_on_the_tiny_tagger(tiny_tagger_dir, tmp_path):
    """Every sentence with an error is in the JSONL and under ``errors`` in the JSON, with the
    file's gold spans; each error's class fits its definition; the counts add up and agree with
    entity precision and recall. Broken: a class assigned against its definition, a sentence lost,
    or counts that do not account for every span."""
    data = write_bio(tmp_path / "hard.bio", HARD)
    r = run("evaluate", tiny_tagger_dir, data, "--errors", tmp_path / "errors.jsonl", "--json", tmp_path / "eval.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    errors = report["errors"]
    lines = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert lines == errors["sentences"] and lines, "the JSONL holds the same sentences as the JSON"
    c = errors["counts"]
    assert c["gold"] == c["correct"] + c["missed"] + c["wrong_type"] + c["wrong_boundary"] + c["both"]
    assert c["pred"] == c["correct"] + c["spurious"] + c["overlapping"]
    assert report["entity"]["recall"] == pytest.approx(c["correct"] / c["gold"])
    assert report["entity"]["precision"] == pytest.approx(c["correct"] / c["pred"] if c["pred"] else 0.0)
    assert c["gold"] == sum(len(_spans(tags)) for _, tags in HARD)
    by_index = {s["sentence"]: s for s in lines}
    for i in (len(TINY_SENTENCES), len(TINY_SENTENCES) + 1):  # LOC and GENRE: always wrong
        assert i in by_index
    for s in lines:
        words, tags = HARD[s["sentence"]]
        assert s["words"] == words
        assert [{k: v for k, v in g.items() if k != "text"} for g in s["gold"]] == _spans(tags)
        for e in s["errors"]:
            g, p = e["gold"], e["pred"]
            if e["kind"] == "missed":
                assert p is None and not any(_overlaps(g, q) for q in s["pred"])
            elif e["kind"] == "spurious":
                assert g is None and not any(_overlaps(q, p) for q in s["gold"])
            else:
                assert _overlaps(g, p)
                assert ((g["start"], g["end"]) == (p["start"], p["end"])) == (e["kind"] == "wrong_type")
                assert (g["label"] == p["label"]) == (e["kind"] == "wrong_boundary")
    labels, matrix = errors["confusion"]["labels"], errors["confusion"]["matrix"]
    assert labels[-1] == "none" and {"LOC", "GENRE"} <= set(labels)
    assert sum(matrix[labels.index("LOC")]) == 2 and matrix[labels.index("LOC")][labels.index("LOC")] == 0
    assert "errors:" in r.stdout and "gold spans" in r.stdout


def test_evaluate_errors_is_for_taggers(tmp_path):
    run_dir = tmp_path / "classifier"
    run_dir.mkdir()
    (run_dir / "entitune.json").write_text(json.dumps({"task": "classify", "labels": ["a", "b"]}))
    data = tmp_path / "texts.csv"
    data.write_text("a,some text\n")
    r = run("evaluate", run_dir, data, "--errors", tmp_path / "e.jsonl")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --errors is for taggers; a classifier's confusion matrix is in its report (--json)"]


@pytest.fixture(scope="module")
def tagger_run(tiny_bert, tmp_path_factory):
    """A real tiny training run, evaluated with --errors, and its report."""
    d = tmp_path_factory.mktemp("report")
    train = write_bio(d / "train.bio", TINY_SENTENCES * 4)
    dev = write_bio(d / "dev.bio", TINY_SENTENCES)
    hard = write_bio(d / "hard.bio", HARD)
    out = d / "run"
    r = run("train", "--train", train, "--dev", dev, "--test", dev, "--out", out, "--model", tiny_bert, "--epochs", 10,
            "--lr", "1e-3", "--head-lr", "1e-2", "--warmup", 0, "--batch-size", 4, "--max-length", 16, "--stride", 4)
    assert r.returncode == 0, r.stderr
    r = run("evaluate", out, hard, "--errors", d / "errors.jsonl", "--json", d / "eval.json")
    assert r.returncode == 0, r.stderr
    r = run("report", out, "--eval", d / "eval.json", "--out", d / "report.html")
    assert r.returncode == 0, r.stderr
    return d, out, d / "report.html"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def _check_self_contained(page: str) -> None:
    assert not re.search(r'(src|href)="(?!data:|#)', page), "every src and href is a data URI or an anchor"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"<script[^>]+src", page) and "http://" not in page and "https://" not in page


def test_report_sections_and_images(tagger_run):
    from PIL import Image

    d, out, html_path = tagger_run
    page = html_path.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    _check_self_contained(page)
    images = _images(page)
    assert len(images) == 3  # curves, per-type bars, confusion heat map
    for png in images:
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.format == "PNG" and image.width > 300 and image.height > 200
    errors = json.loads((d / "eval.json").read_text())["errors"]
    assert page.count('<article class="sent"') == len(errors["sentences"])
    assert 'data-label="LOC"' in page and "wrong type" in page


def test_report_defaults_to_the_runs_test_scores(tagger_run, tmp_path):
    """Without --eval the scores come from the run's own test report and there is no error view."""
    _, out, _ = tagger_run
    r = run("report", out, "--out", tmp_path / "plain.html")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "plain.html").read_text()
    assert "test set (train_log.json)" in page and "--errors errors.jsonl" in page
    assert len(_images(page)) == 2  # curves and bars; the confusion matrix comes with the error analysis


def test_report_errors_are_one_line(tmp_path, tagger_run):
    d, out, _ = tagger_run
    r = run("report", tmp_path)
    assert r.returncode == 2 and "no log.jsonl, train_log.json or entitune.json" in r.stderr
    (tmp_path / "bad.json").write_text("{not json")
    r = run("report", out, "--eval", tmp_path / "bad.json", "--out", tmp_path / "r.html")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a JSON evaluation report" in r.stderr


@pytest.fixture
def classifier_run(tmp_path):
    """A classifier's run directory: its settings, a log written by ``JsonlLog`` and an evaluation."""
    from entitune.evaluate import classification_scores
    from entitune.train.progress import EpochResult, JsonlLog

    labels = sorted({label for _, label in TINY_TEXTS})
    run_dir = tmp_path / "news"
    run_dir.mkdir()
    (run_dir / "entitune.json").write_text(json.dumps({"task": "classify", "labels": labels}))
    log = JsonlLog(run_dir / "log.jsonl")
    log.on_start(12, 4)
    for step in range(1, 13):
        log.on_step(step, 1.2 / step, 1000.0, 1e-3 * (1 - step / 12))
        if step % 4 == 0:
            dev = classification_scores([[x] for x in labels], [[x] for x in labels], labels)
            log.on_epoch(EpochResult(step // 4, 1.0 / step, 1.0, 100, 120, 100.0, dev, step == 12, 0.1, "accuracy",
                                     0.5 + step / 30))
    log.close()
    gold = [[label] for _, label in TINY_TEXTS]
    pred = [[labels[(labels.index(g[0]) + (i % 4 == 0)) % len(labels)]] for i, g in enumerate(gold)]
    (tmp_path / "eval.json").write_text(json.dumps(classification_scores(gold, pred, labels)))
    return run_dir, tmp_path / "eval.json"


def test_classifier_report(classifier_run, tmp_path):
    from PIL import Image

    run_dir, eval_json = classifier_run
    r = run("report", run_dir, "--eval", eval_json)
    assert r.returncode == 0, r.stderr
    page = (run_dir / "report.html").read_text()
    for section in SECTIONS[:4]:
        assert f'<section id="{section}">' in page
    assert '<section id="errors">' not in page and "text classification" in page and "accuracy" in page
    _check_self_contained(page)
    images = _images(page)
    assert len(images) == 3
    for png in images:
        Image.open(io.BytesIO(png)).load()
    # an evaluation of the other task is refused
    tagger_eval = tmp_path / "tagger_eval.json"
    tagger_eval.write_text(json.dumps({"entity": {"precision": 1, "recall": 1, "f1": 1}, "per_type": {}}))
    r = run("report", run_dir, "--eval", tagger_eval)
    assert r.returncode == 2 and "the evaluation of a tagger" in r.stderr


def test_report_page_in_chromium(tagger_run, tmp_path_factory):
    """The page in headless Chromium with the network off: every figure decodes and shows, nothing
    is fetched, the legend's colours are distinct, and the error filters narrow the sentences."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d, out, html_path = tagger_run
    with offline_chromium(tmp_path_factory.mktemp("chromium-profile"), 1280, 2400) as browser:
        browser.get(html_path.resolve().as_uri())
        for section in SECTIONS:
            assert browser.find_element(By.ID, section).is_displayed()
        assert browser.execute_script(
            "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 300)")
        assert browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => !e.name.startsWith('data:')).length") == 0
        legend = browser.find_elements(By.CSS_SELECTOR, "#legend mark.ent")
        colours = [m.value_of_css_property("border-bottom-color") for m in legend]
        assert len(legend) >= 4 and len(set(colours)) == len(colours)
        articles = browser.find_elements(By.CSS_SELECTOR, "article.sent")
        total = len(articles)
        Select(browser.find_element(By.ID, "kind-filter")).select_by_value("missed")
        shown = [a for a in articles if a.is_displayed()]
        assert 0 < len(shown) <= total
        assert all("missed" in a.get_attribute("data-kinds").split() for a in shown)
        assert browser.find_element(By.ID, "shown-count").text == str(len(shown))
        Select(browser.find_element(By.ID, "kind-filter")).select_by_value("")
        assert browser.find_element(By.ID, "shown-count").text == str(total)
        # the whole page in one screenshot
        browser.set_window_size(1280, min(6000, browser.execute_script("return document.body.scrollHeight") + 140))
        browser.execute_script("window.scrollTo(0, 0)")
        shot = artifacts() / "report.png"
        browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
