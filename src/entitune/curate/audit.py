"""Likely annotation errors in a labelled file, from a model's out-of-fold probabilities, ranked by
cleanlab (confident learning: Northcutt et al. 2021; for tokens, Wang & Mueller 2022).

Where the probabilities come from is the recipe's business (``recipes.curation``): k models each
trained on the other folds of the file (cross-prediction), or one model the user trusts. Here:

NER (``entity_issues``): every word gets the class of its given tag (``O`` or the entity type; B-,
I-, E-, S- of one type are one class, their probabilities summed, as cleanlab's token guide does),
and cleanlab scores each word's given class (``token_classification.rank.get_label_quality_scores``,
self-confidence: the probability the model gives the annotated class) and flags the words whose
class confident learning finds unlikely (``token_classification.filter.find_label_issues``).
An issue is one disagreement between the file's spans and the model's decoded spans, classified
by ``evaluate.errors.compare_spans`` (the file as gold, the model as prediction) and named for what
the *annotation* got wrong:

- ``wrong_type``: the model puts a span of another type on the same words;
- ``wrong_boundary``: a span of the same type over other boundaries;
- ``type_and_boundary``: both (errors.py's ``both``);
- ``missing_entity``: the model finds an entity where the file has none (errors.py's ``spurious``);
- ``spurious_entity``: the file has an entity the model does not see (errors.py's ``missed``).

Its ``score`` is cleanlab's quality of the given labels over the issue's words (the lowest word's,
as cleanlab's ``min`` sentence score takes it): lower is likelier an error; issues are ranked by it.
``flagged``: cleanlab's filter flags one of those words.

Classification (``class_issues``): cleanlab's ``rank.get_label_quality_scores`` (self-confidence)
and ``filter.find_label_issues``; an issue is a text whose given label is not the model's best, or
that cleanlab flags (class ``wrong_label``).

cleanlab is the optional ``curate`` extra; without it one line says what to install.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..evaluate.errors import compare_spans
from ..tags import spans_from_tags
from ..types import Sentence, Span, TextExample

#: the classes of an entity issue, in the order reports list them
ENTITY_CLASSES = ("wrong_type", "wrong_boundary", "type_and_boundary", "missing_entity", "spurious_entity")
#: the class of a text issue
TEXT_CLASS = "wrong_label"
#: ``evaluate.errors`` class (file as gold, model as prediction) -> annotation error class
FROM_SPAN_ERROR = {"wrong_type": "wrong_type", "wrong_boundary": "wrong_boundary", "both": "type_and_boundary",
                   "spurious": "missing_entity", "missed": "spurious_entity"}
#: the name of the class of words outside entities
OUTSIDE = "O"
INSTALL = "pip install 'entitune[curate]'"


def require_cleanlab():
    """The cleanlab module, or a one-line ``ConfigError`` saying what to install."""
    try:
        import cleanlab  # noqa: F401
        import cleanlab.filter
        import cleanlab.rank
        import cleanlab.token_classification.filter
        import cleanlab.token_classification.rank
    except ImportError:
        raise ConfigError(f"audit ranks issues with cleanlab: {INSTALL}") from None
    return cleanlab


def word_class(tag: str) -> str:
    """A tag's class for the audit: ``O`` or its entity type (any prefix, any scheme).

    >>> word_class("B-PER"), word_class("S-LOC"), word_class("O")
    ('PER', 'LOC', 'O')
    """
    return OUTSIDE if tag == OUTSIDE else tag.split("-", 1)[1]


def class_probabilities(probs: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(words, labels) probabilities over a model's tags -> (words, classes) over ``classes`` (``O``
    first, then entity types): the tags of one type summed. A class the model never learnt gets 0.

    >>> class_probabilities(np.array([[0.5, 0.3, 0.2]]), ["O", "B-X", "I-X"], ["O", "X", "Y"]).tolist()
    [[0.5, 0.5, 0.0]]
    """
    index = {c: k for k, c in enumerate(classes)}
    out = np.zeros((probs.shape[0], len(classes)), dtype=np.float64)
    for j, label in enumerate(labels):
        k = index.get(word_class(label))
        if k is not None:
            out[:, k] += probs[:, j]
    return out


def _span(span: Span | None, words: Sequence[str]) -> dict | None:
    if span is None:
        return None
    return {"start": span.start, "end": span.end, "label": span.label, "text": " ".join(words[span.start:span.end])}


