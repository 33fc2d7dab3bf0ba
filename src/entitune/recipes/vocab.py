"""Recipes ``vocab_plan`` and ``vocab_extend``: fit a WordPiece vocabulary to the data before
fine-tuning on it (``entitune vocab plan|extend``).

``vocab_plan`` reads the data (annotated files, labelled texts, or plain text: one text per line),
measures the share of words the tokenizer maps to ``[UNK]`` and the sub-words per word, and ranks
the tokens that would cut both (``model.wordpiece``). ``vocab_extend`` adds the best ``max_new`` of
them to the vocabulary as real WordPiece entries and writes the checkpoint with its embedding rows
initialised (``model.vocab``); train on it with ``entitune train --model OUT`` and check it with
``entitune doctor --model OUT DATA --compare BASE``.

For example (with the data at hand)::

    from entitune.recipes import vocab_extend
    vocab_extend(["weibo.train"], out="minilm-weibo", max_new=3000, min_count=1)
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..data.corpus import CORPUS_FORMATS, iter_corpus
from ..data._lines import text_head_lines
from ..errors import ConfigError, DataFormatError, shorten
from ..files import check_input_file
from ..artifact.hub import Encoder, resolve_encoder
from ..vocab.counting import BoundedCounter
from ..vocab.wordpiece import UNK_COST, CorpusStats, VocabPlan, WordPiece, analyse, corpus_stats, plan_vocabulary
from ..options import VocabExtendConfig, VocabPlanConfig
from ..terminal import Console

#: ``--format``: auto, plain text (one text per line), the annotated formats, labelled CSV / TSV.
VOCAB_FORMATS = CORPUS_FORMATS
#: Candidates shown by ``vocab plan`` (the JSON has them all).
SHOWN = 25


def read_words(path: str | Path, format: str = "auto", counter: BoundedCounter | None = None) -> Counter:
    """Every word of a data file, counted: the words of an annotated file, of labelled texts, or of
    plain text, one text per line, compressed or not (``data.corpus.iter_corpus``, streamed, which
    pretraining reads too), into ``counter`` (a new exact one by default)."""
    if not any(line.strip() for line in text_head_lines(str(path))):  # said here: iter_corpus words it for pretraining
        raise DataFormatError(path, None, "empty file: no text to take words from")
    counter = counter if counter is not None else BoundedCounter(capacity=2**62)
    for text in iter_corpus(path, format):
        counter.update(text)
    return counter.counts


def _wordpiece(model: str | Path | None, weights: bool) -> tuple[WordPiece, Encoder]:
    """The WordPiece tokenizer of ``model`` (a directory or a Hugging Face Hub name; default: the
    bundled MiniLM), and the encoder it belongs to, checked (and for a Hub name fetched) with its
    weights when ``weights``: the tokenizer is checked first, so a model without one says so."""
    encoder = resolve_encoder(model, weights=False)
    wp = WordPiece.read(encoder.directory)
    return wp, (resolve_encoder(model) if weights else encoder)


def _check_files(data: Sequence[str | Path], allow_none: bool = False) -> None:
    if not data and not allow_none:
        raise ConfigError("give at least one data file")
    for path in data:  # every file before the tokenizer loads: a FIFO or a directory fails at once
        check_input_file(path)


def _read_all(data: Sequence[str | Path], format: str, max_words: int, console: Console | None = None) -> Counter:
    """The words of every file, counted in bounded memory (at most ``max_words`` distinct words)."""
    counter = BoundedCounter(max_words)
    for path in data:
        read_words(path, format, counter)
    if not counter.exact and console is not None:
        console.note(f"counting: more than {max_words:,} distinct words (--max-words): the counts are those of a "
                     f"bounded summary, each at most {counter.error:,} below the true count, and words seen at most "
                     f"{counter.error:,} times may be missing")
    return counter.counts


def measure_files(wp: WordPiece, files: Sequence[str | Path], format: str, tokens: Sequence[str]) -> list[dict]:
    """Each file's ``[UNK]`` share and sub-words per word under ``wp`` and with ``tokens`` added:
    ``{"file", "before", "after"}`` (``CorpusStats.as_dict``)."""
    extended = wp.with_vocab(wp.extended_vocab(list(tokens))[0]) if tokens else wp
    out = []
    for path in files:
        entries = analyse(wp, read_words(path, format))
        out.append({"file": str(path), "before": corpus_stats(wp, entries).as_dict(),
                    "after": corpus_stats(extended, entries).as_dict()})
    return out


def format_measured(measured: Sequence[dict], n: int) -> str:
    """``measure_files``'s numbers as ``vocab plan`` and ``vocab extend`` print them."""
    lines = [f"measured (not used to choose): {'':>2}{'[UNK] words':>24}  {'sub-words per word':>24}",
             f"{'':33}{'now':>11} {f'+{n:,}':>12}  {'now':>11} {f'+{n:,}':>12}"]
    for m in measured:
        b, a = CorpusStats(**_stats_args(m["before"])), CorpusStats(**_stats_args(m["after"]))
        lines.append(f"  {shorten(Path(m['file']).name, 31):<31}{b.unk_share:>11.2%} {a.unk_share:>12.2%}  "
                     f"{b.subwords_per_word:>11.3f} {a.subwords_per_word:>12.3f}")
    return "\n".join(lines)


def _stats_args(d: dict) -> dict:
    return {"words": d["words"], "unk_words": d["unk_words"], "subwords": d["subwords"],
            "zero_words": d["zero_subword_words"]}


