"""examples/ray_serve.py: entitune's service as a Ray Serve deployment on a local cluster answers as
``entitune predict`` does, with the service's ``/health``, ``/info`` and request limits. Ray Serve
is in the ``test`` extra, so a missing one fails here (an ImportError) rather than skipping."""
from __future__ import annotations

import io
import json

import httpx
import pytest
import ray
from ray import serve

from entitune.recipes.inference import predict_lines
from tests.helpers.examples import load_example
from tests.helpers.net import free_port


pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def served(tiny_tagger_dir):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(load_example("ray_serve").build(str(tiny_tagger_dir), replicas=2, cpus_per_replica=0.5, limits={"max_texts": 4}),
                  route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_ray_serve_answers_as_entitune_predict(served, tiny_tagger_dir, tmp_path):
    """Two replicas behind Ray Serve's proxy: /predict equals ``entitune predict`` on the same lines,
    request after request (so both replicas answer), /health and /info are the service's, and a
    request over ``max_texts`` gets the service's 422. Broken: a replica that answered otherwise
    (another decode path), lost the limits, or dropped the service's routes."""
    texts = ["show me films with drew barrymore", "movies from the 1980s", "films directed by steven spielberg"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n")
    local = io.StringIO()
    predict_lines(tiny_tagger_dir, source, stdout=local)
    want = [json.loads(x) for x in local.getvalue().splitlines()]
    assert sum(len(w["entities"]) for w in want) == 3  # real spans to compare
    for _ in range(6):
        got = httpx.post(served + "/predict", json={"texts": texts}, timeout=60).json()["predictions"]
        assert [{**g, "entities": [{**e, "score": None} for e in g["entities"]]} for g in got] == \
            [{**w, "entities": [{**e, "score": None} for e in w["entities"]]} for w in want]
        assert [e["score"] for g in got for e in g["entities"]] == pytest.approx(
            [e["score"] for w in want for e in w["entities"]], abs=1e-5)
    assert httpx.get(served + "/health", timeout=30).json() == {"status": "ok"}
    info = httpx.get(served + "/info", timeout=30).json()
    assert info["task"] == "ner" and info["limits"]["max_texts"] == 4 and info["model"] == tiny_tagger_dir.name
    too_many = httpx.post(served + "/predict", json={"texts": ["films"] * 5}, timeout=30)
    assert too_many.status_code == 422 and "4" in too_many.json()["error"], too_many.text
