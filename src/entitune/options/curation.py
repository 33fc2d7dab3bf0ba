"""The options of the verbs that curate data: ``audit`` (likely annotation errors in a labelled file,
and the corrected copy after review) and ``select`` (which unlabelled inputs to annotate next).
Imports no torch."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .declare import Options, option
from .inference import json_option
from .reading import ReadOptions
from .training import FinetuneConfig

#: ``select --strategy``: the uncertainty measures (``curate.select``) and a seeded random pick
SELECT_STRATEGIES = ("mnlp", "margin", "entropy", "random")
#: ``select --format``: what the pool may be
POOL_FORMATS = ("auto", "text", "jsonl", "labelstudio", "conll", "bio")
#: train options ``audit`` sets itself for each fold
FOLD_SET = frozenset({"train", "dev", "test", "out", "resume"})


@dataclass(frozen=True, kw_only=True)
class AuditConfig(ReadOptions):
    """``entitune audit``: likely annotation errors in a labelled file (cross-prediction, or a trained
    model), or with ``fix_from`` the corrected copy of the file after review. ``base`` holds the
    ``train`` options each fold's model is trained with (``--config``, ``--set`` and the train flags
    fill it; ``model`` there is the encoder to start from)."""

    #: ``FinetuneConfig`` options that ``audit`` takes as flags of its own, into ``base``
    TRAIN_FLAGS = ("epochs", "head", "lr", "max_length", "batch_size")

    data: str = option(help="labelled file to audit (tagged sentences or labelled texts)", group="input",
                       positional=True, input_file=True, metavar="DATA")
    out: str = option(help="directory for issues.jsonl, audit.html, summary.json and the folds' models (folds/K); "
                      "run again to reuse the finished folds", group="output", metavar="DIR")
    model: str | None = option(None, "judge the file with this trained model instead of cross-prediction (a "
                               "model trained on this file has seen its errors, and finds fewer)", group="input",
                               metavar="MODEL", default_help="cross-prediction over --folds")
    folds: int = option(5, "cross-prediction: the file is cut into this many seeded folds, and each fold is judged "
                        "by a model trained on the others with the train options", group="training", low=2, high=100)
    seed: int = option(42, "seed of the fold split, and of each fold's training unless the train options give one",
                       group="training", low=0, high=2**32 - 1)
    fix_from: str | None = option(None, "instead of auditing: the reviewed issues.jsonl ('review': 'accept' or "
                                  "'reject' on each issue looked at); writes OUT/NAME.fixed.EXT, the file with exactly "
                                  "the accepted changes (the original is never touched)", group="input",
                                  input_file=True, metavar="REVIEWED")
    base: Mapping[str, Any] | None = option(None, "train options of each fold's model", group="input", cli=False,
                                            default_help="train's defaults")

    def __post_init__(self) -> None:
        super().__post_init__()
        names = {f.name for f in dataclasses.fields(FinetuneConfig)}
        for key in self.train_options:  # FOLD_SET keys (a train config file's train, out...) are set per fold, so ignored
            if key not in names:
                raise ConfigError(f"unknown train option {key!r} for the folds' models")
        if self.model is not None and self.train_options and self.fix_from is None:
            raise ConfigError("--model judges with a trained model; train options (--config, --set, --epochs...) are "
                              "for cross-prediction: give one or the other")


    @property
    def train_options(self) -> dict[str, Any]:
        """``base`` as a dict (empty when none was given)."""
        return dict(self.base or {})


@dataclass(frozen=True, kw_only=True)
class SelectConfig(Options):
    """``entitune select``: pick the unlabelled inputs worth annotating next."""

    model: str = option(help="trained model directory (or packed .tar.gz) whose uncertainty decides", group="input",
                        metavar="MODEL")
    pool: str = option(help="unlabelled inputs: text (one a line; a blank line ends a document), JSONL with 'text' or "
                       "'tokens' (other fields are kept; 'doc' names the document), a Label Studio export, or an "
                       "annotated CoNLL/.bio file (its tags are ignored)", group="input", input_file=True,
                       metavar="FILE")
    n: int = option(help="how many inputs to pick", group="data", low=1, high=10_000_000, metavar="K")
    out: str = option(help="directory for tasks.json (Label Studio tasks with the model's pre-annotations), "
                      "selected.jsonl and label_config.xml", group="output", metavar="DIR")
    strategy: str = option("mnlp", "mnlp (maximum normalized log-probability, Shen et al. 2017) | margin (the "
                           "smallest gap between a word's two best tags) | entropy (mean word entropy) | random "
                           "(seeded: the baseline)", group="data", choices=SELECT_STRATEGIES)
    diversity: bool = option(False, "cluster the most uncertain inputs (k-means over the encoder's mean-pooled "
                             "vectors, 5 candidates a place) and take the most uncertain of each cluster",
                             group="data", negative="--no-diversity")
    per_doc: int | None = option(None, "take at most this many inputs of one document", group="data", low=1,
                                 high=10_000_000, default_help="no cap")
    format: str = option("auto", "auto | text | jsonl | labelstudio | conll | bio: the pool's format",
                         group="data", choices=POOL_FORMATS)
    seed: int = option(42, "seed of the random strategy and of k-means", group="data", low=0, high=2**32 - 1)
    batch_size: int = option(64, "windows per forward pass", group="run", low=1, high=1_000_000)
    json_out: str | None = json_option("the selection's summary")
