"""The tokenizer an export's runtime loads with the ``tokenizers`` library alone
(``artifact.tokenizer.load_tokenizer_file``) makes the very windows the transformers tokenizer of
the PyTorch model makes (``model_dir.load_tokenizer``), for every encoder family entitune supports:
the same sub-token ids, word starts and special tokens, with the prefix space byte-level BPE and
SentencePiece tokenizers need, on words that tokenizers split oddly (punctuation, accents, CJK,
digits, a word of no sub-token, long sentences cut into windows). It reads the checkpoint as saved
by its library, and as a trained model or an export saves it again."""
from __future__ import annotations

import pytest

from entitune.artifact import model_dir
from entitune.artifact.tokenizer import FastTokenizer, load_tokenizer_file
from entitune.encode import WordEncoder, special_tokens_around, text_windows
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, WORDS
from tests.helpers.families import FAMILIES, ODD_SENTENCES, build_tokenizer

SENTENCES = [*ODD_SENTENCES, *(w for w, _ in TINY_SENTENCES), WORDS * 3, ["\u200b", "films", "\u0007"], []]


def _windows(tokenizer, documents: bool = False):
    encoder = WordEncoder(tokenizer, max_length=16, stride=4, context=4 if documents else 0)
    ids = [k // 3 for k in range(len(SENTENCES))] if documents else None
    return encoder.encode(SENTENCES, documents=ids), text_windows(encoder, [t for t, _ in TINY_TEXTS], "mean")


@pytest.mark.parametrize("family", ["bert", *FAMILIES])
def test_the_runtime_tokenizer_makes_the_windows_transformers_makes(family, tmp_path, tiny_bert):
    if family == "bert":
        checkpoint = tiny_bert
    else:
        checkpoint = tmp_path / "checkpoint"
        build_tokenizer(family).save_pretrained(str(checkpoint))
    reference = model_dir.load_tokenizer(checkpoint, family)
    saved = tmp_path / "saved"
    reference.save_pretrained(str(saved))  # as Tagger.save and export_onnx write it
    for directory in (checkpoint, saved):
        ours = load_tokenizer_file(directory)
        assert isinstance(ours, FastTokenizer)
        assert (ours.unk_token_id, ours.pad_token_id) == (reference.unk_token_id, reference.pad_token_id)
        assert special_tokens_around(ours) == special_tokens_around(reference)
        for documents in (False, True):
            assert _windows(ours, documents) == _windows(reference, documents), (family, directory.name, documents)


def test_a_broken_tokenizer_file_is_one_clear_error(tmp_path, tiny_bert):
    from entitune.errors import ConfigError

    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load its tokenizer from tokenizer.json"):
        load_tokenizer_file(tmp_path)
