#!/usr/bin/env python
"""Benchmark: how many planted annotation errors ``entitune audit`` finds. Corrupts --rate of a
labelled file (seeded) and audits the result by cross-prediction (--folds models, each trained on
the other folds with the train options), then scores the top K issues of the ranking, K the number
of corruptions: recall (the share of corruptions that a top-K issue points at) and precision (the
share of top-K issues that point at a corruption), overall and per class.

NER (MIT Movie train): --rate of the entities are corrupted, a seeded even mix of four kinds, each
expected as one audit class: a type swap (``wrong_type``), a boundary shift by one word at either
end (``wrong_boundary``), a deletion (``missing_entity``) and a spurious addition of a one- or
two-word entity of a random type on words outside any entity (``spurious_entity``; these are
counted among the corruptions, so --rate of the entity count is corrupted in all). An issue
points at a corruption when it is in the same sentence and its words overlap the corrupted span
(the original's or the new one's); it finds it "with the class" when its class is the expected one.

Classification (AG News train): --rate of the labels flipped to another class, seeded.

  cd bench && python audit_noise.py --task ner --out results/audit_noise_mit.json
  cd bench && python audit_noise.py --task classify --limit 4000 --set epochs=1 --out results/audit_noise_ag_news.json

--limit takes a seeded sample of the file first; --set NAME=VALUE passes an 'entitune train' option
to the folds' models (default: train's options, 5 folds).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import data_root, machine  # noqa: E402  (puts src/ on the path)

KINDS = {"type_swap": "wrong_type", "boundary_shift": "wrong_boundary", "deletion": "missing_entity",
         "spurious_addition": "spurious_entity"}


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def corrupt_entities(sentences, rate: float, rng: random.Random):
    """The sentences with ``rate`` of their entity count corrupted (see the module docstring), and
    one record per corruption: sentence, kind, the original span and the new one (or None)."""
    from entitune.tags import spans_from_tags, tags_from_spans
    from entitune.types import Span

    spans = [list(spans_from_tags(s.tags)) for s in sentences]
    types = sorted({x.label for row in spans for x in row})
    entities = [(i, x) for i, row in enumerate(spans) for x in row]
    total = round(rate * len(entities))
    kinds = [list(KINDS)[k % 4] for k in range(total)]
    rng.shuffle(kinds)
    touched: set[int] = set()
    records = []
    candidates = entities[:]
    rng.shuffle(candidates)
    for kind in kinds:
        if kind == "spurious_addition":
            for _ in range(1000):
                i = rng.randrange(len(sentences))
                n = len(sentences[i].words)
                width = rng.choice((1, 2))
                start = rng.randrange(max(1, n - width + 1))
                new = Span(start, min(n, start + width), rng.choice(types))
                free = all(new.end <= x.start or x.end <= new.start for x in spans[i])
                if i not in touched and free and n:
                    # not beside an entity either: a new span next to one would read as a boundary shift
                    if all(new.end != x.start and x.end != new.start for x in spans[i]):
                        spans[i].append(new)
                        touched.add(i)
                        records.append({"sentence": i, "kind": kind, "original": None, "new": new})
                        break
            continue
        while candidates:
            i, x = candidates.pop()
            if i in touched:
                continue
            n = len(sentences[i].words)
            others = [y for y in spans[i] if y != x]
            if kind == "type_swap":
                new = Span(x.start, x.end, rng.choice([t for t in types if t != x.label]))
            elif kind == "deletion":
                new = None
            else:
                options = [Span(x.start - 1, x.end, x.label), Span(x.start, x.end + 1, x.label)]
                if x.end - x.start > 1:
                    options += [Span(x.start + 1, x.end, x.label), Span(x.start, x.end - 1, x.label)]
                options = [o for o in options if 0 <= o.start < o.end <= n
                           and all(o.end <= y.start or y.end <= o.start for y in others)]
                if not options:
                    continue
                new = rng.choice(options)
            spans[i] = others + ([new] if new is not None else [])
            touched.add(i)
            records.append({"sentence": i, "kind": kind, "original": x, "new": new})
            break
    out = [replace(s, tags=tuple(tags_from_spans(sorted(spans[i], key=lambda y: y.start), len(s.words))))
           if i in touched else s for i, s in enumerate(sentences)]
    return out, records


def score_entities(issues: list[dict], records: list[dict]) -> dict:
    """Top-K recall and precision, overall and per kind (see the module docstring)."""
    k = len(records)
    top = issues[:k]

    def overlaps(issue, record) -> bool:
        if issue["sentence"] != record["sentence"]:
            return False
        spans = [s for s in (issue["given"], issue["suggested"]) if s]
        marks = [s for s in (record["original"], record["new"]) if s is not None]
        return any(a["start"] < b.end and b.start < a["end"] for a in spans for b in marks)

    found = [next((x for x in top if overlaps(x, r)), None) for r in records]
    pointing = [any(overlaps(x, r) for r in records) for x in top]
    per_kind = {}
    for kind, expected in KINDS.items():
        idx = [j for j, r in enumerate(records) if r["kind"] == kind]
        per_kind[kind] = {"planted": len(idx), "expected_class": expected,
                          "recall": round(sum(found[j] is not None for j in idx) / max(1, len(idx)), 4),
                          "recall_with_class": round(sum(found[j] is not None and any(
                              overlaps(x, records[j]) and x["kind"] == expected for x in top) for j in idx)
                                                     / max(1, len(idx)), 4)}
    per_class = {}
    for cls in sorted({x["kind"] for x in top}):
        mine = [p for x, p in zip(top, pointing) if x["kind"] == cls]
        per_class[cls] = {"in_top_k": len(mine), "precision": round(sum(mine) / max(1, len(mine)), 4)}
    return {"k": k, "recall": round(sum(f is not None for f in found) / max(1, k), 4),
            "precision": round(sum(pointing) / max(1, len(top)), 4), "per_corruption": per_kind,
            "per_issue_class": per_class, "issues": len(issues)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=("ner", "classify"), default="ner")
    p.add_argument("--rate", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--limit", type=int, default=None, help="audit a seeded sample of this many examples")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an 'entitune train' option")
    p.add_argument("--keep", default=None, help="keep the audit's directory (folds, issues) here")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from entitune.data import load_annotated, read_texts, write_sentences
    from entitune.options import AuditConfig
    from entitune.recipes.curation import audit
    from entitune.terminal import Console

    rng = random.Random(args.seed)
    options = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="audit-noise-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.task == "ner":
            sentences = load_annotated(data_root() / "mit_movie_eng" / "engtrain.bio").sentences
            if args.limit:
                sentences = random.Random(args.seed).sample(sentences, min(args.limit, len(sentences)))
            noisy, records = corrupt_entities(sentences, args.rate, rng)
            data = work / "noisy.conll"
            data.write_text(write_sentences(noisy, "conll"))
        else:
            examples = read_texts(data_root() / "ag_news" / "train.csv", "csv").examples
            if args.limit:
                examples = random.Random(args.seed).sample(examples, min(args.limit, len(examples)))
            classes = sorted({e.labels[0] for e in examples})
            flipped = rng.sample(range(len(examples)), round(args.rate * len(examples)))
            records = []
            for i in flipped:
                new = rng.choice([c for c in classes if c != examples[i].labels[0]])
                records.append({"index": i, "original": examples[i].labels[0], "new": new})
                examples[i] = replace(examples[i], labels=(new,))
            data = work / "noisy.jsonl"
            data.write_text("".join(json.dumps({"text": e.text, "label": e.labels[0]}) + "\n" for e in examples))
        result = audit(AuditConfig(data=str(data), out=str(work / "audit"), folds=args.folds, seed=args.seed,
                                   base=options), Console())
        issues = result.issues
    if args.task == "ner":
        scores = score_entities(issues, records)
        size = {"sentences": len(sentences), "entities": sum(1 for s in sentences for t in s.tags if t.startswith("B-")),
                "corrupted": len(records), "by_kind": dict(Counter(r["kind"] for r in records))}
    else:
        k = len(records)
        top = {x["index"] for x in issues[:k]}
        planted = {r["index"] for r in records}
        scores = {"k": k, "recall": round(len(top & planted) / max(1, k), 4),
                  "precision": round(len(top & planted) / max(1, len(top)), 4), "issues": len(issues),
                  "flagged": sum(x["flagged"] for x in issues),
                  "recall_of_flagged": round(len({x["index"] for x in issues if x["flagged"]} & planted) / max(1, k), 4)}
        size = {"texts": len(examples), "flipped": k}
    out = Path(args.out)
    report = {"what": f"audit of {'MIT Movie train' if args.task == 'ner' else 'AG News train'} with "
                      f"{args.rate:.0%} planted errors, top-K (K = planted) by cleanlab's ranking",
              "task": args.task, "rate": args.rate, "seed": args.seed, "folds": args.folds, "limit": args.limit,
              "train_options": options, "data": size, "scores": scores, "summary": result.summary,
              "wall_s": round(time.perf_counter() - started, 1), "machine": machine()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
