"""``entitune train --model ORG/NAME[@REVISION]``, run as users run it (``python -m entitune`` with
the Hugging Face variables in its environment), against a Hugging Face cache laid out in a
temporary folder (``HF_HUB_CACHE``, ``HF_HUB_OFFLINE=1``) and against a stand-in for the Hub on
127.0.0.1 (``HF_ENDPOINT``; ``tests/helpers/hub.py``). Nothing reaches the network, and nothing in
entitune is patched: the resolver, ``huggingface_hub`` and the HTTP requests are the real ones.

Each failure is one line naming its case, before any data is read (the training file given to the
failing runs is not even a valid data file, so a run that read it would fail on that instead).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import entitune
from tests.helpers.data import TINY_SENTENCES, write_bio
from tests.helpers.hub import FakeRepo, HubServer, commit_of, files_of, populate_cache

ROOT = Path(__file__).parents[2]
#: the entitune this process imports, for the processes it starts
SRC = str(Path(entitune.__file__).parents[1])
ARGS = ["--epochs", "1", "--batch-size", "4", "--max-length", "16", "--stride", "4", "--lr", "1e-3", "--seed", "3"]
REPO = "org/tiny-bert"
COMMIT = commit_of("tiny-bert")
#: what the client may fetch of a repository: the config, the tokenizer, the weights, the card
ALLOWED = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
           "vocab.txt", "README.md"}


def _env(tmp_path: Path, **hf: str) -> dict[str, str]:
    """This process's environment without any Hugging Face setting or token of the machine, with
    ``hf`` and a cache, a home and a token file of its own under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING")) and k != "TRANSFORMERS_OFFLINE"}
    return {**env, "PYTHONPATH": SRC + os.pathsep + str(ROOT), "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_DISABLE_TELEMETRY": "1", "COLUMNS": "200", **hf}


