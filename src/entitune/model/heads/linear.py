"""Linear softmax head, as in ``BertForTokenClassification``: dropout then one Linear layer.

Its decode runs the shared Viterbi over log-softmax scores with the scheme's hard transition
constraints (so no ``I-X`` after ``O``), or plain argmax when constraints are off. The constraints
are hard (allowed or not), so where the argmax path is allowed it is Viterbi's answer, and Viterbi
runs only for the sentences where it is not. At inference every backend runs that rule in numpy
(``tag_decoder``: ``decoding.TagDecoder``); ``decode`` here is its torch twin, checked equal to it.
"""
from __future__ import annotations

import torch
from torch import nn

from ...decoding import TagDecoder, Transitions
from ...encode import IGNORE
from .viterbi import register_constraints, viterbi


class LinearHead(nn.Module):
    """Scores each word's vector with one Linear layer.

    Args:
        hidden: size of the word vectors.
        num_labels: number of tags.
        dropout: dropout before the Linear layer (training only).
        constraints: ``(start, trans, end)`` additive score tensors from
            ``viterbi.constraint_tensors``, or None to decode by argmax.
    """

    kind = "linear"

    def __init__(
        self,
        hidden: int,
        num_labels: int,
        dropout: float = 0.1,
        constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        self.num_labels = num_labels
        self.constrained = constraints is not None
        register_constraints(self, num_labels, constraints)

    def forward(self, words: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, words, hidden) word vectors -> (batch, words, labels) scores (``mask`` unused)."""
        return self.classifier(self.dropout(words))

    def loss(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over words whose label is not -100.

        Args:
            scores: (batch, words, labels).
            labels: (batch, words), -100 on padding and on words to ignore.
        """
        return nn.functional.cross_entropy(scores.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)

    @staticmethod
    def loss_weight(labels: torch.Tensor) -> int:
        """What ``loss`` averages over: the labelled words of ``labels`` (batch, words). Gradient
        accumulation weights each micro-batch by it, to equal one large batch exactly."""
        return int((labels != IGNORE).sum())

    def decode(self, scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Best valid tags and their probabilities.

        Args:
            scores: (batch, words, labels).
            mask: (batch, words) bool, True on real words (a prefix of each row).

        Returns:
            tags (batch, words) long and, for each chosen tag, its softmax probability (batch, words).
        """
        log_probs = scores.float().log_softmax(dim=-1)
        tags = log_probs.argmax(dim=-1)
        if self.constrained:
            # The constraints only forbid (0 or FORBIDDEN): a row whose argmax path breaks none is
            # already the best valid path, so Viterbi runs only for the others (few, once trained).
            bad = ~self._allowed(tags, mask)
            if bool(bad.any()):
                tags[bad] = viterbi(log_probs[bad], mask[bad], self.start_constraint, self.trans_constraint,
                                    self.end_constraint)
        return tags, log_probs.gather(2, tags.unsqueeze(2)).squeeze(2).exp()

    def tag_decoder(self) -> TagDecoder:
        """This head's decoding rule as data (``decoding.TagDecoder``, kind ``softmax``): what every
        backend decodes with at inference, and what an export writes to ``decoder.json``."""
        if not self.constrained:
            return TagDecoder("softmax")
        tables = (self.start_constraint, self.trans_constraint, self.end_constraint)
        return TagDecoder("softmax", Transitions.of(*(t.detach().float().cpu().numpy() for t in tables)))

    def _allowed(self, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch,) True where the path ``tags`` (batch, words) breaks no constraint within ``mask``."""
        lengths = mask.sum(1)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        ok = (self.trans_constraint[tags[:, :-1], tags[:, 1:]] == 0) | ~mask[:, 1:]
        edges = (self.start_constraint[tags[:, 0]] == 0) & (self.end_constraint[last] == 0)
        return ok.all(1) & (edges | (lengths == 0))
