"""The audit page in headless Chromium with the network off: nothing is fetched, every issue shows
both annotations, and the filters (class, type, flagged, words) narrow the issues to those that fit."""
from __future__ import annotations

import json
import re

from entitune.options import AuditConfig
from entitune.recipes.curation import audit
from entitune.terminal import Console
from tests.helpers.browser import artifacts, offline_chromium
from tests.helpers.data import TINY_SENTENCES, write_bio

PLANTED = [(0, ["O", "O", "O", "O", "B-DIRECTOR", "I-DIRECTOR"]), (1, ["O", "O", "O", "O", "O"]),
           (8, ["O", "O", "O", "B-DIRECTOR", "O"]), (9, ["O", "O", "O", "O"]), (10, ["B-YEAR", "O", "B-PLOT"]),
           (11, ["O", "O", "B-YEAR", "O", "O", "B-YEAR"])]


def test_audit_page_in_chromium(tiny_tagger_dir, tmp_path, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    rows = [(list(w), list(t)) for w, t in TINY_SENTENCES * 2]
    for i, tags in PLANTED:
        rows[i] = (rows[i][0], tags)
    data = write_bio(tmp_path / "planted.bio", rows)
    result = audit(AuditConfig(data=str(data), out=str(tmp_path / "audit"), model=str(tiny_tagger_dir)),
                   Console(quiet=True))
    issues = result.issues
    kinds = {x["kind"] for x in issues}
    assert {"wrong_type", "missing_entity", "spurious_entity", "wrong_boundary"} <= kinds
    page = (tmp_path / "audit" / "audit.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', page) and "<link" not in page and "http" not in page
    with offline_chromium(tmp_path_factory.mktemp("chromium-audit"), 1280, 2000) as browser:
        browser.get((tmp_path / "audit" / "audit.html").resolve().as_uri())
        assert browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => !e.name.startsWith('data:')).length") == 0
        articles = browser.find_elements(By.CSS_SELECTOR, "article.issue")
        assert len(articles) == len(issues)
        assert all(len(a.find_elements(By.CSS_SELECTOR, ".row")) == 2 for a in articles)
        count = browser.find_element(By.ID, "shown-count")

        def shown():
            return [a for a in articles if a.is_displayed()]

        for kind in sorted(kinds):
            Select(browser.find_element(By.ID, "kind-filter")).select_by_value(kind)
            assert {a.get_attribute("data-kind") for a in shown()} == {kind}
            assert len(shown()) == sum(x["kind"] == kind for x in issues) == int(count.text)
        Select(browser.find_element(By.ID, "kind-filter")).select_by_value("")
        Select(browser.find_element(By.ID, "type-filter")).select_by_value("YEAR")
        assert len(shown()) == sum("YEAR" in x["types"] for x in issues) == int(count.text) > 0
        Select(browser.find_element(By.ID, "type-filter")).select_by_value("")
        browser.find_element(By.ID, "flagged-filter").click()
        assert len(shown()) == sum(x["flagged"] for x in issues) == int(count.text)
        browser.find_element(By.ID, "flagged-filter").click()
        browser.find_element(By.ID, "text-filter").send_keys("spielberg")
        assert len(shown()) == sum("spielberg" in x["words"] for x in issues) == int(count.text) > 0
        shot = artifacts() / "audit.png"
        browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "audit" / "summary.json").read_text())["issues"] == len(issues)
