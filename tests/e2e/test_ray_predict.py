"""examples/ray_predict.py: entitune's predictor inside Ray Data, on a local two-CPU cluster, gives
the answers of ``predict_lines`` in one process. Ray is in the ``test`` extra, so a missing Ray
fails here (an ImportError) rather than skipping."""
from __future__ import annotations

import io
import json
import sys

import pytest
import ray

from entitune.recipes.inference import predict_lines
from tests.helpers.examples import EXAMPLES, load_example


pytestmark = pytest.mark.ray


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
    n = load_example("ray_predict").predict_files(str(tiny_tagger_dir), [str(p) for p in paths], str(out), workers=2,
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

    worker = load_example("ray_predict").EntituneWorker(str(tiny_tagger_dir), device="cpu")
    predictor = worker.predictor
    for texts in (["films", ""], ['{"id": 1, "text": "drew barrymore"}']):
        batch = {"path": np.array(["a.txt"] * len(texts), dtype=object), "line": np.arange(1, len(texts) + 1),
                 "text": np.array(texts, dtype=object)}
        answers = [json.loads(a) for a in worker(batch)["answer"]]
        assert len(answers) == len(texts) and worker.predictor is predictor
    assert answers[0]["id"] == 1 and answers[0]["words"] == ["drew", "barrymore"]


def test_the_example_with_its_defaults_finishes_on_two_cpus(tmp_path, tiny_tagger_dir):
    """``python examples/ray_predict.py MODEL OUT IN`` with every default, on a local cluster of two
    CPUs, in its own process: it says how many actors it asked for (one: one CPU is left for
    reading), finishes within the limit, and writes ``entitune predict``'s answers. Broken: the
    default asked for two actors of one CPU each, leaving none to read the input, and Ray waited
    forever (the run hit the time limit with nothing written)."""
    import os
    import subprocess

    lines = ["show me films with drew barrymore", "", '{"id": 3, "text": "movies from the 1980s"}'] * 10
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    local = io.StringIO()
    assert predict_lines(tiny_tagger_dir, source, stdout=local, device="cpu") == len(lines)
    out = tmp_path / "ray.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_DEDUP_LOGS": "0"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "ray_predict.py"), str(tiny_tagger_dir), str(out), str(source), "--local-cpus", "2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ray: 1 actor(s) of 1 CPU each on a cluster of 2 CPUs (1 left for reading the input)" in proc.stderr
    _same([json.loads(x) for x in out.read_text().splitlines()], [json.loads(x) for x in local.getvalue().splitlines()])


@pytest.mark.parametrize("workers, per, cpus, want", [(None, 1, 2, (1, 1)), (None, 1, 16, (15, 1)), (8, 1, 4, (3, 1)),
                                                      (2, 0.5, 2, (2, 0.5)), (None, 1, 1, (1, 0.5))])
def test_actor_pool_never_asks_for_more_than_the_cluster_has(workers, per, cpus, want):
    """Actors of ``per`` CPUs on ``cpus`` CPUs: at most what fits beside one CPU left for reading."""
    got = load_example("ray_predict").actor_pool(workers, per, cpus)
    assert got[:2] == want
    assert got[0] * got[1] <= cpus - min(1, cpus / 2)