def _entitune(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entitune", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0][len("error: "):]


def _front_matter(card: str) -> str:
    assert card.startswith("---\n"), card[:200]
    return card.split("---\n")[1]


#: runs several command lines in one process (one start-up of torch for all of them) through
#: ``entitune.cli.main``, writing to the process's own stdout and stderr as ``python -m entitune``
#: does; a marker line on stderr starts each command; the exit statuses are the last stdout line
MARK = "=== entitune command"
DRIVER = textwrap.dedent(f"""
    import json, sys
    from entitune.cli import main
    codes = []
    for argv in json.loads(sys.argv[1]):
        print({MARK!r}, file=sys.stderr, flush=True)
        try:
            main(argv)
            codes.append(0)
        except SystemExit as exc:
            codes.append(exc.code if isinstance(exc.code, int) else int(exc.code is not None))
        sys.stderr.flush()
    print(json.dumps(codes))
""")


def _run_all(env: dict, commands: list[list[str]]) -> list[tuple[int, str]]:
    """Each command's exit status and what it wrote to stderr."""
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True, env=env,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    codes = json.loads(r.stdout.splitlines()[-1])
    stderrs = r.stderr.split(MARK + "\n")[1:]
    assert len(codes) == len(stderrs) == len(commands), r.stderr
    return list(zip(codes, stderrs))


@pytest.fixture
def unreadable_train(tmp_path) -> Path:
    """A training file no reader accepts: a run that fails on the encoder has not read it."""
    path = tmp_path / "unreadable.bio"
    path.write_bytes(b"\xff\xfe\x00\x01 UTF-16, not UTF-8\n")
    return path


def test_train_by_name_from_the_cache_offline_records_the_repository_and_commit(tmp_path, tiny_bert):
    """With the tiny BERT cached as ``org/tiny-bert`` and ``HF_HUB_OFFLINE=1``, ``train --model
    org/tiny-bert`` trains and the model predicts; ``train_log.json`` records the repository, the
    revision asked and the commit; the card's front matter says ``base_model``; the model names its
    encoder by the repository. ``@COMMIT`` and ``@main`` resolve to the same snapshot (doctor)."""
    populate_cache(tmp_path / "hf-cache", REPO, files_of(tiny_bert), COMMIT)
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    out = tmp_path / "run"
    doctor = [["doctor", str(test), "--model", f"{REPO}@{revision}", "--json", str(tmp_path / f"{revision}.json")]
              for revision in (COMMIT, "main")]
    results = _run_all(_env(tmp_path, HF_HUB_OFFLINE="1"),
                       [["train", "--train", str(train), "--test", str(test), "--out", str(out), "--model", REPO, *ARGS],
                        *doctor])
    for code, stderr in results:
        assert code == 0, stderr
    log = json.loads((out / "train_log.json").read_text())
    assert log["base_model"] == {"repo": REPO, "revision": None, "commit": COMMIT}
    assert log["config"]["model"] == REPO  # the options as given, not the snapshot's path
    assert log["model"]["encoder"] == REPO
    assert f"base_model: {REPO}\n" in _front_matter((out / "README.md").read_text())
    answers = entitune.load(out).predict(["show me films with drew barrymore", "films directed by steven spielberg"])
    assert len(answers) == 2 and all(isinstance(a.to_dict()["entities"], list) for a in answers)
    for revision in (COMMIT, "main"):
        report = json.loads((tmp_path / f"{revision}.json").read_text())
        assert report["model"] == f"{REPO}@{revision}" and report["files"][0]["sentences"] == len(TINY_SENTENCES)


def test_offline_a_name_not_in_the_cache_is_one_line_before_any_data_is_read(tmp_path, unreadable_train):
    r = _entitune(_env(tmp_path, HF_HUB_OFFLINE="1"), "train", "--train", str(unreadable_train), "--out",
                  str(tmp_path / "run"), "--model", REPO)
    assert r.returncode == 2, r.stderr
    line = _one_line_error(r.stderr)
    assert line.startswith(f"{REPO}: not in the Hugging Face cache, and offline (HF_HUB_OFFLINE is set)"), line
    assert not (tmp_path / "run").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_download_from_the_hub_trains_and_each_failure_is_one_line(tmp_path, tiny_bert, unreadable_train):
    """Online (``HF_ENDPOINT`` at the stand-in Hub, an empty cache): ``org/tiny-bert@main`` is
    downloaded (only the files entitune reads: never the TensorFlow weights beside them) and
    trains; a missing repository, a missing revision, a gated repository (401 and 403) and one with
    only pickle weights are each one line naming the case, exit 2, and the pickle is never fetched;
    a Hub that cannot be reached is one line, exit 1."""
    bert = files_of(tiny_bert)
    pickle_only = {**{k: v for k, v in bert.items() if k != "model.safetensors"}, "pytorch_model.bin": b"\x80\x04x"}
    repos = {REPO: FakeRepo({**bert, "tf_model.h5": b"never fetched"}, COMMIT),
             "org/gated-401": FakeRepo(bert, commit_of("g1"), gated=401),
             "org/gated-403": FakeRepo(bert, commit_of("g3"), gated=403),
             "org/old": FakeRepo(pickle_only, commit_of("old"))}
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    out = tmp_path / "run"

    def failing(model: str) -> list[str]:
        return ["train", "--train", str(unreadable_train), "--out", str(tmp_path / "failed"), "--model", model]

    cases = {
        "org/absent": (2, "org/absent: no such repository on the Hub"),
        f"{REPO}@v9": (2, f"{REPO}@v9: no such revision 'v9'"),
        "org/gated-401": (2, "org/gated-401: gated: accept its terms on huggingface.co and log in "
                             "(hf auth login or HF_TOKEN)"),
        "org/gated-403": (2, "org/gated-403: gated: accept its terms on huggingface.co and log in"),
        "org/old": (2, "org/old: only pickle weights (pytorch_model.bin): entitune loads safetensors only; convert "
                       "it with https://huggingface.co/spaces/safetensors/convert"),
    }
    with HubServer(repos) as hub:
        env = _env(tmp_path, HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0")
        # the failures first: a run that loads a model quiets the client's progress bars for the process
        results = _run_all(env, [*(failing(model) for model in cases),
                                 ["train", "--train", str(train), "--out", str(out), "--model", f"{REPO}@main", *ARGS]])
        fetched = hub.fetched()
    code, stderr = results[-1]
    assert code == 0, stderr
    assert "Fetching" not in stderr  # no progress bars where stderr is not a terminal
    assert json.loads((out / "train_log.json").read_text())["base_model"] == {"repo": REPO, "revision": "main",
                                                                               "commit": COMMIT}
    assert (tmp_path / "hf-cache" / "models--org--tiny-bert" / "snapshots" / COMMIT / "model.safetensors").is_file()
    assert fetched and fetched <= ALLOWED, fetched  # never tf_model.h5, never pytorch_model.bin
    for (model, (want_code, start)), (code, stderr) in zip(cases.items(), results):
        assert code == want_code, (model, stderr)
        line = _one_line_error(stderr)
        assert line.startswith(start), (model, line)
    assert "this runs the pickle" in _one_line_error(results[len(cases) - 1][1])
    assert not (tmp_path / "failed").exists()

    # nothing listening at HF_ENDPOINT: one line, exit 1 (the environment, not the request)
    env = _env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HUB_OFFLINE="0")
    [(code, stderr)] = _run_all(env, [failing("org/elsewhere")])
    assert code == 1, stderr
    assert _one_line_error(stderr).startswith("org/elsewhere: the Hub cannot be reached (")


def test_the_conversion_the_pickle_refusal_gives_makes_a_checkpoint_entitune_reads(tmp_path, tiny_bert):
    """The command in the 'only pickle weights' line (``hub.convert_command``), run as given against
    a repository holding the tiny BERT as ``pytorch_model.bin`` (written here, so the pickle it
    loads is ours), writes a directory that ``--model DIR`` accepts."""
    import torch
    from safetensors.torch import load_file

    from entitune.artifact.hub import convert_command, resolve_encoder

    files = {k: v for k, v in files_of(tiny_bert).items() if k != "model.safetensors"}
    torch.save(load_file(str(tiny_bert / "model.safetensors")), tmp_path / "pytorch_model.bin")
    files["pytorch_model.bin"] = (tmp_path / "pytorch_model.bin").read_bytes()
    out = tmp_path / "old-safetensors"
    with HubServer({"org/old": FakeRepo(files, commit_of("old"))}) as hub:
        env = _env(tmp_path, HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0")
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # its `python`
        r = subprocess.run(convert_command("org/old", str(out)), shell=True, env=env, capture_output=True, text=True,
                           timeout=600)
    assert r.returncode == 0, r.stderr
    encoder = resolve_encoder(str(out))
    assert not encoder.from_hub and (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
