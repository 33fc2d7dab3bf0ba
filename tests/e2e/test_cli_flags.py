"""Every flag of every ``entitune`` command, run through the command line (in-process, through
``entitune.cli.main``) on the tiny random BERT, with an assertion on what the flag changes: a file
written, a setting recorded in the model or ``train_log.json``, a batch size seen by the scorer, a
limit enforced by the server, a one-line refusal.

Every command line run here is a row of ``CALLS`` (module-level data, ``{name}`` placeholders filled
at run time), and ``run_cli`` runs only those rows, so the flags exercised are known without running
anything: ``test_every_flag_of_every_command_is_exercised`` walks the click command tree and fails
for a flag (of any command or subcommand) that no row passes.
"""
from __future__ import annotations

import ast
import gzip
import importlib
import json
import lzma
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import typer.main

from entitune.cli import app
from entitune.errors import ConfigError
from entitune.recipes import FinetuneConfig
from tests.helpers.cli import run_main
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, write_bio

#: torch's threads while a command runs; a ``--threads`` flag asks for ``{threads}``, another value
BASE_THREADS = 2
FLAG_THREADS = 1

#: Every command line this module runs, by name (``run_cli(name, ...)``). Placeholders are filled
#: from the paths of the test's fixtures. Add a row (and a test that uses it) for every new flag.
CALLS: dict[str, list[str]] = {
    # ---- the command itself
    "version": ["--version"],
    # ---- train: a tagger with most of the training flags
    "train_ner": [
        "train", "--train", "{train}", "--test", "{test}", "--out", "{o1}", "--model", "{bert}", "--task", "ner",
        "--format", "bio", "--head", "crf", "--scheme", "BIOES", "--unconstrained", "--epochs", "2", "--lr", "1e-3",
        "--head-lr", "2e-2", "--batch-size", "4", "--accumulate", "2", "--precision", "bf16", "--save-every", "1",
        "--keep-checkpoints", "3", "--keep-checkpoints-after", "--device", "cpu", "--dropout", "0.2",
        "--max-length", "16", "--stride", "4", "--seed", "3", "--warmup", "0.0", "--weight-decay", "0.0",
        "--dev-fraction", "0.25", "--threads", "{threads}", "--word-features", "shape+chars",
    ],
    # ---- train: options from a file, overridden and completed by flags
    "train_config": [
        "train", "--config", "{run_toml}", "--out", "{o2}", "--dev", "{dev}", "--batch-tokens", "20",
        "--head", "linear", "--features", "frozen-concat4", "--constrained", "--no-resume",
        "--remove-checkpoints-after", "--nproc", "1",
    ],
    # ---- train: --resume of a finished run (its train_log.json as the config) leaves it as it is
    "train_resume_finished": ["train", "--config", "{o1}/train_log.json", "--resume"],
    # ---- train: several processes go to torchrun
    "train_nproc": ["train", "--train", "{train}", "--out", "{o_nproc}", "--model", "{bert}", "--nproc", "2"],
    # ---- train: document context (FLERT) on -DOCSTART- documents
    "train_context": [
        "train", "--train", "{docs}", "--out", "{o_ctx}", "--model", "{bert}", "--format", "conll", "--epochs", "2",
        "--dev-fraction", "0", "--context", "16", "--context-dropout", "0.25", "--device", "cpu",
    ],
    # ---- train: mention replacement, and its refusal for a classifier
    "train_augment": [
        "train", "--train", "{train}", "--dev", "{dev}", "--out", "{o_aug}", "--model", "{bert}", "--epochs", "1",
        "--augment-mentions", "2", "--batch-size", "4", "--max-length", "16", "--stride", "4",
    ],
    "train_classify_augment": [
        "train", "--train", "{cls}", "--out", "{o_cls_aug}", "--model", "{bert}", "--format", "csv",
        "--text-columns", "sentence", "--label-column", "category", "--augment-mentions", "1",
    ],
    "train_bad_device": ["train", "--train", "{train}", "--out", "{o_bad}", "--device", "gpu"],
    "train_bad_word_features": ["train", "--train", "{train}", "--out", "{o_bad}", "--word-features", "case"],
    "train_classify_word_features": [
        "train", "--train", "{cls}", "--out", "{o_cls_wf}", "--model", "{bert}", "--task", "classify", "--format", "csv",
        "--text-columns", "sentence", "--label-column", "category", "--word-features", "shape",
    ],
    # ---- train: a classifier from a CSV with unusual column names
    "train_classify": [
        "train", "--train", "{cls}", "--out", "{o_cls}", "--model", "{bert}", "--task", "classify", "--format", "csv",
        "--text-columns", "sentence", "--label-column", "category", "--pooling", "mean", "--class-weights",
        "balanced", "--probe-epochs", "1", "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--max-length", "16", "--stride", "4",
    ],
    "train_classify_label_names": [
        "train", "--train", "{cls}", "--out", "{o_cls_names}", "--model", "{bert}", "--format", "csv",
        "--text-columns", "sentence", "--label-column", "category", "--label-names", "actor=Actor,director=Director,year=Year",
        "--probe-epochs", "0", "--epochs", "1", "--max-length", "16", "--stride", "4",
    ],
    # ---- train: training that finds its best point: epochs auto (patience), evaluations every 2 steps,
    # the average of the last evaluation, layer-wise learning-rate decay; a time budget that stops at once
    "train_auto": [
        "train", "--train", "{train}", "--out", "{o_auto}", "--model", "{bert}", "--format", "bio", "--epochs", "auto",
        "--max-epochs", "3", "--patience", "1", "--eval-every", "2", "--average-last", "1", "--layer-decay", "0.5",
        "--batch-size", "4", "--lr", "1e-3", "--max-length", "16", "--stride", "4", "--device", "cpu", "--precision", "fp32",
    ],
    "train_budget": [
        "train", "--train", "{train}", "--out", "{o_budget}", "--model", "{bert}", "--format", "bio", "--epochs", "2",
        "--time-budget-minutes", "0.00001", "--batch-size", "4", "--max-length", "16", "--stride", "4", "--device", "cpu",
        "--precision", "fp32",
    ],
    "train_max_steps": [
        "train", "--train", "{train}", "--out", "{o_steps}", "--model", "{bert}", "--format", "bio", "--epochs", "3",
        "--max-steps", "4", "--batch-size", "4", "--max-length", "16", "--stride", "4", "--device", "cpu",
        "--precision", "fp32", "--warmup", "0.0",
    ],
    # ---- tune: one tiny trial; base options from a file, two more by --set, a space file, test scored at the end
    "tune": [
        "tune", "--config", "{tune_toml}", "--train", "{train}", "--dev", "{dev}", "--test", "{test}", "--out", "{o_tune}",
        "--model", "{bert}", "--trials", "1", "--budget-minutes", "30", "--space", "{tune_space}", "--seed", "5",
        "--set", "max_length=16", "--set", "head=crf",
    ],
    # ---- tune: a study in a database of its own (SQLite here; PostgreSQL in test_tune_shared.py), then its report
    "tune_shared": [
        "tune", "--config", "{tune_toml}", "--train", "{train}", "--dev", "{dev}", "--out", "{o_tune_shared}",
        "--model", "{bert}", "--trials", "1", "--space", "{tune_space}", "--storage", "{tune_db}", "--study",
        "flags-study", "--heartbeat-seconds", "7", "--search",
    ],
    "tune_report": ["tune", "--report", "--storage", "{tune_db}", "--study", "flags-study", "--out", "{o_tune_report}"],
    # ---- pretrain: most of its flags; two text files after one --text
    "pretrain": [
        "pretrain", "--text", "{pt_a}", "{pt_b}", "--out", "{p1}", "--model", "{bert}", "--format", "text", "--epochs", "2",
        "--lr", "1e-3", "--head-lr", "2e-2", "--batch-size", "4", "--accumulate", "2", "--warmup", "0.0",
        "--weight-decay", "0.0", "--precision", "bf16", "--seed", "9", "--save-every", "1", "--keep-checkpoints", "3",
        "--keep-checkpoints-after", "--device", "cpu", "--max-length", "16", "--mlm-probability", "0.3",
        "--whole-word-mask", "--dev-fraction", "0.25", "--threads", "{threads}",
    ],
    "pretrain_config": [
        "pretrain", "--config", "{pt_toml}", "--out", "{p2}", "--dev-text", "{pt_b}", "--batch-tokens", "20",
        "--token-mask", "--no-resume", "--remove-checkpoints-after", "--nproc", "1",
    ],
    "pretrain_resume_finished": ["pretrain", "--config", "{p1}/train_log.json", "--resume"],
    "pretrain_controls": [
        "pretrain", "--text", "{pt_a}", "--out", "{p3}", "--model", "{bert}", "--format", "text", "--epochs", "3",
        "--eval-every", "1", "--patience", "1", "--batch-size", "4", "--max-length", "16", "--dev-fraction", "0.25",
        "--device", "cpu", "--precision", "fp32",
    ],
    "pretrain_nproc": ["pretrain", "--text", "{pt_a}", "--out", "{p_nproc}", "--model", "{bert}", "--nproc", "2"],
    # ---- pretrain: a compressed corpus, a step cap, the full-vocabulary softmax
    "pretrain_corpus": [
        "pretrain", "--text", "{pt_xz}", "--out", "{p5}", "--model", "{bert}", "--epochs", "3", "--max-steps", "3",
        "--softmax", "full", "--batch-size", "4", "--max-length", "16", "--dev-fraction", "0.2", "--device", "cpu",
        "--precision", "fp32",
    ],
    # ---- pretrain: the loop options it shares with train (declared once, in LoopOptions)
    "pretrain_shared_loop": [
        "pretrain", "--text", "{pt_a}", "--out", "{p4}", "--model", "{bert}", "--format", "text", "--epochs", "auto",
        "--max-epochs", "2", "--average-last", "2", "--layer-decay", "0.8", "--time-budget-minutes", "30",
        "--batch-size", "4", "--max-length", "16", "--dev-fraction", "0.25", "--device", "cpu", "--precision", "fp32",
    ],
    # ---- adapt: extension then pretraining, with most of the flags it shares with vocab and pretrain
    "adapt": [
        "adapt", "--text", "{vtext_xz}", "--train", "{train}", "--out", "{a1}", "--model", "{bert}", "--max-new", "3",
        "--min-count", "2", "--unit", "word", "--max-words", "1000", "--measure", "{vtext}", "--format", "auto",
        "--max-steps", "4", "--epochs", "5", "--lr", "1e-3", "--head-lr", "2e-3", "--batch-size", "4",
        "--accumulate", "1", "--warmup", "0.0", "--weight-decay", "0.0", "--precision", "fp32", "--seed", "9",
        "--save-every", "1", "--keep-checkpoints", "2", "--keep-checkpoints-after", "--device", "cpu",
        "--max-length", "16", "--mlm-probability", "0.2", "--whole-word-mask", "--softmax", "corpus",
        "--dev-fraction", "0.25", "--threads", "{threads}", "--no-resume", "--nproc", "1", "--eval-every", "2",
        "--time-budget-minutes", "30",
    ],
    "adapt_config": [
        "adapt", "--config", "{adapt_toml}", "--out", "{a2}", "--dev-text", "{pt_b}", "--batch-tokens", "20",
        "--token-mask", "--remove-checkpoints-after", "--resume", "--epochs", "auto", "--max-epochs", "2",
        "--patience", "2", "--average-last", "1", "--layer-decay", "0.9",
    ],
    # ---- evaluate
    "evaluate_ner": [
        "evaluate", "{o1}", "{test}", "--json", "{eval_json}", "--errors", "{errors_jsonl}", "--batch-size", "2",
        "--format", "bio", "--threads", "{threads}", "--backend", "torch", "--device", "cpu",
    ],
    "evaluate_ner_wrong_format": ["evaluate", "{o1}", "{test}", "--format", "conll"],
    "evaluate_classify": [
        "evaluate", "{o_cls}", "{cls_test}", "--format", "csv", "--text-columns", "sentence", "--label-column",
        "category", "--json", "{cls_eval_json}", "--precision", "bf16",
    ],
    "evaluate_onnx": ["evaluate", "{onnx}", "{test}", "--backend", "onnx", "--threads", "2", "--json", "{onnx_eval_json}"],
    "evaluate_torch_dir_as_onnx": ["evaluate", "{o1}", "{test}", "--backend", "onnx"],
    "evaluate_onnx_on_cuda": ["evaluate", "{onnx}", "{test}", "--device", "cuda"],
    # ---- predict
    "predict_conll": [
        "predict", "{o1}", "--input", "{lines}", "--output", "conll", "--batch-size", "2", "--threads", "{threads}",
        "--backend", "torch", "--device", "cpu", "--precision", "bf16",
    ],
    "predict_shard": ["predict", "{o1}", "--input", "{lines}", "--shard", "1/2"],
    "predict_documents": ["predict", "{o_ctx}", "--input", "{doc_lines}", "--documents"],
    "predict_sentences": ["predict", "{o_ctx}", "--input", "{doc_lines}", "--sentences"],
    "predict_documents_shard": ["predict", "{o_ctx}", "--input", "{doc_lines}", "--documents", "--shard", "0/2"],
    "predict_all_scores": ["predict", "{o_cls}", "--input", "{texts}", "--all-scores"],
    "predict_best_score": ["predict", "{o_cls}", "--input", "{texts}", "--best-score"],
    "predict_onnx": ["predict", "{onnx}", "--input", "{lines}", "--backend", "onnx", "--threads", "2"],
    "predict_onnx_on_cuda": ["predict", "{onnx}", "--input", "{lines}", "--device", "cuda"],
    # ---- serve (uvicorn.Server.run replaced: the app it would serve is driven in-process)
    "serve": [
        "serve", "{onnx}", "--host", "127.0.0.9", "--port", "8123", "--batch-size", "2", "--threads", "{threads}",
        "--max-texts", "3", "--max-chars", "40", "--max-words", "7", "--max-body-bytes", "4000",
        "--max-batch-texts", "5", "--max-batch-wait-ms", "1.5", "--workers", "1", "--idle-timeout-s", "4",
        "--body-timeout-s", "6", "--backend", "onnx", "--device", "cpu",
    ],
    "serve_onnx_on_cuda": ["serve", "{onnx}", "--device", "cuda", "--port", "0"],
    "serve_bf16": ["serve", "{o1}", "--precision", "bf16", "--port", "0"],
    # ---- export
    "export_ner": [
        "export", "{o1}", "--onnx", "{onnx}", "--quantize", "int8", "--eval", "{test}", "--format", "bio",
        "--max-drop", "-100", "--accept-drop", "--threads", "{threads}",
    ],
    "export_classify_refused": [
        "export", "{o_cls}", "--onnx", "{cls_onnx}", "--eval", "{cls_test}", "--format", "csv", "--text-columns",
        "sentence", "--label-column", "category", "--max-drop", "-100", "--refuse-drop",
    ],
    # ---- package
    "package_with_logs": ["package", "{o1}", "--out", "{tar_logs}", "--with-logs"],
    "package_without_logs": ["package", "{o1}", "--out", "{tar_plain}", "--without-logs"],
    # ---- report
    "report": ["report", "{o1}", "--eval", "{eval_json}", "--out", "{report_html}"],
    # ---- doctor
    "doctor_ner": [
        "doctor", "{train}", "{test}", "--model", "{bert}", "--max-length", "6", "--json", "{doctor_json}",
        "--format", "bio", "--task", "ner",
    ],
    "doctor_classify": [
        "doctor", "{cls}", "--model", "{bert}", "--task", "classify", "--format", "csv", "--text-columns", "sentence",
        "--label-column", "category", "--json", "{doctor_cls_json}",
    ],
    "doctor_compare": ["doctor", "{test}", "--model", "{bert}", "--compare", "{vbert}", "--json", "{doctor_cmp_json}"],
    # ---- convert
    "convert": ["convert", "{train_txt}", "--out", "{converted}", "--to", "jsonl", "--scheme", "BILOU", "--format", "bio"],
    "convert_wrong_format": ["convert", "{train_txt}", "--out", "{converted_bad}", "--format", "conll"],
    # ---- split
    "split": [
        "split", "{docs}", "--out", "{parts}", "--ratios", "4,1,1", "--by", "document", "--seed", "5", "--to",
        "jsonl-spans", "--format", "conll",
    ],
    # ---- audit: cross-prediction with the folds' train options from a file, --set and the train flags
    "audit_folds": [
        "audit", "{train}", "--out", "{o_audit}", "--folds", "2", "--seed", "3", "--config", "{audit_toml}", "--set",
        "head_lr=1e-2", "--epochs", "2", "--head", "crf", "--lr", "1e-3", "--max-length", "16", "--batch-size", "4",
        "--format", "bio",
    ],
    # ---- audit: a classifier judges a CSV with unusual columns; then the corrected copy of a tagged file
    "audit_classify": [
        "audit", "{cls}", "--out", "{o_audit_cls}", "--model", "{o_cls}", "--format", "csv", "--text-columns",
        "sentence", "--label-column", "category",
    ],
    "audit_fix": ["audit", "{train}", "--out", "{o_audit_fix}", "--fix-from", "{audit_review}"],
    # ---- select: a CRF tagger's margin, with diversity and a cap; a classifier at random
    "select_ner": [
        "select", "--model", "{o1}", "--pool", "{doc_lines}", "--n", "3", "--out", "{o_select}", "--strategy", "margin",
        "--diversity", "--per-doc", "1", "--format", "text", "--seed", "3", "--batch-size", "8", "--json",
        "{select_json}",
    ],
    "select_classify": [
        "select", "--model", "{o_cls}", "--pool", "{texts}", "--n", "1", "--out", "{o_select_cls}", "--strategy",
        "random", "--no-diversity",
    ],
    # ---- vocab plan / vocab extend (a tokenizer with [unusedN] slots and no digits)
    "vocab_plan": [
        "vocab", "plan", "{vtext}", "--model", "{vbert}", "--json", "{vplan_json}", "--max-new", "1", "--min-count", "3",
        "--unit", "word", "--format", "text",
    ],
    "vocab_extend_append": [
        "vocab", "extend", "--add-from", "{vtext}", "--add-from", "{vtext}", "--out", "{vext_append}", "--model",
        "{vbert}", "--max-new", "2", "--min-count", "3", "--append", "--init", "random", "--unit", "word",
        "--format", "text", "--max-words", "1000",
    ],
    "vocab_plan_learned": [
        "vocab", "plan", "{vtext_xz}", "--model", "{vbert}", "--json", "{vplan_learned_json}", "--unit", "learned",
        "--max-words", "6", "--measure", "{vtext}", "--min-count", "2",
    ],
    "vocab_extend_unused": [
        "vocab", "extend", "--add-from", "{vdigits}", "--out", "{vext_unused}", "--model", "{vbert}", "--use-unused",
        "--max-new", "2", "--unit", "char", "--init", "mean", "--measure", "{vdigits}",
    ],
}


