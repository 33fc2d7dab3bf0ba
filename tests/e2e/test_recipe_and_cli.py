"""The Python recipe and the CLI are one run: ``finetune(FinetuneConfig(...))`` and ``entitune train
--config`` with the same options and seed give the same weights, bit for bit, and a run's
``train_log.json`` fed back to ``--config`` reproduces it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

from entitune.recipes import Console, FinetuneConfig, finetune
from tests.helpers.data import TINY_SENTENCES, write_bio


def _toml(values: dict) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def _cli(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


def _same_weights(a, b) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def test_python_recipe_and_cli_give_the_same_model(tmp_path, tiny_bert):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 4)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    options = {"train": str(train), "test": str(test), "model": str(tiny_bert), "epochs": 2, "lr": 1e-3,
               "batch_size": 4, "max_length": 16, "stride": 4, "seed": 7, "head": "crf", "threads": 1}
    threads = torch.get_num_threads()
    try:
        result = finetune(FinetuneConfig(out=str(tmp_path / "py"), **options), Console(quiet=True))
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "run.toml").write_text(_toml({**options, "out": str(tmp_path / "elsewhere")}))
    r = _cli("train", "--config", tmp_path / "run.toml", "--out", tmp_path / "cli")  # the flag overrides the file
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "elsewhere").exists()
    _same_weights(tmp_path / "py", tmp_path / "cli")
    cli_log = json.loads((tmp_path / "cli" / "train_log.json").read_text())
    assert cli_log["test"] == result.test
    assert cli_log["config"] == {**result.log["config"], "out": str(tmp_path / "cli")}
    # --precision auto (the default): the choice and its reason are printed and logged
    chosen = cli_log["precision"]
    assert chosen["requested"] == "auto" and chosen["precision"] in ("fp32", "bf16") and chosen["reason"]
    assert cli_log["training"]["precision"] == chosen["precision"] == result.log["precision"]["precision"]
    assert f"precision {chosen['precision']}: " in r.stdout + r.stderr

    # the resolved config in train_log.json goes back in unchanged (only the output moved)
    r = _cli("train", "--config", tmp_path / "cli" / "train_log.json", "--out", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    _same_weights(tmp_path / "cli", tmp_path / "again")


def test_config_errors_are_one_line(tmp_path):
    (tmp_path / "run.toml").write_text('train = "x.bio"\nout = "o"\nepoch = 3\n')
    r = _cli("train", "--config", tmp_path / "run.toml")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {tmp_path / 'run.toml'}: unknown option 'epoch' (did you mean 'epochs'?)"
    r = _cli("train", "--out", tmp_path / "o")
    assert r.returncode == 2 and "--train is required" in r.stderr
