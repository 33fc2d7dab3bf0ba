"""Which tag may start a sequence, follow another, or end it; validity of a sequence. Pure Python.

The tables here are what the constrained decoder forbids (``model.heads.viterbi``) and what
``doctor`` and the evaluation report check.
"""
from __future__ import annotations

from collections.abc import Sequence

from .tag import split_tag


def allowed_transitions(labels: Sequence[str]) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Which tag may start a sequence, follow another, or end it, for IOB2 or BIOES labels.

    Returns ``(start[j], trans[i][j], end[i])``: ``trans[i][j]`` says label ``j`` may follow ``i``.
    IOB2: ``I-X`` only after ``B-X`` or ``I-X`` and never first. BIOES adds: after ``B-X``/``I-X``
    only ``I-X``/``E-X``; a sequence ends only on ``O``, ``E-`` or ``S-``.
    """
    parsed = [split_tag(label) for label in labels]
    bioes = any(p in ("E", "S") for p, _ in parsed)
    n = len(labels)

    def ok(i: int | None, j: int | None) -> bool:
        pi, ti = parsed[i] if i is not None else ("O", "")
        pj, tj = parsed[j] if j is not None else ("O", "")
        inside_i = pi in ("B", "I") and bioes  # an open BIOES entity must continue
        if inside_i:
            return j is not None and pj in ("I", "E") and tj == ti
        if pj in ("I", "E"):
            return pi in ("B", "I") and ti == tj
        return True

    start = [ok(None, j) for j in range(n)]
    trans = [[ok(i, j) for j in range(n)] for i in range(n)]
    end = [ok(i, None) for i in range(n)]
    return start, trans, end


def first_invalid(tags: Sequence[str], labels: Sequence[str] | None = None) -> int | None:
    """The first position that breaks the scheme's transitions (``len(tags) - 1`` when the sequence
    ends inside a BIOES entity), or None for a valid sequence. ``labels`` default to the tags seen.

    >>> first_invalid(["O", "I-PER"]), first_invalid(["B-PER", "E-PER", "B-LOC"]), first_invalid(["B-X"])
    (1, 2, None)
    """
    labels = list(labels) if labels is not None else sorted(set(tags) | {"O"})
    index = {label: i for i, label in enumerate(labels)}
    start, trans, end = allowed_transitions(labels)
    ids = [index[t] for t in tags]
    for i, j in enumerate(ids):
        if (i == 0 and not start[j]) or (i > 0 and not trans[ids[i - 1]][j]):
            return i
    if ids and not end[ids[-1]]:
        return len(ids) - 1
    return None


def is_valid_sequence(tags: Sequence[str], labels: Sequence[str] | None = None) -> bool:
    """True if the sequence obeys the transitions of its scheme (see ``allowed_transitions``)."""
    return first_invalid(tags, labels) is None
