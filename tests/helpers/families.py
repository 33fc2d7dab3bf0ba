"""Tiny random checkpoints of the encoder families entitune supports, built offline: a transformers
config (hidden 32, 2 layers) with random weights, and a tokenizer trained with the ``tokenizers``
library on the test words and wrapped as the family's own tokenizer class, saved as the hub saves
them (``tokenizer.json`` + ``tokenizer_config.json``, no SentencePiece model file).

``FAMILIES`` names each family; ``build_checkpoint(name, directory)`` writes one (also ``layoutlm``,
whose encoder keeps its pooler, and ``t5``, an encoder-decoder entitune refuses). ``ODD_SENTENCES``
are words that tokenizers split oddly: attached and lone punctuation, digits, accents, CJK, a word
of several pieces.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.data import TINY_TEXTS, WORDS

#: Pre-split words that tokenizers cut in odd places (each is one word to entitune).
ODD_SENTENCES = [
    ["drew", "barrymore,", "(1980s)", "!", "Paris"],
    ["café", "Zoë", "naïve", "spielbergesque", "-"],
    ["東京", "北京大学", "3.5", "2024", "films"],
]
#: What the tokenizers are trained on: the test words and texts, and the odd words' characters.
CORPUS = [" ".join(WORDS), *(t for t, _ in TINY_TEXTS),
          "Paris café Zoë naïve 東京 北京 大学 3.5 2024 , ( ) ! - ."]
#: Characters every vocabulary has, so that any ASCII word has sub-tokens.
ALPHABET = string.ascii_letters + string.digits + string.punctuation
#: Tiny encoder dimensions shared by every family.
DIMS = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@dataclass(frozen=True)
class Family:
    """One encoder family: its ``model_type``, the word-start marker its sub-tokens carry (``Ġ``,
    ``▁``) or None for WordPiece (whose continuations start with ``##``), and whether its encoder
    takes token type ids."""

    model_type: str
    marker: str | None
    token_types: bool


FAMILIES = {
    "distilbert": Family("distilbert", None, False),
    "roberta": Family("roberta", "Ġ", True),
    "xlm-roberta": Family("xlm-roberta", "▁", True),
    "albert": Family("albert", "▁", True),
    "electra": Family("electra", None, True),
    "deberta-v2": Family("deberta-v2", "▁", True),
}


def _corpus(repeat: int = 20) -> list[str]:
    return CORPUS * repeat


def _wordpiece_vocab(lowercase: bool) -> dict[str, int]:
    """A WordPiece vocabulary trained on the corpus with BERT's normalizer and pre-tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=special, initial_alphabet=list(ALPHABET),
                                        show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    vocab = tok.get_vocab()
    for piece in [*ALPHABET, *(f"##{c}" for c in ALPHABET)]:  # any ASCII word splits into known pieces
        vocab.setdefault(piece, len(vocab))
    return vocab


def _byte_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE (vocab, merges) trained on the corpus, RoBERTa's special tokens first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _unigram(special: list[str], unk: str, lowercase: bool = False) -> list[tuple[str, float]]:
    """A SentencePiece-style Unigram vocabulary (piece, log-probability) trained on the corpus with
    a ``▁`` word-start marker, ``special`` first."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    steps = [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()] if lowercase else []
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(_corpus(), trainers.UnigramTrainer(vocab_size=250, special_tokens=special, unk_token=unk,
                                                               show_progress=False))
    vocab = [(piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]
    # the trainer keeps few whole words of so small a corpus: the test words become pieces of their own
    known = {piece for piece, _ in vocab}
    return vocab + [(f"▁{w}", -5.0) for w in WORDS if f"▁{w}" not in known]


def build_tokenizer(model_type: str):
    """The family's own tokenizer class over a vocabulary trained here."""
    import transformers as tf

    if model_type == "distilbert":
        return tf.DistilBertTokenizerFast(vocab=_wordpiece_vocab(lowercase=True), do_lower_case=True)
    if model_type == "electra":  # a cased WordPiece
        return tf.ElectraTokenizerFast(vocab=_wordpiece_vocab(lowercase=False), do_lower_case=False)
    if model_type in ("layoutlm", "t5"):  # families checked for one thing only (a kept pooler, a refusal)
        return tf.BertTokenizerFast(vocab=_wordpiece_vocab(lowercase=True), do_lower_case=True)
    if model_type == "roberta":
        vocab, merges = _byte_bpe()
        return tf.RobertaTokenizerFast(vocab=vocab, merges=merges)
    if model_type == "xlm-roberta":
        return tf.XLMRobertaTokenizerFast(vocab=_unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>"))
    if model_type == "albert":
        return tf.AlbertTokenizerFast(vocab=_unigram(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], "<unk>",
                                                     lowercase=True))
    if model_type == "deberta-v2":
        return tf.DebertaV2TokenizerFast(vocab=_unigram(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[UNK]"))
    raise ValueError(f"no tiny tokenizer for {model_type!r}")


def build_config(model_type: str, tokenizer):
    """A tiny config of the family, sized to ``tokenizer`` (its vocabulary and special ids)."""
    from transformers import AutoConfig

    ids = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    if model_type == "distilbert":
        return AutoConfig.for_model("distilbert", dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                    max_position_embeddings=64, **ids)
    if model_type == "t5":  # an encoder-decoder
        return AutoConfig.for_model("t5", d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
                                    decoder_start_token_id=tokenizer.pad_token_id, **ids)
    extra: dict = {"max_position_embeddings": 64}
    if model_type in ("roberta", "xlm-roberta"):  # positions start after the padding id
        extra = {"max_position_embeddings": 66, "type_vocab_size": 1, "bos_token_id": tokenizer.bos_token_id,
                 "eos_token_id": tokenizer.eos_token_id}
    elif model_type in ("albert", "electra"):  # embeddings projected up to the hidden size
        extra["embedding_size"] = 16
    elif model_type == "deberta-v2":  # as DeBERTa-v3: relative positions only, no token types
        extra.update(relative_attention=True, position_buckets=16, max_relative_positions=-1,
                     pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0,
                     norm_rel_ebd="layer_norm", share_att_key=True)
    return AutoConfig.for_model(model_type, **DIMS, **extra, **ids)


def build_checkpoint(model_type: str, directory: Path) -> Path:
    """Write a tiny random checkpoint of ``model_type`` (config, safetensors weights with the
    family's pooler where it has one, tokenizer files) to ``directory``."""
    import torch
    from transformers import AutoModel

    tokenizer = build_tokenizer(model_type)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    AutoModel.from_config(build_config(model_type, tokenizer)).save_pretrained(str(directory))
    return directory
