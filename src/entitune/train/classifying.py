"""``fit_classifier``: text classification on the one training loop. What classification
contributes: texts -> windows (a long text gives several, each trained with the text's labels),
label targets per window, and the dev evaluation (accuracy, or micro F1 for multi-label, through
the predictor that combines a text's windows). ``choose_threshold`` picks a multi-label model's
decision threshold on dev; ``balanced_class_weights`` weights rare classes up; ``probe_head``
trains the head alone on the frozen encoder before fine-tuning (linear probe, then fine-tune)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from ..backends import TorchScorer
from ..encode import Window, collate, length_grouped_batches, text_windows
from ..evaluate import classification_report, classification_scores
from ..model.classifier import Classifier
from ..predict import ClassPredictor
from ..types import TextExample
from .config import PRECISIONS, CheckpointOptions, TrainConfig
from .distributed import current, map_sharded
from .loop import DevEvaluation, train_loop
from .optim import head_lr_for
from .progress import TrainListener, TrainResult


class TextWindowData:
    """Windows of labelled texts as ``TrainData``: ``collate`` adds ``labels``, the class id of each
    window's text (batch,), or for multi-label its 0/1 labels (batch, labels)."""

    def __init__(self, windows: Sequence[Window], targets: Sequence, pad_id: int, multi_label: bool) -> None:
        self.windows = windows
        self.targets = targets
        self.pad_id = pad_id
        self.multi_label = multi_label
        self.lengths = [len(w.input_ids) for w in windows]

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = collate([self.windows[i] for i in indices], self.pad_id)
        rows = [self.targets[self.windows[i].sentence] for i in indices]
        batch["labels"] = torch.tensor(rows, dtype=torch.float32 if self.multi_label else torch.long)
        return batch


def targets_of(examples: Sequence[TextExample], labels: Sequence[str], multi_label: bool) -> list:
    """Each example's class id, or its 0/1 vector over ``labels`` for multi-label data."""
    index = {label: i for i, label in enumerate(labels)}
    if multi_label:
        return [[1.0 if label in set(e.labels or ()) else 0.0 for label in labels] for e in examples]
    return [index[e.labels[0]] for e in examples]


def balanced_class_weights(examples: Sequence[TextExample], labels: Sequence[str]) -> tuple[float, ...]:
    """``n / (classes * count)`` per label (scikit-learn's "balanced"): rarer classes weigh more.

    >>> balanced_class_weights([TextExample("x", ("a",)), TextExample("y", ("a",)), TextExample("z", ("b",))], ["a", "b"])
    (0.75, 1.5)
    """
    counts = Counter(e.labels[0] for e in examples)
    n = sum(counts.values())
    return tuple(n / (len(labels) * counts[label]) if counts[label] else 1.0 for label in labels)


def classifier_dev_evaluation(model: Classifier, dev: Sequence[TextExample], batch_size: int) -> DevEvaluation:
    """Accuracy (micro F1 for multi-label) on ``dev`` with the weights of the moment; in a
    distributed run each rank classifies every size-th text and the pieces are gathered."""

    def run() -> dict:
        predictor = ClassPredictor(TorchScorer(model), batch_size=batch_size)
        predicted = map_sharded(predictor.classify, [e.text for e in dev], current())
        return classification_report(dev, predicted, model.labels, model.settings.multi_label)

    key = "micro_f1" if model.settings.multi_label else "accuracy"
    return DevEvaluation(run, lambda report: report[key], key)


def fit_classifier(
    model: Classifier,
    train: Sequence[TextExample],
    dev: Sequence[TextExample] | None,
    config: TrainConfig,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
) -> TrainResult:
    """Fine-tune ``model`` on ``train``; keep the weights of the best dev epoch (or the last). See
    ``loop.train_loop``."""
    windows = text_windows(model.word_encoder, [e.text for e in train], model.settings.pooling)
    targets = targets_of(train, model.labels, model.settings.multi_label)
    used_ids = {i for w in windows for i in w.input_ids} if config.compact_embeddings else None
    data = TextWindowData(windows, targets, model.pad_id, model.settings.multi_label)
    evaluation = classifier_dev_evaluation(model, dev, config.eval_batch_size) if dev else None
    return train_loop(model, data, config, head_lr_for("classify", config), evaluation, listener, checkpoints, used_ids)


#: the head's learning rate while the encoder is frozen (``probe_head``), as measured on AG News
PROBE_HEAD_LR = 1e-2


