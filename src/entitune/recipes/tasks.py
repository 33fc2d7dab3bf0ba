"""What each task adds to a fine-tuning run: its data (train, dev, test), its model, its fit, what
follows the fit, its test evaluation and report. ``finetune`` runs any of them the same way."""
from __future__ import annotations

import time
from dataclasses import replace

from ..data import replace_mentions, split_dev, sniff_task
from ..encode import char_vocabulary, choose_word_features
from ..files import check_input_file
from ..errors import ConfigError, shorten
from ..evaluate import check_labels, evaluate, evaluate_classifier, format_classification_report, format_report
from ..artifact.card import write_model_card
from ..artifact import model_dir
from ..artifact.hub import Encoder, resolve_encoder
from ..model.classifier import Classifier
from ..model.tagger import Tagger
from ..options import AUTO_CONTEXT, FinetuneConfig
from ..options.training import label_map
from ..tags import from_iob2, label_set
from ..train import TrainConfig, balanced_class_weights, choose_threshold, fit, fit_classifier, probe_head
from ..train.classifying import PROBE_HEAD_LR
from .common import load_data, read_labelled_texts
from ..terminal import Console


def resolve_task(config: "FinetuneConfig") -> str:
    """``config.task``, or the task the training file is for when it is ``auto``; first every input
    file (train, dev, test) is checked to be a readable regular file, so a missing ``--test``, a FIFO
    or a device fails before the output directory is made or anything is read."""
    for path in (*config.train_files, config.dev, config.test):
        if path is not None:
            check_input_file(path)
    if config.task != "auto":
        return config.task
    tasks = {path: sniff_task(path) for path in config.train_files}
    if len(set(tasks.values())) > 1:
        raise ConfigError("the training files are for different tasks: "
                          + ", ".join(f"{path}: {task}" for path, task in tasks.items()))
    return next(iter(tasks.values()))


def read_all(paths: tuple[str, ...], read) -> list:
    """Sentences or texts of every training file, one file after another. Documents never span two
    files: each file's document numbers (``Sentence.doc``) follow the previous file's."""
    examples: list = []
    for path in paths:
        part = read(path)
        if examples and part and hasattr(part[0], "doc"):
            shift = max(s.doc for s in examples) + 1
            part = [replace(s, doc=s.doc + shift) for s in part]
        examples += part
    return examples


def dev_fraction(config: "FinetuneConfig", needs_dev: bool) -> float:
    """The share of train held out as dev: ``config.dev_fraction`` when given; else 10% when dev
    chooses something (the best of several epochs or evaluations, where to stop, a multi-label
    threshold; ``FinetuneConfig.selects_on_dev``) and none when it cannot
    (one epoch of single-label training: every training example is then used)."""
    if config.dev_fraction is not None:
        return config.dev_fraction
    return 0.1 if needs_dev else 0.0


def _split(train: list, dev_file, read, config: "FinetuneConfig", console: Console, unit: str,
           needs_dev: bool) -> tuple[list, list]:
    """Dev from its file, or a seeded share of train (or none, see ``dev_fraction``)."""
    if dev_file is not None:
        dev = read(dev_file)
        console.note(f"data: train {len(train)} {unit}, dev {len(dev)} from {dev_file}")
        return train, dev
    fraction = dev_fraction(config, needs_dev)
    if fraction == 0.0:
        why = ("--dev-fraction 0: the last epoch is kept" if config.dev_fraction == 0.0 else
               "with one epoch there is no best epoch to choose")
        console.note(f"data: train {len(train)} {unit}, no dev set ({why}; --dev FILE or --dev-fraction 0.1 holds one out)")
        return train, []
    read_count = len(train)
    train, dev = split_dev(train, fraction, config.seed)
    _check_train_left(config, train, read_count, unit)  # before the note: the error is the one line
    console.note(f"data: train {len(train)} {unit}, dev {len(dev)} held out from --train "
                 f"({fraction:.0%}, seed {config.seed}); pass --dev FILE to use a dev file")
    return train, dev


def _check_train_left(config: "FinetuneConfig", train: list, read_count: int, unit: str) -> None:
    """Refuse to train on nothing: the dev split (``dev_fraction``) took every example read."""
    if not train:
        raise ConfigError(f"no training {unit} left after reading {config.train_name}: the dev split took all "
                          f"{read_count} of them; give more data, a --dev FILE, or --dev-fraction 0")


class TaskRun:
    """What a task adds to a training run (``finetune.run_task``) on its encoder (``encoder``, the
    ``hub.Encoder`` the run resolved): ``load`` (train, dev, test), ``build`` (the model), ``fit``,
    and ``evaluate`` / ``format`` for a test set; here the parts with a common default: nothing
    after the fit, the model card of ``model.card``."""

    name: str
    #: what each option left at ``auto`` resolved to, and why (``train_log.json``'s ``auto``)
    auto: dict
    #: how many of the training examples ``load`` returned are augmented copies (at the end)
    augmented: int = 0

    def after_fit(self, model, dev) -> None:
        pass

    def write_card(self, out, log: dict):
        """Write the model card (``README.md``) of the model saved in ``out``; returns its path."""
        return write_model_card(out, log)


