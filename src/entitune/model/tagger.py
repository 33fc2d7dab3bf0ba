"""``Tagger``: an encoder plus a tagging head over word vectors, as a plain ``nn.Module``.

The encoder reads sub-tokens; the vector of each word's first sub-token is gathered into a dense
word sequence (batch, words, hidden), and the head scores that. So heads never see [CLS], [SEP],
padding or non-first sub-tokens, and a CRF's mask has no gaps. Inference backends (``backends``)
wrap a Tagger; faster inference paths live there, never as state in this module.
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
from .encoder_model import EncoderModel, gather_words
from ..artifact.settings import TaggerSettings
from .build import build_tagging_head
from .word_features import build_word_feature_net

__all__ = ["Tagger", "gather_words"]


class Tagger(EncoderModel):
    """Encoder + tagging head. ``forward`` gives (batch, words, labels) scores; ``batch_loss`` and
    ``loss_weight`` are what the training loop calls.

    Build with ``Tagger.from_encoder(dir, labels)`` to fine-tune, or ``Tagger.load(dir)``.
    """

    task = "ner"

    def __init__(self, encoder: nn.Module, tokenizer, settings: TaggerSettings) -> None:
        super().__init__(encoder, tokenizer, settings)
        config = encoder.config
        self.head, self.n_layers = build_tagging_head(settings, config.hidden_size, config.num_hidden_layers)
        self.word_feature_net = build_word_feature_net(settings)
        self.frozen = settings.features != "finetune"
        if self.frozen:
            encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "Tagger":
        super().train(mode)
        if self.frozen:  # a frozen encoder is a fixed feature extractor: no dropout
            self.encoder.eval()
        return self

    def encode_words(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq) -> vectors of each word's first sub-token (batch, words, hidden').

        ``finetune``: the last layer. ``frozen-sum4`` / ``frozen-concat4``: the last four layers
        summed / concatenated, computed without gradients.
        """
        if not self.frozen:
            return super().encode_words(input_ids, attention_mask, word_starts, token_type_ids)
        with torch.no_grad():
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                                  **self.encoder_kwargs(token_type_ids)).hidden_states[-self.n_layers :]
            # shape: (batch, seq, hidden) or (batch, seq, 4 * hidden)
            hidden = torch.stack(states).sum(0) if self.settings.features == "frozen-sum4" else torch.cat(states, -1)
        return gather_words(hidden, word_starts)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of a collated, labelled batch (see ``encode.collate``); precomputed frozen features
        may come as ``word_vectors`` (batch, words, hidden'), and then the encoder is skipped (the
        word features, which train, are added after)."""
        words = batch.get("word_vectors")
        if words is None:
            words = self.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                      batch["token_type_ids"])
        words = self.add_word_features(words, batch)
        return self.head.loss(self.head(words, batch["word_mask"]), batch["word_labels"])

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        """What ``batch_loss`` averages over (labelled words, or sentences for a CRF): gradient
        accumulation and data parallelism weight each micro-batch by it."""
        return float(self.head.loss_weight(batch["word_labels"]))

    def hf_architecture(self) -> str | None:
        """``*ForTokenClassification``: only a fine-tuned linear head is exactly what it computes."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

        if self.settings.head != "linear" or self.settings.features != "finetune" or self.word_feature_net is not None:
            return None
        return MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES.get(self.encoder.config.model_type)

    def hf_difference(self) -> str:
        s = self.settings
        if s.word_features != "none":
            return f"word features ({s.word_features}: each word's shape and/or characters as written) beside the encoder's vectors"
        if s.head == "crf":
            return "a CRF head (learned tag transitions, decoded by Viterbi)"
        if s.head == "bilstm-crf":
            return "a BiLSTM-CRF head (a BiLSTM, then learned tag transitions decoded by Viterbi)"
        if s.features != "finetune":
            how = "summed" if s.features == "frozen-sum4" else "concatenated"
            return f"a head over the last four layers of a frozen encoder, {how} ({s.features})"
        return f"a {self.encoder.config.model_type} encoder, for which transformers has no token-classification model"

    @classmethod
    def from_encoder(
        cls,
        encoder_dir: str | Path | Encoder | None,
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
        word_features: str = "none",
        char_vocab: str | None = None,
        context: int = 0,
    ) -> "Tagger":
        """A new tagger on a pretrained encoder: a local checkpoint directory or a Hugging Face Hub name
        ``ORG/NAME[@REVISION]`` (``hub.resolve_encoder``; default: the bundled MiniLM); ``seed``
        drives the head's initialisation; ``scheme`` (IOB2 or BIOES) is the scheme of ``labels``.

        ``word_features`` (none, shape, chars, shape+chars) adds each word's shape and/or a character
        CNN over it, read as written, beside the encoder's vector; ``chars`` needs ``char_vocab``, the
        training data's characters (``encode.char_vocabulary(sentence words)``). ``context`` > 0 has
        each sentence read that many sub-tokens of its document's neighbouring sentences on each side
        (``encode.windows``; saved with the model, used wherever documents are given)."""
        if "chars" in word_features and char_vocab is None:
            raise ConfigError(f"word features {word_features!r} need a character vocabulary: "
                              "char_vocab=entitune.encode.char_vocabulary(the training sentences' words)")
        settings = TaggerSettings(
            labels=tuple(labels), head=head, features=features, max_length=max_length, stride=stride,
            constrained=constrained, dropout=dropout, scheme=scheme, word_features=word_features,
            char_vocab=char_vocab if "chars" in word_features else "", context=context,
        )
        encoder = resolve_encoder(encoder_dir)
        path = encoder.directory
        config = model_dir.load_hf_config(path)
        name, sha256 = encoder.identity()
        settings = replace(settings, encoder=name, encoder_sha256=sha256)
        tagger = cls(model_dir.build_encoder(config, path), model_dir.load_tokenizer(path, config.model_type), settings)
        tagger.init_classifier(seed)
        if tagger.word_feature_net is not None:
            tagger.init_word_features(seed)
        return tagger

    def init_word_features(self, seed: int) -> None:
        """New word feature weights drawn from ``seed`` (``nn.Embedding`` and ``nn.Conv1d``'s own
        initialisations, padding rows zero), so that a run is repeatable whatever drew from torch before."""
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for module in self.word_feature_net.modules():
                if isinstance(module, nn.Embedding):
                    module.weight.normal_(generator=generator)
                    if module.padding_idx is not None:
                        module.weight[module.padding_idx].zero_()
                elif isinstance(module, nn.Conv1d):
                    bound = 1.0 / (module.in_channels * module.kernel_size[0]) ** 0.5
                    module.weight.uniform_(-bound, bound, generator=generator)
                    module.bias.uniform_(-bound, bound, generator=generator)
