"""``entitune pretrain`` as a user runs it, on the tiny random BERT: every flag (in-process, through
``entitune.cli.main``, with what each one changes checked in ``train_log.json`` or the files), bad
input refused in one line with exit status 2, the result fine-tuned by ``entitune train --model``,
and a run killed by SIGKILL mid-epoch that resumes to the uninterrupted run's weights, bit for bit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import typer.main
from safetensors.torch import load_file

from entitune.cli import app
from tests.helpers.cli import run_main
from tests.helpers.data import TINY_SENTENCES, write_bio

#: every command line run in-process here, by name; placeholders filled from the fixtures' paths
CALLS: dict[str, list[str]] = {
    "full": [
        "pretrain", "--text", "{plain}", "{conll}", "--text", "{jsonl}", "--out", "{o1}", "--model", "{bert}",
        "--dev-text", "{dev}", "--format", "auto", "--mlm-probability", "0.2", "--whole-word-mask", "--max-length", "16",
        "--epochs", "2", "--lr", "1e-3", "--head-lr", "2e-3", "--batch-size", "4", "--accumulate", "2", "--warmup", "0.0",
        "--weight-decay", "0.0", "--precision", "bf16", "--seed", "3", "--save-every", "2", "--keep-checkpoints", "3",
        "--keep-checkpoints-after", "--device", "cpu", "--threads", "1", "--nproc", "1", "--no-resume",
        "--softmax", "corpus", "--max-steps", "1000",
    ],
    "from_config": [
        "pretrain", "--config", "{toml}", "--out", "{o2}", "--dev-fraction", "0.25", "--batch-tokens", "40",
        "--token-mask", "--remove-checkpoints-after", "--format", "text",
    ],
    "resume_finished": ["pretrain", "--config", "{o1}/train_log.json", "--resume"],
    "eval_every_patience": [
        "pretrain", "--text", "{plain}", "--out", "{o4}", "--model", "{bert}", "--dev-text", "{dev}", "--max-length", "16",
        "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--eval-every", "2", "--patience", "1", "--device", "cpu",
        "--precision", "fp32",
    ],
    "shared_loop": [
        "pretrain", "--text", "{plain}", "--out", "{o5}", "--model", "{bert}", "--dev-text", "{dev}", "--max-length", "16",
        "--epochs", "auto", "--max-epochs", "2", "--average-last", "2", "--layer-decay", "0.8",
        "--time-budget-minutes", "30", "--batch-size", "4", "--device", "cpu", "--precision", "fp32",
    ],
    "finetune_it": ["train", "--train", "{train_bio}", "--out", "{o3}", "--model", "{o1}", "--epochs", "1",
                    "--batch-size", "4", "--max-length", "16", "--stride", "4", "--lr", "1e-3"],
    "empty": ["pretrain", "--text", "{empty}", "--out", "{o_bad}", "--model", "{bert}"],
    "binary": ["pretrain", "--text", "{binary}", "--out", "{o_bad}", "--model", "{bert}"],
    "no_mask_token": ["pretrain", "--text", "{plain}", "--out", "{o_bad}", "--model", "{nomask}"],
    "untied_headless": ["pretrain", "--text", "{plain}", "--out", "{o_bad}", "--model", "{untied}"],
    "dev_twice": ["pretrain", "--text", "{plain}", "--out", "{o_bad}", "--dev-text", "{dev}", "--dev-fraction", "0.1"],
    "no_text": ["pretrain", "--out", "{o_bad}"],
    "bad_probability": ["pretrain", "--text", "{plain}", "--out", "{o_bad}", "--mlm-probability", "1.5"],
    "missing_file": ["pretrain", "--text", "{plain}", "{o_bad}/nothing.txt", "--out", "{o_bad}"],
}


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def last(self) -> str:
        return self.err.strip().splitlines()[-1] if self.err.strip() else ""


def run_cli(name: str, paths: dict) -> Result:
    """``CALLS[name]`` run in this process as ``python -m entitune`` would (torch's threads restored)."""
    threads = torch.get_num_threads()
    try:
        return Result(*run_main([arg.format(**paths) for arg in CALLS[name]]))
    finally:
        torch.set_num_threads(threads)


def refused(result: Result, *words: str) -> None:
    assert result.code == 2, (result.code, result.err[-3000:])
    assert "Traceback" not in result.err
    assert result.last.startswith("error: ") and all(w in result.last for w in words), result.last


@pytest.fixture(scope="module")
def paths(tiny_bert, tmp_path_factory) -> dict:
    import shutil

    from transformers import BertTokenizerFast

    d = tmp_path_factory.mktemp("pretrain")
    texts = [" ".join(w) for w, _ in TINY_SENTENCES]
    (d / "plain.txt").write_text("\n".join(texts * 3) + "\n\n")
    (d / "words.conll").write_text("".join("".join(f"{w} {t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in TINY_SENTENCES))
    (d / "lines.jsonl").write_text("".join(json.dumps({"text": t, "label": "x"}) + "\n" for t in texts))
    (d / "dev.txt").write_text("\n".join(texts[::2]) + "\n")
    (d / "empty.txt").write_text("\n  \n")
    (d / "binary.bin").write_bytes((bytes(64) + bytes(range(256))) * 64)
    write_bio(d / "train.bio", TINY_SENTENCES * 2)
    nomask = d / "nomask"
    shutil.copytree(tiny_bert, nomask)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (nomask / name).unlink(missing_ok=True)
    BertTokenizerFast(vocab=BertTokenizerFast.from_pretrained(str(tiny_bert)).get_vocab(), mask_token=None).save_pretrained(str(nomask))
    untied = d / "untied"
    shutil.copytree(tiny_bert, untied)
    config = json.loads((untied / "config.json").read_text())
    (untied / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": False}))
    (d / "run.toml").write_text(f'text = ["{d / "plain.txt"}"]\nmodel = "{tiny_bert}"\nepochs = 1\nmax_length = 16\n'
                                f'lr = 1e-3\nseed = 9\nmlm_probability = 0.3\n')
    return {"plain": d / "plain.txt", "conll": d / "words.conll", "jsonl": d / "lines.jsonl", "dev": d / "dev.txt",
            "empty": d / "empty.txt", "binary": d / "binary.bin", "train_bio": d / "train.bio", "bert": tiny_bert,
            "nomask": nomask, "untied": untied, "toml": d / "run.toml", "o1": d / "o1", "o2": d / "o2", "o3": d / "o3",
            "o4": d / "o4", "o5": d / "o5", "o_bad": d / "bad"}


@pytest.fixture(scope="module")
def full_run(paths) -> Result:
    return run_cli("full", paths)


def test_every_flag_lands_in_the_run(full_run, paths):
    result = full_run
    assert result.code == 0, result.err[-3000:]
    out = paths["o1"]
    log = json.loads((out / "train_log.json").read_text())
    c, training = log["config"], log["training"]
    assert log["task"] == "mlm" and log["model"]["head"] == "new" and log["model"]["architecture"] == "BertForMaskedLM"
    assert c["text"] == [str(paths["plain"]), str(paths["jsonl"]), str(paths["conll"])]  # --text files, then the rest
    assert c["dev_text"] == str(paths["dev"]) and log["data"]["dev"] == 3
    assert log["data"]["train"] == 6 * 3 + 6 + 6  # plain lines (blank ones skipped), CoNLL sentences, JSONL texts
    assert "read as plain text" in result.err and "read as conll" in result.err and "read as jsonl" in result.err
    assert c["mlm_probability"] == 0.2 and c["whole_word_mask"] is True and c["max_length"] == 16
    assert "20% of whole words" in result.err
    assert (training["epochs"], training["lr"], training["head_lr"], training["batch_size"], training["accumulate"],
            training["warmup"], training["weight_decay"], training["precision"], training["seed"]) == (
            2, 1e-3, 2e-3, 4, 2, 0.0, 0.0, "bf16", 3)
    # --softmax corpus: over the ids the text uses, the embedding trained compactly; --max-steps 1000 is not reached
    assert c["softmax"] == "corpus" and training["compact_embeddings"] is True and "softmax over the token ids" in result.err
    assert training["max_steps"] == 1000 and log["train"]["stopped"]["reason"] == "completed"
    assert c["device"] == "cpu" and c["threads"] == 1 and c["nproc"] == 1 and c["resume"] is False
    # --save-every 2 --keep-checkpoints 3 --keep-checkpoints-after: the newest three are still there
    kept = sorted((out / "checkpoints").glob("step-*.pt"))
    assert len(kept) == 3
    # dev scores before training and after each epoch; the kept epoch has the lowest dev loss
    train = log["train"]
    assert set(train["dev_before"]) == {"masked_loss", "masked_accuracy", "perplexity", "masked_tokens"}
    losses = [e["dev"]["masked_loss"] for e in train["epochs"]]
    assert train["best_epoch"] == 1 + losses.index(min(losses))
    assert "dev before pretraining: masked accuracy" in result.err and "perplexity" in result.err
    assert [json.loads(line)["event"] for line in (out / "log.jsonl").read_text().splitlines()].count("epoch") == 2
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.bin")) and not (out / "entitune.json").exists()


def test_options_from_a_file_with_flags_on_top(paths):
    result = run_cli("from_config", paths)
    assert result.code == 0, result.err[-3000:]
    log = json.loads((paths["o2"] / "train_log.json").read_text())
    c = log["config"]
    assert c["seed"] == 9 and c["mlm_probability"] == 0.3 and c["epochs"] == 1  # from the file
    assert c["dev_fraction"] == 0.25 and c["whole_word_mask"] is False and c["format"] == "text"  # from flags
    assert log["training"]["batch_tokens"] == 40
    # a quarter of 18 texts held out, each text's side told by a hash of its words (seed 9): the six
    # sentences three times each, every copy of a sentence on its side
    from entitune.data.split import held_out

    dev = 3 * sum(held_out(tuple(w), 0.25, 9) for w, _ in TINY_SENTENCES)
    assert log["data"] == {"train": 18 - dev, "dev": dev, "test": 0} and 0 < dev < 18
    assert not (paths["o2"] / "checkpoints").exists()


def test_resume_of_a_finished_run_leaves_it(full_run, paths):
    before = (paths["o1"] / "model.safetensors").read_bytes()
    result = run_cli("resume_finished", paths)
    assert result.code == 0 and "has finished" in result.err, result.err[-2000:]
    assert (paths["o1"] / "model.safetensors").read_bytes() == before


def test_the_loop_options_shared_with_train_reach_pretraining(paths):
    """The loop's options are declared once for train and pretrain: --epochs auto (up to
    --max-epochs, patience 3), --average-last, --layer-decay and --time-budget-minutes reach the
    masked-LM run as they reach fine-tuning, and the loop acts on them."""
    result = run_cli("shared_loop", paths)
    assert result.code == 0, result.err[-3000:]
    log = json.loads((paths["o5"] / "train_log.json").read_text())
    training, train = log["training"], log["train"]
    assert (training["epochs"], training["patience"]) == (2, 3)
    assert (training["average_last"], training["layer_decay"], training["time_budget_s"]) == (2, 0.8, 1800.0)
    assert train["average"]["evaluations"] == 2 and train["average"]["metric"] == "neg_masked_loss"
    assert "average of the weights at the last 2 evaluations" in result.err


def test_eval_every_and_patience_choose_on_the_dev_loss(paths):
    """--eval-every 2: the dev masked-token loss is scored after every second step as well as at the
    epoch ends (18 texts, batch 4: 5 steps an epoch); --patience 1: training stops at the first
    evaluation without a lower loss, keeping the lowest."""
    result = run_cli("eval_every_patience", paths)
    assert result.code == 0, result.err[-3000:]
    log = json.loads((paths["o4"] / "train_log.json").read_text())
    training, train = log["training"], log["train"]
    assert (training["eval_every"], training["patience"]) == (2, 1)
    steps = [e["step"] for e in train["evaluations"]]
    assert steps == [2, 4, 5, 6, 8, 10][:len(steps)] and steps[-1] == train["stopped"]["step"]
    losses = [-e["score"] for e in train["evaluations"]]
    best = losses.index(min(losses))
    assert train["best_step"] == steps[best]
    if train["stopped"]["reason"] == "patience":
        assert best == len(steps) - 2  # one evaluation without improvement
    assert "step 2 (epoch 1): dev masked loss" in result.err


def test_the_pretrained_encoder_is_fine_tuned_by_train(full_run, paths):
    result = run_cli("finetune_it", paths)
    assert result.code == 0, result.err[-3000:]
    settings = json.loads((paths["o3"] / "entitune.json").read_text())
    assert settings["encoder"] == "o1" and settings["task"] == "ner"


@pytest.mark.parametrize("name, words", [
    ("empty", ["empty.txt", "no text"]),
    ("binary", ["binary.bin", "binary file"]),
    ("no_mask_token", ["no mask token"]),
    ("untied_headless", ["tie_word_embeddings"]),
    ("dev_twice", ["not both"]),
    ("no_text", ["--text is required"]),
    ("bad_probability", ["--mlm-probability"]),
    ("missing_file", ["nothing.txt", "no such file"]),
])
def test_bad_input_is_one_line_and_exit_2(paths, name, words):
    refused(run_cli(name, paths), *words)
    assert not paths["o_bad"].exists() or not any(paths["o_bad"].iterdir())


def _flags(command) -> set[str]:
    return {opt for p in command.params if p.param_type_name == "option" for opt in [*p.opts, *p.secondary_opts]
            if opt != "--help"}


def test_every_flag_of_pretrain_is_exercised():
    """Each flag of ``pretrain`` (both halves of a ``--x/--no-x`` pair) is passed by a row of CALLS."""
    command = typer.main.get_command(app).commands["pretrain"]
    called = {arg for argv in CALLS.values() if argv[0] == "pretrain" for arg in argv if arg.startswith("--")}
    assert not _flags(command) - called, sorted(_flags(command) - called)


# ---------------------------------------------------------------------------------- exact resume
ARGS = ["--epochs", "3", "--batch-size", "2", "--max-length", "16", "--lr", "1e-3", "--seed", "5", "--save-every", "1",
        "--keep-checkpoints", "2", "--device", "cpu", "--threads", "1", "--precision", "fp32", "--dev-fraction", "0.2"]


def _cmd(text, out, model, *extra):
    return [sys.executable, "-m", "entitune", "pretrain", "--text", str(text), "--out", str(out), "--model", str(model),
            *ARGS, *extra]


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}


def _steps(out: Path) -> int:
    log = out / "log.jsonl"
    return sum('"event": "step"' in line for line in log.read_text().splitlines()) if log.exists() else 0


def test_a_run_killed_mid_epoch_resumes_to_identical_weights(tmp_path, tiny_bert):
    """SIGKILL after a mid-epoch checkpoint of epoch 2, then ``--resume``: the final weights equal the
    uninterrupted run's bit for bit (the masks of the rest of epoch 2 are drawn again exactly, the
    dropout stream comes back from the checkpoint), and the log holds each step once. The text is
    an xz-compressed stream: the resumed run reads the token stores the killed one wrote."""
    import lzma

    text = tmp_path / "text.txt.xz"
    text.write_bytes(lzma.compress(("\n".join(" ".join(w) for w, _ in TINY_SENTENCES * 3) + "\n").encode()))
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(text, ref, tiny_bert), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    expected = load_file(str(ref / "model.safetensors"))
    start = json.loads((ref / "log.jsonl").read_text().splitlines()[0])
    per_epoch, total = start["steps_per_epoch"], start["total_steps"]
    assert per_epoch >= 4
    target = per_epoch + 2  # a checkpoint in the middle of epoch 2

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(text, out, tiny_bert), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    deadline = time.time() + 300
    while not (out / "checkpoints" / f"step-{target:08d}.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "train_log.json").exists()
    r = subprocess.run(_cmd(text, out, tiny_bert, "--resume"), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    resumed_at = int(r.stderr.split("resuming from step ")[1].split()[0])
    assert "tokens: reading the token stores" in r.stderr
    assert per_epoch < resumed_at < 2 * per_epoch, r.stderr
    got = load_file(str(out / "model.safetensors"))
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from step {resumed_at}"
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, total + 1))
    log, ref_log = (json.loads((d / "train_log.json").read_text())["train"] for d in (out, ref))
    assert [e["dev"] for e in log["epochs"]] == [e["dev"] for e in ref_log["epochs"]]


def test_two_processes_pretrain_like_one(tmp_path, tiny_bert):
    """``--nproc 2`` (torchrun, gloo) takes the same steps as one process with the same global batch:
    the masks depend on the window, not on the process that collates it. Dropout off."""
    import shutil

    from transformers import BertConfig, BertModel

    nodrop = tmp_path / "nodrop"
    shutil.copytree(tiny_bert, nodrop)
    config = BertConfig.from_pretrained(str(tiny_bert))
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(str(tiny_bert), config=config).save_pretrained(str(nodrop))
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(w) for w, _ in TINY_SENTENCES * 4) + "\n")
    losses = []
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        cmd = [sys.executable, "-m", "entitune", "pretrain", "--text", str(text), "--out", str(tmp_path / name),
               "--model", str(nodrop), "--epochs", "1", "--batch-size", "6", "--max-length", "16", "--lr", "1e-3",
               "--device", "cpu", "--threads", "1", "--precision", "fp32", "--dev-fraction", "0.25", *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        events = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
        losses.append([e["loss"] for e in events if e["event"] == "step"])
        if extra:
            assert "distributed: 2 processes" in r.stderr
    assert len(losses[0]) == len(losses[1]) > 1
    assert losses[1] == pytest.approx(losses[0], rel=2e-3, abs=1e-4)
    dev = [json.loads((tmp_path / n / "train_log.json").read_text())["train"]["epochs"][0]["dev"] for n in ("one", "two")]
    assert dev[1]["masked_tokens"] == dev[0]["masked_tokens"]
    assert dev[1]["masked_loss"] == pytest.approx(dev[0]["masked_loss"], rel=1e-3)