class NerTask(TaskRun):
    """Tagged sentences, a ``Tagger``, entity F1."""

    name = "ner"

    def __init__(self, config: "FinetuneConfig", console: Console, encoder: Encoder | None = None) -> None:
        self.config, self.console = config, console
        self.encoder = resolve_encoder(encoder or config.model)
        self.auto: dict = {}

    def load(self) -> tuple[list, list, list | None]:
        c = self.config
        read = lambda path: load_data(path, c.format, self.console).sentences  # noqa: E731
        train = read_all(c.train_files, read)
        self._check_learnable(train)  # on the whole file first, before any note: the error is the one line
        train, dev = _split(train, c.dev, read, c, self.console, "sentences", needs_dev=c.selects_on_dev)
        test = read(c.test) if c.test is not None else None
        self._check_learnable(train)  # again: the dev split may have taken every entity
        self._train = train  # what auto options and the character vocabulary are chosen from: the data as read
        if c.augment_mentions:  # after the split: dev is never augmented
            copies = replace_mentions(train, c.augment_mentions, c.seed, first_doc=max(s.doc for s in train) + 1)
            self.augmented = len(copies)
            self.console.note(f"augment: {len(copies):,} copies of training sentences with their entity mentions "
                              f"swapped for others of the same type ({c.augment_mentions} per sentence with entities)")
            train = train + copies
        if c.scheme != "IOB2":  # learn in another scheme; dev and test stay IOB2 (predictions come back in IOB2)
            train = [replace(s, tags=tuple(from_iob2(s.tags, c.scheme))) for s in train]
        self.labels = label_set([t for s in train for t in s.tags], c.scheme)
        seen = {t for s in [*dev, *(test or [])] for t in from_iob2(s.tags, c.scheme)}
        if unseen := sorted(seen - set(self.labels)):
            self.console.note(f"warning: tags in dev/test but not in train (never predicted): {', '.join(unseen)}")
        return train, dev, test

    def _check_learnable(self, train: list) -> None:
        """Refuse training data whose every tag is O: a single label, nothing to learn."""
        if all(t == "O" for s in train for t in s.tags):
            raise ConfigError(f"{self.config.train_name}: every training tag is O, so there is no entity to learn; a "
                              "tagger needs B-TYPE / I-TYPE tags of at least one type")

    def resolve_auto(self) -> tuple[str, int]:
        """``word_features`` and ``context`` for this run: as asked, or what ``auto`` means for this
        training data (and, for word features, this encoder's tokenizer), noted and kept in ``auto``."""
        c = self.config
        word_features, context = c.word_features, c.context
        if word_features == "auto":
            path = self.encoder.directory
            tokenizer = model_dir.load_tokenizer(path, model_dir.load_hf_config(path).model_type)
            word_features, reason = choose_word_features((s.words for s in self._train), tokenizer)
            self.auto["word_features"] = {"chosen": word_features, "reason": reason}
            self.console.note(f"word features {word_features}: {reason}")
        if context == "auto":

            documents = len({s.doc for s in self._train})
            context = AUTO_CONTEXT if documents > 1 else 0
            reason = (f"the training data has {documents} documents: each sentence reads up to {AUTO_CONTEXT} sub-words "
                      "of its neighbours on each side" if context else
                      "the training data is one document (no -DOCSTART- lines or JSONL 'doc' fields): sentences are read alone")
            self.auto["context"] = {"chosen": context, "reason": reason}
            self.console.note(f"document context {context}: {reason}")
        return word_features, context

    def build(self) -> Tagger:
        c = self.config
        if c.probe_epochs:
            raise ConfigError("--probe-epochs is for text classification (--task classify); a tagger trains its "
                              "head with the encoder from the start (or alone: --features frozen-sum4)")
        word_features, context = self.resolve_auto()
        chars = char_vocabulary(s.words for s in self._train) if "chars" in word_features else None
        tagger = Tagger.from_encoder(self.encoder, self.labels, head=c.head, features=c.features, max_length=c.max_length,
                                     stride=c.resolved_stride, constrained=not c.unconstrained, seed=c.seed, scheme=c.scheme,
                                     dropout=c.dropout, word_features=word_features, char_vocab=chars,
                                     context=context)
        extra = f" with word features {word_features}" if word_features != "none" else ""
        if context:
            extra += f", document context {context} sub-words per side (dropout {c.context_dropout})"
        vocab = f" ({len(chars)} characters from train)" if chars is not None else ""
        self.console.note(f"model: {tagger.settings.encoder} ({c.features}) + {c.head} head{extra}{vocab}, "
                          f"{len(self.labels)} {c.scheme} labels")
        return tagger

    def fit(self, model, train, dev, train_config, listener, checkpoints):
        return fit(model, train, dev or None, train_config, listener, checkpoints, self.config.context_dropout)

    def evaluate(self, model, test) -> dict:
        return evaluate(model, test, TrainConfig.eval_batch_size)

    def format(self, report: dict) -> str:
        return format_report(report)