def entity_issues(sentences: Sequence[Sentence], predicted: Sequence[Sequence[str]],
                  probs: Sequence[np.ndarray], classes: Sequence[str]) -> list[dict]:
    """The issues of tagged ``sentences`` (IOB2 tags, as given) against the model's ``predicted``
    IOB2 tags and each word's probabilities over ``classes`` (``O`` first; ``class_probabilities``),
    ranked (see the module docstring). Each issue: ``sentence`` (index), ``kind``, ``given`` and
    ``suggested`` spans (None for a missing / spurious entity; with their ``text``), the sentence's
    ``words``, every ``given_spans`` and ``suggested_spans``, ``score``, ``flagged``, ``types``."""
    require_cleanlab()
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    index = {c: k for k, c in enumerate(classes)}
    keep = [i for i, s in enumerate(sentences) if len(s.words)]
    labels = [[index[word_class(t)] for t in sentences[i].tags or ()] for i in keep]
    pred_probs = [np.asarray(probs[i], dtype=np.float64) for i in keep]
    flagged: set[tuple[int, int]] = set()
    quality: dict[int, np.ndarray] = {}
    if keep:
        _, token_scores = get_label_quality_scores(labels, pred_probs)
        quality = {i: np.asarray(scores, dtype=np.float64) for i, scores in zip(keep, token_scores)}
        if len({k for row in labels for k in row}) > 1:  # confident learning needs two classes given
            flagged = {(keep[i], j) for i, j in find_label_issues(labels, pred_probs, n_jobs=1)}
    issues: list[dict] = []
    for i, sentence in enumerate(sentences):
        given = spans_from_tags(sentence.tags or ())
        suggested = spans_from_tags(predicted[i])
        comparison = compare_spans(given, suggested)
        for error in comparison.errors:
            covered = [s for s in (error.gold, error.pred) if s is not None]
            start, end = min(s.start for s in covered), max(s.end for s in covered)
            issues.append({
                "sentence": i, "kind": FROM_SPAN_ERROR[error.kind],
                "given": _span(error.gold, sentence.words), "suggested": _span(error.pred, sentence.words),
                "types": sorted({s.label for s in covered}),
                "score": round(float(quality[i][start:end].min()), 6),
                "flagged": any((i, j) in flagged for j in range(start, end)),
                "words": list(sentence.words),
                "given_spans": [_span(s, sentence.words) for s in given],
                "suggested_spans": [_span(s, sentence.words) for s in suggested],
            })
    issues.sort(key=lambda x: (x["score"], x["sentence"], (x["given"] or x["suggested"])["start"]))
    return issues


def class_issues(examples: Sequence[TextExample], probs: np.ndarray, classes: Sequence[str]) -> list[dict]:
    """The issues of single-label ``examples`` against the model's (texts, classes) ``probs``, ranked
    by cleanlab's label quality (lowest first). Each: ``index``, ``kind`` (``wrong_label``), ``given``
    and ``suggested`` labels, ``score``, ``flagged``, ``types``, ``text`` and the ``probabilities``
    of the given and the suggested label."""
    require_cleanlab()
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    index = {c: k for k, c in enumerate(classes)}
    labels = np.array([index[e.labels[0]] for e in examples], dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    quality = get_label_quality_scores(labels, probs)
    flagged = np.zeros(len(examples), dtype=bool)
    if len(set(labels.tolist())) > 1:
        flagged = np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
    best = probs.argmax(axis=1)
    issues = []
    for i, example in enumerate(examples):
        if best[i] == labels[i] and not flagged[i]:
            continue
        given, suggested = classes[labels[i]], classes[best[i]]
        issues.append({"index": i, "kind": TEXT_CLASS, "given": given, "suggested": suggested,
                       "types": sorted({given, suggested}), "score": round(float(quality[i]), 6),
                       "flagged": bool(flagged[i]), "text": example.text,
                       "probabilities": {given: round(float(probs[i, labels[i]]), 6),
                                         suggested: round(float(probs[i, best[i]]), 6)}})
    issues.sort(key=lambda x: (x["score"], x["index"]))
    return issues


def summary(issues: Sequence[dict]) -> dict:
    """Counts of issues by class and by type, all and flagged only."""
    by_class: Counter = Counter(x["kind"] for x in issues)
    flagged: Counter = Counter(x["kind"] for x in issues if x["flagged"])
    by_type: Counter = Counter(t for x in issues for t in x["types"])
    return {"issues": len(issues), "flagged": sum(flagged.values()), "by_class": dict(by_class),
            "flagged_by_class": dict(flagged), "by_type": dict(sorted(by_type.items()))}


def format_summary(s: dict, classes: Sequence[str]) -> str:
    """A few lines for the console: issues per class (flagged by cleanlab in brackets) and per type."""
    lines = [f"{s['issues']} issues, {s['flagged']} flagged by cleanlab"]
    lines.append("by class: " + " | ".join(f"{c.replace('_', ' ')} {s['by_class'].get(c, 0)} "
                                           f"({s['flagged_by_class'].get(c, 0)} flagged)" for c in classes))
    if s["by_type"]:
        top = sorted(s["by_type"].items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("by type: " + ", ".join(f"{t} {n}" for t, n in top[:12])
                     + (f" (+{len(top) - 12} more)" if len(top) > 12 else ""))
    return "\n".join(lines)
