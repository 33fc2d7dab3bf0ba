"""Tiny checkpoints for vocabulary extension: a random BERT with a masked-LM head (its decoder tied
to the word embeddings, or its own) and ``[unusedN]`` placeholders in its WordPiece vocabulary."""
from __future__ import annotations

import string
from pathlib import Path

from entitune.vocab.wordpiece import WordPiece, _toy_state
from tests.helpers.data import WORDS

#: ``[unusedN]`` placeholders in the tiny vocabulary (ids 5 .. 5 + UNUSED - 1).
UNUSED = 8


def tiny_vocab(unused: int = UNUSED) -> list[str]:
    """Specials, ``unused`` placeholders, the test words, ASCII characters and their continuations."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"[unused{i}]" for i in range(unused)), *WORDS,
             *chars, *(f"##{c}" for c in chars)]
    return list(dict.fromkeys(vocab))


def build_mlm_checkpoint(directory: Path, tied: bool = True, unused: int = UNUSED) -> Path:
    """A random 2-layer BERT with a masked-LM head (``tied``: the decoder shares the embeddings, as
    BERT ships; else a decoder of its own), saved in safetensors with a fast WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    vocab = tiny_vocab(unused)
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, tie_word_embeddings=tied)
    model = BertForMaskedLM(config)
    if not tied:  # a decoder and bias of its own, not copies of the embeddings
        with torch.no_grad():
            model.cls.predictions.decoder.weight.normal_(0, 0.02)
            model.cls.predictions.bias.normal_(0, 0.02)
    model.save_pretrained(str(directory), safe_serialization=True)
    return directory


#: specials, five letters and their continuations: a word's cost is its length
LETTERS = ["[UNK]", *"abcde", *(f"##{c}" for c in "abcde")]


def toy_wordpiece(vocab=LETTERS, **model) -> WordPiece:
    """A WordPiece on ``vocab`` with ``model`` settings (``unk_token``, prefix...) changed."""
    state = _toy_state(vocab)
    state["model"].update(model)
    return WordPiece.from_state(state)
