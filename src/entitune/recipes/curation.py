"""``audit`` and ``select``: better data and fewer labels, callable from Python with the same result
as ``entitune audit`` and ``entitune select``.

``audit`` reads top to bottom: the task (the model's, else the file's) -> with ``fix_from``, the
corrected copy and nothing else -> the labelled file -> each example's probabilities: from
``model``, or by cross-prediction (the examples cut into ``folds`` seeded folds; for each, the
other folds written to ``OUT/folds/K/train.*`` and a model trained on them with the train options,
``finetune`` into ``OUT/folds/K/model`` with ``resume`` so a run again reuses the finished folds;
then the fold's examples predicted with it) -> cleanlab's ranking (``curate.audit``) ->
``issues.jsonl``, ``summary.json``, ``audit.html`` and the summary on stdout.

``select`` reads: the pool (``curate.pool``) -> the model's uncertainty of each input
(``curate.select``), the order, with diversity and the cap per document -> the model's
pre-annotations of the chosen inputs -> ``tasks.json`` (Label Studio), ``selected.jsonl`` (span
JSONL, or text and label) and ``label_config.xml``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from ..artifact import model_dir
from ..artifact.archive import model_directory
from ..curate import audit as audit_ranking
from ..curate.fix import (corrected_entities, corrected_texts, entity_fixes, read_reviewed, text_fixes)
from ..curate.labelstudio import class_task, entity_task, label_config
from ..curate.pool import read_pool
from ..curate.probabilities import WordDistributions, mean_pooled
from ..curate.select import capped, class_uncertainty, diverse, rank, sequence_uncertainty
from ..data import sniff_format, sniff_task, write_sentences
from ..data.texts import sniff_text_format
from ..errors import ConfigError
from ..files import atomic_write_text
from ..options import FinetuneConfig, build_config
from ..options.curation import AuditConfig, FOLD_SET, SelectConfig
from ..options.inference import SCORING_BATCH, SCORING_PRECISION
from ..options.training import label_map
from ..report.audit import build_audit_page
from ..terminal import Console
from .common import load_data, read_labelled_texts

#: line-per-word formats, where an issue's line is its first word's
LINE_PER_WORD = ("conll", "bio", "weibo")
ISSUES_FILE, SUMMARY_FILE, PAGE_FILE = "issues.jsonl", "summary.json", "audit.html"
TASKS_FILE, SELECTED_FILE, CONFIG_FILE = "tasks.json", "selected.jsonl", "label_config.xml"


@dataclass
class AuditResult:
    """What ``audit`` wrote: the issues (ranked), their summary, and the files."""

    issues: list[dict]
    summary: dict
    out: Path


def _read_options(config: AuditConfig) -> tuple[str, str | None, str | None]:
    """How DATA is read: the audit's own format and columns, else the train options' (a train config
    file that names them)."""
    base = config.train_options
    return (config.format if config.format != "auto" else base.get("format", "auto"),
            config.text_columns or base.get("text_columns"), config.label_column or base.get("label_column"))


def _task(config: AuditConfig) -> str:
    if config.model is not None:
        settings, _ = model_dir.read_settings(model_directory(config.model))
        return settings.task
    task = config.train_options.get("task", "auto")
    return sniff_task(config.data) if task == "auto" else task


def audit(config: AuditConfig, console: Console | None = None) -> AuditResult | Path:
    """Rank the likely annotation errors of ``config.data`` (see the module docstring); with
    ``fix_from``, write the corrected copy and return its path."""
    console = console or Console()
    task = _task(config)
    if config.fix_from is not None:
        return _fix(config, task, console)
    audit_ranking.require_cleanlab()  # before any training
    fmt, text_columns, label_column = _read_options(config)
    out = Path(config.out)
    if task == "ner":
        data = load_data(config.data, fmt, console)
        examples = data.sentences
        fmt = sniff_format(config.data) if fmt == "auto" else fmt
    else:
        names = label_map(config.train_options["label_names"]) if config.train_options.get("label_names") else None
        texts = read_labelled_texts(config.data, fmt, text_columns, label_column, names)
        if texts.multi_label:
            raise ConfigError(f"{config.data}: audit ranks single-label texts; this file is multi-label")
        examples = texts.examples
    how = (f"judged by {config.model}" if config.model is not None else
           f"cross-prediction: each of {config.folds} seeded folds judged by a model trained on the others")
    console.note(f"audit of {len(examples)} {'sentences' if task == 'ner' else 'texts'} in {config.data}: {how}")
    predicted = (_judge(config.model, task, examples, config.train_options.get("device", "auto")) if config.model is not None
                 else _cross_predict(config, task, examples, out, console))
    if task == "ner":
        types = sorted({audit_ranking.word_class(t) for s in examples for t in s.tags or ()} - {"O"})
        classes = ["O", *types]
        tags = [p[0] for p in predicted]
        probs = [audit_ranking.class_probabilities(p[1], p[2], classes) for p in predicted]
        issues = audit_ranking.entity_issues(examples, tags, probs, classes)
        kinds = audit_ranking.ENTITY_CLASSES
    else:
        classes = sorted({e.labels[0] for e in examples})
        import numpy as np

        probs = np.array([[p.get(c, 0.0) for c in classes] for p in predicted], dtype=np.float64)
        issues = audit_ranking.class_issues(examples, probs, classes)
        kinds = (audit_ranking.TEXT_CLASS,)
    name = Path(config.data).name
    exact_lines = task == "ner" and fmt in LINE_PER_WORD
    for k, issue in enumerate(issues, start=1):
        example = examples[issue["sentence" if task == "ner" else "index"]]
        start = (issue["given"] or issue["suggested"])["start"] if task == "ner" else 0
        line = example.line + start if exact_lines else example.line
        issues[k - 1] = {"id": k, "file": name, "line": line, **issue, "review": None}
    summary = {"data": str(config.data), "task": task, "how": how, "examples": len(examples),
               **audit_ranking.summary(issues)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in issues), out / ISSUES_FILE)
    atomic_write_text(json.dumps(summary, indent=2) + "\n", out / SUMMARY_FILE)
    atomic_write_text(build_audit_page(title=name, task=task, issues=issues, summary=summary, classes=kinds, how=how),
                      out / PAGE_FILE)
    console.result(audit_ranking.format_summary(summary, kinds))
    console.result(f"issues: {out / ISSUES_FILE} (ranked, likeliest first); review them on {out / PAGE_FILE}")
    return AuditResult(issues, summary, out)


def _judge(model: str, task: str, examples, device: str) -> list:
    """Each example's prediction by ``model``: (IOB2 tags, probabilities, the model's labels) per
    sentence, or a class -> probability dict per text."""
    from .. import load

    predictor = load(model, batch_size=SCORING_BATCH, device=device, precision=SCORING_PRECISION)
    if task == "ner":
        if predictor.scorer.settings.task != "ner":
            raise ConfigError(f"{model} is a classifier; the file holds tagged sentences")
        found = WordDistributions(predictor.scorer, batch_size=SCORING_BATCH).distributions([s.words for s in examples])
        labels = tuple(predictor.scorer.labels)
        return [(d.tagged.tags, d.probs, labels) for d in found]
    if predictor.scorer.settings.task != "classify":
        raise ConfigError(f"{model} is a tagger; the file holds labelled texts")
    return [a.scores for a in predictor.classify([e.text for e in examples])]


def fold_assignment(n: int, folds: int, seed: int) -> list[int]:
    """The fold of each of ``n`` examples: a seeded shuffle dealt round, so folds differ in size by
    at most one.

    >>> sorted(fold_assignment(7, 3, 0)) == [0, 0, 0, 1, 1, 2, 2]
    True
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold = [0] * n
    for k, i in enumerate(order):
        fold[i] = k % folds
    return fold


