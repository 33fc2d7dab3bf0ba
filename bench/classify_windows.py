#!/usr/bin/env python
"""Reading every window of a long text against reading only the first (what truncation gives): the
accuracy of one trained classifier on the test texts that need more than one window, combining
its windows' log-probabilities (the default), their probabilities, their highest probabilities, or
keeping the first window only. Writes JSON.

  python bench/classify_windows.py MODEL_DIR --test ag_news/test.csv --out bench/results/classify_windows_m32.json   (a model trained with --max-length 32 --stride 8)
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine  # puts src/ on the path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from entitune.backends import load_scorer
    from entitune.data import read_texts
    from entitune.encode import text_windows
    from entitune.evaluate import classification_scores
    from entitune.predict import ClassPredictor

    scorer = load_scorer(args.model, "torch")
    examples = read_texts(args.test).examples
    counts = [0] * len(examples)
    for w in text_windows(scorer.word_encoder, [e.text for e in examples], scorer.settings.pooling):
        counts[w.sentence] += 1
    long = [e for e, n in zip(examples, counts) if n > 1]
    labels = scorer.labels
    gold = [list(e.labels) for e in long]

    # every window's logits, once; then each way of combining them
    per_text: list[list[torch.Tensor]] = []
    predictor = ClassPredictor(scorer, batch_size=64)
    windows = predictor._windows([e.text for e in long])
    _, batches = predictor._plan([e.text for e in long], 1)
    rows: dict[int, list[tuple[int, torch.Tensor]]] = {}
    for idx in batches:
        scores = predictor._score(windows, idx)
        for r, i in enumerate(idx):
            rows.setdefault(windows[i].sentence, []).append((windows[i].first_word, scores[r]))
    per_text = [torch.stack([t for _, t in sorted(rows[k], key=lambda x: x[0])]) for k in range(len(long))]
    ways = {
        "mean_log_probability (default)": lambda z: z.log_softmax(-1).mean(0),
        "mean_probability": lambda z: z.softmax(-1).mean(0),
        "max_probability": lambda z: z.softmax(-1).max(0).values,
        "first_window_only": lambda z: z[0].softmax(-1),
    }
    result = {"script": "bench/classify_windows.py", "machine": machine(), "model": Path(args.model).name,
              "max_length": scorer.settings.max_length, "stride": scorer.settings.stride,
              "test_texts": len(examples), "texts_with_several_windows": len(long),
              "windows_per_long_text": round(sum(n for n in counts if n > 1) / max(1, len(long)), 2), "accuracy": {}}
    for name, way in ways.items():
        pred = [[labels[int(way(z).argmax())]] for z in per_text]
        result["accuracy"][name] = classification_scores(gold, pred, labels)["accuracy"]
    check = ClassPredictor(scorer, batch_size=64).classify([e.text for e in long])
    result["accuracy"]["predictor (windows=all)"] = classification_scores(gold, [list(c.labels) for c in check], labels)["accuracy"]
    first = load_scorer(args.model, "torch")
    first.settings = replace(first.settings, windows="first")
    check = ClassPredictor(first, batch_size=64).classify([e.text for e in long])
    result["accuracy"]["predictor (windows=first)"] = classification_scores(gold, [list(c.labels) for c in check], labels)["accuracy"]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