@dataclass
class Result:
    code: int
    out: str
    err: str
    threads: int  # torch's intra-op threads right after the command

    @property
    def lines(self) -> list[str]:
        return self.err.strip().splitlines()


def run_cli(name: str, paths: dict) -> Result:
    """Run the command line ``CALLS[name]`` (placeholders from ``paths``) in this process, as
    ``python -m entitune`` would: its exit status, stdout, stderr, and torch's thread count after it
    (torch's threads are ``BASE_THREADS`` before and again after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(BASE_THREADS)
    try:
        code, out, err = run_main([arg.format(**paths) for arg in CALLS[name]])
        return Result(code, out, err, torch.get_num_threads())
    finally:
        torch.set_num_threads(threads)


def ok(result: Result) -> Result:
    assert result.code == 0, result.err[-3000:]
    return result


def refused(result: Result, *words: str) -> str:
    """A user error: exit status 2 and one line on stderr (after any notes) that holds ``words``."""
    assert result.code == 2, (result.code, result.err[-3000:])
    assert "Traceback" not in result.err
    last = result.lines[-1]
    assert last.startswith("error: ") and all(w in last for w in words), last
    return last


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


# -------------------------------------------------------------------------------------------
# data, runs and spies shared by the tests


def _write_csv(path: Path, rows) -> Path:
    """Labelled texts under column names no default picks: ``id,sentence,category``."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "sentence", "category"])
        for i, (text, label) in enumerate(rows):
            writer.writerow([f"id-{i}", text, label])
    return path


