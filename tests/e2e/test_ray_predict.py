"""examples/ray_predict.py: entitune's predictor inside Ray Data, on a local two-CPU cluster, gives
the answers of ``predict_lines`` in one process. Ray is in the ``test`` extra, so a missing Ray
fails here (an ImportError) rather than skipping."""
from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest
import ray

from entitune.recipes.inference import predict_lines

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ray_predict.py"

pytestmark = pytest.mark.ray


def _example():
    """examples/ray_predict.py imported as ``ray_predict`` (examples/ is no package)."""
    if "ray_predict" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ray_predict", EXAMPLE)
        sys.modules["ray_predict"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["ray_predict"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _same(ray_rows: list[dict], local_rows: list[dict]) -> None:
    """Equal rows, entity scores to 1e-5 (batches are cut differently: padding may move the last digit)."""
    assert len(ray_rows) == len(local_rows)
    for got, want in zip(ray_rows, local_rows):
        strip = lambda row: {**row, "entities": [{**e, "score": None} for e in row.get("entities", [])]}  # noqa: E731
        assert strip(got) == strip(want)
        assert [e["score"] for e in got.get("entities", [])] == pytest.approx(
            [e["score"] for e in want.get("entities", [])], abs=1e-5)


def test_ray_map_batches_equals_predict_lines(local_ray, tmp_path, tiny_tagger_dir):
    """Two actors, batches of 4 lines, three files of 15 lines of every kind (text, blank, JSON words,
    JSON records with ids, a CRLF ending): Ray's output has one answer per line, in input order (file
    by file), equal to ``predict_lines`` on each file. Broken: Ray reordered batches or files (answers
    no longer line up with input rows), dropped blank lines (``read_text`` does by default), split
    lines differently, lost a record's ``id``, or loaded the model per batch."""
    lines = ["show me films with drew barrymore", "", '["films", "directed", "by", "steven", "spielberg"]',
             '{"id": 7, "text": "what movies star bruce willis"}', "   ", '{"id": 8, "tokens": ["films", "in", "paris"]}',
             "movies from the 1980s\r", "drew barrymore movies of the 1980s", "films"] * 5
    paths, local = [], io.StringIO()
    for i in range(3):
        paths.append(tmp_path / f"part-{i}.jsonl")
        paths[-1].write_text("\n".join(lines[i * 15:(i + 1) * 15]) + "\n", newline="")
        assert predict_lines(tiny_tagger_dir, paths[-1], stdout=local, device="cpu") == 15
    out = tmp_path / "ray.jsonl"
    n = _example().predict_files(str(tiny_tagger_dir), [str(p) for p in paths], str(out), workers=2,
                                 lines_per_batch=4, device="cpu",
                                 cpus_per_worker=0.5)  # two actors on one of the two CPUs: the other reads
    assert n == len(lines)
    ray_rows = [json.loads(x) for x in out.read_text().splitlines()]
    local_rows = [json.loads(x) for x in local.getvalue().splitlines()]
    # real spans to keep in line, 7 in each of the five repeats: drew barrymore, steven spielberg,
    # bruce willis, paris, 1980s, then drew barrymore and 1980s again
    assert sum(len(r.get("entities", [])) for r in local_rows) == 35
    _same(ray_rows, local_rows)
    assert [r.get("id") for r in ray_rows[:9]] == [None, None, None, 7, None, 8, None, None, None]


def test_ray_worker_loads_the_model_once(tiny_tagger_dir):
    """The callable class holds one predictor and answers batch after batch with it (what
    ``map_batches`` relies on to load the model once per actor). Broken: a load per call."""
    import numpy as np

    worker = _example().EntituneWorker(str(tiny_tagger_dir), device="cpu")
    predictor = worker.predictor
    for texts in (["films", ""], ['{"id": 1, "text": "drew barrymore"}']):
        batch = {"path": np.array(["a.txt"] * len(texts), dtype=object), "line": np.arange(1, len(texts) + 1),
                 "text": np.array(texts, dtype=object)}
        answers = [json.loads(a) for a in worker(batch)["answer"]]
        assert len(answers) == len(texts) and worker.predictor is predictor
    assert answers[0]["id"] == 1 and answers[0]["words"] == ["drew", "barrymore"]
