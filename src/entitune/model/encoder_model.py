"""``EncoderModel``: what every task's model shares. A Hugging Face encoder reads sub-tokens; the
vectors at chosen positions of each window (a word's first sub-token for tagging; [CLS], or every
token, for classification) are gathered into (batch, positions, hidden) and a task's head scores
them. Saving and loading go through ``model_dir``; a task adds its head, its settings and how its
weights are named in a Hugging Face checkpoint.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..errors import not_a_model
from ..artifact import model_dir
from .bert import bert_layers, last_layer_at
from .build import build_word_encoder

#: where a model's word feature weights (``word_features.WordFeatureNet``) are saved, beside the head's
WORD_FEATURES_PREFIX = "word_features."


def gather_words(hidden: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
    """Sub-token vectors (batch, seq, hidden) -> the vectors at ``word_starts`` (batch, words, hidden)."""
    index = word_starts.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
    return hidden.gather(1, index)


class EncoderModel(nn.Module):
    """Encoder + head over gathered positions; a plain ``nn.Module`` with no inference caches.

    Subclasses set ``task`` (the ``entitune.json`` task it saves), build their head in
    ``__init__`` (``self.head``), and name their weights for transformers in ``hf_architecture``,
    ``head_state_for_file`` and ``head_state_from_file``.
    """

    task: ClassVar[str]
    frozen: bool = False
    #: compute the last layer only at the gathered positions where the encoder is BERT-shaped
    #: (``model.bert.last_layer_at``; the same rows as the full layer, tested); False: the full layer
    partial_last_layer: bool = True

    def __init__(self, encoder: nn.Module, tokenizer, settings) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.word_encoder = build_word_encoder(settings, tokenizer)
        #: features of each word as written, concatenated to its vector before the head (a tagger's
        #: ``word_features.WordFeatureNet``; None: none)
        self.word_feature_net: nn.Module | None = None
        self._token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
        layers = bert_layers(encoder)
        self._bert_shaped = layers is not None and len(layers) >= 2

    @property
    def labels(self) -> tuple[str, ...]:
        return self.settings.labels

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def encoder_kwargs(self, token_type_ids: torch.Tensor | None) -> dict:
        """The token type ids as a keyword for the encoder, where it takes them (and they are given)."""
        return {"token_type_ids": token_type_ids} if self._token_types and token_type_ids is not None else {}

    def encode_words(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq) -> the last layer's vectors at ``word_starts`` (batch, positions, hidden).

        Where the encoder is BERT-shaped and fewer positions are read than there are sub-tokens, the
        last layer runs only at them (``model.bert.last_layer_at``).
        """
        kwargs = self.encoder_kwargs(token_type_ids)
        if not (self.partial_last_layer and self._bert_shaped and word_starts.shape[1] < input_ids.shape[1]):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
            return gather_words(hidden, word_starts)
        stack = self.encoder.encoder
        layers = stack.layer
        stack.layer = layers[:-1]  # transformers' own forward for every layer but the last
        try:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        finally:
            stack.layer = layers
        return last_layer_at(layers[-1], hidden, attention_mask, word_starts)

    def add_word_features(self, vectors: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Word vectors (batch, words, hidden') with the word features of ``batch`` (``word_shapes``,
        ``word_chars``, see ``encode.collate``) concatenated: (batch, words, hidden' + features); as
        they are for a model without word features."""
        if self.word_feature_net is None:
            return vectors
        features = self.word_feature_net(batch.get("word_shapes"), batch.get("word_chars"))
        return torch.cat([vectors, features.to(vectors.dtype)], dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_starts: torch.Tensor,
        word_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        word_shapes: torch.Tensor | None = None,
        word_chars: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq), positions and their mask (batch, positions), and the word
        features where the model has them -> the head's scores."""
        vectors = self.encode_words(input_ids, attention_mask, word_starts, token_type_ids)
        vectors = self.add_word_features(vectors, {"word_shapes": word_shapes, "word_chars": word_chars})
        return self.head(vectors, word_mask)

    # ------------------------------------------------------------------ what a task names
    def hf_architecture(self) -> str | None:
        """The transformers class that computes exactly what this model computes, or None."""
        return None

    def hf_difference(self) -> str:
        """What this model computes that transformers' model for its task does not (where
        ``hf_architecture`` is None)."""
        return f"a {self.encoder.config.model_type} encoder with a head transformers has no model for"

    def transformers_refusal(self) -> str | None:
        """The sentence transformers shows when asked to load this model and cannot run it (None when
        ``hf_architecture`` names a transformers class that computes the same); see ``model_dir.REFUSAL_KEY``."""
        if self.hf_architecture() is not None:
            return None
        what = "NER model" if self.task == "ner" else "text classifier"
        return (f"NOT LOADABLE BY TRANSFORMERS: this is an entitune {what} with {self.hf_difference()}, which "
                "transformers does not compute; it would load the encoder under a head of its own and answer "
                "wrongly. Load it with entitune: entitune.load(path) in Python, or 'entitune predict path'.")

    def head_state_for_file(self) -> dict[str, torch.Tensor]:
        """The head's weights under the names they have in the saved checkpoint."""
        return dict(self.head.state_dict())

    @classmethod
    def head_state_from_file(cls, state: dict[str, torch.Tensor], prefix: str) -> tuple[dict, dict]:
        """Split a checkpoint's tensors into (encoder weights without ``prefix``, head weights)."""
        encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        head = {k: v for k, v in state.items() if not k.startswith(prefix)}
        return encoder, head

    def init_classifier(self, seed: int) -> None:
        """A new head's final Linear (``head.classifier``): normal with the encoder's
        ``initializer_range``, drawn from ``seed``; zero bias."""
        std = getattr(self.encoder.config, "initializer_range", 0.02)
        nn.init.normal_(self.head.classifier.weight, std=std, generator=torch.Generator().manual_seed(seed))
        nn.init.zeros_(self.head.classifier.bias)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> None:
        """Write a Hugging Face checkpoint directory plus ``entitune.json`` (see ``model_dir``)."""
        path = model_dir.write_model_files(directory, self.settings, self.encoder.config, self.tokenizer,
                                           self.hf_architecture(), config_extra=self.hf_config_extra(),
                                           refusal=self.transformers_refusal())
        prefix = self.encoder.base_model_prefix
        state = {f"{prefix}.{k}": v for k, v in self.encoder.state_dict().items()}
        state.update(self.head_state_for_file())
        if self.word_feature_net is not None:
            state.update({WORD_FEATURES_PREFIX + k: v for k, v in self.word_feature_net.state_dict().items()})
        model_dir.save_safetensors(state, path / model_dir.WEIGHTS_FILE)

    def hf_config_extra(self) -> dict | None:
        """Attributes ``config.json`` holds for this task (a classifier's ``problem_type``)."""
        return None

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "EncoderModel":
        """Load a directory written by ``save``; checks the task and the labels against ``entitune.json``."""
        path = Path(directory)
        settings, _ = model_dir.read_settings(path)
        if settings.task != cls.task:
            raise not_a_model(path, f"a {settings.task} model, not a {cls.task} model")
        model_dir.check_checkpoint(path)
        config = model_dir.read_labelled_config(path, settings)
        model = cls(model_dir.build_encoder(config, None), model_dir.load_tokenizer(path, config.model_type), settings)
        state = model_dir.load_safetensors(path / model_dir.WEIGHTS_FILE)
        encoder_state, head_state = cls.head_state_from_file(state, model.encoder.base_model_prefix + ".")
        feature_state = {k[len(WORD_FEATURES_PREFIX):]: head_state.pop(k) for k in list(head_state)
                         if k.startswith(WORD_FEATURES_PREFIX)}
        missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
        # an encoder that keeps its own pooler (LayoutLM has no add_pooling_layer) never uses it: a
        # classifier's pooler is its head's, saved under the same name
        missing = [k for k in missing if not k.endswith("position_ids") and not k.startswith("pooler.")]
        if missing or unexpected:
            raise not_a_model(path, f"weights do not match the encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
        try:
            model.head.load_state_dict(head_state, strict=True)
        except RuntimeError as exc:
            raise not_a_model(path, f"head weights do not match this model's head ({exc})") from None
        if model.word_feature_net is None and feature_state:
            raise not_a_model(path, "word feature weights, but its settings name no word features")
        if model.word_feature_net is not None:
            try:
                model.word_feature_net.load_state_dict(feature_state, strict=True)
            except RuntimeError as exc:
                raise not_a_model(path, f"word feature weights do not match its settings ({exc})") from None
        return model.to(device).eval()