class FeatureData:
    """Fixed pooled vectors (windows, hidden) and their targets as ``TrainData`` for the head alone;
    each vector counts as one position in the loop's sub-word count."""

    def __init__(self, features: torch.Tensor, targets: Sequence, lengths: Sequence[int], multi_label: bool) -> None:
        self.features = features
        self.targets = torch.tensor(targets, dtype=torch.float32 if multi_label else torch.long)
        self.lengths = lengths

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return {"features": self.features[rows], "labels": self.targets[rows],
                "attention_mask": torch.ones(len(indices), 1, dtype=torch.long)}


class HeadOnFeatures(nn.Module):
    """A classifier's head trained on ``FeatureData`` (the ``Trainable`` the probe hands the loop)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head.loss(self.head.score(batch["features"]), batch["labels"])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        return self.head.loss_weight(batch["labels"])


@torch.no_grad()
def window_features(model: Classifier, windows: Sequence[Window], batch_size: int, precision: str) -> torch.Tensor:
    """The pooled vector the head reads for each window (windows, hidden), fp32 on the model's
    device: the encoder in eval mode (no dropout), under ``precision``'s autocast, batches of
    similar length. In a distributed run each rank encodes every size-th window and all get all."""
    device = next(model.parameters()).device
    dtype = PRECISIONS[precision]
    was_training = model.training
    model.eval()

    def encode(indices: list[int]) -> list[torch.Tensor]:
        rows: dict[int, torch.Tensor] = {}
        lengths = [len(windows[i].input_ids) for i in indices]
        for group in length_grouped_batches(lengths, batch_size, seed=0, shuffle=False):
            chunk = [indices[j] for j in group]
            batch = {k: v.to(device) for k, v in collate([windows[i] for i in chunk], model.pad_id).items()}
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                pooled = model.features(batch).float().cpu()
            rows.update(zip(chunk, pooled))
        return [rows[i] for i in indices]

    try:
        vectors = map_sharded(encode, list(range(len(windows))), current())
    finally:
        model.train(was_training)
    return torch.stack(vectors).to(device)


def probe_head(model: Classifier, train: Sequence[TextExample], config: TrainConfig, epochs: int,
               head_lr: float = PROBE_HEAD_LR) -> TrainResult:
    """Train only ``model``'s head for ``epochs`` on the frozen encoder (a linear probe), so that
    fine-tuning afterwards (``fit_classifier``) starts from a fitted head instead of a random one
    (LP-FT, Kumar et al. 2022).

    The encoder runs once: each training window's pooled vector (``window_features``, in eval mode,
    under ``config.precision``), then the head (pooler, dropout, Linear) trains on those vectors in
    the one loop, in fp32, at ``head_lr``, without warm-up, dev or checkpoints; ``config`` gives the
    batch size and seed. Encoding once instead of every epoch is what makes the probe cheap: on AG
    News a probe epoch through the encoder cost about as much as a fine-tuning epoch's forward."""
    windows = text_windows(model.word_encoder, [e.text for e in train], model.settings.pooling)
    targets = targets_of(train, model.labels, model.settings.multi_label)
    features = window_features(model, windows, config.eval_batch_size, config.precision)
    data = FeatureData(features, [targets[w.sentence] for w in windows], [len(w.input_ids) for w in windows],
                       model.settings.multi_label)
    probe = replace(config, epochs=epochs, head_lr=head_lr, warmup=0.0, compact_embeddings=False, eval_every=0,
                    patience=0, average_last=0, time_budget_s=None, precision="fp32")
    return train_loop(HeadOnFeatures(model.head), data, probe, head_lr)


def choose_threshold(model: Classifier, dev: Sequence[TextExample], batch_size: int = 64) -> float:
    """The multi-label decision threshold with the best micro F1 on ``dev`` (0.05 to 0.95 by 0.05;
    the one nearest 0.5 on ties)."""
    probs = ClassPredictor(TorchScorer(model), batch_size=batch_size).probabilities([e.text for e in dev]).tolist()
    gold = [list(e.labels or ()) for e in dev]
    labels = model.labels

    def micro_f1(threshold: float) -> float:
        pred = [[label for label, p in zip(labels, row) if p >= threshold] for row in probs]
        return classification_scores(gold, pred, labels, multi_label=True)["micro_f1"]

    grid = [round(0.05 * k, 2) for k in range(1, 20)]
    return max(grid, key=lambda t: (micro_f1(t), -abs(t - 0.5)))
