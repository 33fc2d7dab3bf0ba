"""A model directory's tokenizer run by the ``tokenizers`` library alone (``load_tokenizer_file``), and
the rules every tokenizer entitune loads must follow: a pre-split word gets the sub-tokens it has in
running text (``splits_like_text``), with a prefix space where the tokenizer needs one
(``add_prefix_space``). ``model_dir.load_tokenizer`` applies the same rules to a transformers
tokenizer.

``FastTokenizer`` answers the few calls entitune makes of a transformers fast tokenizer (a call on a
text, a list of words or a batch of word lists, with or without special tokens; ``word_ids``; the
unknown and padding ids) from ``tokenizer.json`` and ``tokenizer_config.json``: what transformers'
fast tokenizers compute, since they run the same ``tokenizers`` pipeline (``encode_batch`` with
``is_pretokenized``), which ``tests/unit/artifact/test_tokenizer.py`` checks window for window
against transformers for each model family. Written here, not taken from transformers, because a
deployed export must not need transformers (or the torch it brings).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import not_a_model

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"


class Encoded:
    """What a ``FastTokenizer`` call returns: ``["input_ids"]`` (one list, or one per input of a
    batch) and ``word_ids(i)``, as a transformers ``BatchEncoding`` has them."""

    def __init__(self, encodings: list, batched: bool) -> None:
        self._encodings = encodings
        self._batched = batched
        self._ids: list[list[int]] | None = None

    def __getitem__(self, key: str):
        if key != "input_ids":
            raise KeyError(key)
        if self._ids is None:  # once: callers index it sentence by sentence
            self._ids = [e.ids for e in self._encodings]
        return self._ids if self._batched else self._ids[0]

    def word_ids(self, index: int = 0) -> list[int | None]:
        return self._encodings[index].word_ids


class FastTokenizer:
    """A ``tokenizers.Tokenizer`` with the special tokens of its ``tokenizer_config.json``, answering
    like a transformers fast tokenizer (see the module docstring)."""

    is_fast = True

    def __init__(self, backend, special_tokens: dict[str, str] | None = None) -> None:
        backend.no_truncation()
        backend.no_padding()
        self.backend_tokenizer = backend
        self.special_tokens = dict(special_tokens or {})
        self.unk_token_id = self._token_id("unk_token")
        self.pad_token_id = self._token_id("pad_token")

    def _token_id(self, role: str) -> int | None:
        token = self.special_tokens.get(role)
        return None if token is None else self.backend_tokenizer.token_to_id(token)

    @property
    def all_special_tokens(self) -> list[str]:
        added = [t.content for t in self.backend_tokenizer.get_added_tokens_decoder().values() if t.special]
        return list(dict.fromkeys([*self.special_tokens.values(), *added]))

    def get_vocab(self) -> dict[str, int]:
        return self.backend_tokenizer.get_vocab(with_added_tokens=True)

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str | Sequence[str] | Sequence[Sequence[str]], is_split_into_words: bool = False,
                 add_special_tokens: bool = True) -> Encoded:
        """Encode one text, one list of words (``is_split_into_words``), or a batch of either."""
        if isinstance(text, str) or (is_split_into_words and (not text or isinstance(text[0], str))):
            inputs, batched = [text], False
        else:
            inputs, batched = list(text), True
        if is_split_into_words:
            inputs = [list(words) for words in inputs]
        encodings = self.backend_tokenizer.encode_batch(inputs, is_pretokenized=is_split_into_words,
                                                        add_special_tokens=add_special_tokens)
        return Encoded(encodings, batched)


def load_tokenizer_file(directory: str | Path) -> FastTokenizer:
    """The tokenizer of a model directory from its ``tokenizer.json`` (and the special tokens of
    ``tokenizer_config.json`` / ``special_tokens_map.json``), with the rule of
    ``model_dir.load_tokenizer``: pre-split words get the sub-tokens they have in running text, with
    a prefix space (``add_prefix_space``) where the tokenizer needs one for that (byte-level BPE and
    SentencePiece tokenizers saved without it)."""
    from tokenizers import Tokenizer

    path = Path(directory)
    try:
        backend = Tokenizer.from_file(str(path / TOKENIZER_FILE))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises its own untyped errors for bad files
        raise not_a_model(directory, f"cannot load its tokenizer from {TOKENIZER_FILE} "
                                     f"({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})") from None
    tokenizer = FastTokenizer(backend, _special_tokens(path))
    if not splits_like_text(tokenizer):
        add_prefix_space(tokenizer.backend_tokenizer)
        if not splits_like_text(tokenizer):
            raise not_a_model(directory, "its tokenizer gives pre-split words other sub-tokens than running text, even "
                                         "with a prefix space, so words cannot be aligned to sub-tokens")
    return tokenizer


def _special_tokens(path: Path) -> dict[str, str]:
    """The special tokens by role (``unk_token``, ``pad_token``...) from the tokenizer's config files."""
    out: dict[str, str] = {}
    for name in (SPECIAL_TOKENS_FILE, TOKENIZER_CONFIG_FILE):
        try:
            raw = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict):
            continue
        for role in ("unk_token", "pad_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token"):
            value = raw.get(role)
            if isinstance(value, dict):  # an AddedToken written out
                value = value.get("content")
            if isinstance(value, str):
                out[role] = value
    return out


def splits_like_text(tokenizer) -> bool:
    """True when a pre-split word gets the sub-tokens it has in running text after a space (checked on
    the second of two words; True where the tokenizer does not split text at spaces)."""
    probe = ["a", "a"]
    split = tokenizer(probe, is_split_into_words=True, add_special_tokens=False)
    text = tokenizer(" ".join(probe), add_special_tokens=False)
    second = [[i for i, w in zip(enc["input_ids"], enc.word_ids()) if w == 1] for enc in (split, text)]
    return not second[1] or second[0] == second[1]


def add_prefix_space(backend) -> None:
    """Make a ``tokenizers.Tokenizer`` put a space before every word: ``ByteLevel`` pre-tokenizers add
    one, ``Metaspace`` ones prepend their marker to every word (also inside a ``Sequence``)."""
    from tokenizers import Tokenizer

    state = json.loads(backend.to_str())

    def fix(node) -> None:
        if isinstance(node, list):
            for item in node:
                fix(item)
        elif isinstance(node, dict):
            if node.get("type") == "ByteLevel":
                node["add_prefix_space"] = True
            elif node.get("type") == "Metaspace":
                node.update(prepend_scheme="always", add_prefix_space=True)
            for item in node.values():
                fix(item)

    fix(state["pre_tokenizer"])
    bare = {"version": state.get("version", "1.0"), "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": None, "pre_tokenizer": state["pre_tokenizer"], "post_processor": None, "decoder": None,
            "model": {"type": "WordLevel", "vocab": {}, "unk_token": "[UNK]"}}
    backend.pre_tokenizer = Tokenizer.from_str(json.dumps(bare)).pre_tokenizer
