"""The options of the verbs that work on data and vocabularies: ``doctor``, ``convert``, ``split``,
``vocab plan`` and ``vocab extend`` (the last two share ``VocabOptions``). Imports no torch."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..data import FORMATS, WRITE_FORMATS
from ..data.corpus import CORPUS_FORMATS
from ..errors import ConfigError
from .choices import INITS, SPLIT_BY, TASK_CHOICES, UNITS, WRITE_SCHEMES
from .declare import Options, option
from .inference import ReadOptions, json_option
from .training import CORPUS_FORMAT_HELP, MODEL_SOURCES, model_option, parse_texts

ANNOTATED_FORMAT_HELP = ("conll (word ... TAG) | bio (TAG<TAB>word) | jsonl (tokens+tags or text+entities) | gmb | "
                         "weibo | klue | kmou | labelstudio | doccano; auto: from the first lines")


def data_files_option(help: str) -> Any:
    """Data files given as arguments (one or more)."""
    return option(help=help, group="input", positional=True, many=True, input_file=True, metavar="DATA")


def annotated_file_option(help: str) -> Any:
    """One annotated file given as the argument."""
    return option(help=help, group="input", positional=True, input_file=True, metavar="DATA")


def annotated_format_option() -> Any:
    """``format`` of an annotated file (convert, split)."""
    return option("auto", ANNOTATED_FORMAT_HELP, group="data", choices=FORMATS)


def write_format_option() -> Any:
    """``to``: the format a file is written in."""
    return option("conll", "conll | bio | jsonl (tokens+tags) | jsonl-spans (text+entities)", group="output",
                  flag="--to", choices=WRITE_FORMATS)


def _as_list(value: Any) -> Any:
    """A path or a list of paths as a list (Python callers may give one path)."""
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True, kw_only=True)
class DoctorConfig(ReadOptions):
    """``entitune doctor``: check data before training."""

    data: list[str] = data_files_option("annotated files; the first is taken as train")
    model: str | None = model_option("checkpoint whose tokenizer is checked")
    max_length: int = option(128, "sub-tokens per window, as in training", group="model", low=3, high=1_000_000)
    json_out: str | None = json_option("the report")
    task: str = option("auto", "auto | ner | classify (auto: from the first file)", group="data", choices=TASK_CHOICES)
    compare: str | None = option(None, "a second checkpoint (e.g. the base of 'vocab extend'): its [UNK] share and "
                                 f"sub-words per sentence beside --model's; {MODEL_SOURCES}", group="model",
                                 metavar="DIR|NAME")


@dataclass(frozen=True, kw_only=True)
class ConvertConfig(Options):
    """``entitune convert``: an annotated file in another format and tag scheme."""

    data: str = annotated_file_option("annotated file to convert")
    out: str = option(help="file to write", group="output", metavar="FILE")
    to: str = write_format_option()
    scheme: str = option("IOB2", "tag scheme to write: IOB2 | IOB1 | BIOES | BILOU | IO", group="output",
                         choices=WRITE_SCHEMES, fold_case=True)
    format: str = annotated_format_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.to == "jsonl-spans" and self.scheme != "IOB2":
            raise ConfigError("jsonl-spans holds character spans, not tags; leave scheme at IOB2")


def parse_ratios(value: Any) -> str:
    """``ratios`` as written (``"0.8,0.1,0.1"``), once it reads as three shares: non-negative numbers
    with a positive sum (they are normalised, so ``8,1,1`` is the same split).

    >>> parse_ratios("0.8,0.1,0.1"), parse_ratios([8, 1, 1])
    ('0.8,0.1,0.1', '8,1,1')
    >>> parse_ratios("0.8,0.1")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: ratios must be three non-negative shares of train, dev and test, like 0.8,0.1,0.1; got '0.8,0.1'
    """
    text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    try:
        shares = [float(x) for x in text.split(",")]
    except ValueError:
        shares = []
    if len(shares) != 3 or not all(math.isfinite(s) and s >= 0.0 for s in shares) or not sum(shares) > 0:
        raise ConfigError(f"ratios must be three non-negative shares of train, dev and test, like 0.8,0.1,0.1; "
                          f"got {text!r}")
    return text


@dataclass(frozen=True, kw_only=True)
class SplitConfig(Options):
    """``entitune split``: a seeded train/dev/test split of one annotated file."""

    data: str = annotated_file_option("annotated file that ships as one piece (e.g. GMB)")
    out: str = option(help="directory for train/dev/test files", group="output", metavar="DIR")
    ratios: str = option("0.8,0.1,0.1", "train,dev,test shares", group="data", parse=parse_ratios)
    by: str = option("sentence", "sentence | document (CoNLL -DOCSTART- blocks)", group="data", choices=SPLIT_BY)
    seed: int = option(42, "seed of the shuffle", group="data", low=0, high=2**32 - 1)
    to: str = write_format_option()
    format: str = annotated_format_option()


@dataclass(frozen=True, kw_only=True)
class VocabOptions(Options):
    """What ``vocab plan`` and ``vocab extend`` share: the tokenizer, the data's format, and which
    candidates count."""

    model: str | None = model_option("checkpoint with a WordPiece tokenizer.json")
    max_new: int = option(3000, "tokens to add at most (the best ranked); the numbers after adding are measured for "
                          "this many", group="model", low=1, high=10_000_000)
    min_count: int = option(2, "occurrences a candidate needs in the data", group="data", low=1,
                            high=1_000_000_000)
    unit: str = option("auto", "auto | word (whole words) | char (each character, a CJK ideograph or a Hangul "
                       "syllable, as a token of its own and as a ##continuation) | learned (the units a WordPiece "
                       "vocabulary learned on the data's words holds, such as a Korean stem or ending, a frequent "
                       "two-character Chinese word: the tokenizers library's WordPiece trainer); auto: char when most "
                       "words are CJK, else word. Missing single characters are candidates with any unit",
                       group="model", choices=UNITS)
    format: str = option("auto", CORPUS_FORMAT_HELP, group="data", choices=CORPUS_FORMATS)
    max_words: int = option(1_000_000, "distinct words counted at most: beyond it the counts come from a bounded "
                            "summary (Misra-Gries; the frequent words and their counts are kept, within a bound it "
                            "prints), so a corpus of any size is counted in bounded memory", group="data", low=2,
                            high=1_000_000_000)
    measure: tuple[str, ...] = option((), "files measured before and after adding the tokens, never used to choose them "
                                "(the labelled test file): [UNK] words and sub-words per word", group="input",
                                input_file=True, many=True, parse=parse_texts, metavar="FILE", default_help="none")


@dataclass(frozen=True, kw_only=True)
class VocabPlanConfig(VocabOptions):
    """``entitune vocab plan``: measure a tokenizer on data and rank the tokens worth adding."""

    data: list[str] = data_files_option("data files: annotated, labelled texts or plain text")
    json_out: str | None = json_option("the plan with every candidate")


@dataclass(frozen=True, kw_only=True)
class VocabExtendConfig(VocabOptions):
    """``entitune vocab extend``: add the best tokens of data to a vocabulary and its embeddings."""

    add_from: list[str] = option(help="data file to take the tokens from (repeat the flag for several)", group="input",
                                 input_file=True, many=True, parse=_as_list, metavar="FILE")
    out: str = option(help="new directory for the extended checkpoint", group="output", metavar="DIR")
    use_unused: bool = option(False, "write the tokens over the [unusedN] placeholders (same shapes; --max-new must "
                              "fit) instead of appending them and resizing the embeddings", group="model",
                              negative="--append")
    init: str = option("mean", "mean (each new row the mean of the embeddings of the pieces the token split into; "
                       "without known pieces the mean of all rows, slightly perturbed) | random (normal, "
                       "initializer_range)", group="model", choices=INITS)