def format_plan(plan: VocabPlan, wp: WordPiece, files: Sequence[str | Path], shown: int = SHOWN,
                name: str | None = None) -> str:
    """The plan as ``vocab plan`` prints it (``name``: the model as asked, default its directory)."""
    b, a = plan.before, plan.after
    n = len(plan.chosen)
    lines = [
        f"model: {name or wp.directory} (WordPiece, {wp.size:,} entries, {len(wp.unused_ids):,} [unusedN] slots)",
        f"data: {', '.join(map(str, files))}",
        f"  {b.words:,} words, {plan.distinct_words:,} distinct; unit: {plan.unit} ({plan.unit_reason})",
        f"{'':26}{'now':>10}  {f'with {n:,} new tokens':>22}",
        f"{'[UNK] words':26}{b.unk_share:>10.2%}  {a.unk_share:>22.2%}",
        f"{'sub-words per word':26}{b.subwords_per_word:>10.3f}  {a.subwords_per_word:>22.3f}",
        (f"candidates: {len(plan.candidates):,} with count >= {plan.min_count} ({n:,} taken, --max-new {plan.max_new:,}); "
         f"ranked by sub-words saved, an [UNK] word counting {UNK_COST}"),
    ]
    if plan.candidates:
        lines.append(f"  {'rank':>5}  {'token':<16} {'kind':<9} {'count':>8} {'saved':>10}  splits now")
        for k, c in enumerate(plan.candidates[:shown], 1):
            now = "[UNK]" if c.pieces is None else " ".join(c.pieces)
            lines.append(f"  {k:>5}  {shorten(c.token, 16):<16} {c.kind:<9} {c.count:>8,} {c.saved:>10,.0f}  {shorten(now, 40)}")
        if len(plan.candidates) > shown:
            lines.append(f"  ... {len(plan.candidates) - shown:,} more (--json has them all)")
    return "\n".join(lines)


def vocab_plan(config: VocabPlanConfig, console: Console | None = None) -> dict:
    """Measure ``config.data`` under the tokenizer of ``model`` (default: the bundled MiniLM) and rank
    the tokens that would cut its ``[UNK]`` words and sub-words per word; print the plan and return
    it (also written to ``json_out``)."""
    console = console or Console()
    data, model, json_out, format = config.data, config.model, config.json_out, config.format
    max_new, min_count, unit = config.max_new, config.min_count, config.unit
    _check_files(data)
    _check_files(config.measure, allow_none=True)
    wp, encoder = _wordpiece(model, weights=False)
    words = _read_all(data, format, config.max_words, console)
    plan = plan_vocabulary(wp, words, max_new, min_count, unit)
    measured = measure_files(wp, config.measure, "auto", [c.token for c in plan.chosen])
    report = {"model": encoder.asked, "data": [str(p) for p in data], "vocab_size": wp.size,
              "unused_slots": len(wp.unused_ids), **plan.as_dict(), "measured": measured}
    console.result(format_plan(plan, wp, data, name=encoder.asked))
    if measured:
        console.result(format_measured(measured, len(plan.chosen)))
    if json_out is not None:
        Path(json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def vocab_extend(config: VocabExtendConfig, console: Console | None = None) -> dict:
    """Add the best ``max_new`` tokens of ``add_from`` (as ``vocab_plan`` ranks them) to the WordPiece
    vocabulary of ``model`` and write the checkpoint to ``out``: appended with the embeddings resized,
    or over the ``[unusedN]`` slots (``use_unused``); new rows from the mean of their pieces (``init``
    mean) or random. Returns the record saved as ``OUT/vocab_extension.json``."""
    from ..vocab.extend import extend_checkpoint

    console = console or Console()
    add_from, out, model, format, use_unused = config.add_from, config.out, config.model, config.format, config.use_unused
    max_new, min_count, unit, init = config.max_new, config.min_count, config.unit, config.init
    _check_files(add_from)
    _check_files(config.measure, allow_none=True)
    wp, encoder = _wordpiece(model, weights=True)
    if use_unused and max_new > len(wp.unused_ids):
        raise ConfigError(f"{encoder.asked}: --max-new {max_new:,} is more than its {len(wp.unused_ids):,} [unusedN] "
                          "slots; lower --max-new or leave out --use-unused to append the tokens")
    words = _read_all(add_from, format, config.max_words, console)
    plan = plan_vocabulary(wp, words, max_new, min_count, unit)
    if not plan.chosen:
        raise ConfigError(f"nothing to add: no word of the data that is not one token already occurs at least "
                          f"{min_count} times (min_count)")
    measured = measure_files(wp, config.measure, "auto", [c.token for c in plan.chosen])
    record = {"unit": plan.unit, "min_count": min_count, "max_new": max_new, "data": [str(p) for p in add_from],
              "before": plan.before.as_dict(), "after": plan.after.as_dict(), "measured": measured,
              **({"base_model": encoder.record()} if encoder.from_hub else {})}
    summary = extend_checkpoint(wp, [c.token for c in plan.chosen], out, use_unused=use_unused, init=init, record=record,
                                base_name=encoder.repo)
    route = "over [unusedN] slots" if use_unused else f"appended (vocab_size {wp.size:,} -> {summary['vocab_size']:,})"
    console.result(
        f"added {summary['added']:,} tokens to {encoder.asked}, {route}; unit {plan.unit}; init {init}: "
        f"{summary['from_pieces']:,} from their pieces, {summary['from_fallback']:,} without known pieces"
        + (" (mean of all rows, perturbed)" if init == "mean" else "") + "\n"
        f"on the data: [UNK] words {plan.before.unk_share:.2%} -> {plan.after.unk_share:.2%}, sub-words per word "
        f"{plan.before.subwords_per_word:.3f} -> {plan.after.subwords_per_word:.3f}\n"
        f"wrote {out}")
    if measured:
        console.result(format_measured(measured, summary["added"]))
    summary["measured"] = measured
    return summary
