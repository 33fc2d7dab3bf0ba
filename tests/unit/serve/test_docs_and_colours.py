"""The service's API docs work offline (their scripts come from this server, not a CDN), and its
page colours labels with the report's palette, which ``/info`` hands it."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from entitune.palette import PALETTE, label_colours, label_styles, tint
from entitune.report import palette_for
from entitune.serve import create_app, page_html


class _NoPredictor:
    def predict(self, inputs):
        return []


@pytest.fixture
def client():
    info = {"labels": ["O", "B-PER", "I-PER", "B-ORG", "B-ACTOR", "B-RATINGS_AVERAGE"], "model": "m"}
    with TestClient(create_app(_NoPredictor(), info=info), base_url="http://127.0.0.1") as c:
        yield c


#: where a page loads something from: src/href attributes, CSS url(), Swagger's url:/spec-url
REFERENCE = re.compile(r"""(?:\bsrc|\bhref|\burl|spec-url)\s*[=:(]\s*["']?([^"')\s>]+)""", re.I)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_reference_nothing_outside_the_server(client, page):
    """Broken (FastAPI's default), /docs loads Swagger UI from a CDN: blank where the service runs
    without internet."""
    response = client.get(page)
    assert response.status_code == 200
    refs = REFERENCE.findall(response.text)
    assert refs and not [r for r in refs if re.match(r"^(https?:)?//", r)], refs
    assert "cdn" not in response.text.lower() and "googleapis" not in response.text
    for ref in refs:  # every script, style and spec it names is served here
        assert client.get(ref).status_code == 200, ref
    assert '"validatorUrl": null' in response.text or page == "/redoc"  # no badge fetched from swagger.io


def test_info_hands_the_page_the_reports_palette(client):
    info = client.get("/info").json()
    styles = info["label_colours"]
    assert list(styles) == sorted(info["entity_types"])
    assert {t: s["colour"] for t, s in styles.items()} == palette_for(info["entity_types"])
    # neighbours once nearly the same hue are now palette neighbours: clearly distinct
    assert len({s["colour"] for s in styles.values()}) == len(styles)
    assert styles["ORG"]["tint"] == tint(styles["ORG"]["colour"])
    assert "labelColour(" not in page_html() and "label_colours" in page_html()


def test_palette_by_place_in_sorted_labels():
    assert label_colours(["PER", "ORG"]) == {"ORG": PALETTE[0], "PER": PALETTE[1]}
    many = [f"T{i:02d}" for i in range(len(PALETTE) + 1)]
    styles = label_styles(many)
    assert styles["T12"]["colour"] == PALETTE[0] and styles["T12"]["repeat"] and not styles["T11"]["repeat"]


def test_info_keeps_a_recorded_encoder_name_and_hides_old_paths():
    new = create_app(_NoPredictor(), info={"labels": ["O"], "encoder": "sentence-transformers/all-MiniLM-L6-v2"})
    old = create_app(_NoPredictor(), info={"labels": ["O"], "encoder": "/srv/models/minilm/model"})
    with TestClient(new, base_url="http://localhost") as a, TestClient(old, base_url="http://localhost") as b:
        assert a.get("/info").json()["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
        assert b.get("/info").json()["encoder"] == "minilm/model"
