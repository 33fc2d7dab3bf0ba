"""Evaluate a model on annotated sentences through the same decode path as prediction."""
from __future__ import annotations

from collections.abc import Sequence

from ..backends import as_scorer
from ..predict import Predictor
from ..tags import is_valid_sequence, spans_from_tags
from ..types import Sentence, Tagged
from .errors import error_analysis
from .metrics import entity_scores, token_micro_f1


def evaluate(model, sentences: Sequence[Sentence], batch_size: int = 64, errors: bool = False) -> dict:
    """Tag ``sentences`` with ``model`` (a ``Tagger`` or any backend's ``Scorer``) and score the
    predictions against their gold tags; see ``tagging_report``. A model trained with document
    context reads each sentence with its neighbours of the same ``Sentence.doc``."""
    scorer = as_scorer(model)
    tagged = Predictor(scorer, batch_size=batch_size).tag([s.words for s in sentences], [s.doc for s in sentences])
    return tagging_report(sentences, tagged, scorer.labels, errors)


def tagging_report(sentences: Sequence[Sentence], tagged: Sequence[Tagged], labels: Sequence[str],
                   errors: bool = False) -> dict:
    """Score predictions against gold tags (IOB2) for every word of every sentence.

    Returns the report written by ``entitune evaluate --json``: ``entity`` (strict spans),
    ``per_type``, ``entity_conlleval``, ``token_micro_f1``, ``words``, ``words_untagged``,
    ``invalid_sequences`` (predicted sequences that break the transitions of the model's scheme,
    checked on its own ``labels``) and ``sentences``; with ``errors``, also ``errors``: the error
    analysis of the strict spans (``tagging_errors``).
    """
    gold = [list(s.tags or ()) for s in sentences]
    pred = [list(t.tags) for t in tagged]
    untagged = sum(max(0, len(g) - len(p)) for g, p in zip(gold, pred))
    strict = entity_scores(gold, pred, "strict")
    report = {
        "entity": strict["entity"],
        "per_type": strict["per_type"],
        "entity_conlleval": entity_scores(gold, pred, "conlleval")["entity"],
        "token_micro_f1": token_micro_f1(gold, pred),
        "words": sum(len(g) for g in gold),
        "words_untagged": untagged,
        "invalid_sequences": sum(not is_valid_sequence(t.native or t.tags, labels) for t in tagged),
        "sentences": len(sentences),
    }
    if errors:
        report["errors"] = tagging_errors(sentences, pred)
    return report


def tagging_errors(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]]) -> dict:
    """``errors.error_analysis`` of the strict spans of predicted tags (IOB2) against the sentences'
    gold tags, with each sentence's words and file line."""
    return error_analysis([spans_from_tags(s.tags or (), "strict") for s in sentences],
                          [spans_from_tags(p, "strict") for p in pred],
                          [s.words for s in sentences], [s.line for s in sentences])
