"""Two CPU processes (gloo, launched by torchrun through --nproc) train like one process with the
same global batch: the per-step losses match within float tolerance."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers.data import TINY_SENTENCES, write_bio


@pytest.fixture(scope="module")
def tiny_bert_no_dropout(tmp_path_factory, tiny_bert):
    """The tiny BERT with dropout off, so both runs draw no random masks."""
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert-nodrop")
    config = BertConfig.from_pretrained(str(tiny_bert))
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(str(tiny_bert), config=config).save_pretrained(str(directory), safe_serialization=True)
    for name in os.listdir(tiny_bert):
        if name.startswith(("tokenizer", "vocab", "special")):
            (directory / name).write_bytes((tiny_bert / name).read_bytes())
    return directory


def _train(tmp_path, model, out, *extra):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 6)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    cmd = [sys.executable, "-m", "entitune", "train", "--train", train, "--dev", test, "--test", test, "--out", out,
           "--model", model, "--epochs", "2", "--batch-size", "6", "--max-length", "16", "--stride", "4",
           "--lr", "1e-3", "--dropout", "0", "--device", "cpu", "--threads", "1", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [s["loss"] for s in steps if s["event"] == "step"], json.loads((out / "train_log.json").read_text()), r


def test_two_process_ddp_matches_single_process(tmp_path, tiny_bert_no_dropout):
    single, single_log, _ = _train(tmp_path, tiny_bert_no_dropout, tmp_path / "one")
    double, double_log, r = _train(tmp_path, tiny_bert_no_dropout, tmp_path / "two", "--nproc", "2")
    assert "distributed: 2 processes" in r.stderr
    assert len(double) == len(single) == 2 * 6  # 36 windows, global batch 6, 2 epochs
    assert double == pytest.approx(single, rel=2e-3, abs=1e-4)
    assert double_log["test"]["entity"]["f1"] == pytest.approx(single_log["test"]["entity"]["f1"], abs=0.01)
    assert double_log["train"]["epochs"][0]["subwords"] == single_log["train"]["epochs"][0]["subwords"]


def test_two_process_ddp_matches_single_process_for_classification(tmp_path, tiny_bert_no_dropout):
    from entitune.recipes import CLASSIFY_PROBE_EPOCHS
    from tests.helpers.data import TINY_TEXTS, write_texts_csv

    train = write_texts_csv(tmp_path / "train.csv", TINY_TEXTS * 3)
    test = write_texts_csv(tmp_path / "test.csv", TINY_TEXTS)
    losses, logs = [], []
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "entitune", "train", "--train", train, "--dev", test, "--test", test, "--out", out,
               "--model", tiny_bert_no_dropout, "--epochs", "2", "--batch-size", "6", "--max-length", "16",
               "--stride", "4", "--lr", "1e-3", "--dropout", "0", "--device", "cpu", "--threads", "1", *extra]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        losses.append([s["loss"] for s in steps if s["event"] == "step"])
        logs.append(json.loads((out / "train_log.json").read_text()))
    assert logs[1]["task"] == "classify" and len(losses[0]) == len(losses[1]) > 0
    # the default linear probe ran in both (sharded encoding, the head in DDP): the same head to start from
    assert logs[0]["train"]["probe"]["epochs"] == logs[1]["train"]["probe"]["epochs"] == CLASSIFY_PROBE_EPOCHS
    assert losses[1] == pytest.approx(losses[0], rel=2e-3, abs=1e-4)
    assert logs[1]["test"]["accuracy"] == pytest.approx(logs[0]["test"]["accuracy"], abs=0.1)
