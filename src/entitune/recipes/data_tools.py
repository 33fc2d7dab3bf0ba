"""Recipes over data files: ``doctor`` (a report before training), ``convert`` (format and scheme)
and ``split`` (seeded train/dev/test of one file)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..data import sniff_task, split_three, write_sentences
from ..files import check_input_file
from ..curate import diagnose, diagnose_texts, format_doctor, format_text_doctor, word_encoder_for
from ..tags import from_iob2
from .common import load_data, text_options
from ..options import ConvertConfig, DoctorConfig, SplitConfig
from ..terminal import Console

SUFFIXES = {"conll": "conll", "bio": "bio", "jsonl": "jsonl", "jsonl-spans": "jsonl"}


def doctor(config: DoctorConfig, console: Console | None = None) -> dict:
    """Check annotated files (the first taken as train) of either task against a tokenizer; print
    and return the report. ``compare``: a second checkpoint whose ``[UNK]`` share and sub-words per
    sentence are reported beside ``model``'s (the base of a ``vocab extend`` against the result)."""
    console = console or Console()
    data, model, max_length, format, compare = list(config.data), config.model, config.max_length, config.format, config.compare
    text_columns, label_column, task = config.text_columns, config.label_column, config.task
    for path in data:  # every file before the tokenizer loads: a FIFO or a device fails at once
        check_input_file(path)
    # both tokenizers before any data is read: a Hub name that is not there fails first
    encoder, path = word_encoder_for(model, max_length)
    other, other_path = word_encoder_for(compare, max_length) if compare is not None else (None, "")
    task = sniff_task(data[0]) if task == "auto" else task

    def run(encoder):
        if task == "classify":
            return diagnose_texts(data, encoder, *text_options(format, text_columns), label_column)
        return diagnose(data, format, encoder)

    report = run(encoder)
    text = format_text_doctor(report) if task == "classify" else format_doctor(report)
    if other is not None:
        text += "\n\n" + _compare_tokenizers(report, run(other), other_path, path)
    report["task"] = task
    report["model"] = path
    console.result(text)
    if config.json_out is not None:
        Path(config.json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def _compare_tokenizers(report: dict, other: dict, other_path: str, path: str) -> str:
    """Add each file's ``[UNK]`` share and sub-words per sentence under ``other_path`` to ``report``
    (``unk_words.compare``) and say them side by side."""
    lines = [f"[UNK] words and sub-words per sentence: {other_path} (--compare) -> {path} (--model)"]
    for mine, theirs in zip(report["files"], other["files"]):
        u, v = theirs["unk_words"], mine["unk_words"]
        s, t = theirs["subword_lengths"]["mean"], mine["subword_lengths"]["mean"]
        mine["unk_words"]["compare"] = {"model": str(other_path), "count": u["count"], "share": u["share"],
                                        "subwords_per_sentence": s}
        lines.append(f"  {mine['path']}: [UNK] words {u['share']:.2%} -> {v['share']:.2%}, sub-words per sentence {s} -> {t}")
    return "\n".join(lines)


def convert(config: ConvertConfig, console: Console | None = None) -> int:
    """Rewrite an annotated file in another format and tag scheme; returns the sentences written."""
    console = console or Console()
    data, out, to, scheme = config.data, config.out, config.to, config.scheme
    sentences = [replace(s, tags=tuple(from_iob2(s.tags, scheme)))
                 for s in load_data(data, config.format, console).sentences]
    Path(out).write_text(write_sentences(sentences, to), encoding="utf-8")
    console.note(f"wrote {len(sentences)} sentences to {out} ({to}, {scheme})")
    return len(sentences)


def split(config: SplitConfig, console: Console | None = None) -> list[int]:
    """Seeded train/dev/test split of one annotated file into ``config.out``; returns the three sizes."""
    console = console or Console()
    to, ratios = config.to, [float(x) for x in config.ratios.split(",")]
    parts = split_three(load_data(config.data, config.format, console).sentences, ratios, config.seed, config.by)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in zip(("train", "dev", "test"), parts):
        target = out / f"{name}.{SUFFIXES[to]}"
        target.write_text(write_sentences(part, to), encoding="utf-8")
        console.note(f"{name}: {len(part)} sentences -> {target}")
    return [len(p) for p in parts]
