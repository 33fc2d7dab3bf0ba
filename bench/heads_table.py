#!/usr/bin/env python
"""Print the Markdown table of a bench/heads.py result file (used for the README)."""
import json
import sys

runs = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "bench/results/heads_e1.json"))["runs"]
datasets = list(dict.fromkeys(r["dataset"] for r in runs))
names = {"mit": "MIT Movie F1", "conll": "CoNLL-2003 test F1"}
rows = {}
for r in runs:
    key = (r["head"] + ("" if r["constrained"] else " (unconstrained)"), r["features"])
    rows.setdefault(key, {})[r["dataset"]] = r
print("| head | features | " + " | ".join(f"{names.get(d, d)} | invalid | s/epoch" for d in datasets) + " |")
print("| --- | --- | " + " | ".join("--- | --- | ---" for _ in datasets) + " |")
for (head, features), by in rows.items():
    cells = []
    for d in datasets:
        r = by.get(d)
        cells.append(f"{r['test_entity_f1']:.4f} | {r['invalid_sequences']} | {r['train_loop_s_per_epoch']:.1f}" if r else "- | - | -")
    print(f"| {head} | {features} | " + " | ".join(cells) + " |")