def _cross_predict(config: AuditConfig, task: str, examples, out: Path, console: Console) -> list:
    """Each example's prediction by the model of the folds it is not in (see the module docstring)."""
    if len(examples) < config.folds:
        raise ConfigError(f"{config.data} has {len(examples)} examples, fewer than --folds {config.folds}")
    fold_of = fold_assignment(len(examples), config.folds, config.seed)
    base = {k: v for k, v in config.train_options.items() if k not in FOLD_SET | {"format", "text_columns", "label_column"}}
    predicted: list = [None] * len(examples)
    for fold in range(config.folds):
        held = [i for i in range(len(examples)) if fold_of[i] == fold]
        rest = [examples[i] for i in range(len(examples)) if fold_of[i] != fold]
        directory = out / "folds" / str(fold)
        directory.mkdir(parents=True, exist_ok=True)
        if task == "ner":
            train_file, text, fmt = directory / "train.conll", write_sentences(rest, "conll"), "conll"
        else:
            train_file, fmt = directory / "train.jsonl", "jsonl"
            text = "".join(json.dumps({"text": e.text, "label": e.labels[0]}, ensure_ascii=False) + "\n" for e in rest)
        atomic_write_text(text, train_file)
        values = {"seed": config.seed, **base, "task": task, "train": str(train_file), "format": fmt,
                  "out": str(directory / "model"),
                  "resume": (directory / "model").exists()}  # a fold trained (or begun) before: reused
        fold_config = build_config(FinetuneConfig, values, "train options")
        console.note(f"fold {fold + 1}/{config.folds}: training on {len(rest)}, judging {len(held)}")
        from .training import finetune

        finetune(fold_config, console)
        judged = _judge(str(directory / "model"), task, [examples[i] for i in held], base.get("device", "auto"))
        for i, p in zip(held, judged):
            predicted[i] = p
    return predicted