class ClassifyTask(TaskRun):
    """Labelled texts, a ``Classifier``, accuracy (micro F1 for multi-label)."""

    name = "classify"

    def __init__(self, config: "FinetuneConfig", console: Console, encoder: Encoder | None = None) -> None:
        self.config, self.console = config, console
        self.encoder = resolve_encoder(encoder or config.model)
        self.auto: dict = {}
        self.multi_label = False  # set by the files read: any multi-label file makes the task multi-label

    def _read(self, path):
        c = self.config
        names = label_map(c.label_names) if c.label_names else None
        data = read_labelled_texts(path, c.format, c.text_columns, c.label_column, names)
        self.multi_label = self.multi_label or data.multi_label
        return data.examples

    def load(self) -> tuple[list, list, list | None]:
        c = self.config
        if c.augment_mentions:
            raise ConfigError("--augment-mentions is for NER (it swaps entity mentions); leave it out for --task classify")
        train = read_all(c.train_files, self._read)
        self._check_learnable(train)  # on the whole file first, before any note: the error is the one line
        train, dev = _split(train, c.dev, self._read, c, self.console, "texts", needs_dev=c.selects_on_dev or self.multi_label)
        test = self._read(c.test) if c.test is not None else None
        self._check_learnable(train)  # again: the dev split may have taken every text of a class
        if c.threshold is not None and not self.multi_label:
            raise ConfigError(f"--threshold is for multi-label texts; {c.train_name} gives each text one label")
        self.labels = tuple(sorted({label for e in train for label in e.labels or ()}))
        if dev:
            check_labels(dev, self.labels, str(c.dev or c.train_name))  # unknown labels are errors at their lines
        if test is not None:
            check_labels(test, self.labels, str(c.test))
        self._train = train
        return train, dev, test

    def _check_learnable(self, train: list) -> None:
        """Refuse a single class (single-label), or texts that all carry the same labels (multi-label)."""
        labels = sorted({label for e in train for label in e.labels or ()})
        if len(labels) < 2 and not self.multi_label:
            raise ConfigError(f"{self.config.train_name}: a classifier needs at least two labels, found "
                              f"{[shorten(label) for label in labels]}")
        if self.multi_label and all(len(e.labels or ()) == len(labels) for e in train):
            raise ConfigError(f"{self.config.train_name}: every training text has the same labels "
                              f"({', '.join(shorten(label) for label in labels) or 'none'}), so there is nothing to learn")

    def build(self) -> Classifier:
        c = self.config
        if c.word_features not in ("none", "auto"):
            raise ConfigError(f"--word-features {c.word_features} is for NER (word tagging); a classifier reads "
                              "none: leave it out for --task classify")
        if c.class_weights == "balanced" and self.multi_label:
            raise ConfigError("--class-weights balanced weighs each text by its one class; multi-label texts have "
                              "several (or none): leave it at none")
        weights = balanced_class_weights(self._train, self.labels) if c.class_weights == "balanced" else None
        names = label_map(c.label_names) if c.label_names else None
        model = Classifier.from_encoder(self.encoder, self.labels, pooling=c.pooling, multi_label=self.multi_label,
                                        max_length=c.max_length, stride=c.resolved_stride, dropout=c.dropout, seed=c.seed,
                                        class_weights=weights, label_names=names)
        kind = "multi-label" if self.multi_label else "single-label"
        pooled = f"{c.pooling} pooling" + (" through the pretrained pooler" if model.settings.pooler else "")
        self.console.note(f"model: {model.settings.encoder} + classifier ({pooled}), {len(self.labels)} {kind} labels"
                          + (" with balanced class weights" if weights else ""))
        return model

    def fit(self, model, train, dev, train_config, listener, checkpoints):
        probe = None
        if epochs := self.config.resolved_probe_epochs():
            # rerun on --resume too: deterministic, and the fine-tuning checkpoint replaces its weights
            started = time.perf_counter()
            probe_head(model, train, train_config, epochs)
            probe = {"epochs": epochs, "head_lr": PROBE_HEAD_LR, "seconds": time.perf_counter() - started}
            self.console.note(f"linear probe: the head alone trained {epochs} epoch(s) on the frozen encoder's "
                              f"vectors in {probe['seconds']:.1f} s (head lr {PROBE_HEAD_LR:g}); now fine-tuning everything")
        result = fit_classifier(model, train, dev or None, train_config, listener, checkpoints)
        result.probe = probe
        return result

    def after_fit(self, model: Classifier, dev) -> None:
        if self.config.threshold is not None:
            model.with_threshold(self.config.threshold)
        elif self.multi_label and dev:
            threshold = choose_threshold(model, dev, TrainConfig.eval_batch_size)
            model.with_threshold(threshold)
            self.console.note(f"multi-label threshold chosen on dev: {threshold}")

    def evaluate(self, model, test) -> dict:
        return evaluate_classifier(model, test, TrainConfig.eval_batch_size, str(self.config.test))

    def format(self, report: dict) -> str:
        return format_classification_report(report)


TASK_RUNS = {"ner": NerTask, "classify": ClassifyTask}
