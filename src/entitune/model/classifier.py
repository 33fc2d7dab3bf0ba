"""``Classifier``: an encoder plus a pooling head that classifies each window of a text.

Saved as a Hugging Face sequence-classification checkpoint (``config.json`` with ``id2label`` and
``problem_type``; for BERT with [CLS] pooling the ``BertForSequenceClassification`` architecture and
weight names, so ``transformers.pipeline("text-classification")`` computes the same scores for a
text that fits one window) plus ``entitune.json``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..artifact import model_dir
from ..artifact.hub import Encoder, resolve_encoder
from .encoder_model import EncoderModel
from ..artifact.settings import ClassifierSettings
from .build import build_classification_head

#: model types whose ``*ForSequenceClassification`` is pooler (dense + tanh) -> dropout -> classifier
_POOLER_ARCHITECTURES = {"bert": "BertForSequenceClassification"}


def pretrained_pooler(directory: str | Path) -> dict[str, torch.Tensor] | None:
    """The pooler weights (``weight``, ``bias``) of a checkpoint, or None when it has none; only
    those two tensors are read from the file."""
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / model_dir.WEIGHTS_FILE
    try:
        with safe_open(str(path), "pt") as fh:
            keys = {k.rsplit(".", 1)[1]: k for k in fh.keys() if k.endswith(("pooler.dense.weight", "pooler.dense.bias"))}
            return {name: fh.get_tensor(key) for name, key in keys.items()} if len(keys) == 2 else None
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read these weights ({exc})") from None


class Classifier(EncoderModel):
    """Encoder + ``ClassificationHead``. ``forward`` gives (batch, labels) logits per window.

    Build with ``Classifier.from_encoder(dir, labels)`` to fine-tune, or ``Classifier.load(dir)``.
    ``class_weights`` (per label, training only) weight the cross-entropy.
    """

    task = "classify"

    def __init__(self, encoder: nn.Module, tokenizer, settings: ClassifierSettings,
                 class_weights: Sequence[float] | None = None) -> None:
        super().__init__(encoder, tokenizer, settings)
        if class_weights is not None and len(class_weights) != len(settings.labels):
            raise ConfigError(f"class_weights has {len(class_weights)} values for {len(settings.labels)} labels")
        weights = tuple(float(w) for w in class_weights) if class_weights is not None else None
        self.head = build_classification_head(settings, encoder.config.hidden_size, weights)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of a collated batch of windows with ``labels`` (batch,) or (batch, labels)."""
        vectors = self.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                    batch["token_type_ids"])
        return self.head.loss(self.head(vectors, batch["word_mask"]), batch["labels"])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        return self.head.loss_weight(batch["labels"])

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """A collated batch of windows -> the pooled vectors the head reads (batch, hidden), before
        its pooler (``ClassificationHead.pool``): fixed while the encoder is frozen."""
        vectors = self.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                    batch["token_type_ids"])
        return self.head.pool(vectors, batch["word_mask"])

    # ------------------------------------------------------------------ transformers names
    def hf_architecture(self) -> str | None:
        """``BertForSequenceClassification`` for a BERT with [CLS] pooling through its pooler."""
        if self.settings.pooling != "cls" or not self.settings.pooler:
            return None
        return _POOLER_ARCHITECTURES.get(self.encoder.config.model_type)

    def hf_difference(self) -> str:
        if self.settings.pooling == "mean":
            return "mean pooling (the average of every token's vector, where transformers reads [CLS])"
        if not self.settings.pooler:
            return "[CLS] pooling without a pooler layer"
        return f"[CLS] pooling through a pooler, which transformers' {self.encoder.config.model_type} classifier computes differently"

    def hf_config_extra(self) -> dict:
        kind = "multi_label_classification" if self.settings.multi_label else "single_label_classification"
        return {"problem_type": kind}

    def head_state_for_file(self) -> dict[str, torch.Tensor]:
        """``classifier.*`` as transformers names it; the pooler under the encoder's prefix
        (``bert.pooler.dense.*``), where ``BertForSequenceClassification`` keeps it."""
        state = {f"classifier.{k}": v for k, v in self.head.classifier.state_dict().items()}
        if self.head.pooler is not None:
            prefix = self.encoder.base_model_prefix
            state.update({f"{prefix}.pooler.dense.{k}": v for k, v in self.head.pooler.state_dict().items()})
        return state

    @classmethod
    def head_state_from_file(cls, state: dict[str, torch.Tensor], prefix: str) -> tuple[dict, dict]:
        pooler = f"{prefix}pooler.dense."
        head = {f"pooler.{k[len(pooler):]}": v for k, v in state.items() if k.startswith(pooler)}
        head.update({k: v for k, v in state.items() if k.startswith("classifier.")})
        encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and not k.startswith(pooler)}
        return encoder, head

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_encoder(
        cls,
        encoder_dir: str | Path | Encoder | None,
        labels: Sequence[str],
        *,
        pooling: str = "cls",
        multi_label: bool = False,
        max_length: int = 128,
        stride: int = 32,
        dropout: float = 0.1,
        seed: int = 42,
        class_weights: Sequence[float] | None = None,
        label_names: dict[str, str] | None = None,
    ) -> "Classifier":
        """A new classifier on a pretrained encoder: a local checkpoint directory or a Hugging Face Hub
        name ``ORG/NAME[@REVISION]`` (``hub.resolve_encoder``; default: the bundled MiniLM). [CLS]
        pooling goes through the checkpoint's pretrained pooler where it has one; ``seed`` drives
        the classifier layer's initialisation; ``label_names`` (the data's labels -> ``labels``' names)
        is kept in the settings, so a labelled file written with the data's labels is read alike."""
        encoder = resolve_encoder(encoder_dir)
        path = encoder.directory
        pooler = pretrained_pooler(path) if pooling == "cls" else None
        name, sha256 = encoder.identity()
        settings = ClassifierSettings(labels=tuple(labels), pooling=pooling, pooler=pooler is not None,
                                      multi_label=multi_label, max_length=max_length, stride=stride,
                                      dropout=dropout, encoder=name, encoder_sha256=sha256,
                                      label_names=dict(label_names or {}))
        config = model_dir.load_hf_config(path)
        model = cls(model_dir.build_encoder(config, path), model_dir.load_tokenizer(path, config.model_type), settings,
                    class_weights)
        if pooler is not None:
            model.head.pooler.load_state_dict(pooler)
        model.init_classifier(seed)
        return model

    def with_threshold(self, threshold: float) -> "Classifier":
        """The same model with a multi-label decision threshold (chosen on dev)."""
        self.settings = replace(self.settings, threshold=threshold)
        return self
