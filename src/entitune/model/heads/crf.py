"""Linear-chain CRF head over word positions, optionally behind a BiLSTM.

The CRF sees a dense word sequence (the first sub-token of each word, gathered by ``Tagger``), so
its mask is a prefix of Trues: no gaps from non-first sub-tokens, and [CLS]/[SEP] are not part of
it (the two mask bugs other CRF taggers hit). Written here rather than taken from pytorch-crf
because entitune needs hard transition constraints added to the learned transitions, marginals by
forward-backward for entity scores, and the decoder shared with the linear head.

Loss: negative log-likelihood, forward algorithm in log space, batched. The scheme's start/end
constraints are left out of the loss because training windows of long sentences may start inside an
entity; decoding always runs over whole sentences and applies them. At inference every backend
decodes in numpy (``tag_decoder``: ``decoding.TagDecoder`` with these transitions); ``decode`` and
``marginals`` here are its torch twins, checked equal to it.
"""
from __future__ import annotations

import torch
from torch import nn

from ...decoding import TagDecoder, Transitions
from ...encode import IGNORE
from .viterbi import register_constraints, viterbi


class CRFHead(nn.Module):
    """Emission layer (dropout, optional BiLSTM, Linear) plus CRF transitions.

    Args:
        hidden: size of the word vectors.
        num_labels: number of tags.
        dropout: dropout on the word vectors (training only).
        constraints: ``(start, trans, end)`` additive score tensors (0 allowed, ``FORBIDDEN`` not)
            or None.
        lstm_hidden: if set, a bidirectional LSTM with this many units per direction runs first.
    """

    def __init__(
        self,
        hidden: int,
        num_labels: int,
        dropout: float = 0.1,
        constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        lstm_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = "bilstm-crf" if lstm_hidden else "crf"
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden, lstm_hidden, batch_first=True, bidirectional=True) if lstm_hidden else None
        self.classifier = nn.Linear(2 * lstm_hidden if lstm_hidden else hidden, num_labels)
        self.num_labels = num_labels
        self.constrained = constraints is not None
        self.start_transitions = nn.Parameter(torch.zeros(num_labels))
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.end_transitions = nn.Parameter(torch.zeros(num_labels))
        register_constraints(self, num_labels, constraints)

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, words, hidden) vectors and (batch, words) mask -> (batch, words, labels) emissions."""
        x = self.dropout(words)
        if self.lstm is not None:
            lengths = mask.sum(1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=words.shape[1])
            x = self.dropout(x)
        return self.classifier(x)

    def _transitions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            self.start_transitions + self.start_constraint,
            self.transitions + self.trans_constraint,
            self.end_transitions + self.end_constraint,
        )

    def _forward_scores(self, emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor,
                        trans: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """log Z (batch,) and the forward variables alpha_t (batch, labels) for every t."""
        # shape: (batch, labels)
        alpha = start.unsqueeze(0) + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            # shape: (batch, prev, next) -> (batch, next)
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0) + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
            alphas.append(alpha)
        return torch.logsumexp(alpha + end.unsqueeze(0), dim=1), alphas

    def loss(self, emissions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per sequence.

        Args:
            emissions: (batch, words, labels).
            labels: (batch, words), -100 on padding; real words form a prefix of each row.
        """
        emissions = emissions.float()
        mask = labels != IGNORE
        tags = labels.clamp(min=0)
        _, trans, _ = self._transitions()
        start, end = self.start_transitions, self.end_transitions
        log_z, _ = self._forward_scores(emissions, mask, start, trans, end)
        # score of the gold path, shape: (batch,)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        gold = start[tags[:, 0]] + (emit * mask).sum(1)
        step = trans[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]
        gold = gold + step.sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        gold = gold + end[last]
        has_words = mask[:, 0]
        return ((log_z - gold) * has_words).sum() / has_words.sum().clamp(min=1)

    @staticmethod
    def loss_weight(labels: torch.Tensor) -> int:
        """What ``loss`` averages over: the sequences of ``labels`` (batch, words) that have words."""
        return int((labels[:, 0] != IGNORE).sum()) if labels.numel() else 0

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """P(tag at word t = label) under the CRF, by forward-backward; (batch, words, labels)."""
        emissions = emissions.float()
        start, trans, end = self._transitions()
        log_z, alphas = self._forward_scores(emissions, mask, start, trans, end)
        batch, words, labels = emissions.shape
        beta = end.unsqueeze(0).expand(batch, labels)
        betas = [beta]
        for t in range(words - 2, -1, -1):
            # shape: (batch, this, next) -> (batch, this)
            nxt = torch.logsumexp(trans.unsqueeze(0) + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[:, t + 1].unsqueeze(1), nxt, beta)
            betas.append(beta)
        betas.reverse()
        log_marg = torch.stack(alphas, 1) + torch.stack(betas, 1) - log_z.view(batch, 1, 1)
        return log_marg.exp()

    def tag_decoder(self) -> TagDecoder:
        """This head's decoding rule as data (``decoding.TagDecoder``, kind ``crf``: the learned
        transitions and the constraints): what every backend decodes with at inference, and what an
        export writes to ``decoder.json``."""

        def tables(*tensors: torch.Tensor) -> Transitions:
            return Transitions.of(*(t.detach().float().cpu().numpy() for t in tensors))

        constraints = (tables(self.start_constraint, self.trans_constraint, self.end_constraint)
                       if self.constrained else None)
        return TagDecoder("crf", constraints, tables(self.start_transitions, self.transitions, self.end_transitions))

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Viterbi path (with constraints) and each chosen tag's marginal probability; both (batch, words)."""
        start, trans, end = self._transitions()
        tags = viterbi(emissions.float(), mask, start, trans, end)
        probs = self.marginals(emissions, mask).gather(2, tags.unsqueeze(2)).squeeze(2)
        return tags, probs
