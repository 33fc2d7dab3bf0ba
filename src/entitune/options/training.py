"""The options of the verbs that train: ``train`` (``FinetuneConfig``), ``pretrain``
(``PretrainConfig``) and ``tune`` (``TuneConfig``). What ``train`` and ``pretrain`` share (the loop,
its checkpoints and where it runs) is declared once in ``LoopOptions``; ``loop_settings`` turns it
into the training loop's settings, for both. Imports no torch: the command line builds its help and
refuses bad values before the heavy libraries load."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.corpus import CORPUS_FORMATS
#: ``softmax`` of masked-LM pretraining (``train.pretraining``)
SOFTMAXES = ("corpus", "full")
from ..errors import ConfigError
from .choices import (AUTO, AUTO_EPOCHS, AUTO_PATIENCE, CLASS_WEIGHTS, CLASSIFY_PROBE_EPOCHS, DEVICES, FEATURES, HEADS,
                      POOLINGS, TASK_CHOICES, TRAIN_PRECISIONS, TRAIN_SCHEMES, WORD_FEATURES)
from .declare import Options, option
from .reading import ReadOptions

CORPUS_FORMAT_HELP = ("text (one text per line) | conll | bio | jsonl | gmb | weibo | klue | kmou (the words of each "
                      "sentence) | csv | tsv (the texts of a labelled file); auto: from the first lines, plain text when "
                      "nothing else fits")


#: sub-tokens shared by overlapping windows, unless the window is too short for that many
STRIDE = 32


def parse_train(value: Any) -> str | tuple[str, ...]:
    """``train`` as given: one path (a string, kept as it is), or a list of them (a tuple; a list of
    one is that one path), each file read in turn into one training set.

    >>> parse_train("a.conll"), parse_train(["a.conll"]), parse_train(["a.conll", Path("b.conll")])
    ('a.conll', 'a.conll', ('a.conll', 'b.conll'))
    >>> parse_train([])
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: train needs at least one file, got []
    """
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, Path)) for v in value):
        files = tuple(str(v) for v in value)
        return files[0] if len(files) == 1 else files
    if isinstance(value, (list, tuple)) and not value:
        raise ConfigError("train needs at least one file, got []")
    raise ConfigError(f"train takes a file or a list of files, got {value!r}")


def parse_texts(value: Any) -> tuple[str, ...]:
    """``text`` (pretrain) as given: one path or a list of them, as a tuple of strings.

    >>> parse_texts("a.txt"), parse_texts(["a.txt", Path("b.xz")])
    (('a.txt',), ('a.txt', 'b.xz'))
    """
    texts = [value] if isinstance(value, (str, Path)) else list(value or ())
    if not all(isinstance(t, (str, Path)) for t in texts):
        raise ConfigError(f"text takes a file or a list of files, got {value!r}")
    return tuple(str(t) for t in texts)


def label_map(text: str) -> dict[str, str]:
    """``label_names`` as a mapping, from a file (one ``LABEL=NAME`` or ``LABEL<TAB>NAME`` a line) or
    from comma-separated ``LABEL=NAME`` pairs; a label or a name given twice, or an empty one, is a
    one-line ``ConfigError``.

    >>> label_map("1=World, 2=Sports")
    {'1': 'World', '2': 'Sports'}
    >>> label_map("1=World,2=World")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: label_names: 'World' names two labels ('1', '2')
    """
    path = Path(text)
    if "=" not in text and path.is_file():
        from ..files import check_input_file

        check_input_file(path)
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        pairs = [line.split("\t", 1) if "\t" in line else line.split("=", 1) for line in lines]
        where = f"{path}: "
    else:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        where = ""
    mapping: dict[str, str] = {}
    for pair in pairs:
        if len(pair) != 2 or not pair[0].strip() or not pair[1].strip():
            raise ConfigError(f"label_names: {where}expected LABEL=NAME pairs (1=World,2=Sports) or a file of them, "
                              f"got {'='.join(pair)!r}")
        label, name = pair[0].strip(), pair[1].strip()
        if label in mapping:
            raise ConfigError(f"label_names: {where}label {label!r} is named twice")
        if name in mapping.values():
            other = next(k for k, v in mapping.items() if v == name)
            raise ConfigError(f"label_names: {where}{name!r} names two labels ({other!r}, {label!r})")
        mapping[label] = name
    if not mapping:
        raise ConfigError("label_names: no LABEL=NAME pair given")
    return mapping


def parse_label_names(value: Any) -> str:
    """``label_names`` as written, once ``label_map`` reads it."""
    label_map(str(value))
    return str(value)


def parse_context(value: Any) -> int | str:
    """``context`` as given in a config file or on the command line: sub-words per side (0: off), or
    ``auto`` (``AUTO_CONTEXT`` where the training data has several documents).

    >>> parse_context("64"), parse_context(0), parse_context("AUTO")
    (64, 0, 'auto')
    >>> parse_context("-1")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: context must be a whole number of sub-words per side (0: off) or 'auto', got '-1'
    """
    if (parsed := _whole_or_auto(value)) is not None and (parsed == AUTO or parsed >= 0):
        return parsed
    raise ConfigError(f"context must be a whole number of sub-words per side (0: off) or 'auto', got {value!r}")


def parse_epochs(value: Any) -> int | str:
    """``epochs`` as given in a config file or on the command line: a whole number, or ``auto``.

    >>> parse_epochs("5"), parse_epochs(5), parse_epochs("Auto")
    (5, 5, 'auto')
    >>> parse_epochs("five")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: epochs must be a whole number or 'auto', got 'five'
    """
    if (parsed := _whole_or_auto(value)) is not None:
        return parsed
    raise ConfigError(f"epochs must be a whole number or 'auto', got {value!r}")


def _whole_or_auto(value: Any) -> int | str | None:
    """``"auto"`` (any case, spaces around), a whole number written as text (``"5"``, ``"+5"``) or an
    int as is; None for anything else."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if text.lstrip("+").isdigit():
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def check_averaging(average_last: int, patience: int) -> None:
    """``average_last`` against ``patience`` (resolved): the evaluations averaged before an early stop
    are those of the streak without improvement, so there are at most ``patience`` of them."""
    if patience and average_last > patience:
        raise ConfigError(f"average_last ({average_last}) must be at most patience ({patience}): "
                          "the evaluations averaged before an early stop are those without improvement")


