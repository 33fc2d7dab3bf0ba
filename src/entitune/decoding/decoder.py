"""``TagDecoder``: how a tagging head's emission scores become tags and their probabilities, as data
(numpy arrays) and one ``decode`` that every backend runs.

A tagging head is its emission layer (in the network: PyTorch, or the ONNX graph of an export) plus
this rule:

- ``softmax`` (the linear head): log-softmax over labels; the argmax path where it breaks no
  constraint, else the constrained Viterbi path over the log-probabilities (the constraints only
  forbid, so the argmax path, where allowed, is Viterbi's answer); each tag's softmax probability.
- ``crf`` (CRF and BiLSTM-CRF): the Viterbi path under the learned transition scores plus the
  constraints; each tag's marginal probability (forward-backward).

The constraints are the scheme's allowed transitions (``tags.allowed_transitions``: no ``I-X``
after ``O`` in IOB2) as additive tables, 0 where allowed and ``FORBIDDEN`` where not. A PyTorch
head builds its decoder from its weights (``LinearHead.tag_decoder``, ``CRFHead.tag_decoder``); an
export writes it to ``decoder.json`` (``to_dict``) and the runtime reads it back (``from_dict``):
the same tables, float32 for float32 (a float32 number written as JSON reads back exactly).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..tags import allowed_transitions
from .viterbi import FORBIDDEN, log_softmax, marginals, path_allowed, viterbi

#: decoding rules: ``softmax`` (linear head) and ``crf`` (CRF, BiLSTM-CRF)
KINDS = ("softmax", "crf")
#: the version of ``decoder.json`` this code writes and reads
FORMAT = 1


class Transitions(NamedTuple):
    """Scores of starting with each label (C,), of each label following another (C, C: from row to
    column) and of ending with each label (C,), float32."""

    start: np.ndarray
    trans: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, start, trans, end) -> "Transitions":
        out = cls(*(np.asarray(t, dtype=np.float32) for t in (start, trans, end)))
        n = out.start.shape[0] if out.start.ndim == 1 else -1
        if n < 0 or out.trans.shape != (n, n) or out.end.shape != (n,):
            raise ValueError(f"transition tables must be (C,), (C, C), (C,), got {out.start.shape}, "
                             f"{out.trans.shape}, {out.end.shape}")
        return out

    def __add__(self, other: "Transitions") -> "Transitions":  # type: ignore[override]
        return Transitions(self.start + other.start, self.trans + other.trans, self.end + other.end)

    def to_lists(self) -> dict:
        return {"start": self.start.tolist(), "transitions": self.trans.tolist(), "end": self.end.tolist()}


def constraint_tables(labels: Sequence[str]) -> Transitions:
    """The scheme's allowed transitions for ``labels`` as additive tables: 0 allowed, ``FORBIDDEN`` not.

    >>> constraint_tables(["O", "B-X", "I-X"]).start.tolist()
    [0.0, 0.0, -10000.0]
    """
    start, trans, end = allowed_transitions(labels)
    return Transitions.of(*(np.where(np.asarray(t, dtype=bool), np.float32(0), FORBIDDEN) for t in (start, trans, end)))


@dataclass(frozen=True, eq=False)  # eq=False: it holds arrays
class TagDecoder:
    """A tagging head's decoding rule (see the module docstring).

    Args:
        kind: ``softmax`` or ``crf``.
        constraints: additive constraint tables (``constraint_tables``), or None for none.
        learned: a CRF's learned transition scores (``crf`` only).
    """

    kind: str
    constraints: Transitions | None = None
    learned: Transitions | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"decoder kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.kind == "crf") != (self.learned is not None):
            raise ValueError("a crf decoder needs its learned transitions, and only a crf decoder has them")
        sizes = {t.start.shape[0] for t in (self.constraints, self.learned) if t is not None}
        if len(sizes) > 1:
            raise ValueError(f"constraint and learned tables differ in size: {sorted(sizes)}")

    @property
    def num_labels(self) -> int | None:
        """How many labels the tables have (None: a softmax decoder without constraints has no tables)."""
        tables = self.learned or self.constraints
        return None if tables is None else int(tables.start.shape[0])

    def tables(self) -> Transitions | None:
        """The tables Viterbi runs under: the learned scores plus the constraints (a CRF), the
        constraints (softmax), or None (unconstrained softmax: argmax)."""
        if self.learned is None:
            return self.constraints
        if self.constraints is None:
            return self.learned
        return self.learned + self.constraints

    def decode(self, scores: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag ids (batch, words) int64 and each chosen tag's probability (batch, words) float32,
        from emission scores (batch, words, labels) and a word mask (batch, words), True on real
        words (a prefix of each row)."""
        scores = np.asarray(scores, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        if self.num_labels is not None and scores.shape[-1] != self.num_labels:
            raise ValueError(f"scores have {scores.shape[-1]} labels, the decoder {self.num_labels}")
        tables = self.tables()
        if self.kind == "crf":
            tags = viterbi(scores, mask, *tables)
            probs = np.take_along_axis(marginals(scores, mask, *tables), tags[:, :, None], axis=2)[:, :, 0]
            return tags, probs
        log_probs = log_softmax(scores)
        tags = log_probs.argmax(axis=-1)
        if tables is not None:
            # The constraints only forbid (0 or FORBIDDEN): a row whose argmax path breaks none is
            # already the best valid path, so Viterbi runs only for the others (few, once trained).
            bad = ~path_allowed(tags, mask, *tables)
            if bad.any():
                tags[bad] = viterbi(log_probs[bad], mask[bad], *tables)
        return tags, np.exp(np.take_along_axis(log_probs, tags[:, :, None], axis=2)[:, :, 0])

    # ------------------------------------------------------------------ decoder.json
    def to_dict(self, labels: Sequence[str]) -> dict:
        """The decoder as ``decoder.json`` holds it: the labels it decodes (to check on load), the
        constraints as allowed (true) or not, and a CRF's learned scores."""
        out: dict = {"format": FORMAT, "kind": self.kind, "labels": list(labels), "constrained": self.constraints is not None}
        if self.constraints is not None:
            out["allowed"] = {k: (np.asarray(v) == 0).tolist() for k, v in self.constraints.to_lists().items()}
        if self.learned is not None:
            out["learned"] = self.learned.to_lists()
        return out

    @classmethod
    def from_dict(cls, raw: dict, labels: Sequence[str]) -> "TagDecoder":
        """The decoder ``to_dict`` wrote, for a model of ``labels``; ``ValueError`` says what is wrong."""
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"not a decoder of format {FORMAT}")
        if list(raw.get("labels", ())) != list(labels):
            raise ValueError(f"its labels {raw.get('labels')} differ from the model's {list(labels)}")
        constraints = learned = None
        try:
            if raw.get("constrained"):
                allowed = raw["allowed"]
                constraints = Transitions.of(*(np.where(np.asarray(allowed[k], dtype=bool), np.float32(0), FORBIDDEN)
                                               for k in ("start", "transitions", "end")))
            if "learned" in raw:
                learned = Transitions.of(*(raw["learned"][k] for k in ("start", "transitions", "end")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete transition tables ({exc})") from None
        decoder = cls(raw.get("kind", ""), constraints, learned)
        if decoder.num_labels not in (None, len(labels)):
            raise ValueError(f"its tables have {decoder.num_labels} labels, the model {len(labels)}")
        return decoder