def _write_docs(path: Path) -> Path:
    """A CoNLL file of six -DOCSTART- documents, document k holding three copies of sentence k."""
    blocks = []
    for words, tags in TINY_SENTENCES:
        sentence = "".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n"
        blocks.append("-DOCSTART- O\n\n" + sentence * 3)
    path.write_text("".join(blocks))
    return path


@pytest.fixture(scope="module")
def paths(tiny_bert, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("cli-flags")
    p = {name: str(d / name) for name in (
        "o1", "o2", "o_nproc", "o_bad", "o_cls", "o_cls_wf", "o_cls_names", "o_aug", "o_cls_aug", "o_auto", "o_budget", "o_ctx", "p3", "onnx", "cls_onnx", "parts", "eval.json")}
    p.update(
        bert=str(tiny_bert), threads=str(FLAG_THREADS),
        train=str(write_bio(d / "train.bio", TINY_SENTENCES * 4)),
        train_txt=str(write_bio(d / "train.txt", TINY_SENTENCES * 2)),
        dev=str(write_bio(d / "dev.bio", TINY_SENTENCES[:5])),
        test=str(write_bio(d / "test.bio", TINY_SENTENCES)),
        cls=str(_write_csv(d / "cls.csv", TINY_TEXTS * 3)), cls_test=str(_write_csv(d / "cls_test.csv", TINY_TEXTS)),
        docs=str(_write_docs(d / "docs.conll")),
        eval_json=str(d / "flag-eval.json"), errors_jsonl=str(d / "errors.jsonl"), cls_eval_json=str(d / "cls-eval.json"),
        onnx_eval_json=str(d / "onnx-eval.json"), tar_logs=str(d / "logs.tar.gz"), tar_plain=str(d / "plain.tar.gz"),
        report_html=str(d / "flags.html"), doctor_json=str(d / "doctor.json"),
        doctor_cls_json=str(d / "doctor-cls.json"), converted=str(d / "converted.jsonl"),
        converted_bad=str(d / "converted-bad.jsonl"), run_toml=str(d / "run.toml"),
    )
    p["lines"] = str(d / "lines.txt")
    Path(p["lines"]).write_text("show me films with drew barrymore\nmovies from the 1980s\n"
                                "films directed by steven spielberg\nwhat movies star bruce willis\n")
    p["doc_lines"] = str(d / "doc-lines.txt")  # two documents of two lines, a blank line between
    Path(p["doc_lines"]).write_text("show me films with drew barrymore\nmovies from the 1980s\n\n"
                                    "films directed by steven spielberg\nwhat movies star bruce willis\n")
    p.update(p1=str(d / "p1"), p2=str(d / "p2"), p_nproc=str(d / "p_nproc"), pt_toml=str(d / "pretrain.toml"))
    p.update(p4=str(d / "p4"), p5=str(d / "p5"), o_steps=str(d / "o_steps"), a1=str(d / "a1"), a2=str(d / "a2"),
             adapt_toml=str(d / "adapt.toml"))
    p["pt_xz"] = str(d / "pretrain.txt.xz")  # 20 texts, xz-compressed
    Path(p["pt_xz"]).write_bytes(lzma.compress("".join(" ".join(w) + "\n" for w, _ in TINY_SENTENCES * 4).encode()))
    p["pt_a"] = str(d / "pretrain-a.txt")  # 12 texts
    Path(p["pt_a"]).write_text("".join(" ".join(w) + "\n" for w, _ in TINY_SENTENCES * 2))
    p["pt_b"] = str(d / "pretrain-b.txt")  # 4 texts
    Path(p["pt_b"]).write_text("".join(" ".join(w) + "\n" for w, _ in TINY_SENTENCES[:4]))
    p.update(doctor_cmp_json=str(d / "doctor-compare.json"), vplan_json=str(d / "vplan.json"), vext_append=str(d / "vext-append"), vext_unused=str(d / "vext-unused"))
    p["vtext"] = str(d / "vocab.txt")  # tarantino and kubrick three times each, fellini twice
    Path(p["vtext"]).write_text("show me tarantino films\ntarantino with kubrick\nkubrick and tarantino\n"
                                "show me kubrick films\nfellini once\nfellini twice\n")
    p["vtext_xz"] = str(d / "vocab.txt.gz")  # the same lines, gzip-compressed
    Path(p["vtext_xz"]).write_bytes(gzip.compress(Path(p["vtext"]).read_bytes()))
    p["vplan_learned_json"] = str(d / "vplan-learned.json")
    p["vdigits"] = str(d / "digits.txt")
    Path(p["vdigits"]).write_text("films 42 and 42\nshow me 42 films\n")
    p["texts"] = str(d / "texts.txt")
    Path(p["texts"]).write_text("films directed by steven spielberg\nmovies from the 1980s\n")
    p.update(o_tune=str(d / "o_tune"), tune_toml=str(d / "tune.toml"), tune_space=str(d / "tune-space.yaml"))
    p.update(o_tune_shared=str(d / "o_tune_shared"), o_tune_report=str(d / "o_tune_report"),
             tune_db=f"sqlite:///{d / 'shared-study.db'}")
    Path(p["tune_toml"]).write_text('epochs = 1\nbatch_size = 4\nstride = 4\nprecision = "fp32"\ndevice = "cpu"\n'
                                    'format = "bio"\nthreads = 1\n')
    Path(p["tune_space"]).write_text("lr: {type: float, low: 0.001, high: 0.002, log: true}\n")
    return p


@pytest.fixture(scope="module")
def vbert(paths, tmp_path_factory) -> Path:
    """A random one-layer BERT whose WordPiece vocabulary has four [unusedN] slots, lowercase letters
    and a few words (no digits)."""
    import string

    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = tmp_path_factory.mktemp("vocab-bert")
    letters = list(string.ascii_lowercase)
    vocab = ["[PAD]", *[f"[unused{i}]" for i in range(4)], "[UNK]", "[CLS]", "[SEP]", "[MASK]",
             "show", "me", "films", "with", "and", *letters, *[f"##{c}" for c in letters]]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(directory))
    paths["vbert"] = str(directory)
    paths["vbert_size"] = len(vocab)
    return directory


@pytest.fixture(scope="module")
def ner_run(paths) -> Result:
    return ok(run_cli("train_ner", paths))


@pytest.fixture(scope="module")
def cls_run(paths) -> Result:
    return ok(run_cli("train_classify", paths))


@pytest.fixture(scope="module")
def onnx_export(ner_run, paths) -> Result:
    return ok(run_cli("export_ner", paths))


@pytest.fixture(scope="module")
def ner_eval(ner_run, paths) -> Result:
    return ok(run_cli("evaluate_ner", paths))


@pytest.fixture
def batches(monkeypatch) -> list[dict]:
    """Every batch of windows scored while the test runs: its size and the scorer's kind, device
    and streams (an export's batches scored at once)."""
    from entitune.predict.engine import WindowScoring

    seen: list[dict] = []
    score = WindowScoring._score

    def spy(self, windows, idx):
        seen.append({"size": len(idx), "scorer": type(self.scorer).__name__,
                     "device": str(getattr(self.scorer, "device", "cpu")), "streams": getattr(self.scorer, "streams", 1),
                     "precision": getattr(getattr(self.scorer, "choice", None), "precision", None)})
        return score(self, windows, idx)

    monkeypatch.setattr(WindowScoring, "_score", spy)
    return seen


def _settings(model_dir) -> dict:
    from entitune.artifact import model_dir as md

    return read_json(Path(model_dir) / md.SETTINGS_FILE)


# -------------------------------------------------------------------------------------------
# train


def test_train_flags_reach_the_run(ner_run, paths):
    out = Path(paths["o1"])
    log = read_json(out / "train_log.json")
    config, training, model = log["config"], log["training"], log["model"]
    assert log["task"] == "ner"  # --task
    assert config["format"] == "bio" and config["device"] == "cpu"  # --format, --device
    assert model["encoder"] == Path(paths["bert"]).name  # --model
    assert "base_model" not in log  # --model DIR: no Hub repository to record (tests/e2e/test_hub.py for names)
    assert model["head"] == "crf"  # --head
    assert model["scheme"] == "BIOES" and {"S-YEAR", "E-ACTOR"} <= set(model["labels"])  # --scheme: learns S-/E- tags
    assert model["constrained"] is False  # --unconstrained
    assert (model["dropout"], model["max_length"], model["stride"]) == (0.2, 16, 4)  # --dropout --max-length --stride
    # --word-features: recorded with the model, its character vocabulary taken from the training data
    saved = _settings(out)
    assert model["word_features"] == saved["word_features"] == "shape+chars"
    assert saved["char_vocab"] and set(saved["char_vocab"]) <= {c for w, _ in TINY_SENTENCES for c in "".join(w)}
    assert "with word features shape+chars" in ner_run.err
    assert len(log["train"]["epochs"]) == 2  # --epochs
    assert training["head_lr"] == 0.02 and training["weight_decay"] == 0.0  # --head-lr, --weight-decay
    assert training["precision"] == "bf16" and training["seed"] == 3  # --precision, --seed
    # --dev-fraction 0.25 of 24 sentences, split with --seed 3
    assert log["data"] == {"train": 18, "dev": 6, "test": 6}
    assert "dev 6 held out from --train (25%, seed 3)" in ner_run.err
    # --batch-size 4 and --accumulate 2: 18 sentences are 5 micro-batches, 3 optimizer steps an epoch
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start" and events[0]["steps_per_epoch"] == 3 and events[0]["total_steps"] == 6
    assert training["batch_size"] == 4 and training["accumulate"] == 2
    # --lr 1e-3 with --warmup 0: the first step is at the peak learning rate
    assert next(e for e in events if e["event"] == "step")["lr"] == pytest.approx(1e-3)
    # --save-every 1, --keep-checkpoints 3, --keep-checkpoints-after: the last three steps stay
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"step-{s:08d}.pt" for s in (4, 5, 6)]
    assert "training checkpoints kept" in ner_run.err
    assert "test" in log and "entity (micro)" in ner_run.out  # --test
    assert (out / "model.safetensors").is_file()  # --out
    assert ner_run.threads == FLAG_THREADS  # --threads


