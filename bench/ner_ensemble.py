#!/usr/bin/env python
"""How far apart several trained taggers of one recipe are, and what combining them would give: each
model alone, their logit ensemble (the mean of their per-word log-softmax scores, decoded once with
the first model's head and constraints), and a weight soup (their weights averaged into one model),
all scored in fp32 (as a training run scores its test file) on one annotated file with entity F1
(strict) and token micro F1; and each model's token micro F1 when every word takes its own
highest-scoring label (argmax, no transition constraints: for a softmax head the decoder that
maximises expected word accuracy).

  python bench/ner_ensemble.py TEST_FILE MODEL MODEL [MODEL ...] --out RESULTS.json

A question for the accuracy work, not a feature: entitune has no ensemble. If the ensemble of a
recipe's seeds scores no better than its best seed, what is left lies beyond the recipe (the
encoder, or the labels), not in its seed. The models must share their labels and word encoding.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import machine  # noqa: E402  (puts src on the path)


def _scores(model: str, sentences: list, batch_size: int):
    """A model's merged per-word scores (one (words, labels) tensor per sentence) and its predictor."""
    from entitune.backends import load_scorer
    from entitune.predict.predictor import Predictor

    class Capturing(Predictor):
        """A Predictor that keeps the per-sentence scores it decodes (in ``captured``, set below)."""

        def _decode(self, sentences, merged):  # noqa: ANN001 - Predictor's own signature
            self.captured.extend(merged)
            return super()._decode(sentences, merged)

    predictor = Capturing(load_scorer(model, "torch", None, "cpu", "fp32"), batch_size=batch_size)
    predictor.captured = []
    tagged = predictor.tag(sentences)
    return predictor, tagged, predictor.captured


def _report(gold: list, tagged: list) -> dict:
    from entitune.evaluate.metrics import entity_scores, token_micro_f1

    pred = [t.tags for t in tagged]
    return {"entity_f1": entity_scores(gold, pred)["entity"]["f1"], "token_micro_f1": token_micro_f1(gold, pred)}


def _soup(models: list[str], out: Path) -> None:
    """The models' weights averaged into ``out`` (a copy of the first model's directory)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(models[0], out, ignore=shutil.ignore_patterns("tensorboard", "checkpoints"))
    states = [load_file(Path(m) / "model.safetensors") for m in models]
    mean = {k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[0].items()}
    save_file(mean, out / "model.safetensors", metadata={"format": "pt"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test")
    p.add_argument("models", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    if len(args.models) < 2:
        p.error("give at least two models")

    import torch

    from entitune.data import read_sentences

    t0 = time.perf_counter()
    sentences = read_sentences(args.test)
    words, gold = [s.words for s in sentences], [s.tags for s in sentences]
    results: dict = {"script": "bench/ner_ensemble.py", "test": args.test, "machine": machine(), "alone": {}}
    runs = [_scores(m, words, args.batch_size) for m in args.models]
    from entitune.evaluate.metrics import token_micro_f1

    for model, (predictor, tagged, scores) in zip(args.models, runs):
        results["alone"][model] = _report(gold, tagged)
        # each word's own best label, no constraints: what maximises expected word accuracy for a softmax head
        labels = predictor.scorer.labels
        argmax = [[labels[i] for i in x.argmax(-1).tolist()] for x in scores]
        results["alone"][model]["argmax_token_micro_f1"] = token_micro_f1(gold, argmax)
        print(model, results["alone"][model], flush=True)
    # shape: per sentence (words, labels); the mean of the models' log-probabilities
    mean = [sum(torch.log_softmax(r[2][i].float(), -1) for r in runs) / len(runs) for i in range(len(words))]
    results["logit_ensemble"] = _report(gold, runs[0][0]._decode(words, mean))
    print("logit ensemble", results["logit_ensemble"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        _soup(args.models, Path(tmp) / "soup")
        _, tagged, _ = _scores(str(Path(tmp) / "soup"), words, args.batch_size)
        results["weight_soup"] = _report(gold, tagged)
    print("weight soup", results["weight_soup"], flush=True)
    results["seconds"] = time.perf_counter() - t0
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
