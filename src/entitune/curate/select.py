"""``select``: which unlabelled inputs to annotate next, by the model's uncertainty (Shen et al. 2017,
"Deep Active Learning for Named Entity Recognition"), optionally spread over clusters of the
encoder's vectors, at most so many per document.

Uncertainty of a sentence of n words (higher: more worth labelling), from each word's probabilities
``p_i`` over the model's tags (``probabilities.WordDistributions``) and its decoded tags ``y_i``:

- ``mnlp`` (maximum normalized log-probability, Shen et al.): ``-(1/n) sum_i log p_i(y_i)``, the
  negated length-normalised log-probability of the decoded sequence. Which probability ``p_i(y_i)``
  is: for a linear head the softmax probability of the decoded tag, so the sum is the decoded
  (best allowed) path's log-probability under the per-word distributions, Shen et al.'s quantity;
  for a CRF the *marginal* probability of the decoded tag (what ``Predictor.tag`` reports), whose
  sum approximates the Viterbi path's normalized log-probability from below (the path's joint
  probability is never above its least-likely word's marginal) without a second pass over the
  lattice.
- ``margin``: ``1 - min_i (p_i(first) - p_i(second))``, the smallest gap between a word's two most
  probable tags: a sentence is as uncertain as its most ambiguous word.
- ``entropy``: ``(1/n) sum_i H(p_i)``, ``H(p) = -sum_k p_k log p_k``, the mean word entropy.

For a classifier the same three over its class distribution ``p``: ``-log p(best)``, ``1 - (p(first)
- p(second))`` and ``H(p)``. An empty input has uncertainty 0.

Diversity (``diverse``): the ``n * pool_factor`` most uncertain inputs are clustered into ``n``
groups by k-means (scikit-learn) over their mean-pooled encoder vectors, and the most uncertain of
each cluster is taken, so the batch does not spend itself on near-duplicates. The cap (``per_doc``)
takes at most that many inputs of one document, in order of uncertainty; the remaining places go to
the next inputs in the ranking.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from ..errors import ConfigError

STRATEGIES = ("mnlp", "margin", "entropy")
#: how many candidates per place k-means clusters with diversity on
POOL_FACTOR = 5


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy (nats) along the last axis; 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * logs).sum(axis=-1)


def _margins(p: np.ndarray) -> np.ndarray:
    """The gap between the two largest entries along the last axis (the largest alone with one entry)."""
    top = np.sort(np.asarray(p, dtype=np.float64), axis=-1)
    return top[..., -1] - (top[..., -2] if top.shape[-1] > 1 else 0.0)


def sequence_uncertainty(strategy: str, probs: np.ndarray, chosen: Sequence[float]) -> float:
    """A sentence's uncertainty (see the module docstring) from its words' probabilities ``probs``
    (words, tags) and the decoded tags' probabilities ``chosen`` (as ``Tagged.scores``).

    >>> round(sequence_uncertainty("mnlp", np.array([[0.5, 0.5], [1.0, 0.0]]), [0.5, 1.0]), 4)
    0.3466
    >>> sequence_uncertainty("margin", np.array([[0.6, 0.4], [0.9, 0.1]]), [0.6, 0.9])
    0.8
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    n = len(chosen)
    if n == 0:
        return 0.0
    if strategy == "mnlp":
        return float(-np.log(np.clip(np.asarray(chosen, dtype=np.float64), 1e-12, 1.0)).mean())
    if strategy == "margin":
        return float(1.0 - _margins(probs).min())
    return float(_entropy(probs).mean())


def class_uncertainty(strategy: str, probs: np.ndarray) -> float:
    """A text's uncertainty from its class distribution ``probs`` (classes,).

    >>> round(class_uncertainty("entropy", np.array([0.5, 0.5])), 4), class_uncertainty("margin", np.array([0.7, 0.2, 0.1]))
    (0.6931, 0.5)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    p = np.asarray(probs, dtype=np.float64)
    if strategy == "mnlp":
        return float(-np.log(max(float(p.max()), 1e-12)))
    if strategy == "margin":
        return float(1.0 - _margins(p))
    return float(_entropy(p))


def capped(order: Sequence[int], n: int, documents: Sequence[Hashable] | None, per_doc: int | None) -> list[int]:
    """The first ``n`` of ``order`` taking at most ``per_doc`` of any one document (None: no cap).

    >>> capped([0, 1, 2, 3], 3, ["a", "a", "a", "b"], 2)
    [0, 1, 3]
    """
    if per_doc is None or documents is None:
        return list(order[:n])
    taken: dict[Hashable, int] = {}
    out = []
    for i in order:
        if len(out) == n:
            break
        if taken.get(documents[i], 0) < per_doc:
            taken[documents[i]] = taken.get(documents[i], 0) + 1
            out.append(i)
    return out


def diverse(order: Sequence[int], uncertainty: Sequence[float], vectors: np.ndarray, n: int, seed: int,
            documents: Sequence[Hashable] | None = None, per_doc: int | None = None,
            pool_factor: int = POOL_FACTOR) -> list[int]:
    """``n`` inputs: the ``n * pool_factor`` first of ``order`` clustered into ``n`` clusters (k-means
    on ``vectors``, rows indexed like ``uncertainty``), the most uncertain of each cluster, the
    clusters taken by their best's uncertainty; places the cap leaves go down the ranking."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        raise ConfigError("diversity clusters with scikit-learn: pip install 'entitune[curate]'") from None
    candidates = list(order[: max(n, n * pool_factor)])
    if len(candidates) <= n:
        return capped(candidates, n, documents, per_doc)
    clusters = KMeans(n_clusters=n, n_init=3, random_state=seed).fit_predict(np.asarray(vectors)[candidates])
    best: dict[int, int] = {}
    for i, c in zip(candidates, clusters):  # candidates are in order: the first of a cluster is its best
        best.setdefault(int(c), i)
    leaders = sorted(best.values(), key=lambda i: -uncertainty[i])
    rest = [i for i in order if i not in set(leaders)]
    return capped(leaders + rest, n, documents, per_doc)


def rank(uncertainty: Sequence[float]) -> list[int]:
    """Indices from most to least uncertain (ties: earlier input first)."""
    return sorted(range(len(uncertainty)), key=lambda i: (-uncertainty[i], i))