def test_train_config_file_with_flag_overrides(paths):
    """--config supplies what the flags do not (the model, epochs, batch size...); --dev replaces the
    split; --batch-tokens packs batches by length; --features freezes the encoder; --constrained;
    --no-resume clears an earlier run's checkpoints; --remove-checkpoints-after removes this one's."""
    Path(paths["run_toml"]).write_text(
        f'train = "{paths["train"]}"\nmodel = "{paths["bert"]}"\nepochs = 2\nbatch_size = 4\nlr = 1e-3\n'
        f'max_length = 16\nstride = 4\nformat = "bio"\nhead = "crf"\nout = "{paths["o_bad"]}"\n')
    stale = Path(paths["o2"]) / "checkpoints"
    stale.mkdir(parents=True)
    (stale / "step-00000099.pt").write_bytes(b"an earlier run's")
    r = ok(run_cli("train_config", paths))
    out = Path(paths["o2"])
    log = read_json(out / "train_log.json")
    assert not Path(paths["o_bad"]).exists()  # --out overrides the file
    assert len(log["train"]["epochs"]) == 2 and log["config"]["batch_size"] == 4  # from the file
    assert log["data"]["dev"] == 5 and log["data"]["train"] == 24  # --dev: the file, no split
    assert log["training"]["batch_tokens"] == 20  # --batch-tokens: about two sentences a batch, not four
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["steps_per_epoch"] > 6
    settings = _settings(out)
    assert settings["head"] == "linear" and settings["features"] == "frozen-concat4"  # --head over the file, --features
    assert settings["constrained"] is True  # --constrained
    assert "removed the checkpoints of an earlier run" in r.err  # --no-resume
    assert not stale.exists() and "training checkpoints removed" in r.err  # --remove-checkpoints-after
    assert log["config"]["nproc"] == 1 and "launching" not in r.err  # --nproc 1: this process


def test_train_resume_of_a_finished_run_leaves_it(ner_run, paths):
    weights = Path(paths["o1"]) / "model.safetensors"
    before = weights.stat().st_mtime_ns
    r = ok(run_cli("train_resume_finished", paths))
    assert "--resume: the run in" in r.err and "nothing to resume" in r.err
    assert "epoch 1:" not in r.err and weights.stat().st_mtime_ns == before


def test_train_nproc_launches_torchrun(paths, monkeypatch):
    finetune = importlib.import_module("entitune.recipes.training")
    launched = []

    def call(cmd):
        config = read_json(cmd[cmd.index("--config") + 1])
        launched.append((cmd, config))
        return 0

    monkeypatch.setattr(finetune.subprocess, "call", call)
    r = ok(run_cli("train_nproc", paths))
    (cmd, config), = launched
    assert "--nproc-per-node=2" in cmd and config["nproc"] == 2 and "launching:" in r.err


def _window_lengths(monkeypatch) -> dict[int, int]:
    """The sub-token length of each sentence's window scored while the test runs, by sentence."""
    from entitune.predict.engine import WindowScoring

    seen: dict[int, int] = {}
    score = WindowScoring._score

    def spy(self, windows, idx):
        seen.update((windows[i].sentence, len(windows[i].input_ids)) for i in idx)
        return score(self, windows, idx)

    monkeypatch.setattr(WindowScoring, "_score", spy)
    return seen


def test_train_context_flags_reach_the_model_and_predict_documents(paths, monkeypatch):
    r = ok(run_cli("train_context", paths))
    log = read_json(Path(paths["o_ctx"]) / "train_log.json")
    assert _settings(paths["o_ctx"])["context"] == 16 == log["model"]["context"]  # --context: saved with the model
    assert log["config"]["context_dropout"] == 0.25  # --context-dropout
    assert "document context 16 sub-words per side (dropout 0.25)" in r.err
    lengths = _window_lengths(monkeypatch)
    alone = [json.loads(line) for line in ok(run_cli("predict_sentences", paths)).out.splitlines()]
    plain = dict(lengths)
    lengths.clear()
    together = [json.loads(line) for line in ok(run_cli("predict_documents", paths)).out.splitlines()]
    # --documents: each line also reads its document neighbour (never across the blank line)
    assert len(alone) == len(together) == 5 and together[2] == alone[2] == {"text": "", "words": [], "tags": [], "entities": []}
    assert [a["words"] for a in together] == [a["words"] for a in alone]
    pieces = {s: n - 2 for s, n in plain.items()}  # sub-words of each sentence alone ([CLS] and [SEP] off)
    assert lengths == {0: plain[0] + pieces[1], 1: plain[1] + pieces[0], 2: plain[2] + pieces[3],
                       3: plain[3] + pieces[2]}
    refused(run_cli("predict_documents_shard", paths), "shard", "documents")


