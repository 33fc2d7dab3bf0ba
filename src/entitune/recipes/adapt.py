"""``adapt``: domain adaptation of an encoder in one run (``entitune adapt``), callable from Python
with the same result: vocabulary extension, then masked-LM pretraining, then the encoder saved for
``entitune train --model OUT``.

1. Extension (``vocab_extend``): the best ``max_new`` tokens of the words of every ``--text`` and
   ``--train`` file (counted in bounded memory) join the base's WordPiece vocabulary, written to
   ``OUT/extended`` (reused by ``--resume`` when made from the same files and settings; removed once
   the run is done, unless ``--keep-checkpoints-after``). ``--max-new`` 0, or nothing worth adding,
   skips it.
2. Pretraining (``pretrain``): the extended encoder on the same texts, ``max_steps`` optimizer steps
   (and/or ``time_budget_minutes``), the text streamed into token stores, a hash-chosen share held
   out as dev. It writes ``OUT``: the encoder (a transformers masked-LM checkpoint),
   ``train_log.json`` and the model card.
3. ``OUT/adapt.json``: the options, what each step did, and for every ``--measure`` file its
   ``[UNK]`` words and sub-words per word under the base and under the adapted vocabulary.

The defaults (how many tokens, how many steps, the learning rate, whole-word masking or not) are
provisional; ``bench/adapt_sweep.py`` measures them on KMOU and Weibo.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..artifact.hub import resolve_encoder
from ..errors import ConfigError
from ..files import atomic_write_text, check_input_file
from ..options import AdaptConfig, PretrainConfig, VocabExtendConfig, config_dict
from ..terminal import Console
from .pretraining import pretrain
from .training import FinetuneResult
from .vocab import format_measured, measure_files, vocab_extend

ADAPT_FILE = "adapt.json"
EXTENDED_DIR = "extended"


@dataclass
class AdaptResult:
    """What ``adapt`` left: the adapted encoder's directory, the record written to ``adapt.json``, and
    the pretraining run's result."""

    out: Path
    record: dict
    pretraining: FinetuneResult | None = field(default=None, repr=False)


def adapt(config: AdaptConfig, console: Console | None = None) -> AdaptResult:
    """Extend the vocabulary of ``config.model`` with the words of the text, pretrain the result on
    that text, and save the adapted encoder to ``config.out`` (see the module docstring)."""
    console = console or Console()
    for path in (*config.corpus_files, *config.measure, config.dev_text):  # before anything is written
        if path is not None:
            check_input_file(path)
    encoder = resolve_encoder(config.model)  # a directory or a Hugging Face Hub name (default: the bundled MiniLM)
    base = str(encoder.directory)
    out = Path(config.out)
    record: dict = {"config": config_dict(config), "base": encoder.asked,
                    **({"base_model": encoder.record()} if encoder.from_hub else {})}

    # ---- 1. vocabulary extension
    start, extension = _extend(config, base, out / EXTENDED_DIR, console)
    record["extension"] = extension

    # ---- 2. masked-LM pretraining from the extended encoder
    console.note(f"adapt: pretraining {start} on {len(config.corpus_files)} file(s)"
                 + (f", {config.max_steps:,} steps at most" if config.max_steps else ""))
    result = pretrain(pretrain_config(config, start), console)
    record["pretraining"] = {k: result.log.get("train", {}).get(k) for k in ("stopped", "best_step", "subwords_per_s",
                                                                             "train_seconds", "dev_before")}
    record["pretraining"]["data"] = result.log.get("data")

    # ---- 3. the record: what changed for the files measured
    tokens = extension.get("tokens", []) if extension else []
    if config.measure:
        from ..vocab.wordpiece import WordPiece

        record["measured"] = measure_files(WordPiece.read(base), config.measure, "auto", tokens)
        console.result(format_measured(record["measured"], len(tokens)))
    atomic_write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", out / ADAPT_FILE)
    if extension and not config.keep_checkpoints_after:
        shutil.rmtree(out / EXTENDED_DIR, ignore_errors=True)
    console.note(f"adapt: the adapted encoder is in {out}; fine-tune it with: entitune train --model {out} "
                 "--train ...")
    return AdaptResult(out, record, result)


def pretrain_config(config: AdaptConfig, start: str) -> PretrainConfig:
    """The ``pretrain`` run of ``adapt``: every option they share, from ``start`` (the extended
    encoder), on the text and the training files' words."""
    shared = {f.name: getattr(config, f.name) for f in fields(PretrainConfig) if hasattr(config, f.name)}
    shared.update(model=start, text=config.corpus_files, dev_fraction=config.held_out if config.dev_text is None else None)
    return PretrainConfig(**shared)


def _extend(config: AdaptConfig, base: str, directory: Path, console: Console) -> tuple[str, dict | None]:
    """Step 1: the extended checkpoint's directory and what was added (None: skipped, the base is
    pretrained as it is). A directory an earlier run of the same settings extended is reused."""
    if config.max_new == 0:
        console.note("adapt: --max-new 0, the vocabulary is kept as it is")
        return base, None
    wanted = {"base": base, "data": list(config.corpus_files), "max_new": config.max_new, "min_count": config.min_count,
              "unit": config.unit, "max_words": config.max_words, "format": config.format}
    earlier = _read_json(directory / "adapt_extension.json")
    if config.resume and earlier is not None and earlier.get("wanted") == wanted:
        console.note(f"adapt: reusing the extended vocabulary in {directory} (--resume, the same files and settings)")
        return str(directory), earlier["extension"]
    extend = VocabExtendConfig(add_from=list(config.corpus_files), out=str(directory), model=base,
                               max_new=config.max_new, min_count=config.min_count, unit=config.unit,
                               format=config.format, max_words=config.max_words)
    if directory.exists():
        shutil.rmtree(directory)
    try:
        summary = vocab_extend(extend, console)
    except ConfigError as exc:
        if "nothing to add" not in str(exc):
            raise
        console.note(f"adapt: {exc}; pretraining the base vocabulary as it is")
        return base, None
    extension = {"added": summary["added"], "vocab_size": summary["vocab_size"], "unit": summary.get("unit"),
                 "before": summary.get("before"), "after": summary.get("after"),
                 "tokens": [t["token"] for t in summary["tokens"]]}
    atomic_write_text(json.dumps({"wanted": wanted, "extension": extension}, ensure_ascii=False) + "\n",
                      directory / "adapt_extension.json")
    return str(directory), extension


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
