#!/usr/bin/env python
"""Domain adaptation ablation: vocabulary extension and masked-LM pretraining on the training text
(task-adaptive; the test text is never used), each on and off, then fine-tuning with the same
epochs as the baselines (Weibo 5, KMOU 3); test entity F1 and [UNK] share per variant.

  python bench/domain_ablation.py --data DATA_DIR --out bench/results/domain_ablation_gpu.json \
      [--model BASE] [--sets weibo,kmou] [--pretrain-epochs 20,10] [--device cuda] [--precision fp32]

Variants: ``neither`` (the base encoder), ``extension`` (``vocab extend --add-from train dev
--min-count 1``), ``pretraining`` (``pretrain --text train dev`` on the base), ``both`` (pretraining
on the extended encoder). The results file is rewritten after each run, so a stopped run keeps what
it finished.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

SETS = {
    "weibo": {"dir": "weibo_ner", "train": "weiboNER_2nd_conll.train", "dev": "weiboNER_2nd_conll.dev",
              "test": "weiboNER_2nd_conll.test", "epochs": 5},
    "kmou": {"dir": "kmou_ner_2016klp", "train": "ner.train", "dev": "ner.dev", "test": "ner.test", "epochs": 3},
    # English: no vocabulary to add; pretraining on the training text alone, as the ablation asks
    "wnut": {"dir": "wnut17", "train": "wnut17train.conll", "dev": "emerging.dev.conll",
             "test": "emerging.test.annotated", "epochs": 3, "pretrain_text": ("train",)},
}
VARIANTS = ("neither", "extension", "pretraining", "both")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--sets", default="weibo,kmou")
    p.add_argument("--pretrain-epochs", default="20,10", help="per set, in --sets order")
    p.add_argument("--pretrain-lr", type=float, default=2e-4)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--work", default="/tmp/entitune-ablation")
    p.add_argument("--max-sentences", type=int, default=0, help="first N of each file (a quick check)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="which of neither,extension,pretraining,both")
    p.add_argument("--init", default="mean", choices=("mean", "random"), help="new embedding rows (vocab extend --init)")
    args = p.parse_args()

    from entitune.recipes import Console, FinetuneConfig, finetune
    from entitune.recipes.data_tools import doctor
    from entitune.recipes.pretrain import pretrain
    from entitune.options import PretrainConfig
    from entitune.recipes.vocab import vocab_extend

    quiet = Console(quiet=True)
    work = Path(args.work)
    out_file = Path(args.out)
    results: dict = {"script": "bench/domain_ablation.py", "argv": sys.argv[1:], "sets": {}}
    import torch

    results["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu" else "cpu"

    def save() -> None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(results, indent=1) + "\n")

    for name, pt_epochs in zip(args.sets.split(","), [int(e) for e in args.pretrain_epochs.split(",")]):
        spec = SETS[name]
        files = {k: Path(args.data) / spec["dir"] / spec[k] for k in ("train", "dev", "test")}
        if args.max_sentences:
            files = {k: _head(v, args.max_sentences, work / name / "data") for k, v in files.items()}
        record = results["sets"].setdefault(name, {"files": {k: str(v) for k, v in files.items()},
                                                   "finetune_epochs": spec["epochs"], "pretrain_epochs": pt_epochs,
                                                   "variants": {}})
        variants = [v for v in args.variants.split(",") if v]
        record["init"] = args.init
        text = [str(files[k]) for k in spec.get("pretrain_text", ("train", "dev"))]
        record["pretrain_text"] = text
        base = args.model
        encoders = {"neither": base}
        ext_dir = work / name / "extended"
        if {"extension", "both"} & set(variants):
            t0 = time.perf_counter()
            record["extension"] = vocab_extend([files["train"], files["dev"]], out=ext_dir, model=base, max_new=3000,
                                               min_count=1, init=args.init, console=quiet)
            record["extension_s"] = time.perf_counter() - t0
            record["extension"] = {k: v for k, v in record["extension"].items() if k != "tokens"}
            encoders["extension"] = str(ext_dir)
        for variant, start in (("pretraining", base), ("both", str(ext_dir))):
            if variant not in variants:
                continue
            t0 = time.perf_counter()
            pt_dir = work / name / f"mlm-{variant}"
            pt = pretrain(PretrainConfig(text=text, out=str(pt_dir), model=start,
                                         epochs=pt_epochs, lr=args.pretrain_lr, dev_fraction=0.05, device=args.device,
                                         precision=args.precision), quiet)
            record.setdefault("pretraining", {})[variant] = {"seconds": time.perf_counter() - t0,
                                                             "epochs": _mlm_epochs(pt.log)}
            encoders[variant] = str(pt_dir)
            save()
        for variant in variants:
            t0 = time.perf_counter()
            run = finetune(FinetuneConfig(train=str(files["train"]), dev=str(files["dev"]), test=str(files["test"]),
                                          out=str(work / name / f"ner-{variant}"), model=encoders[variant],
                                          epochs=spec["epochs"], device=args.device, precision=args.precision), quiet)
            unk = _unk_share(doctor, encoders[variant], files["test"])
            record["variants"][variant] = {"encoder": encoders[variant], "test_entity": run.test["entity"],
                                           "test_token_micro_f1": run.test.get("token_micro_f1"),
                                           "test_unk_word_share": unk, "seconds": time.perf_counter() - t0}
            print(name, variant, run.test["entity"], "unk", unk, flush=True)
            save()
    save()


def _mlm_epochs(log: dict) -> list:
    return [{"epoch": e.get("epoch"), "loss": e.get("train_loss"), "dev": e.get("dev")}
            for e in log.get("train", {}).get("epochs", [])]


def _unk_share(doctor, model, test) -> float:
    from entitune.recipes import Console

    report = doctor([str(test)], model=model, console=Console(quiet=True))
    return report["files"][0]["unk_words"]["share"]


def _head(path: Path, n: int, folder: Path) -> Path:
    """The first ``n`` sentences (blank-line separated) of ``path``, written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = path.read_text(encoding="utf-8").split("\n\n")[:n]
    out = folder / path.name
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
