"""The options of ``entitune adapt`` (``AdaptConfig``): domain adaptation of an encoder in one run,
vocabulary extension then masked-LM pretraining. It takes every option of ``pretrain``
(``PretrainConfig``: the loop, the text, the masking) and the vocabulary options of ``vocab``
(``VocabOptions``), declared there once; what it declares itself is what differs: labelled training
files whose words join the text, ``max_new`` 0 (no extension), and the budget's defaults (a number
of optimizer steps, which ``--epochs`` does not cut short unless asked). Imports no torch."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .choices import AUTO_EPOCHS
from .declare import option
from .tools import VocabOptions
from .training import PretrainConfig, parse_epochs, parse_texts

#: pretraining steps ``adapt`` takes by default (provisional: ``bench/adapt_sweep.py`` measures
#: test entity F1 against pretraining tokens on KMOU and Weibo to choose it)
ADAPT_STEPS = 2000
#: the share of the texts held out as dev when no dev file or share is given: a corpus is large
ADAPT_DEV_FRACTION = 0.01


@dataclass(frozen=True, kw_only=True)
class AdaptConfig(PretrainConfig, VocabOptions):
    """Every option of ``entitune adapt``: ``vocab extend``'s (``max_new``, ``unit``...) for the first
    step, ``pretrain``'s for the second; ``text`` and/or ``train`` give the words of both."""

    DEV_FRACTION = ADAPT_DEV_FRACTION

    text: tuple[str, ...] = option(
        (), "unlabelled text to adapt to: plain text, one text per line (compressed .xz, .gz or .bz2 files are read "
        "as they are, streamed), or any file 'train' reads; more files may follow it or repeat --text",
        group="input", parse=parse_texts, input_file=True, many=True, metavar="FILE", default_help="none")
    train: tuple[str, ...] = option(
        (), "labelled training files whose words join the text (the labels are not read): the words the tagger will "
        "see get into the vocabulary and the pretraining", group="input", parse=parse_texts, input_file=True,
        many=True, metavar="FILE", default_help="none")
    max_new: int = option(3000, "tokens added to the vocabulary at most (the best ranked by the sub-words they save "
                          "on the text; 0: the vocabulary is kept)", group="model", low=0, high=10_000_000)
    max_steps: int | None = option(
        ADAPT_STEPS, "pretraining steps: the budget (with --time-budget-minutes, whichever ends first); the learning "
        "rate decays over them", group="training", low=1, high=1_000_000_000)
    epochs: int | str = option(
        1000, "passes over the text at most: the step budget ends pretraining first unless the text is small",
        group="training", parse=parse_epochs, choices=(AUTO_EPOCHS,), low=1, high=10_000)

    def __post_init__(self) -> None:
        if not self.text and not self.train:
            raise ConfigError("give the text to adapt to: --text FILE (unlabelled) and/or --train FILE (labelled)")
        super().__post_init__()

    @property
    def corpus_files(self) -> tuple[str, ...]:
        """The text files, then the labelled training files."""
        return (*self.text, *self.train)
