"""An ONNX export runs without torch: ``entitune predict``, ``evaluate`` and ``serve`` on an export
answer as the PyTorch model does, in a process that cannot import torch or transformers.

Two ways:

- here, in a child process of this environment where ``import torch`` and ``import transformers``
  fail (``sys.modules`` holds None for them): fast, every run;
- in a fresh virtual environment that has never had torch, with entitune installed from this
  repository with the ``runtime`` extra and its dependencies from the package index (marker
  ``runtime_venv``; CI runs it): what a user who deploys an export installs. A few minutes.

The exports (a linear tagger, a BiLSTM-CRF tagger, a classifier; fp32, and an int8 tagger) are
made by this environment. fp32: the same tags, entities and labels as the PyTorch model, scores to
1e-4. int8: within the re-scoring gate (entity F1 at most ``--max-drop`` 0.5 points below PyTorch's).
Broken: a module on the export's path that imports torch (the child fails to start), an export
whose graph or decoder differs from the model (other tags), a tokenizer that differs from
transformers' (other words' tags).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from entitune.recipes import evaluate_file, export_model, predict_lines
from tests.helpers.data import (REPO, TINY_SENTENCES, TINY_TEXTS, WORDS, entity_spans, tiny_sentences, write_bio,
                                write_texts_csv)
from tests.helpers.net import free_port

#: what a child process that cannot import torch or transformers runs: the CLI's ``main``
BLOCKED = ("import sys; sys.modules.update(dict.fromkeys(('torch', 'transformers'))); "
           "from entitune.cli import main; main(sys.argv[1:])")
#: tagger inputs: raw texts, pre-split words, a blank line, one longer than a window
LINES = ["show me films with drew barrymore from the 1980s", json.dumps(["what", "movies", "star", "bruce", "willis"]),
         "", " ".join(WORDS * 3), "films directed by steven spielberg in paris"]
TEXTS = [text for text, _ in TINY_TEXTS] + ["", " ".join(t for t, _ in TINY_TEXTS)]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _blocked(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``entitune ARGS`` in a child of this environment that cannot import torch or transformers."""
    return subprocess.run([sys.executable, "-c", BLOCKED, *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=300, env=_env(), cwd=REPO)


@pytest.fixture(scope="module")
def crf_tagger_dir(tiny_bert, tmp_path_factory) -> Path:
    """A tiny BiLSTM-CRF tagger trained on the tiny sentences until it tags them, saved."""
    import torch

    from entitune import Tagger, TrainConfig, fit, label_set

    sentences = tiny_sentences()
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in sentences for t in s.tags]), head="bilstm-crf",
                                 max_length=16, stride=4)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(tagger, sentences * 4, None, TrainConfig(epochs=30, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0))
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("crf-tagger")
    tagger.save(out)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runtime-files")
    tagged = write_bio(root / "test.bio", TINY_SENTENCES)
    texts = write_texts_csv(root / "texts.csv", TINY_TEXTS)
    lines = root / "lines.txt"
    lines.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    text_lines = root / "text_lines.txt"
    text_lines.write_text("".join(text + "\n" for text in TEXTS), encoding="utf-8")
    return {"tagged": tagged, "texts": texts, "lines": lines, "text_lines": text_lines}


@pytest.fixture(scope="module")
def exports(tiny_tagger_dir, crf_tagger_dir, tiny_classifier_dir, files, tmp_path_factory) -> dict[str, tuple]:
    """name -> (PyTorch model, export, what to predict, what to evaluate), exported by this environment."""
    root = tmp_path_factory.mktemp("runtime-exports")
    out = {}
    for name, model, quantize, data, inputs in (
            ("linear", tiny_tagger_dir, "none", files["tagged"], files["lines"]),
            ("bilstm-crf", crf_tagger_dir, "none", files["tagged"], files["lines"]),
            ("classifier", tiny_classifier_dir, "none", files["texts"], files["text_lines"]),
            ("linear-int8", tiny_tagger_dir, "int8", files["tagged"], files["lines"])):
        report = export_model(model, root / name, quantize=quantize, eval_file=data)
        assert report["accepted"], report
        out[name] = (model, root / name, inputs, data)
    return out


def _torch_answers(model: Path, inputs: Path) -> list[dict]:
    """What ``entitune predict`` answers with the PyTorch model, in this process."""
    import io

    out = io.StringIO()
    predict_lines(model, inputs, stdout=out, backend="torch", precision="fp32")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _same_answers(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        if "label" in b:  # a classifier
            assert a["label"] == b["label"] and a["text"] == b["text"]
            assert (a["score"] is None) == (b["score"] is None)
            if b["score"] is not None:
                assert a["score"] == pytest.approx(b["score"], abs=1e-4)
            continue
        assert (a["words"], a["tags"]) == (b["words"], b["tags"])
        assert entity_spans(a) == entity_spans(b)
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1e-4)


