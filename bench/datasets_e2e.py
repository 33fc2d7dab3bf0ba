#!/usr/bin/env python
"""End to end on the multilingual and one-file datasets, through the real CLI: doctor, then train,
then the test report. Writes one JSON per dataset with entity F1 (overall, per type), token
micro F1, the tokenizer's [UNK] word share (from doctor), wall time and the exact command.

  python bench/datasets_e2e.py weibo --epochs 5
  python bench/datasets_e2e.py kmou --epochs 3
  python bench/datasets_e2e.py gmb --epochs 1        # seeded 80/10/10 split with 'entitune split'
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

DATA = Path(os.environ.get("ENTITUNE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SETS = {
    "weibo": ("weibo_ner/weiboNER_2nd_conll.train", "weibo_ner/weiboNER_2nd_conll.dev", "weibo_ner/weiboNER_2nd_conll.test"),
    "kmou": ("kmou_ner_2016klp/ner.train", "kmou_ner_2016klp/ner.dev", "kmou_ner_2016klp/ner.test"),
    "gmb": ("gmb_kaggle_ner/ner_dataset.csv", None, None),
}


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], capture_output=True, text=True, env=env)
    sys.stderr.write(r.stderr[-3000:])
    if r.returncode != 0:
        raise SystemExit(f"entitune {args[0]} failed with {r.returncode}")
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(SETS))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--head", default="linear")
    p.add_argument("--model", default=None, help="local checkpoint (default: bundled MiniLM)")
    p.add_argument("--extra", nargs="*", default=[], help="more 'entitune train' options")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = Path(args.out or f"bench/results/{args.dataset}_e{args.epochs}.json")
    work = Path(tempfile.mkdtemp(prefix=f"entitune-{args.dataset}-"))
    train, dev, test = (DATA / f if f else None for f in SETS[args.dataset])
    if dev is None:
        cli("split", train, "--out", work / "split", "--ratios", "0.8,0.1,0.1", "--seed", "42")
        train, dev, test = (work / "split" / f"{n}.conll" for n in ("train", "dev", "test"))
    model = ["--model", args.model] if args.model else []
    cli("doctor", train, dev, test, *model, "--json", work / "doctor.json")
    doctor = json.loads((work / "doctor.json").read_text())
    cmd = ["train", "--train", train, "--dev", dev, "--test", test, "--out", work / "model", "--epochs", str(args.epochs),
           "--head", args.head, *model, *args.extra]
    t0 = time.perf_counter()
    cli(*cmd)
    wall = time.perf_counter() - t0
    log = json.loads((work / "model" / "train_log.json").read_text())
    test_report = log["test"]
    result = {
        "dataset": args.dataset,
        "command": "entitune " + " ".join(map(str, cmd)),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "encoder": log["model"]["encoder"],
        "epochs": args.epochs,
        "head": args.head,
        "sentences": {f["path"]: f["sentences"] for f in doctor["files"]},
        "unk_word_share": {f["path"]: f["unk_words"]["share"] for f in doctor["files"]},
        "sentences_needing_windows": {f["path"]: f["subword_lengths"]["sentences_needing_windows"] for f in doctor["files"]},
        "entity": test_report["entity"],
        "per_type": test_report["per_type"],
        "token_micro_f1": test_report["token_micro_f1"],
        "words_untagged": test_report["words_untagged"],
        "invalid_sequences": test_report["invalid_sequences"],
        "train_seconds": log["train"]["train_seconds"],
        "subwords_per_s": log["train"]["subwords_per_s"],
        "best_epoch": log["train"]["best_epoch"],
        "wall_seconds": wall,
        "nproc": os.cpu_count(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: result[k] for k in ("dataset", "entity", "token_micro_f1", "unk_word_share", "train_seconds")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