def test_train_augment_mentions(paths):
    """Copies of the sentences with entities (every one of the training file's) join training, never
    dev; they are counted apart in train_log.json and on the model card. A classifier refuses them
    before reading its data."""
    r = run_cli("train_augment", paths)
    assert r.code == 0, r.err
    n = 4 * len(TINY_SENTENCES)
    log = json.loads((Path(paths["o_aug"]) / "train_log.json").read_text())
    assert log["data"] == {"train": n, "augmented": 2 * n, "dev": 5, "test": 0}
    assert log["config"]["augment_mentions"] == 2
    assert f"augment: {2 * n:,} copies of training sentences" in r.out + r.err
    assert log["train"]["stopped"]["step"] == -(-3 * n // 4)  # one epoch over originals and copies, batches of 4
    card = (Path(paths["o_aug"]) / "README.md").read_text()
    assert "train, augmented" in card and f"| {2 * n} |" in card
    refused(run_cli("train_classify_augment", paths), "--augment-mentions is for NER")
    assert not (Path(paths["o_cls_aug"]) / "model.safetensors").exists()
    with pytest.raises(ConfigError, match=r"augment_mentions must be in \[0, 100\], got -1"):
        FinetuneConfig(train=paths["train"], out=paths["o_bad"], augment_mentions=-1)


def test_train_bad_device_is_one_line(paths):
    refused(run_cli("train_bad_device", paths), "device must be one of")
    assert not Path(paths["o_bad"]).exists()


def test_train_word_features_refusals(paths):
    refused(run_cli("train_bad_word_features", paths), "--word-features must be one of", "shape+chars")
    assert not Path(paths["o_bad"]).exists()
    refused(run_cli("train_classify_word_features", paths), "--word-features shape is for NER")
    assert not (Path(paths["o_cls_wf"]) / "model.safetensors").exists()


def test_train_classifier_flags(cls_run, paths):
    log = read_json(Path(paths["o_cls"]) / "train_log.json")
    assert log["task"] == "classify" and log["config"]["format"] == "csv"  # --task, --format
    settings = _settings(paths["o_cls"])
    # --label-column category, --text-columns sentence (the defaults would take the ids as labels)
    assert settings["labels"] == ["actor", "director", "year"]
    assert settings["pooling"] == "mean"  # --pooling
    assert "with balanced class weights" in cls_run.err and log["config"]["class_weights"] == "balanced"
    assert len(log["train"]["epochs"]) == 1 and log["training"]["batch_size"] == 8
    # --probe-epochs: the head alone first, then the one fine-tuning epoch above
    assert log["config"]["probe_epochs"] == 1 and "linear probe: the head alone trained 1 epoch(s)" in cls_run.err


def _evaluations_agree_with_the_stop(train: dict, patience: int) -> None:
    """The run's evaluations and its stop tell one story: stopped by patience right after
    ``patience`` evaluations without a better score, else it ran its length."""
    evaluations, stopped = train["evaluations"], train["stopped"]
    best_at = max(i for i, e in enumerate(evaluations) if e["is_best"])
    assert evaluations[-1]["step"] == stopped["step"]
    if stopped["reason"] == "patience":
        assert len(evaluations) - 1 - best_at == patience
    else:
        assert stopped["reason"] == "completed" and len(evaluations) - 1 - best_at < patience


def test_train_finds_its_best_point(paths, monkeypatch):
    """--epochs auto (at most --max-epochs 3, stopping on --patience 1), --eval-every 2,
    --average-last 1, --layer-decay 0.5 reach the run: the schedule's length, the evaluations'
    steps, the stop, the average and the learning rate of each layer."""
    import entitune.train.loop as loop

    built = []

    def spy(model, config, head_lr):
        optimizer = build(model, config, head_lr)
        built.append(sorted({g["lr"] for g in optimizer.param_groups}))
        return optimizer

    build = loop.build_optimizer
    monkeypatch.setattr(loop, "build_optimizer", spy)
    r = ok(run_cli("train_auto", paths))
    out = Path(paths["o_auto"])
    log = read_json(out / "train_log.json")
    training, train = log["training"], log["train"]
    assert log["config"]["epochs"] == "auto" and log["data"]["dev"] == 2  # auto chooses on dev: 10% held out
    assert (training["epochs"], training["patience"], training["eval_every"]) == (3, 1, 2)  # --max-epochs, --patience
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["steps_per_epoch"] == 6 and start["total_steps"] == 18  # the schedule decays over --max-epochs
    steps = [e["step"] for e in train["evaluations"]]  # --eval-every 2: every second step (and epoch ends)
    assert steps[:2] == [2, 4] and all(s % 2 == 0 or s % 6 == 0 for s in steps)
    _evaluations_agree_with_the_stop(train, patience=1)  # --patience 1
    assert "step 2 (epoch 1): dev entity F1" in r.err
    # --average-last 1: the average of the last evaluation, scored and compared with the best single one
    assert train["average"]["evaluations"] == 1 and train["average"]["steps"] == [steps[-1]]
    assert "average of the weights at the last 1 evaluations" in r.err
    # --layer-decay 0.5 on a 2-layer encoder: embeddings, layer 0 and layer 1 at lr x 0.5^3, ^2, ^1
    assert training["layer_decay"] == 0.5
    assert built[0][:3] == pytest.approx([1e-3 * 0.5 ** 3, 1e-3 * 0.5 ** 2, 1e-3 * 0.5])


def test_train_time_budget_stops_cleanly(paths):
    """--time-budget-minutes 0.00001 (0.6 ms): the first step outlasts it, so training stops after
    it, scores those weights and saves the model."""
    r = ok(run_cli("train_budget", paths))
    out = Path(paths["o_budget"])
    train = read_json(out / "train_log.json")["train"]
    assert train["stopped"]["reason"] == "time_budget" and train["stopped"]["step"] == 1
    assert [e["step"] for e in train["evaluations"]] == [1] and len(train["epochs"]) == 1
    assert "the time budget of 1e-05 min is spent" in r.err and (out / "model.safetensors").is_file()


def test_train_max_steps_caps_the_run_and_the_schedule(paths):
    """--max-steps 4 with 3 epochs of 6 steps: 4 steps, the learning rate decaying to its last step
    over 4 steps (a quarter of the peak there), the stop recorded and announced."""
    r = ok(run_cli("train_max_steps", paths))
    out = Path(paths["o_steps"])
    log = read_json(out / "train_log.json")
    assert log["training"]["max_steps"] == 4 and log["train"]["stopped"]["reason"] == "max_steps"
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    lrs = [e["lr"] for e in steps if e["event"] == "step"]
    assert len(lrs) == 4 and lrs[-1] == pytest.approx(lrs[0] / 4)
    assert steps[0]["total_steps"] == 4 and "--max-steps 4 reached" in r.err


def test_tune_flags_reach_the_trials(paths):
    """tune: the --config file and --set options fix every trial's options, --space samples lr,
    --seed seeds the training, --budget-minutes becomes the trial's time budget, --test scores the
    best model once; best.toml holds the best trial's options."""
    import csv
    import tomllib

    r = ok(run_cli("tune", paths))
    out = Path(paths["o_tune"])
    with open(out / "trials.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert row["state"] == "COMPLETE" and 0.001 <= float(row["lr"]) <= 0.002
    config = read_json(out / "trials" / "0000" / "train_log.json")["config"]
    assert (config["head"], config["max_length"], config["epochs"], config["seed"], config["test"]) == ("crf", 16, 1, 5, None)
    assert config["model"] == paths["bert"] and config["dev"] == paths["dev"] and 0 < config["time_budget_minutes"] <= 30
    best = tomllib.loads((out / "best.toml").read_text())
    assert best["lr"] == config["lr"] and best["test"] == paths["test"] and "time_budget_minutes" not in best
    assert (out / "test.json").is_file() and "best: trial 0" in r.out


def test_tune_shared_study_flags(paths):
    """tune --storage/--study: the study lives in that database under that name, not in OUT/tune.db;
    --heartbeat-seconds 7: a trial silent for three heartbeats counts as cut off; --search is the
    default (trials run); --report writes the table and best.toml into another --out from the study
    alone, with no trial and no tune.db there."""
    import csv
    import tomllib

    import optuna

    r = ok(run_cli("tune_shared", paths))
    out = Path(paths["o_tune_shared"])
    assert not (out / "tune.db").exists() and (out / "trials" / "0000" / "train_log.json").is_file()
    assert "study 'flags-study' in sqlite:///" in r.err and "a trial silent for 21 s is taken as cut off" in r.err
    (trial,) = optuna.load_study(study_name="flags-study", storage=paths["tune_db"]).trials
    assert trial.state.name == "COMPLETE" and trial.user_attrs["out"] == str((out / "trials" / "0000").resolve())
    ok(run_cli("tune_report", paths))
    report = Path(paths["o_tune_report"])
    with open(report / "trials.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert (row["number"], row["state"], float(row["lr"])) == ("0", "COMPLETE", pytest.approx(trial.params["lr"]))
    best = tomllib.loads((report / "best.toml").read_text())
    assert best["lr"] == trial.params["lr"] and best["out"] == str(report / "best") and best["epochs"] == 1
    assert not (report / "trials").exists() and not (report / "tune.db").exists()


# -------------------------------------------------------------------------------------------
# pretrain


def test_pretrain_eval_every_and_patience(paths):
    """--eval-every 1 scores the dev loss after every step; --patience 1 stops at the first step
    without a lower dev loss (or the run ends first)."""
    r = ok(run_cli("pretrain_controls", paths))
    log = read_json(Path(paths["p3"]) / "train_log.json")
    assert (log["training"]["eval_every"], log["training"]["patience"]) == (1, 1)
    steps = [e["step"] for e in log["train"]["evaluations"]]
    assert steps == list(range(1, len(steps) + 1))  # 9 texts, batch 4: 3 steps an epoch, each evaluated
    _evaluations_agree_with_the_stop(log["train"], patience=1)
    assert all(e["metric"] == "neg_masked_loss" for e in log["train"]["evaluations"])
    assert "step 1 (epoch 1): dev masked loss" in r.err


def test_pretrain_flags_reach_the_run(paths):
    r = ok(run_cli("pretrain", paths))
    out = Path(paths["p1"])
    log = read_json(out / "train_log.json")
    config, training = log["config"], log["training"]
    assert config["text"] == [paths["pt_a"], paths["pt_b"]]  # --text A B
    assert "(read as plain text" in r.err and config["format"] == "text"  # --format
    assert log["model"]["encoder"] == Path(paths["bert"]).name and log["model"]["max_length"] == 16  # --model, --max-length
    assert "masking 30% of whole words" in r.err  # --mlm-probability, --whole-word-mask
    # --dev-fraction 0.25 of 16 texts, each text's side told by a hash of its words and --seed 9 (four of them)
    from entitune.data.split import held_out

    texts = [tuple(line.split()) for f in (paths["pt_a"], paths["pt_b"]) for line in Path(f).read_text().splitlines()]
    assert sum(held_out(t, 0.25, 9) for t in texts) == 4
    assert log["data"] == {"train": 12, "dev": 4, "test": 0}
    assert "25% by a hash of each text, seed 9" in r.err  # --seed
    assert len(log["train"]["epochs"]) == 2  # --epochs
    assert training["head_lr"] == 0.02 and training["weight_decay"] == 0.0  # --head-lr, --weight-decay
    assert training["precision"] == "bf16" and config["device"] == "cpu"  # --precision, --device
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    # --batch-size 4, --accumulate 2: 12 texts are 3 micro-batches, 2 optimizer steps an epoch
    assert events[0]["steps_per_epoch"] == 2 and training["accumulate"] == 2
    assert next(e for e in events if e["event"] == "step")["lr"] == pytest.approx(1e-3)  # --lr, --warmup 0
    # --save-every 1, --keep-checkpoints 3, --keep-checkpoints-after
    # (the token stores of the text stay with the checkpoints they resume with)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["corpus"] + [f"step-{s:08d}.pt" for s in (2, 3, 4)]
    assert (out / "model.safetensors").is_file() and r.threads == FLAG_THREADS  # --out, --threads

    # --resume of the finished run: left as it is
    weights = out / "model.safetensors"
    before = weights.stat().st_mtime_ns
    r = ok(run_cli("pretrain_resume_finished", paths))
    assert "nothing to resume" in r.err and weights.stat().st_mtime_ns == before


def test_pretrain_config_file_with_flag_overrides(paths):
    Path(paths["pt_toml"]).write_text(
        f'text = ["{paths["pt_a"]}"]\nmodel = "{paths["bert"]}"\nepochs = 2\nbatch_size = 4\nlr = 1e-3\n'
        f'max_length = 16\nwhole_word_mask = true\nout = "{paths["o_bad"]}"\n')
    stale = Path(paths["p2"]) / "checkpoints"
    stale.mkdir(parents=True)
    (stale / "step-00000099.pt").write_bytes(b"an earlier run's")
    r = ok(run_cli("pretrain_config", paths))
    out = Path(paths["p2"])
    log = read_json(out / "train_log.json")
    assert not Path(paths["o_bad"]).exists() and len(log["train"]["epochs"]) == 2  # --out over the file; the file
    assert log["data"] == {"train": 12, "dev": 4, "test": 0}  # --dev-text: its four texts, no split
    assert "masking 15% of sub-tokens" in r.err  # --token-mask over the file's whole_word_mask
    assert log["training"]["batch_tokens"] == 20  # --batch-tokens
    assert json.loads((out / "log.jsonl").read_text().splitlines()[0])["steps_per_epoch"] > 3
    assert "removed the checkpoints of an earlier run" in r.err  # --no-resume
    assert not stale.exists() and "training checkpoints removed" in r.err  # --remove-checkpoints-after
    assert log["config"]["nproc"] == 1 and "launching" not in r.err  # --nproc 1


def test_pretrain_takes_the_loop_options_train_takes(paths):
    """The loop options are declared once for both verbs: --epochs auto with --max-epochs, averaging,
    layer decay and a time budget reach pretraining's loop as they reach fine-tuning's."""
    ok(run_cli("pretrain_shared_loop", paths))
    log = read_json(Path(paths["p4"]) / "train_log.json")
    training = log["training"]
    assert training["epochs"] == 2 and training["patience"] == 3  # epochs auto: max_epochs, patience 3
    assert training["average_last"] == 2 and training["layer_decay"] == 0.8
    assert training["time_budget_s"] == 1800.0 and training["compact_embeddings"] is True
    average = log["train"]["average"]
    assert average["evaluations"] == 2 and average["metric"] == "neg_masked_loss"


def test_pretrain_reads_a_compressed_corpus_with_a_step_cap(paths):
    """--text FILE.xz is read as the plain text it holds; --max-steps 3 stops the run there;
    --softmax full scores against the whole vocabulary and trains the embedding densely."""
    r = ok(run_cli("pretrain_corpus", paths))
    log = read_json(Path(paths["p5"]) / "train_log.json")
    assert log["data"]["train"] + log["data"]["dev"] == 24 and "(read as plain text" in r.err
    assert log["train"]["stopped"]["reason"] == "max_steps" and log["train"]["stopped"]["step"] == 3
    assert log["config"]["softmax"] == "full" and "softmax over the whole vocabulary" in r.err
    assert "by a hash of each text" in r.err


def test_adapt_flags_reach_the_extension_and_the_pretraining(paths):
    """adapt: --max-new, --unit, --min-count, --max-words and --measure reach the extension (the
    words of --text and --train counted); the loop and masking flags reach the pretraining run it
    starts from the extended encoder (its train_log.json); --keep-checkpoints-after keeps the
    extended checkpoint and the checkpoints."""
    r = ok(run_cli("adapt", paths))
    out = Path(paths["a1"])
    record = read_json(out / "adapt.json")
    extension = record["extension"]  # tarantino, kubrick (three times each), fellini (twice): --min-count 2
    assert extension["added"] == 3 and extension["unit"] == "word"  # --max-new 3, --unit word
    assert "counting:" not in r.err and record["config"]["max_words"] == 1000 and record["config"]["min_count"] == 2
    assert record["measured"][0]["file"] == paths["vtext"]  # --measure
    log = read_json(out / "train_log.json")
    config, training = log["config"], log["training"]
    assert config["model"] == str(out / "extended") and config["text"] == [paths["vtext_xz"], paths["train"]]
    assert (training["max_steps"], training["epochs"], training["lr"], training["head_lr"], training["seed"]) == (
        4, 5, 1e-3, 2e-3, 9)
    assert (config["mlm_probability"], config["whole_word_mask"], config["softmax"], config["dev_fraction"]) == (
        0.2, True, "corpus", 0.25)
    assert training["eval_every"] == 2 and training["time_budget_s"] == 1800.0 and config["threads"] == FLAG_THREADS
    assert log["train"]["stopped"]["reason"] == "max_steps"
    assert (out / "extended" / "vocab_extension.json").is_file()  # --keep-checkpoints-after
    assert len(list((out / "checkpoints").glob("step-*.pt"))) == 2  # --save-every 1, --keep-checkpoints 2


def test_adapt_config_file_with_flag_overrides(paths):
    """adapt --config FILE: the file's options with flags on top (--dev-text, --batch-tokens,
    --token-mask, epochs auto with --max-epochs and --patience, averaging, layer decay); --resume
    into a new directory starts from the beginning; --remove-checkpoints-after."""
    Path(paths["adapt_toml"]).write_text(
        f'text = ["{paths["vtext"]}"]\nmodel = "{paths["bert"]}"\nmax_steps = 3\nmax_new = 2\nbatch_size = 4\n'
        f'max_length = 16\nwhole_word_mask = true\ndevice = "cpu"\nprecision = "fp32"\n')
    r = ok(run_cli("adapt_config", paths))
    out = Path(paths["a2"])
    log = read_json(out / "train_log.json")
    training = log["training"]
    assert log["config"]["dev_text"] == paths["pt_b"] and log["data"]["dev"] == 4  # --dev-text
    assert training["batch_tokens"] == 20 and "masking 15% of sub-tokens" in r.err  # --batch-tokens, --token-mask
    assert (training["epochs"], training["patience"], training["average_last"], training["layer_decay"]) == (2, 2, 1, 0.9)
    assert training["max_steps"] == 3 and read_json(out / "adapt.json")["extension"]["added"] == 2  # from the file
    assert "starting from the beginning" in r.err  # --resume with nothing to resume
    assert not (out / "checkpoints").exists() and not (out / "extended").exists()  # --remove-checkpoints-after


def test_pretrain_nproc_launches_torchrun(paths, monkeypatch):
    finetune = importlib.import_module("entitune.recipes.training")
    launched = []

    def call(cmd):
        launched.append((cmd, read_json(cmd[cmd.index("--config") + 1])))
        return 0

    monkeypatch.setattr(finetune.subprocess, "call", call)
    ok(run_cli("pretrain_nproc", paths))
    (cmd, config), = launched
    assert "--nproc-per-node=2" in cmd and "pretrain" in cmd and config["nproc"] == 2


# -------------------------------------------------------------------------------------------
# evaluate and predict


def test_evaluate_tagger_flags(paths, ner_run, batches):
    r = ok(run_cli("evaluate_ner", paths))
    report = read_json(paths["eval_json"])  # --json
    assert report["words"] == sum(len(w) for w, _ in TINY_SENTENCES)  # --format bio read every word
    assert "errors" in report  # --errors
    errors = [json.loads(line) for line in Path(paths["errors_jsonl"]).read_text().splitlines()]
    assert errors and all("gold" in e or "errors" in e for e in errors)
    assert batches and max(b["size"] for b in batches) == 2  # --batch-size
    assert {(b["scorer"], b["device"]) for b in batches} == {("TorchScorer", "cpu")}  # --backend torch, --device cpu
    assert r.threads == FLAG_THREADS  # --threads
    refused(run_cli("evaluate_ner_wrong_format", paths), "test.bio")  # --format conll: a bio file is no CoNLL


def test_evaluate_classifier_columns_and_precision(paths, cls_run, batches):
    r = ok(run_cli("evaluate_classify", paths))
    report = read_json(paths["cls_eval_json"])
    # --text-columns, --label-column, --format csv: the classes of the 'category' column
    assert "accuracy" in report and sorted(report["per_class"]) == ["actor", "director", "year"]
    assert "accuracy" in r.out
    assert batches and {b["precision"] for b in batches} == {"bf16"}  # --precision (auto is fp32 on this CPU)


def test_evaluate_backend_and_device(paths, onnx_export, batches):
    ok(run_cli("evaluate_onnx", paths))
    assert {(b["scorer"], b["streams"]) for b in batches} == {("OnnxScorer", 2)}  # --backend onnx, --threads 2
    assert read_json(paths["onnx_eval_json"])["words"] == sum(len(w) for w, _ in TINY_SENTENCES)
    refused(run_cli("evaluate_torch_dir_as_onnx", paths), "not an ONNX export")  # --backend onnx on a torch model
    refused(run_cli("evaluate_onnx_on_cuda", paths), "device cuda", "ONNX export")  # --device reaches the loader


def test_predict_tagger_flags(paths, ner_run, batches):
    r = ok(run_cli("predict_conll", paths))
    blocks = [b for b in r.out.strip().split("\n\n")]
    assert len(blocks) == 4  # --input: four lines; --output conll: a block of word<TAB>tag lines each
    first = [line.split("\t") for line in blocks[0].splitlines()]
    assert [w for w, _ in first] == ["show", "me", "films", "with", "drew", "barrymore"]
    # the model learned BIOES (--scheme) but predictions come back in IOB2
    assert all(t == "O" or t[:2] in ("B-", "I-") for block in blocks for line in block.splitlines()
               for t in [line.split("\t")[1]])
    assert max(b["size"] for b in batches) == 2  # --batch-size
    assert {(b["scorer"], b["device"]) for b in batches} == {("TorchScorer", "cpu")}  # --backend, --device
    assert {b["precision"] for b in batches} == {"bf16"}  # --precision
    assert r.threads == FLAG_THREADS  # --threads
    r = ok(run_cli("predict_shard", paths))
    answers = [json.loads(line) for line in r.out.splitlines()]
    assert [a["line"] for a in answers] == [2, 4] and answers[0]["words"] == ["movies", "from", "the", "1980s"]


def test_predict_scores_flags(paths, cls_run):
    answers = [json.loads(line) for line in ok(run_cli("predict_all_scores", paths)).out.splitlines()]
    assert len(answers) == 2 and all(set(a["scores"]) == {"actor", "director", "year"} for a in answers)
    answers = [json.loads(line) for line in ok(run_cli("predict_best_score", paths)).out.splitlines()]
    assert len(answers) == 2 and all("scores" not in a and a["label"] for a in answers)


def test_predict_backend_and_device(paths, onnx_export, batches):
    r = ok(run_cli("predict_onnx", paths))
    assert len(r.out.splitlines()) == 4
    assert {(b["scorer"], b["streams"]) for b in batches} == {("OnnxScorer", 2)}
    refused(run_cli("predict_onnx_on_cuda", paths), "device cuda", "ONNX export")


# -------------------------------------------------------------------------------------------
# serve: uvicorn.Server.run is replaced, and the app it was given is driven in-process


def test_serve_flags_reach_the_server(paths, onnx_export, batches, monkeypatch):
    import uvicorn
    from starlette.testclient import TestClient

    served = []

    def serve_once(server, sockets):  # records what uvicorn would serve, and on which socket, and returns
        served.append((server.config.app, server.config, sockets[0].getsockname()))

    monkeypatch.setattr(uvicorn.Server, "run", serve_once)
    r = ok(run_cli("serve", paths))
    (server_app, config, address), = served
    assert address == ("127.0.0.9", 8123)  # --host, --port: the socket bound before the model loads
    assert config.http.idle_timeout_s == 4  # --idle-timeout-s
    assert r.threads == BASE_THREADS  # an export runs without torch: its threads are left alone
    assert "http://127.0.0.9:8123" in r.err
    with TestClient(server_app) as client:
        info = client.get("/info").json()
        assert info["backend"] == "onnx"  # --backend
        assert info["limits"] == {"max_texts": 3, "max_chars": 40, "max_words": 7, "max_body_bytes": 4000,
                                  "max_batch_texts": 5, "max_batch_wait_ms": 1.5, "workers": 1,
                                  "idle_timeout_s": 4.0, "body_timeout_s": 6.0}
        batcher = server_app.state.batcher
        assert (batcher._max_batch, batcher._max_wait, batcher._workers) == (5, 0.0015, 1)
        texts = ["show me films", "movies from the 1980s", "films in paris"]
        assert len(client.post("/predict", json={"texts": texts}).json()["predictions"]) == 3
        assert max(b["size"] for b in batches) == 2 and {b["scorer"] for b in batches} == {"OnnxScorer"}  # --batch-size
        assert {b["streams"] for b in batches} == {FLAG_THREADS}  # --threads: the export's batches at once
        assert client.post("/predict", json={"texts": texts + ["one more"]}).status_code == 422  # --max-texts
        assert "40" in client.post("/predict", json={"texts": ["x" * 41]}).json()["error"]  # --max-chars
        assert "7" in client.post("/predict", json={"tokens": [["a"] * 8]}).json()["error"]  # --max-words
        big = json.dumps({"texts": ["a"] * 3, "pad": "x" * 4000})
        assert client.post("/predict", content=big, headers={"Content-Type": "application/json"}).status_code == 413
    refused(run_cli("serve_onnx_on_cuda", paths), "device cuda", "ONNX export")  # --device reaches the loader

    # --precision: the PyTorch model answers under bf16 autocast
    served.clear()
    batches.clear()
    ok(run_cli("serve_bf16", paths))
    (server_app, _, _), = served
    with TestClient(server_app) as client:
        assert client.get("/info").json()["backend"] == "torch"
        assert len(client.post("/predict", json={"texts": ["show me films"]}).json()["predictions"]) == 1
    assert batches and {(b["scorer"], b["precision"]) for b in batches} == {("TorchScorer", "bf16")}


# -------------------------------------------------------------------------------------------
# export, package, report


def test_export_flags(paths, onnx_export):
    import onnx

    report = read_json(Path(paths["onnx"]) / "export.json")
    assert report["quantize"] == "int8"  # --quantize
    # the model was trained with --word-features shape+chars: the export takes their ids
    inputs = [i.name for i in onnx.load(str(Path(paths["onnx"]) / "model.onnx")).graph.input]
    assert inputs[-2:] == ["word_shapes", "word_chars"]
    assert report["eval_examples"] == len(TINY_SENTENCES) and report["metric"]  # --eval, --format bio
    # --max-drop -100 refuses any export (a drop of at most -100 points needs PyTorch at 0 and ONNX at 1):
    # this one is kept by --accept-drop
    assert report["max_drop_points"] == -100 and report["accepted"] is True and report["drop_points"] > -100
    assert onnx_export.threads == FLAG_THREADS  # --threads


def test_export_refuse_drop_and_classifier_columns(paths, cls_run):
    # --refuse-drop under --max-drop -100; the classifier's accuracy was read through --text-columns,
    # --label-column and --format csv
    refused(run_cli("export_classify_refused", paths), "export refused", "accuracy", "> -100")
    assert not Path(paths["cls_onnx"]).exists()


def test_package_with_and_without_logs(paths, ner_run):
    ok(run_cli("package_with_logs", paths))
    ok(run_cli("package_without_logs", paths))

    def names(archive) -> set[str]:
        with tarfile.open(archive) as tar:
            return {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}

    with_logs, plain = names(paths["tar_logs"]), names(paths["tar_plain"])
    assert {"train_log.json", "log.jsonl", "model.safetensors"} <= with_logs  # --with-logs
    assert "model.safetensors" in plain and not {"train_log.json", "log.jsonl"} & plain  # --without-logs
    assert not any(n.startswith("checkpoints") for n in with_logs | plain)


def test_report_eval_and_out(paths, ner_eval):
    r = ok(run_cli("report", paths))
    page = Path(paths["report_html"]).read_text()  # --out
    assert str(paths["report_html"]) in r.out and not (Path(paths["o1"]) / "report.html").exists()
    assert "flag-eval.json" in page  # --eval: the evaluation's file is the page's source of scores


# -------------------------------------------------------------------------------------------
# doctor, convert, split


def test_doctor_tagger_flags(paths):
    r = ok(run_cli("doctor_ner", paths))
    report = read_json(paths["doctor_json"])  # --json
    assert report["task"] == "ner" and report["model"] == paths["bert"]  # --task, --model
    assert report["sentences"] == 5 * len(TINY_SENTENCES)  # --format bio read both files
    # --max-length 6: 16 of the 24 training sentences need more than 6 sub-words (none would at 128)
    lengths = report["files"][0]["subword_lengths"]
    assert lengths["max_length"] == 6 and lengths["sentences_needing_windows"] == 16
    # all-lowercase data: capitalisation says nothing, so no advice on --word-features
    assert report["files"][0]["uppercase_words"] == 0.0 and report["advice"] == []
    assert "sentences" in r.out  # the table on stdout


def test_doctor_classifier_columns(paths):
    ok(run_cli("doctor_classify", paths))
    report = read_json(paths["doctor_cls_json"])
    assert report["task"] == "classify"
    assert report["classes"] == {"actor": 12, "director": 12, "year": 12}  # labels from 'category', not 'id'


def test_doctor_compare(paths, vbert):
    r = ok(run_cli("doctor_compare", paths))
    unk = read_json(paths["doctor_cmp_json"])["files"][0]["unk_words"]
    # --compare: the second tokenizer (no digits: '1980s' is [UNK] there) beside --model's
    assert unk["share"] == 0 and unk["compare"]["model"] == str(vbert) and unk["compare"]["share"] > 0
    assert "(--compare)" in r.out


def test_convert_flags(paths):
    r = ok(run_cli("convert", paths))
    rows = [json.loads(line) for line in Path(paths["converted"]).read_text().splitlines()]  # --out, --to jsonl
    assert len(rows) == 2 * len(TINY_SENTENCES)  # --format bio on a .txt file
    assert rows[0]["tags"][-2:] == ["B-ACTOR", "L-ACTOR"] and rows[3]["tags"][-1] == "U-YEAR"  # --scheme BILOU
    assert "(jsonl, BILOU)" in r.err
    refused(run_cli("convert_wrong_format", paths), "train.txt")  # --format conll: the bio file is no CoNLL
    assert not Path(paths["converted_bad"]).exists()


def test_split_flags(paths):
    r = ok(run_cli("split", paths))
    parts = {n: [json.loads(line) for line in (Path(paths["parts"]) / f"{n}.jsonl").read_text().splitlines()]
             for n in ("train", "dev", "test")}  # --out, --to jsonl-spans (.jsonl, text + entities)
    assert all("text" in row and "entities" in row for rows in parts.values() for row in rows)
    assert [len(parts[n]) for n in ("train", "dev", "test")] == [12, 3, 3]  # --ratios 4,1,1 of six documents
    for rows in parts.values():  # --by document: each document's three sentences stay together
        texts = [row["text"] for row in rows]
        assert all(texts.count(t) == 3 for t in texts)
    assert "test: 3 sentences" in r.err
    # --seed 5: the documents the recipe's split with seed 5 gives (another seed gives others)
    from entitune.data import load_annotated, split_three

    sentences = load_annotated(paths["docs"]).sentences
    expected, other = (split_three(sentences, [4, 1, 1], seed, "document") for seed in (5, 42))
    assert [[" ".join(s.words) for s in part] for part in expected] != [[" ".join(s.words) for s in part] for part in other]
    assert [[row["text"] for row in parts[n]] for n in ("train", "dev", "test")] == \
        [[" ".join(s.words) for s in part] for part in expected]


# -------------------------------------------------------------------------------------------
# vocab plan, vocab extend


def test_vocab_plan_flags(paths, vbert):
    r = ok(run_cli("vocab_plan", paths))
    plan = read_json(paths["vplan_json"])  # --json
    assert Path(plan["model"]).name == vbert.name and plan["unused_slots"] == 4  # --model
    assert plan["before"]["words"] == 18  # --format text: every word of the six lines
    assert plan["unit"] == "word" and plan["unit_reason"] == "as asked"  # --unit
    # --min-count 3: fellini (twice) is no candidate; --max-new 1: only the best is taken
    assert [c["token"] for c in plan["candidates"]] == ["tarantino", "kubrick"] and plan["chosen"] == 1
    assert "tarantino" in r.out


def test_vocab_plan_learned_units_bounded_count_and_measured_files(paths, vbert):
    """--unit learned: candidates from a WordPiece vocabulary learned on the data, longer than one
    character; --max-words 6: the count is a bounded summary and says so; --measure FILE: that
    file's [UNK] words and sub-words per word before and after, in the JSON and printed. The data is
    gzip-compressed."""
    r = ok(run_cli("vocab_plan_learned", paths))
    plan = read_json(paths["vplan_learned_json"])
    assert plan["unit"] == "learned"
    learned = [c["token"] for c in plan["candidates"] if c["kind"] == "learned"]
    assert learned and all(len(t.removeprefix("##")) > 1 for t in learned)
    assert "counting: more than 6 distinct words" in r.err
    (measured,) = plan["measured"]
    assert measured["file"] == paths["vtext"]
    assert measured["after"]["subwords_per_word"] < measured["before"]["subwords_per_word"]
    assert "measured (not used to choose)" in r.out and "vocab.txt" in r.out


def test_vocab_extend_append_flags(paths, vbert):
    r = ok(run_cli("vocab_extend_append", paths))
    out = Path(paths["vext_append"])  # --out
    record = read_json(out / "vocab_extension.json")
    assert record["base"]["name"] == vbert.name and record["base"]["vocab_size"] == paths["vbert_size"]  # --model
    assert record["data"] == [paths["vtext"]] * 2 and record["before"]["words"] == 36  # --add-from twice, --format text
    assert record["route"] == "append" and record["added"] == 2  # --append, --max-new 2
    assert record["vocab_size"] == paths["vbert_size"] + 2
    assert record["min_count"] == 3 and record["unit"] == "word"  # --min-count (fellini left out), --unit
    assert "counting:" not in r.err  # --max-words 1000: every word counted exactly
    assert record["init"] == "random" and "init random" in r.out  # --init
    assert (out / "vocab.txt").read_text().split()[-2:] == ["tarantino", "kubrick"]


def test_vocab_extend_use_unused_flags(paths, vbert):
    ok(run_cli("vocab_extend_unused", paths))
    out = Path(paths["vext_unused"])
    record = read_json(out / "vocab_extension.json")
    # --use-unused: the vocabulary keeps its size, two [unusedN] slots now hold the digits (--unit char)
    assert record["route"] == "unused" and record["vocab_size"] == paths["vbert_size"] and record["unit"] == "char"
    vocab = (out / "vocab.txt").read_text().split()
    assert len(vocab) == paths["vbert_size"] and sum(t.startswith("[unused") for t in vocab) == 2 and "4" in vocab
    assert record["init"] == "mean" and record["from_fallback"] == 2  # --init mean: no known pieces, the mean row
    # --measure: the digits file, whose 42s were [UNK] words and are two pieces each after
    (measured,) = record["measured"]
    assert measured["file"] == paths["vdigits"]
    assert measured["before"]["unk_words"] == 3 and measured["after"]["unk_words"] == 0


# -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def curate_paths(paths) -> dict:
    d = Path(paths["o1"]).parent
    paths.update(o_audit=str(d / "o_audit"), o_audit_cls=str(d / "o_audit_cls"), o_audit_fix=str(d / "o_audit_fix"),
                 audit_toml=str(d / "audit.toml"), audit_review=str(d / "reviewed.jsonl"), o_select=str(d / "o_select"),
                 o_select_cls=str(d / "o_select_cls"), select_json=str(d / "select.json"))
    # a train config file as 'train --config' takes it: its train and out are set per fold, the rest kept
    Path(paths["audit_toml"]).write_text('train = "elsewhere.bio"\nout = "elsewhere"\nwarmup = 0.0\nstride = 4\n'
                                         'precision = "fp32"\ndevice = "cpu"\nthreads = 1\ndev_fraction = 0.0\n')
    return paths


def test_audit_cross_prediction_flags(curate_paths):
    """Each fold's model is trained with the train flags, --set and the config file's options (its
    train and out replaced by the fold's), seeded by --seed; --format reads the data."""
    paths = curate_paths
    result = ok(run_cli("audit_folds", paths))
    out = Path(paths["o_audit"])
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["0", "1"]  # --folds
    for fold in ("0", "1"):
        config = read_json(out / "folds" / fold / "model" / "train_log.json")["config"]
        assert config["train"] == str(out / "folds" / fold / "train.conll") and config["out"].startswith(str(out))
        assert (config["epochs"], config["head"], config["lr"], config["max_length"], config["batch_size"]) == (
            2, "crf", 1e-3, 16, 4)  # --epochs, --head, --lr, --max-length, --batch-size
        assert config["head_lr"] == 1e-2 and config["seed"] == 3  # --set, --seed
        assert config["warmup"] == 0.0 and config["stride"] == 4 and config["threads"] == 1  # --config
    assert (out / "issues.jsonl").exists() and (out / "audit.html").exists()
    assert read_json(out / "summary.json")["examples"] == len(TINY_SENTENCES) * 4
    assert "issues" in result.out and "flagged by cleanlab" in result.out


def test_audit_classifier_with_a_model(curate_paths, cls_run):
    paths = curate_paths
    ok(run_cli("audit_classify", paths))
    summary = read_json(Path(paths["o_audit_cls"]) / "summary.json")
    assert summary["task"] == "classify" and paths["o_cls"] in summary["how"]  # --model
    assert summary["examples"] == len(TINY_TEXTS) * 3  # --format, --text-columns, --label-column


def test_audit_fix_from_writes_the_corrected_copy(curate_paths):
    paths = curate_paths
    words, _ = TINY_SENTENCES[0]
    issue = {"id": 1, "sentence": 0, "kind": "wrong_type", "words": words, "review": "accept",
             "given": {"start": 4, "end": 6, "label": "ACTOR"}, "suggested": {"start": 4, "end": 6, "label": "DIRECTOR"}}
    Path(paths["audit_review"]).write_text(json.dumps(issue) + "\n")
    result = ok(run_cli("audit_fix", paths))
    fixed = Path(paths["o_audit_fix"]) / "train.fixed.bio"
    before, after = Path(paths["train"]).read_text().splitlines(), fixed.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after) if a != b] == [
        ("B-ACTOR\tdrew", "B-DIRECTOR\tdrew"), ("I-ACTOR\tbarrymore", "I-DIRECTOR\tbarrymore")]
    assert "1 accepted issues" in result.out


def test_select_flags(curate_paths, ner_run):
    """Two documents of two lines, at most one a document (--per-doc): two picks, written with the
    CRF tagger's pre-annotations; the summary (--json) records the strategy and diversity."""
    paths = curate_paths
    ok(run_cli("select_ner", paths))
    summary = read_json(paths["select_json"])
    assert (summary["strategy"], summary["diversity"], summary["per_doc"], summary["selected"]) == ("margin", True, 1, 2)
    lines = [json.loads(x) for x in (Path(paths["o_select"]) / "selected.jsonl").read_text().splitlines()]
    assert sorted(x["line"] for x in lines)[0] <= 2 and sorted(x["line"] for x in lines)[1] >= 4  # one per document
    tasks = read_json(Path(paths["o_select"]) / "tasks.json")
    assert len(tasks) == 2 and all(t["predictions"][0]["result"] is not None for t in tasks)


def test_select_random_for_a_classifier(curate_paths, cls_run):
    paths = curate_paths
    ok(run_cli("select_classify", paths))
    (task,) = read_json(Path(paths["o_select_cls"]) / "tasks.json")
    assert task["data"]["meta"]["strategy"] == "random"
    assert task["predictions"][0]["result"][0]["type"] == "choices"


def test_train_label_names(paths):
    """--label-names: the classifier learns, keeps in id2label and predicts the names."""
    ok(run_cli("train_classify_label_names", paths))
    config = read_json(Path(paths["o_cls_names"]) / "config.json")
    assert [config["id2label"][str(i)] for i in range(3)] == ["Actor", "Director", "Year"]


def test_version_names_entitune_and_its_engines():
    """``entitune --version`` prints the package's version and the engines beside it, and exits 0."""
    from importlib.metadata import version

    from entitune import __version__

    r = ok(run_cli("version", {}))
    assert r.out.strip() == f"entitune {__version__} (torch {version('torch')}, transformers {version('transformers')}, " \
                            f"onnxruntime {version('onnxruntime')})"


# the meta-tests: every flag is run above, every row of CALLS is used


def _commands(command=None, path=()) -> list[tuple[tuple[str, ...], object]]:
    """Every command under ``command`` (default: the app), groups (``entitune``, ``entitune vocab``)
    and leaves, with its path of names."""
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):  # a group (typer's click is its own copy: no isinstance): its own flags too
        return [(path, command)] + [leaf for name, sub in sorted(command.commands.items())
                                    for leaf in _commands(sub, (*path, name))]
    return [(path, command)]