def _check_export_answers(run, exports) -> None:
    """``run(*args)`` (an ``entitune`` without torch) predicts and evaluates every fp32 export as its
    PyTorch model does, and the int8 export within the re-scoring gate."""
    for name, (model, export, inputs, data) in exports.items():
        r = run("predict", export, "--input", inputs)
        assert r.returncode == 0, (name, r.stderr)
        answers = [json.loads(line) for line in r.stdout.splitlines()]
        reference = _torch_answers(model, inputs)
        if name.endswith("int8"):
            assert [a["words"] for a in answers] == [b["words"] for b in reference]
        else:
            _same_answers(answers, reference)
        report_file = export / f"evaluate-{os.getpid()}.json"
        r = run("evaluate", export, data, "--json", report_file)
        assert r.returncode == 0, (name, r.stderr)
        got = json.loads(report_file.read_text())
        report_file.unlink()
        expected = evaluate_file(model, data, backend="torch", precision="fp32")
        if name == "classifier":
            assert got["accuracy"] == expected["accuracy"] and got["confusion_matrix"] == expected["confusion_matrix"]
        elif name.endswith("int8"):
            assert 100 * (expected["entity"]["f1"] - got["entity"]["f1"]) <= 0.5
            assert got["words_untagged"] == 0 and got["invalid_sequences"] == 0
        else:
            assert got == expected
    # a PyTorch model directory, and the verbs that train: one line saying what to install
    model = exports["linear"][0]
    for args in (("predict", model, "--input", exports["linear"][2]), ("train", "--train", exports["linear"][3], "--out", "x"),
                 ("export", model, "--onnx", "x")):
        r = run(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "pip install 'entitune[train]'" in r.stderr, r.stderr


def test_an_export_answers_as_its_model_where_torch_cannot_be_imported(exports):
    """The CLI on exports in a child process where ``import torch`` and ``import transformers`` fail."""
    r = _blocked("--help")
    assert r.returncode == 0 and "predict" in r.stdout
    probe = subprocess.run([sys.executable, "-c", BLOCKED.replace("from entitune.cli import main; main(sys.argv[1:])",
                                                                  "import torch")],
                           capture_output=True, text=True, env=_env())
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr  # the block holds
    _check_export_answers(_blocked, exports)
    # an install without the service's packages: serve says what to install
    no_service = subprocess.run([sys.executable, "-c", BLOCKED.replace("'transformers'", "'transformers', 'fastapi'"),
                                 "serve", exports["linear"][1]], capture_output=True, text=True, timeout=300, env=_env())
    assert no_service.returncode == 2 and "Traceback" not in no_service.stderr, no_service.stderr
    assert "pip install 'entitune[runtime]'" in no_service.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------------------ a fresh venv


@pytest.fixture(scope="module")
def runtime_venv():
    """A virtual environment with ``pip install '<this repository>[runtime]'`` and nothing else (its
    dependencies from the package index); removed afterwards. ``ENTITUNE_RUNTIME_VENV`` names one to
    reuse (kept)."""
    given = os.environ.get("ENTITUNE_RUNTIME_VENV")
    if given:
        yield Path(given)
        return
    root = Path(tempfile.mkdtemp(prefix="entitune-runtime-"))
    try:
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        source = root / "src"  # a copy: the build writes egg-info and build/ into its source
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "site", "*.egg-info",
                                                                    "__pycache__", "runs", "node_modules"))
        r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", f"{source}[runtime]"],
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        yield venv
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.runtime_venv
def test_an_export_answers_as_its_model_in_a_venv_without_torch(runtime_venv, exports):
    """``pip install 'entitune[runtime]'`` in a fresh venv: no torch, no transformers, and predict,
    evaluate and serve on the exports answer as the PyTorch models do."""
    python = runtime_venv / "bin" / "python"
    for module in ("torch", "transformers"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, module
    entitune = runtime_venv / "bin" / "entitune"
    env = {k: v for k, v in _env().items() if k != "PYTHONPATH"}  # the venv's entitune, not this checkout's

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(entitune), *map(str, args)], capture_output=True, text=True, timeout=300,
                              env=env, cwd=runtime_venv)

    where = subprocess.run([str(python), "-c", "import entitune; print(entitune.__file__)"], capture_output=True,
                           text=True, env=env, cwd=runtime_venv)
    assert str(runtime_venv) in where.stdout, where  # the installed package runs, not the checkout
    _check_export_answers(run, exports)
    # serve: /predict answers as the PyTorch model
    _, export, inputs, _ = exports["bilstm-crf"]
    port = free_port()
    proc = subprocess.Popen([str(entitune), "serve", str(export), "--port", str(port), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=runtime_venv)
    try:
        import httpx

        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "entitune serve did not answer /health in 90 s"
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        texts = [line for line in LINES if line and not line.startswith("[")]
        answer = httpx.post(url + "/predict", json={"texts": texts}, timeout=60).json()["predictions"]
        reference = [a for a, line in zip(_torch_answers(exports["bilstm-crf"][0], inputs), LINES) if line in texts]
        _same_answers(answer, reference)
        assert httpx.get(url + "/info").json()["backend"] == "onnx"
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
