"""Pooling head for text classification, as in ``BertForSequenceClassification``: pool a window's
vectors, (the pretrained pooler: dense + tanh), dropout, one Linear layer.

``cls`` pooling takes the [CLS] vector (the window gathers position 0 only); ``mean`` averages every
token's vector under the mask (the window gathers every position). Single-label heads train with
cross-entropy (optionally class-weighted), multi-label heads with binary cross-entropy per label.
"""
from __future__ import annotations

import torch
from torch import nn


class ClassificationHead(nn.Module):
    """Scores a window's pooled vector.

    Args:
        hidden: size of the encoder's vectors.
        num_labels: number of classes.
        pooling: ``cls`` or ``mean``.
        dropout: dropout before the Linear layer (training only).
        pooler: a dense + tanh layer after pooling (initialised from the checkpoint's pooler).
        multi_label: sigmoid per label and binary cross-entropy, instead of softmax.
        class_weights: per-class loss weights (single-label training), or None.
    """

    kind = "classify"

    def __init__(self, hidden: int, num_labels: int, pooling: str = "cls", dropout: float = 0.1, pooler: bool = True,
                 multi_label: bool = False, class_weights: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.pooling = pooling
        self.multi_label = multi_label
        self.pooler = nn.Linear(hidden, hidden) if pooler else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else torch.ones(num_labels)
        self.register_buffer("class_weights", weights, persistent=False)

    def pool(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, positions, hidden) gathered vectors and their (batch, positions) mask -> the pooled
        vector (batch, hidden), before the pooler: what the head reads from the encoder."""
        if self.pooling == "cls":
            return vectors[:, 0]
        # shape: (batch, positions, 1)
        weights = mask.unsqueeze(-1).to(vectors.dtype)
        return (vectors * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def score(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled vectors (batch, hidden) -> logits (batch, labels): the pooler, dropout, the Linear layer."""
        if self.pooler is not None:
            pooled = torch.tanh(self.pooler(pooled))
        return self.classifier(self.dropout(pooled))

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, positions, hidden) and (batch, positions) -> logits (batch, labels)."""
        return self.score(self.pool(vectors, mask))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Single-label: cross-entropy with ``targets`` (batch,) class ids, weighted by class (the
        weighted mean, as PyTorch takes it). Multi-label: binary cross-entropy with ``targets``
        (batch, labels) of 0/1, the mean over every label of every window."""
        if self.multi_label:
            return nn.functional.binary_cross_entropy_with_logits(logits.float(), targets.float())
        return nn.functional.cross_entropy(logits.float(), targets, weight=self.class_weights)

    def loss_weight(self, targets: torch.Tensor) -> float:
        """What ``loss`` averages over: the class weights of ``targets`` (their count when unweighted),
        or every label of every window for multi-label."""
        if self.multi_label:
            return float(targets.numel())
        return float(self.class_weights.to(targets.device)[targets].sum())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(windows, labels) logits -> probabilities: softmax over labels, or a sigmoid per label."""
        return torch.sigmoid(logits.float()) if self.multi_label else logits.float().softmax(-1)
