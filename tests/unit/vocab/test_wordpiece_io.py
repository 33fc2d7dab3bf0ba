"""``WordPiece`` reading, splitting and writing: each refusal as one exact line naming the file,
the model's defaults (``[UNK]``, ``##``, 100 characters) and its own settings read back, UTF-8
whatever the locale, the greedy split with continuation and lenient forms, the split cache's
bound, pre-tokens of whitespace skipped, characters that normalize only together kept as one unit,
no normalizer at all, and ``tokenizer.json`` written indented with its characters as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from entitune.errors import ConfigError, one_line
from entitune.vocab.wordpiece import PreToken, WordPiece, _toy_state, is_cjk_char
from tests.helpers.locale import ascii_locale

LETTERS = ["[UNK]", *"abcde", *(f"##{c}" for c in "abcde")]
WORDPIECE_ONLY = "'entitune vocab' extends WordPiece vocabularies (BERT, DistilBERT, ELECTRA, MiniLM) only"


def _state(vocab=LETTERS, **model) -> dict:
    state = _toy_state(vocab)
    state["model"].update(model)
    return state


def _save(directory: Path, state) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(
        json.dumps(state, ensure_ascii=False), encoding="utf-8"
    )
    return directory


# ---------------------------------------------------------------------------------- refusals


def test_a_directory_without_tokenizer_json_is_refused_naming_what_is_needed(tmp_path):
    with pytest.raises(ConfigError) as err:
        WordPiece.read(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: no tokenizer.json; 'entitune vocab' extends the WordPiece vocabulary of a "
        "fast tokenizer saved as tokenizer.json"
    )


def test_a_tokenizer_json_that_is_not_json_is_refused_with_the_parsers_reason(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError) as parser:
        json.loads("{not json")
    with pytest.raises(ConfigError) as err:
        WordPiece.read(tmp_path)
    assert (
        str(err.value)
        == f"{tmp_path / 'tokenizer.json'}: cannot read it ({one_line(parser.value)})"
    )


def test_a_tokenizer_of_another_kind_is_refused_naming_its_file(tmp_path):
    state = _state()
    state["model"]["type"] = "BPE"
    _save(tmp_path, state)
    with pytest.raises(ConfigError) as err:
        WordPiece.read(tmp_path)
    assert (
        str(err.value)
        == f"{tmp_path / 'tokenizer.json'}: the tokenizer is BPE, not WordPiece; {WORDPIECE_ONLY}"
    )


@pytest.mark.parametrize(
    "state", [[], "WordPiece", {"model": "WordPiece"}, {"model": {}}, {}]
)
def test_a_state_without_a_model_of_known_type_is_refused_in_one_line(state):
    with pytest.raises(ConfigError) as err:
        WordPiece.from_state(state)
    assert (
        str(err.value)
        == f"tokenizer.json: the tokenizer is of no known type, not WordPiece; {WORDPIECE_ONLY}"
    )


def test_a_state_the_tokenizers_library_cannot_load_is_refused_with_its_reason():
    state = _state()
    state["pre_tokenizer"] = {"type": "Split"}  # no pattern
    with pytest.raises(Exception) as library:
        Tokenizer.from_str(json.dumps(state))
    with pytest.raises(ConfigError) as err:
        WordPiece.from_state(state, where="x/tokenizer.json")
    assert (
        str(err.value)
        == f"x/tokenizer.json: the tokenizers library cannot load it ({one_line(library.value)})"
    )
    assert "pattern" in str(err.value)


def test_an_unknown_token_outside_the_vocabulary_is_refused():
    state = _state(["<unk>", *LETTERS[1:]])
    with pytest.raises(ConfigError) as err:
        WordPiece.from_state(state)
    assert (
        str(err.value)
        == "tokenizer.json: the unknown token '[UNK]' is not in the vocabulary"
    )


# ---------------------------------------------------------------------------------- settings


def test_the_models_own_unknown_token_prefix_and_word_length_are_read():
    vocab = ["<unk>", *"abcde", *(f"@@{c}" for c in "abcde")]
    wp = WordPiece.from_state(
        _state(
            vocab,
            unk_token="<unk>",
            continuing_subword_prefix="@@",
            max_input_chars_per_word=7,
        )
    )
    assert (wp.unk_token, wp.prefix, wp.max_chars) == ("<unk>", "@@", 7)
    assert (
        wp.pieces("abc") == ["a", "@@b", "@@c"]
        and wp.pieces("abcdeab") is not None
        and wp.pieces("abcdeabc") is None
    )


def test_an_empty_prefix_is_bert_s():
    """(tokenizers refuses a missing or null prefix, word length or unknown token itself.)"""
    assert WordPiece.from_state(_state(continuing_subword_prefix="")).prefix == "##"


def test_a_word_length_of_zero_is_bert_s_100():
    assert WordPiece.from_state(_state(max_input_chars_per_word=0)).max_chars == 100


def test_the_toy_state_is_an_uncased_bert_tokenizer():
    """Lower-cased, control characters dropped, each ideograph set apart, 100 characters a word."""
    wp = WordPiece.from_state(_toy_state(LETTERS))
    assert [p.text for p in wp.split_word("AB\x00c 我们")] == ["abc", "我", "们"]
    assert wp.max_chars == 100


def test_tokenizer_json_is_read_as_utf8_whatever_the_locale(tmp_path):
    _save(tmp_path, _state([*LETTERS, "한국"]))
    with ascii_locale():
        wp = WordPiece.read(tmp_path)
    assert "한국" in wp.vocab and wp.directory == tmp_path


def test_with_vocab_keeps_the_checkpoint_directory(tmp_path):
    wp = WordPiece.read(_save(tmp_path, _state()))
    assert wp.with_vocab(wp.extended_vocab(["ab"])[0]).directory == tmp_path


# ---------------------------------------------------------------------------------- splitting


def test_pieces_and_known_pieces_split_as_a_word_start_unless_told_continuation():
    wp = WordPiece.from_state(_state())
    assert wp.pieces("ab") == ["a", "##b"] and wp.pieces("ab", continuation=True) == [
        "##a",
        "##b",
    ]
    assert wp.pieces("ab", True) == ["##a", "##b"]  # also from the cache's other key
    assert wp.known_pieces("axb") == ["a", "##b"] and wp.known_pieces("axb", True) == [
        "##a",
        "##b",
    ]


def test_the_split_cache_stops_growing_at_two_million_words():
    wp = WordPiece.from_state(_state())
    wp._cache.update(dict.fromkeys(range(1_999_999)))
    assert (
        wp.pieces("ab") == ["a", "##b"] and len(wp._cache) == 2_000_000
    )  # the last one that fits
    assert wp.pieces("abc") == ["a", "##b", "##c"] and len(wp._cache) == 2_000_000
    assert ("abc", False) not in wp._cache


@pytest.mark.timeout(20)
def test_a_bare_prefix_in_the_vocabulary_is_never_an_empty_piece():
    """``##`` itself is an entry (BERT vocabularies have one): it must not match the empty rest of a
    word (which would loop for ever): ``ax`` with no ``##x`` is ``[UNK]``."""
    wp = WordPiece.from_state(_state(["[UNK]", "a", "##", "#"]))
    assert wp.pieces("ax") is None and wp.known_pieces("ax") == ["a"]


