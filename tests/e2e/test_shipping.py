"""A trained model as it is shipped: ``entitune train`` leaves a model card and no checkpoints,
``entitune package`` makes one archive, and ``entitune predict`` reads it from anywhere."""
import json
import os
import shutil
import subprocess
import sys

from tests.helpers.data import TINY_SENTENCES, write_bio


def run(*args, stdin=None, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=env, timeout=600)


def test_train_card_package_and_predict_from_the_archive(tmp_path, tiny_bert):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    out = tmp_path / "runs" / "movie"
    r = run("train", "--train", train, "--test", test, "--out", out, "--model", tiny_bert, "--epochs", 2,
            "--lr", "1e-3", "--batch-size", 4, "--max-length", 16, "--stride", 4, "--head", "crf")
    assert r.returncode == 0, r.stderr
    assert f"model card: {out / 'README.md'}" in r.stderr and "training checkpoints removed" in r.stderr
    assert not (out / "checkpoints").exists()
    card = (out / "README.md").read_text()
    log = json.loads((out / "train_log.json").read_text())
    assert f"{log['test']['entity']['f1']:.4f}" in card and "| test | test.bio | 6 |" in card
    assert str(tmp_path) not in card and "refuses this model on purpose" in card  # a CRF head

    archive = tmp_path / "movie.tar.gz"
    r = run("package", out, "--out", archive)
    assert r.returncode == 0 and "wrote" in r.stdout and "left out: log.jsonl, tensorboard/, train_log.json" in r.stderr, r.stderr
    lines = "films with drew barrymore\n" + json.dumps(["steven", "spielberg", "movies"]) + "\n"
    expected = run("predict", out, stdin=lines)
    assert expected.returncode == 0, expected.stderr
    shipped = tmp_path / "elsewhere" / "movie.tar.gz"
    shipped.parent.mkdir()
    shutil.move(archive, shipped)
    got = run("predict", shipped, stdin=lines, env={"ENTITUNE_CACHE": str(tmp_path / "cache")})
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected.stdout and len(got.stdout.splitlines()) == 2
    bad = run("package", tmp_path / "nowhere", "--out", tmp_path / "x.tar.gz")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
