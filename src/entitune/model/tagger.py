"""``Tagger``: a Hugging Face encoder plus a head over word vectors, as a plain ``nn.Module``.

The encoder reads sub-tokens; the vector of each word's first sub-token is gathered into a dense
word sequence (batch, words, hidden), and the head scores that. So heads never see [CLS], [SEP],
padding or non-first sub-tokens, and a CRF's mask has no gaps. Inference backends (``backends``)
wrap a Tagger; faster inference paths live there, never as state in this module.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..encode import WordEncoder
from ..errors import not_a_model
from . import model_dir
from .settings import TaggerSettings, build_tagging_head


class Tagger(nn.Module):
    """Encoder + head. ``forward`` gives (batch, words, labels) scores; ``batch_loss`` and
    ``loss_weight`` are what the training loop calls.

    Build with ``Tagger.from_encoder(dir, labels)`` to fine-tune, or ``Tagger.load(dir)``.
    """

    def __init__(self, encoder: nn.Module, tokenizer, settings: TaggerSettings) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.word_encoder = WordEncoder(tokenizer, settings.max_length, settings.stride)
        config = encoder.config
        self.head, self.n_layers = build_tagging_head(settings, config.hidden_size, config.num_hidden_layers)
        self.frozen = settings.features != "finetune"
        if self.frozen:
            encoder.requires_grad_(False)
        self._token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters

    @property
    def labels(self) -> tuple[str, ...]:
        return self.settings.labels

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def train(self, mode: bool = True) -> "Tagger":
        super().train(mode)
        if self.frozen:  # a frozen encoder is a fixed feature extractor: no dropout
            self.encoder.eval()
        return self

    def encoder_kwargs(self, token_type_ids: torch.Tensor | None) -> dict:
        """The token type ids as a keyword for the encoder, where it takes them (and they are given)."""
        return {"token_type_ids": token_type_ids} if self._token_types and token_type_ids is not None else {}

    def encode_words(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq) -> vectors of each word's first sub-token (batch, words, hidden').

        ``finetune``: the last layer. ``frozen-sum4`` / ``frozen-concat4``: the last four layers
        summed / concatenated, computed without gradients.
        """
        kwargs = self.encoder_kwargs(token_type_ids)
        if self.frozen:
            with torch.no_grad():
                states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                      output_hidden_states=True, **kwargs).hidden_states[-self.n_layers :]
                # shape: (batch, seq, hidden) or (batch, seq, 4 * hidden)
                hidden = torch.stack(states).sum(0) if self.settings.features == "frozen-sum4" else torch.cat(states, -1)
        else:
            # shape: (batch, seq, hidden)
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return gather_words(hidden, word_starts)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_starts: torch.Tensor,
        word_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq), word starts and word mask (batch, words) -> scores (batch, words, labels)."""
        return self.head(self.encode_words(input_ids, attention_mask, word_starts, token_type_ids), word_mask)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of a collated, labelled batch (see ``encode.collate``); precomputed frozen features
        may come as ``word_vectors`` (batch, words, hidden'), and then the encoder is skipped."""
        words = batch.get("word_vectors")
        if words is None:
            words = self.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                      batch["token_type_ids"])
        return self.head.loss(self.head(words, batch["word_mask"]), batch["word_labels"])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        """What ``batch_loss`` averages over (labelled words, or sentences for a CRF): gradient
        accumulation and data parallelism weight each micro-batch by it."""
        return float(self.head.loss_weight(batch["word_labels"]))

    # ------------------------------------------------------------------ construction and files
    @classmethod
    def from_encoder(
        cls,
        encoder_dir: str | Path | None,
        labels: Sequence[str],
        *,
        head: str = "linear",
        features: str = "finetune",
        max_length: int = 128,
        stride: int = 32,
        constrained: bool = True,
        dropout: float = 0.1,
        seed: int = 42,
        scheme: str = "IOB2",
    ) -> "Tagger":
        """A new tagger on a pretrained local checkpoint (default: the bundled MiniLM); ``seed``
        drives the head's initialisation; ``scheme`` (IOB2 or BIOES) is the scheme of ``labels``."""
        settings = TaggerSettings(
            labels=tuple(labels), head=head, features=features, max_length=max_length, stride=stride,
            constrained=constrained, dropout=dropout, scheme=scheme,
        )
        path = model_dir.check_checkpoint(encoder_dir or model_dir.default_encoder_dir())
        config = model_dir.load_hf_config(path)
        settings = replace(settings, encoder=str(path))
        tagger = cls(model_dir.build_encoder(config, path), model_dir.load_tokenizer(path, config.model_type), settings)
        std = getattr(config, "initializer_range", 0.02)
        nn.init.normal_(tagger.head.classifier.weight, std=std, generator=torch.Generator().manual_seed(seed))
        nn.init.zeros_(tagger.head.classifier.bias)
        return tagger

    def save(self, directory: str | Path) -> None:
        """Write a Hugging Face token-classification directory plus ``entitune.json`` (see ``model_dir``).

        ``transformers.pipeline("token-classification", model=directory)`` loads a linear-head model.
        """
        from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

        # only a fine-tuned linear head is exactly what *ForTokenClassification computes
        exact = self.settings.head == "linear" and self.settings.features == "finetune"
        arch = MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES.get(self.encoder.config.model_type) if exact else None
        path = model_dir.write_model_files(directory, self.settings, self.encoder.config, self.tokenizer, arch)
        prefix = self.encoder.base_model_prefix
        state = {f"{prefix}.{k}": v for k, v in self.encoder.state_dict().items()}
        state.update(self.head.state_dict())
        model_dir.save_safetensors(state, path / model_dir.WEIGHTS_FILE)

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "Tagger":
        """Load a directory written by ``save``; checks labels and head against ``entitune.json``."""
        path = Path(directory)
        settings, _ = model_dir.read_settings(path)
        model_dir.check_checkpoint(path)
        config = model_dir.read_labelled_config(path, settings)
        tagger = cls(model_dir.build_encoder(config, None), model_dir.load_tokenizer(path, config.model_type), settings)
        state = model_dir.load_safetensors(path / model_dir.WEIGHTS_FILE)
        prefix = tagger.encoder.base_model_prefix + "."
        encoder_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        head_state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        missing, unexpected = tagger.encoder.load_state_dict(encoder_state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise not_a_model(path, f"weights do not match the encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
        try:
            tagger.head.load_state_dict(head_state, strict=True)
        except RuntimeError as exc:
            raise not_a_model(path, f"head weights do not match head {settings.head!r} ({exc})") from None
        return tagger.to(device).eval()


def gather_words(hidden: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
    """Sub-token vectors (batch, seq, hidden) -> the vectors at ``word_starts`` (batch, words, hidden)."""
    index = word_starts.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    return hidden.gather(1, index)
