"""``load``: the predictor of a saved model or an ONNX export (what ``entitune.load`` returns), able
to score a labelled file as well as predict: ``entitune.load(DIR).evaluate("test.bio")`` gives the
report ``entitune evaluate DIR test.bio`` prints and writes, number for number.

One score everywhere (``options.inference.SCORING_RULE``): a labelled file is scored in fp32 with
``SCORING_BATCH`` windows a batch, as a training run scores its test file for ``train_log.json`` and
the model card. ``load``'s precision is fp32 by default, so the three agree (a predictor loaded in
bf16 scores in bf16).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..backends import load_scorer
from ..data import load_annotated
from ..data.texts import read_labelled_texts
from ..options.inference import SCORING_BATCH
from ..predict import ClassPredictor, Predictor
from ..types import Sentence, TextExample
from .classification import evaluate_classifier
from .evaluation import evaluate


class TaggerPredictor(Predictor):
    """A tagger's ``Predictor`` that also scores labelled sentences (``evaluate``)."""

    def evaluate(self, data: str | Path | Sequence[Sentence], format: str = "auto", *, errors: bool = False) -> dict:
        """Entity P/R/F1 per type, token micro F1... of this model on ``data`` (an annotated file, read
        as ``entitune evaluate`` reads it, or ``Sentence`` objects): ``evaluate.tagging_report``'s
        report, with ``errors`` its error analysis too."""
        sentences = load_annotated(data, format).sentences if isinstance(data, (str, Path)) else list(data)
        return evaluate(self.scorer, sentences, SCORING_BATCH, errors=errors)


class ClassifierPredictor(ClassPredictor):
    """A classifier's ``ClassPredictor`` that also scores labelled texts (``evaluate``)."""

    def evaluate(self, data: str | Path | Sequence[TextExample], format: str = "auto", *,
                 text_columns: str | None = None, label_column: str | None = None) -> dict:
        """Accuracy, per-class P/R/F1 and the confusion matrix of this model on ``data`` (a file of
        labelled texts, read as ``entitune evaluate`` reads it, labels named by the model's
        ``--label-names``, or ``TextExample`` objects)."""
        if isinstance(data, (str, Path)):
            examples = read_labelled_texts(data, format, text_columns, label_column,
                                           self.scorer.settings.label_names).examples
            return evaluate_classifier(self.scorer, examples, SCORING_BATCH, str(data))
        return evaluate_classifier(self.scorer, list(data), SCORING_BATCH)


def load(path: str | Path, backend: str = "auto", batch_size: int = 32, threads: int | None = None, device: str = "cpu",
         precision: str = "fp32") -> TaggerPredictor | ClassifierPredictor:
    """The predictor of a saved model or an export, by its task (``backends.load_scorer`` for the
    arguments)."""
    scorer = load_scorer(path, backend, threads, device, precision)
    kind = ClassifierPredictor if scorer.settings.task == "classify" else TaggerPredictor
    return kind(scorer, batch_size=batch_size)
