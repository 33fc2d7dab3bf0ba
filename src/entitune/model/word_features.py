"""``WordFeatureNet``: the learned part of ``--word-features``. A word's shape id becomes a small
embedding, its characters go through a small character CNN (embedding, one convolution, max over
the characters), and the results are concatenated beside the encoder's word vector before the head
(``EncoderModel.add_word_features``). The ids come from the words as written (``encode.word_features``),
so capitalisation reaches the head even when the tokenizer lowercases everything.
"""
from __future__ import annotations

import torch
from torch import nn

from ..encode.word_features import SHAPE_IDS, CharVocabulary

#: width of the character convolution (characters seen at once)
CHAR_KERNEL = 3


class WordFeatureNet(nn.Module):
    """Shape embedding and/or character CNN over each word.

    Args:
        shapes: embed each word's shape id (``encode.word_features.shape_id``) in ``shape_dim``.
        char_ids: rows of the character embedding (``CharVocabulary.size``); 0: no characters.
        shape_dim: size of the shape embedding.
        char_dim: size of the character embedding.
        char_filters: convolution filters, so the size of a word's character vector.
    """

    def __init__(self, shapes: bool, char_ids: int, shape_dim: int = 16, char_dim: int = 24,
                 char_filters: int = 48) -> None:
        super().__init__()
        if not shapes and not char_ids:
            raise ValueError("a WordFeatureNet needs shapes, characters or both")
        self.shape_embedding = nn.Embedding(SHAPE_IDS, shape_dim, padding_idx=0) if shapes else None
        self.char_embedding = nn.Embedding(char_ids, char_dim, padding_idx=0) if char_ids else None
        # zero padding on both sides: the padding id's embedding is zero too, so a word's vector does
        # not depend on how far the batch pads its characters
        self.char_conv = nn.Conv1d(char_dim, char_filters, CHAR_KERNEL, padding=CHAR_KERNEL // 2) if char_ids else None
        self.size = (shape_dim if shapes else 0) + (char_filters if char_ids else 0)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The batch keys it reads (``encode.collate``): ``word_shapes`` and/or ``word_chars``."""
        return (("word_shapes",) if self.shape_embedding is not None else ()) + (
            ("word_chars",) if self.char_embedding is not None else ())

    def forward(self, word_shapes: torch.Tensor | None = None, word_chars: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, words) shape ids and/or (batch, words, chars) character ids, 0 on padding ->
        (batch, words, size) word feature vectors."""
        parts = []
        if self.shape_embedding is not None:
            if word_shapes is None:
                raise ValueError("this model reads word shapes: the batch has no word_shapes (windows encoded "
                                 "without the model's word features; use the model's word_encoder)")
            parts.append(self.shape_embedding(word_shapes))
        if self.char_embedding is not None:
            if word_chars is None:
                raise ValueError("this model reads characters: the batch has no word_chars (windows encoded "
                                 "without the model's word features; use the model's word_encoder)")
            batch, words, chars = word_chars.shape
            flat = word_chars.reshape(batch * words, chars)
            # shape: (batch * words, char_dim, chars) -> (batch * words, filters, chars)
            conv = self.char_conv(self.char_embedding(flat).transpose(1, 2))
            real = (flat != 0).unsqueeze(1)
            # shape: (batch * words, filters): the max over the word's real characters
            pooled = conv.masked_fill(~real, float("-inf")).amax(dim=2)
            pooled = torch.where(real.any(dim=2), pooled, torch.zeros_like(pooled))  # padding words: zeros
            parts.append(pooled.view(batch, words, -1))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def build_word_feature_net(settings) -> WordFeatureNet | None:
    """The ``WordFeatureNet`` a tagger's settings describe (None for ``word_features`` none or a
    model of another task)."""
    mode = getattr(settings, "word_features", "none")
    if mode == "none":
        return None
    char_ids = CharVocabulary(settings.char_vocab).size if "chars" in mode else 0
    return WordFeatureNet("shape" in mode, char_ids, settings.shape_dim, settings.char_dim, settings.char_filters)