def _fix(config: AuditConfig, task: str, console: Console) -> Path:
    """The corrected copy of ``config.data`` with the accepted issues of ``config.fix_from``."""
    fmt, text_columns, label_column = _read_options(config)
    accepted = read_reviewed(config.fix_from)
    data_path = str(config.data)
    if task == "ner":
        data = load_data(data_path, fmt, console)
        fmt = sniff_format(data_path) if fmt == "auto" else fmt
        fixes = entity_fixes(data.sentences, accepted, str(config.fix_from), data_path)
        text = corrected_entities(data_path, fmt, data.scheme, data.sentences, fixes)
    else:
        examples = read_labelled_texts(data_path, fmt, text_columns, label_column).examples
        fmt = sniff_text_format(data_path) if fmt == "auto" else fmt
        fixes = text_fixes(examples, accepted, str(config.fix_from), data_path)
        text = corrected_texts(data_path, fmt, examples, fixes,
                               [c.strip() for c in text_columns.split(",")] if text_columns else None, label_column)
    source = Path(data_path)
    target = Path(config.out) / f"{source.stem}.fixed{source.suffix}"
    if target.resolve() == source.resolve():
        raise ConfigError(f"{target} is the audited file itself; give another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text, target)
    console.result(f"{len(accepted)} accepted issues applied to {sum(1 for _ in fixes)} "
                   f"{'sentences' if task == 'ner' else 'texts'}: {target} ({data_path} is unchanged)")
    return target


# ------------------------------------------------------------------------------------- select


def select(config: SelectConfig, console: Console | None = None) -> dict:
    """Pick ``config.n`` inputs of the pool to annotate next (see the module docstring); returns the
    summary (also written with ``json_out``)."""
    from .. import load

    console = console or Console()
    items = read_pool(config.pool, config.format)
    predictor = load(config.model, batch_size=config.batch_size, precision=SCORING_PRECISION, device="auto")
    settings = predictor.scorer.settings
    task = settings.task
    rng = random.Random(config.seed)
    inputs = [it.text if it.text is not None else list(it.words) for it in items]
    if task == "ner":
        found = WordDistributions(predictor.scorer, batch_size=config.batch_size).distributions(
            [it.words for it in items])
        uncertainty = [0.0 if config.strategy == "random" else
                       sequence_uncertainty(config.strategy, d.probs, d.tagged.scores) for d in found]
    else:
        import numpy as np

        answers = predictor.classify([x if isinstance(x, str) else " ".join(x) for x in inputs])
        uncertainty = [0.0 if config.strategy == "random" else
                       class_uncertainty(config.strategy, np.array([a.scores[c] for c in settings.labels]))
                       for a in answers]
    order = rank(uncertainty)
    if config.strategy == "random":
        rng.shuffle(order)
    docs = [it.doc for it in items]
    n = min(config.n, len(items))
    if config.diversity and config.strategy != "random":
        vectors = mean_pooled(predictor.scorer, [it.words for it in items], config.batch_size)
        chosen = diverse(order, uncertainty, vectors, n, config.seed, docs, config.per_doc)
    else:
        chosen = capped(order, n, docs, config.per_doc)
    version = f"entitune {Path(config.model).name}"
    tasks, lines = [], []
    if task == "ner":
        predictions = predictor.predict([inputs[i] for i in chosen])
        for r, (i, p) in enumerate(zip(chosen, predictions), start=1):
            item = items[i]
            meta = {"rank": r, "uncertainty": round(uncertainty[i], 6), "line": item.line, "strategy": config.strategy,
                    **{k: v for k, v in item.fields.items() if k not in ("text", "tokens", "data")}}
            task_json = entity_task(p, meta, version, 1.0 - min(uncertainty[i], 1.0))
            if "data" in item.fields:  # a Label Studio task keeps its own data fields
                task_json["data"] = {**item.fields["data"], **task_json["data"]}
            tasks.append(task_json)
            lines.append({"text": p.text, "entities": [{"start": e.start, "end": e.end, "label": e.label,
                                                        "score": round(float(e.score), 6)} for e in p.entities], **meta})
        labels = sorted({label.split("-", 1)[1] for label in settings.labels if label != "O"})
    else:
        for r, i in enumerate(chosen, start=1):
            item, answer = items[i], answers[i]
            text = inputs[i] if isinstance(inputs[i], str) else " ".join(inputs[i])
            meta = {"rank": r, "uncertainty": round(uncertainty[i], 6), "line": item.line, "strategy": config.strategy,
                    **{k: v for k, v in item.fields.items() if k not in ("text", "tokens", "data")}}
            tasks.append(class_task(text, answer, meta, version, 1.0 - min(uncertainty[i], 1.0)))
            lines.append({"text": text, "label": answer.label, "score": round(float(answer.score), 6), **meta})
        labels = list(settings.labels)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", out / TASKS_FILE)
    atomic_write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), out / SELECTED_FILE)
    atomic_write_text(label_config(labels, task) + "\n", out / CONFIG_FILE)
    picked = [uncertainty[i] for i in chosen]
    summary = {"pool": len(items), "selected": len(chosen), "strategy": config.strategy, "diversity": config.diversity,
               "per_doc": config.per_doc, "mean_uncertainty_selected": round(sum(picked) / max(1, len(picked)), 6),
               "mean_uncertainty_pool": round(sum(uncertainty) / max(1, len(uncertainty)), 6),
               "files": {"tasks": str(out / TASKS_FILE), "selected": str(out / SELECTED_FILE),
                         "label_config": str(out / CONFIG_FILE)}}
    if config.json_out:
        atomic_write_text(json.dumps(summary, indent=2) + "\n", config.json_out)
    console.result(f"selected {len(chosen)} of {len(items)} inputs by {config.strategy}"
                   + (" with diversity" if config.diversity else "")
                   + (f", at most {config.per_doc} a document" if config.per_doc else "")
                   + (f"; mean uncertainty {summary['mean_uncertainty_selected']:.4f} (pool "
                      f"{summary['mean_uncertainty_pool']:.4f})" if config.strategy != "random" else ""))
    console.result(f"Label Studio tasks with pre-annotations: {out / TASKS_FILE} (labelling config: {out / CONFIG_FILE}); "
                   f"JSONL: {out / SELECTED_FILE}")
    return summary


__all__ = ["AuditConfig", "AuditResult", "SelectConfig", "audit", "fold_assignment", "select"]