#: what ``--model`` (and doctor's ``--compare``) takes, said once for every verb's help
MODEL_SOURCES = ("a local checkpoint directory or a Hugging Face Hub name ORG/NAME[@REVISION] (from the Hugging Face "
                 "cache, else downloaded; HF_HUB_OFFLINE=1: the cache only)")


def model_option(help: str = "encoder to start from") -> Any:
    """``model``, the encoder a verb starts from or reads the tokenizer of (train, pretrain, tune,
    doctor, vocab): ``help`` says what it is for, then what it takes (``MODEL_SOURCES``)."""
    return option(None, f"{help}: {MODEL_SOURCES}", group="model", default_help="the bundled MiniLM",
                  metavar="DIR|NAME", searchable=False)


def threads_option() -> Any:
    """``threads``, torch's intra-op threads for this process."""
    return option(None, "CPU threads for torch", group="run", low=1, high=4096, default_help="torch's choice")


@dataclass(frozen=True, kw_only=True)
class LoopOptions(Options):
    """The options ``train`` and ``pretrain`` share: the training loop, its checkpoints, and where it
    runs. ``train.TrainConfig.of`` turns them into the loop's settings."""

    #: whether the loop may train only the word-embedding rows the data uses (``train.compact``)
    COMPACT_EMBEDDINGS = True

    out: str = option(help="directory the run writes: the model, its logs and its checkpoints", group="output",
                      metavar="DIR")
    model: str | None = model_option()
    dev_fraction: float | None = option(
        None, "share of the training data held out as dev when no dev file is given", group="data", low=0.0, high=1.0,
        high_open=True, default_help="train: 0.1 when dev chooses something (several epochs or evaluations, patience, "
        "averaging, a multi-label threshold), else 0 (one epoch uses all the data); pretrain: 0.05 (adapt: 0.01), each text's side decided by a hash of "
        "its words, whatever the files' order")
    max_length: int = option(128, "sub-tokens per window, special tokens included; longer inputs become several "
                             "overlapping windows (at most the encoder's positions)", group="model", low=3,
                             high=1_000_000)
    epochs: int | str = option(3, "passes over the training data, or auto: train until dev stops improving "
                               "(--patience evaluations; at most --max-epochs, the length the learning rate decays over)",
                               group="training", parse=parse_epochs, choices=(AUTO_EPOCHS,), low=1, high=10_000)
    max_epochs: int = option(10, "with --epochs auto: the most epochs trained, and the schedule's length",
                             group="training", low=1, high=10_000)
    eval_every: int = option(0, "also evaluate on dev every N optimizer steps, not only at epoch ends; the best of "
                             "all evaluations is kept (0: epoch ends only)", group="training", low=0,
                             high=1_000_000_000)
    patience: int | None = option(None, "stop after this many evaluations in a row without a better dev score (0: "
                                  "never)", group="training", low=0, high=1_000_000, default_help=f"0; {AUTO_PATIENCE} with --epochs auto")
    average_last: int = option(0, "average the weights of the last K evaluations (a running sum, SWA-style) and keep "
                               "the average if dev scores it above the best single evaluation (0: off; at most "
                               "--patience when that is on)", group="training", low=0,
                               high=1_000_000)
    layer_decay: float = option(1.0, "layer-wise learning-rate decay: encoder layer l (from 0) of L trains at lr x "
                                "D^(L-l), the embeddings at lr x D^(L+1), the head at --head-lr (1.0: off)",
                                group="training", low=0.0, low_open=True, high=1.0)
    time_budget_minutes: float | None = option(
        None, "stop cleanly once training has run this long: the weights are scored once more and the best kept",
        group="training", low=0.0, low_open=True, high=10_000_000.0, default_help="no limit", searchable=False)
    max_steps: int | None = option(
        None, "stop after this many optimizer steps, mid-epoch if need be (the weights are scored once more and the "
        "best kept); the learning rate then decays over this many steps, not over all the epochs", group="training",
        low=1, high=1_000_000_000, default_help="no limit: the epochs decide", searchable=False)
    lr: float = option(1e-4, "peak learning rate of the encoder", group="training", low=0.0, low_open=True, high=1.0,
                       searchable=True)
    head_lr: float | None = option(
        None, "peak learning rate of the head", group="training", low=0.0, low_open=True, high=10.0,
        default_help="train: 1e-3 linear, 1e-2 crf and bilstm-crf, as measured; pretrain: --lr for the checkpoint's "
        "own masked-LM head, 1e-3 for a new one")
    batch_size: int = option(32, "windows per training step (per micro-batch with --accumulate)", group="training",
                             low=1, high=1_000_000)
    batch_tokens: int | None = option(None, "instead of --batch-size: padded sub-words per batch (batches of similar "
                                      "length)", group="training", low=1, high=100_000_000)
    accumulate: int = option(1, "micro-batches per optimizer step: the same update as one batch of accumulate x "
                             "batch-size", group="training", low=1, high=100_000)
    warmup: float = option(0.1, "fraction of steps for linear warm-up", group="training", low=0.0, high=1.0,
                           high_open=True)
    weight_decay: float = option(0.01, "AdamW weight decay (not on biases, LayerNorm, embeddings)", group="training",
                                 low=0.0, high=10.0)
    precision: str = option("auto", "auto (bf16 autocast where the hardware runs it fast: a GPU with bf16 tensor "
                            "cores, a CPU with AMX whose timed probe agrees; else fp32; the choice and why are printed "
                            "and logged) | fp32 | bf16 | fp16 (fp16 uses a gradient scaler)", group="run",
                            choices=TRAIN_PRECISIONS)
    seed: int = option(42, "seed for initialisation, shuffling, the dev split (and pretraining's masks)",
                       group="training", low=0, high=2**32 - 1)
    save_every: int = option(0, "also write a resumable checkpoint every N optimizer steps (0: at epoch ends only)",
                             group="run", low=0, high=1_000_000_000)
    keep_checkpoints: int = option(2, "newest checkpoints kept in OUT/checkpoints while the run goes", group="run",
                                   low=1, high=1_000_000)
    keep_checkpoints_after: bool = option(
        False, "keep OUT/checkpoints once the run has finished and saved its model (default: removed then; a failed "
        "or killed run always keeps them for --resume)", group="run", negative="--remove-checkpoints-after")
    resume: bool = option(False, "continue from the newest complete checkpoint in OUT/checkpoints (same settings), to "
                          "the weights an uninterrupted run gives; a finished run (OUT/train_log.json) has nothing to "
                          "resume and is left as it is", group="run", negative="--no-resume")
    device: str = option("auto", "auto (a GPU if there is one) | cpu | cuda", group="run", choices=DEVICES)
    nproc: int = option(1, "data-parallel processes on this machine (torchrun); for several machines run torchrun "
                        "yourself (see the multi-node guide)", group="run", low=1, high=1024)
    threads: int | None = threads_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_averaging(self.average_last, self.resolved_patience)

    @property
    def resolved_patience(self) -> int:
        """``patience`` as the loop takes it: as given, else 0 (``AUTO_PATIENCE`` with epochs auto)."""
        if self.patience is not None:
            return self.patience
        return AUTO_PATIENCE if self.epochs == AUTO_EPOCHS else 0

    @property
    def selects_on_dev(self) -> bool:
        """Whether dev chooses something in this run: the best of several evaluations (several
        epochs, ``eval_every``), where to stop (``patience``, ``epochs`` auto) or whether to keep an
        average (``average_last``)."""
        return (self.epochs == AUTO_EPOCHS or self.epochs > 1 or bool(self.eval_every) or bool(self.patience)
                or bool(self.average_last))


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(LoopOptions, ReadOptions):
    """Every option of a fine-tuning run (``entitune train``): the fields are the flags
    (``batch_size`` is ``--batch-size``)."""

    train: str | tuple[str, ...] = option(
        help="training file; repeat it to train on several files as one (--train train.conll --train dev.conll)",
        group="input", parse=parse_train, input_file=True, many=True, metavar="FILE")
    dev: str | None = option(None, "dev file for model selection", group="input", input_file=True,
                             default_help="a seeded split of --train (--dev-fraction)", metavar="FILE")
    test: str | None = option(None, "test file, scored after training", group="input", input_file=True,
                              metavar="FILE")
    task: str = option("auto", "auto | ner | classify; auto: from the training file (tagged words or labelled texts)",
                       group="data", choices=TASK_CHOICES, searchable=False)
    augment_mentions: int = option(
        0, "add N copies of each training sentence that has entities, each mention swapped for another of the same "
        "type from the training data (seeded; dev is never augmented); pays on small training sets (1,000 MIT Movie "
        "sentences: +6.7 entity F1), not on large ones", group="data", low=0, high=100, tasks=frozenset({"ner"}))
    label_names: str | None = option(
        None, "names for the labels as the data writes them: LABEL=NAME pairs, comma-separated (1=World,2=Sports), "
        "or a file with one LABEL=NAME (or LABEL<TAB>NAME) a line; the model learns and predicts the names, keeps "
        "them in id2label, and maps the data's labels to them wherever it reads a labelled file", group="data",
        tasks=frozenset({"classify"}), parse=parse_label_names, metavar="PAIRS|FILE", searchable=False)
    threshold: float | None = option(
        None, "multi-label decision threshold: a label holds where its probability reaches it", group="model",
        low=0.0, low_open=True, high=1.0, high_open=True, tasks=frozenset({"classify"}),
        default_help="chosen on dev; 0.5 without dev")
    refit: bool = option(
        False, "with dev held out from --train (--dev-fraction): train once to choose on that dev where to stop (and "
        "a multi-label threshold), then train again from the start on all of --train to that point and save that "
        "model (about twice the training time)", group="training", negative="--no-refit")
    pooling: str = option("cls", "cls (the [CLS] vector, through the pretrained pooler where there is one) | mean",
                          group="model", choices=POOLINGS, tasks=frozenset({"classify"}))
    class_weights: str = option("none", "none | balanced (weight classes by n / (classes x count))", group="training",
                                choices=CLASS_WEIGHTS, tasks=frozenset({"classify"}))
    probe_epochs: int | None = option(
        None, "first train the head alone this many epochs on the frozen encoder's vectors (computed once), then "
        "fine-tune everything (linear probe, then fine-tune; 0: off)", group="training", low=0, high=1000,
        default_help=f"{CLASSIFY_PROBE_EPOCHS} for classify, 0 for ner")
    head: str = option("linear", "linear | crf | bilstm-crf", group="model", choices=HEADS, tasks=frozenset({"ner"}),
                       searchable=True)
    features: str = option("finetune", "finetune | frozen-sum4 | frozen-concat4 (frozen: sum or concatenation of the "
                           "encoder's last four layers; only the head trains)", group="model", choices=FEATURES)
    word_features: str = option(
        "auto", "auto | none | shape | chars | shape+chars: each word's shape (Capitalised, ALL-CAPS, digits...) "
        "and/or a small character CNN, read from the word as written, beside the encoder's vector; gives an uncased "
        "encoder (the bundled MiniLM) capitalisation back; auto: shape+chars when the tokenizer lowercases and the "
        "training words' case varies, else none", group="model", choices=(AUTO, *WORD_FEATURES),
        tasks=frozenset({"ner"}))
    scheme: str = option("IOB2", "tag scheme the model learns: IOB2 | BIOES (predictions are always given in IOB2)",
                         group="model", choices=TRAIN_SCHEMES, fold_case=True, tasks=frozenset({"ner"}))
    unconstrained: bool = option(False, "decode by argmax, without BIO transition constraints", group="model",
                                 negative="--constrained", tasks=frozenset({"ner"}))
    stride: int | None = option(None, "sub-tokens shared by overlapping windows of long inputs", group="model", low=0,
                                high=1_000_000, default_help=f"{STRIDE}, or half of what a window holds besides "
                                "its special tokens when that is less")
    dropout: float = option(0.1, "dropout before the head", group="model", low=0.0, high=1.0, high_open=True,
                            searchable=True)
    context: int | str = option(
        0, "document context (FLERT): each sentence also reads up to N sub-words of the sentences before and after "
        "it in its document (CoNLL -DOCSTART- blocks, JSONL 'doc' fields, else the whole file), saved with the model "
        "and used by evaluate and predict --documents (0: off; auto: 64 when the training data has several "
        "documents, else 0; on CoNLL-2003 +0.6 F1 at about 6x the CPU time)", group="model", parse=parse_context,
        choices=(AUTO,), low=0, high=100_000, tasks=frozenset({"ner"}))
    context_dropout: float = option(0.5, "with --context: the share of sentences read without context in each "
                                    "epoch (FLERT-style; seeded by --seed and the epoch)", group="training", low=0.0,
                                    high=1.0, high_open=True, tasks=frozenset({"ner"}))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stride is not None and self.stride >= self.max_length - 2:
            raise ConfigError(f"stride ({self.stride}) must be below max_length - 2 ({self.max_length - 2}): "
                              "overlapping windows must advance")
        if self.dev is None and self.dev_fraction == 0.0 and (self.epochs == AUTO_EPOCHS or self.patience):
            raise ConfigError("epochs auto and patience stop on dev scores: give a dev file or a dev_fraction above 0")
        if self.refit and self.dev is not None:
            raise ConfigError("refit trains again on --train with the dev share it held out; with a --dev file "
                              "nothing was held out (give the dev file as a second --train to train on it)")
        if self.refit and self.dev_fraction == 0.0:
            raise ConfigError("refit needs dev held out from --train to choose where to stop: a dev_fraction above 0")
        if self.refit and not self.selects_on_dev:
            raise ConfigError("refit: this run chooses nothing on dev (one epoch); give --epochs N or auto, "
                              "--eval-every, --patience or --average-last")

    @property
    def resolved_stride(self) -> int:
        """``stride`` as given, else ``STRIDE`` or half of the window's room for words, whichever is less
        (so that ``--max-length 16`` alone works)."""
        return self.stride if self.stride is not None else min(STRIDE, max(0, (self.max_length - 2) // 2))

    @property
    def train_files(self) -> tuple[str, ...]:
        """The training files, in the order they are read."""
        return (self.train,) if isinstance(self.train, str) else self.train

    @property
    def train_name(self) -> str:
        """The training files as messages name them: ``a.conll`` or ``a.conll + b.conll``."""
        return " + ".join(self.train_files)

    def resolved_probe_epochs(self) -> int:
        """Epochs of the head alone before a classifier fine-tunes: as given, else CLASSIFY_PROBE_EPOCHS."""
        return CLASSIFY_PROBE_EPOCHS if self.probe_epochs is None else self.probe_epochs


#: the study's name in the database when ``--study`` gives none
STUDY_NAME = "entitune-tune"
#: share of the texts held out as dev when ``pretrain`` is given no dev file
PRETRAIN_DEV_FRACTION = 0.05


@dataclass(frozen=True, kw_only=True)
class PretrainConfig(LoopOptions):
    """Every option of a masked-LM pretraining run (``entitune pretrain``): the fields are the flags
    (``mlm_probability`` is ``--mlm-probability``; ``text`` the ``--text`` files)."""

    text: tuple[str, ...] = option(
        help="text to pretrain on: plain text (one text per line; compressed .xz, .gz or .bz2 files are read as they "
        "are, streamed) or any file 'train' reads (only its words are used); more files may follow it (--text a.txt "
        "b.conll) or repeat --text", group="input", parse=parse_texts, input_file=True, many=True, metavar="FILE")
    dev_text: str | None = option(None, "dev text: masked accuracy and perplexity after each epoch, on one fixed "
                                  "mask; the epoch with the lowest dev loss is kept", group="input", input_file=True,
                                  metavar="FILE")
    format: str = option("auto", CORPUS_FORMAT_HELP, group="data", choices=CORPUS_FORMATS)
    mlm_probability: float = option(0.15, "share of sub-tokens (or words) masked; of those 80% read the mask token, "
                                    "10% a random token, 10% stay", group="training", low=0.0, low_open=True,
                                    high=1.0, high_open=True)
    whole_word_mask: bool = option(False, "mask all sub-tokens of a chosen word together, or each sub-token on its "
                                   "own", group="training", negative="--token-mask")
    softmax: str = option("corpus", "corpus (each masked token is scored against the token ids the text uses, and "
                          "random replacements are drawn from them: the decoder and the word embedding train only "
                          "those rows, and every other row stays as it was) | full (against the whole vocabulary, "
                          "BERT's objective: every row of the embedding trains)", group="training",
                          choices=SOFTMAXES)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.corpus_files:
            raise ConfigError("text: give at least one text file to pretrain on")
        if self.dev_text is not None and self.dev_fraction is not None:
            raise ConfigError("give dev_text (a dev file) or dev_fraction (a share of the texts held out), not both")
        if (self.patience or self.epochs == AUTO_EPOCHS) and self.held_out == 0.0 and self.dev_text is None:
            raise ConfigError("patience and epochs auto stop on the dev loss: give dev_text or a dev_fraction above 0")

    #: the share of the texts held out as dev when ``dev_fraction`` is not given
    DEV_FRACTION = PRETRAIN_DEV_FRACTION

    @property
    def corpus_files(self) -> tuple[str, ...]:
        """The files whose texts are pretrained on, in the order they are read."""
        return tuple(self.text)

    @property
    def held_out(self) -> float:
        """The share of the texts held out as dev: none with a dev file, else as given (default
        ``DEV_FRACTION``)."""
        if self.dev_text is not None:
            return 0.0
        return self.DEV_FRACTION if self.dev_fraction is None else self.dev_fraction


@dataclass(frozen=True, kw_only=True)
class TuneConfig(Options):
    """A search (``entitune tune``): ``base`` holds the ``train`` options every trial shares (``train``
    among them; ``test`` is scored once, with the best model); ``trials`` is the total wanted in the
    study (finished trials of an earlier run count); ``budget_minutes``: no trial starts after it,
    and the running one gets what is left as its time budget; ``seed`` seeds the sampler (and every
    trial's training unless ``base`` gives a seed); the median pruner stops nothing before
    ``startup_trials`` trials have completed, nor before ``warmup_epochs`` of a trial's training.
    ``storage`` and ``study`` name a study several workers share (``recipes.studies``); ``report``
    writes the tables from it without starting a trial. On the command line ``--train``, ``--dev``, ``--test`` and ``--model`` (declared by
    ``FinetuneConfig``), ``--config FILE`` and ``--set NAME=VALUE`` fill ``base``."""

    #: ``FinetuneConfig`` options that ``tune`` takes as flags of its own, into ``base``
    TRAIN_FLAGS = ("train", "dev", "test", "model")

    base: Mapping[str, Any] = option(help="train options every trial shares", group="input", cli=False)
    out: str = option(help="directory of the search: tune.db (the Optuna study, without --storage; run again to "
                      "resume), trials/NNNN (this worker's trials), trials.csv, trials.md, best.toml", group="output",
                      metavar="DIR")
    trials: int = option(20, "trials wanted in all: finished (complete or pruned) trials of the study count, those of "
                         "an earlier run and, with --storage, those of every worker", group="training", low=1,
                         high=1_000_000)
    storage: str | None = option(
        None, "database of a study that several tune workers share, on one machine or many: an SQLAlchemy URL, "
        "postgresql://USER@HOST/DB (pip install 'entitune[tune-postgres]'), mysql+pymysql://USER@HOST/DB or "
        "sqlite:///FILE; each worker runs its trials into its own --out", group="run", metavar="URL",
        default_help="OUT/tune.db, one worker")
    study: str = option(STUDY_NAME, "name of the study in the database: the workers of one search give the same name, "
                        "another search another", group="run", metavar="NAME")
    heartbeat_seconds: int = option(
        60, "with --storage: a worker tells the study this often that its trial runs; a trial silent for three "
        "heartbeats (its worker killed or its machine gone) is marked failed and its parameters queued again, once",
        group="run", low=1, high=3600)
    report: bool = option(False, "start no trial: write trials.csv, trials.md and best.toml into --out from the study "
                          "as it stands (and score the best model on --test where it is on this machine)",
                          group="output", negative="--search")
    budget_minutes: float | None = option(None, "start no trial after this many minutes; the running trial gets "
                                          "what is left as its time budget", group="training", low=0.0, low_open=True,
                                          high=10_000_000.0, default_help="no limit")
    space: str | None = option(None, "YAML, JSON or TOML search space replacing the default: {option: {type: "
                               "float|int, low, high, log} | {type: categorical, choices: [...]} | a fixed value}",
                               group="input", input_file=True, metavar="FILE")
    seed: int = option(42, "seed of the sampler (TPE), and of every trial's training unless an option gives one",
                       group="training", low=0, high=2**32 - 1)
    startup_trials: int = option(2, "trials completed before the pruner stops any", group="training", low=0,
                                 high=1_000_000, cli=False)
    warmup_epochs: float = option(0.5, "epochs of a trial's training before the pruner may stop it", group="training",
                                  low=0.0, high=10_000.0, cli=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base.get("train") is None and not self.report:
            raise ConfigError("tune needs a training file (--train, or train in --config)")
        if self.base.get("dev") is None and self.base.get("dev_fraction") == 0:
            raise ConfigError("tune scores each trial on dev: give --dev or a dev_fraction above 0 (default 0.1)")
        if self.base.get("nproc", 1) != 1:
            raise ConfigError("tune runs each trial in its own process: nproc must be 1")