def test_whitespace_pre_tokens_are_skipped_and_the_rest_kept():
    state = _state()
    state["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"String": " "},
        "behavior": "Isolated",
        "invert": False,
    }
    wp = WordPiece.from_state(state)
    assert [p.text for p in wp.split_word("ab  c d")] == ["ab", "c", "d"]


def test_characters_that_normalize_only_together_are_one_unit():
    """A normalizer rewriting ``ab`` to ``x``: ``abc`` normalizes to ``xc``, which its characters
    normalized one by one (``a b c``) do not add up to."""
    state = _state()
    state["normalizer"] = {
        "type": "Replace",
        "pattern": {"String": "ab"},
        "content": "x",
    }
    wp = WordPiece.from_state(state)
    assert wp.split_word("abc") == (PreToken("xc", ("xc",), False),)


def test_a_tokenizer_without_a_normalizer_splits_the_raw_text():
    state = _state()
    state["normalizer"] = None
    wp = WordPiece.from_state(state)
    assert wp.split_word("Ab") == (PreToken("Ab", ("A", "b"), False),)


def test_the_character_after_the_cjk_extension_a_block_is_not_cjk():
    assert is_cjk_char("\u4dbf") and not is_cjk_char(
        "\u4dc0"
    )  # U+4DC0: a hexagram symbol


# ---------------------------------------------------------------------------------- extending and writing


def test_a_clash_names_the_first_five_tokens_already_there():
    wp = WordPiece.from_state(_state())
    with pytest.raises(ConfigError) as err:
        wp.extended_vocab(["ab", "a", "b", "c", "d", "e", "##a"])
    assert str(err.value) == "already in the vocabulary: 'a', 'b', 'c', 'd', 'e'"


def test_tokenizer_json_is_written_indented_with_its_characters_as_they_are(tmp_path):
    wp = WordPiece.from_state(_state())
    wp.with_vocab(wp.extended_vocab(["한국"])[0]).write(tmp_path)
    raw = (tmp_path / "tokenizer.json").read_bytes()
    assert '"한국": 11'.encode() in raw and b"\\u" not in raw
    lines = raw.decode("utf-8").splitlines()
    assert (
        lines[0] == "{"
        and lines[1].startswith('  "')
        and not lines[1].startswith("   ")
    )
    assert raw.endswith(b"}\n")
    assert (tmp_path / "vocab.txt").read_bytes() == (
        "\n".join([*LETTERS, "한국"]) + "\n"
    ).encode("utf-8")