def _flags(command) -> set[str]:
    return {opt for p in command.params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)
            if opt not in ("--help", "--install-completion", "--show-completion")}


def _called_flags() -> dict[tuple[str, ...], set[str]]:
    """The flags each command path receives in ``CALLS``."""
    leaves = {path for path, _ in _commands()}
    called: dict[tuple[str, ...], set[str]] = {}
    for argv in CALLS.values():
        path = next((p for p in sorted(leaves, key=len, reverse=True) if tuple(argv[:len(p)]) == p), None)
        assert path is not None, f"no command for {argv}"
        called.setdefault(path, set()).update(a.split("=", 1)[0] for a in argv[len(path):] if a.startswith("--"))
    return called


def test_every_flag_of_every_command_is_exercised():
    """Each option (both halves of an ``--x/--no-x`` pair) of each command and subcommand of the
    click tree is passed by some row of ``CALLS``. This FAILS when a flag is added to the CLI without
    a command line here that runs it (and a test that checks what it does): add one."""
    called = _called_flags()
    missing = [f"{' '.join(path)} {flag}" for path, command in _commands()
               for flag in sorted(_flags(command) - called.get(path, set()))]
    assert not missing, "flags no test runs through the CLI: " + ", ".join(missing)
    unknown = [f"{' '.join(path)} {flag}" for path, command in _commands()
               for flag in sorted(called.get(path, set()) - _flags(command))]
    assert not unknown, "CALLS pass flags the commands do not have: " + ", ".join(unknown)


def test_every_call_is_run_by_a_test():
    """Every row of ``CALLS`` is run by name (``run_cli("row", ...)``) somewhere in this module, so a
    flag counted as exercised is really run."""
    tree = ast.parse(Path(__file__).read_text())
    used = {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_cli"
            and node.args and isinstance(node.args[0], ast.Constant)}
    assert used == set(CALLS), f"rows never run: {sorted(set(CALLS) - used)}; unknown: {sorted(used - set(CALLS))}"
