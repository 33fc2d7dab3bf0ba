"""Word features that survive an uncased tokenizer: each word's shape class and its characters, taken
from the word as written (before any lowercasing). Pure Python, no torch.

An uncased encoder (the bundled MiniLM) lowercases every word, so "Apple" and "apple", "US" and
"us" reach it as the same sub-tokens: the capitalisation that NER leans on is gone before the first
layer. ``--word-features`` gives the tagger that signal back, beside the encoder's word vector:

- ``shape``: one of ``SHAPES`` per word, with a flag for the sentence's first word (where a capital
  says little), as an id for a small learned embedding (``shape_id``).
- ``chars``: the word's characters as ids for a small character CNN (``CharVocabulary``): characters
  seen in training have their own ids, any other falls into one of ``CHAR_BUCKETS`` hashed ids.

``--word-features auto`` (the default) picks ``shape+chars`` where the encoder cannot see case that
the data has (``choose_word_features``: an uncased tokenizer and training data whose words are
neither all lowercase nor all capitals) and ``none`` elsewhere. Measured with the bundled MiniLM,
3 epochs (``bench/results/gpu_h200_sweeps.json``): CoNLL-2003 test entity F1 0.870 -> 0.884 (two
seeds), WNUT-17 0.463 -> 0.468; on all-lowercase MIT Movie the characters alone gave nothing
(0.882 -> 0.881), and there the rule keeps them off.

``WordFeaturizer`` turns a sentence into both, one entry per word; ``WordEncoder`` cuts them into
windows beside the sub-tokens (``Window.shape_ids``, ``Window.char_ids``) and ``collate`` pads them
to ``word_shapes`` (batch, words) and ``word_chars`` (batch, words, chars).
"""
from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..options.choices import AUTO, WORD_FEATURES

#: ``--word-features`` values a model is built with (``auto`` resolves to one: ``choose_word_features``)
#: what ``auto`` turns on where case carries information the encoder cannot see
AUTO_WORD_FEATURES = "shape+chars"
#: shares of training words with an uppercase letter between which capitalisation is taken to carry
#: information (outside: a text in all lowercase or all capitals, where case says nothing)
CASE_VARIES = (0.05, 0.95)
#: shape classes, in id order (``word_shape``)
SHAPES = ("lower", "capitalized", "upper", "mixed", "number", "has-digit", "punct", "other")
#: shape ids: 0 pads; a word's id is 1 + 2 * class + (1 if it starts the sentence)
SHAPE_IDS = 1 + 2 * len(SHAPES)
#: characters of a word the character CNN reads: a longer word keeps its first and last halves
MAX_WORD_CHARS = 20
#: hashed ids for characters outside the vocabulary (ids 1..CHAR_BUCKETS; 0 pads)
CHAR_BUCKETS = 32
#: most characters a vocabulary holds (the most frequent), and how often one must be seen in
#: training to get its own id: rarer ones share the hashed ids, which so learn something for the
#: characters that only prediction meets
MAX_CHAR_VOCAB = 1000
MIN_CHAR_COUNT = 2
_NUMBER_SEPARATORS = frozenset(".,:/-")


def word_shape(word: str) -> str:
    """The shape class of a word as written (one of ``SHAPES``).

    >>> [word_shape(w) for w in ("paris", "Paris", "USA", "iPhone", "1980", "3.5", "1980s", ",", "北京")]
    ['lower', 'capitalized', 'upper', 'mixed', 'number', 'number', 'has-digit', 'punct', 'other']
    >>> [word_shape(w) for w in ("I", "U.S.", "O'Neil", "Jean-Pierre", "McDonald", "--", "")]
    ['capitalized', 'upper', 'capitalized', 'capitalized', 'mixed', 'punct', 'punct']
    """
    if not any(c.isalnum() for c in word):
        return "punct"
    if any(c.isdigit() for c in word):
        if all(c.isdigit() or c in _NUMBER_SEPARATORS for c in word):
            return "number"
        return "has-digit"
    cased = [c for c in word if c.islower() or c.isupper()]
    if not cased:
        return "other"  # letters of a script without case (CJK, Arabic, ...)
    if word.islower():
        return "lower"
    if word.isupper():
        return "upper" if len(cased) > 1 else "capitalized"
    if word.istitle():
        return "capitalized"
    return "mixed"


def shape_id(word: str, initial: bool) -> int:
    """The id of a word's shape (``word_shape``) and whether it is its sentence's first word (1..SHAPE_IDS-1).

    >>> shape_id("paris", False), shape_id("Paris", False), shape_id("Paris", True)
    (1, 3, 4)
    """
    return 1 + 2 * SHAPES.index(word_shape(word)) + int(initial)


def sentence_shape_ids(words: Sequence[str]) -> tuple[int, ...]:
    """``shape_id`` of every word of a sentence.

    >>> sentence_shape_ids(["Show", "me", "Paris"])
    (4, 1, 3)
    """
    return tuple(shape_id(w, k == 0) for k, w in enumerate(words))


def clip_word(word: str, limit: int = MAX_WORD_CHARS) -> str:
    """A word cut to ``limit`` characters: its first and last halves (prefixes and suffixes both
    carry the signal: "Mc", "-ville", "-sky").

    >>> clip_word("abcdefghijklmnopqrstuvwxyz")
    'abcdefghijqrstuvwxyz'
    """
    if len(word) <= limit:
        return word
    head = limit - limit // 2
    return word[:head] + word[len(word) - limit // 2 :]


def tokenizer_lowercases(tokenizer) -> bool:
    """True when ``tokenizer`` gives capitalised and lowercase words the same sub-tokens (an uncased
    model: capitalisation never reaches the encoder)."""
    words = ["Paris", "THE", "Apple", "NASA"]
    cased = tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    lower = tokenizer([w.lower() for w in words], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    return cased == lower


class CharVocabulary:
    """Character ids for the character CNN: 0 pads, ``1..CHAR_BUCKETS`` are hashed ids for characters
    outside the vocabulary, then one id per vocabulary character, in the order of ``chars``.

    Args:
        chars: the vocabulary, one character per id (``char_vocabulary`` builds it from training
            words; saved with the model as this string).
    """

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("a character vocabulary lists each character once")
        self.chars = chars
        self._ids = {c: 1 + CHAR_BUCKETS + k for k, c in enumerate(chars)}

    @property
    def size(self) -> int:
        """Number of ids (padding and hashed ids included): the embedding's rows."""
        return 1 + CHAR_BUCKETS + len(self.chars)

    def char_id(self, char: str) -> int:
        """The id of one character (a hashed id when it is not in the vocabulary; stable across runs).

        >>> v = CharVocabulary("ab")
        >>> v.char_id("a"), v.char_id("b"), 1 <= v.char_id("z") <= CHAR_BUCKETS
        (33, 34, True)
        """
        known = self._ids.get(char)
        if known is not None:
            return known
        return 1 + zlib.crc32(char.encode("utf-8", "surrogatepass")) % CHAR_BUCKETS

    def word_ids(self, word: str) -> tuple[int, ...]:
        """The ids of a word's characters (at most ``MAX_WORD_CHARS``, see ``clip_word``)."""
        return tuple(self.char_id(c) for c in clip_word(word))


def char_vocabulary(sentences: Iterable[Sequence[str]]) -> str:
    """The character vocabulary of training sentences (word lists): characters seen at least
    ``MIN_CHAR_COUNT`` times, the ``MAX_CHAR_VOCAB`` most frequent, most frequent first (ties by
    code point), as one string.

    >>> char_vocabulary([["Abba", "ab"], ["x"]])  # b 3 times, a twice, A and x once
    'ba'
    """
    counts: Counter = Counter()
    for words in sentences:
        for word in words:
            counts.update(word)
    kept = sorted((c for c, n in counts.items() if n >= MIN_CHAR_COUNT), key=lambda c: (-counts[c], c))
    return "".join(kept[:MAX_CHAR_VOCAB])


@dataclass(frozen=True)
class WordFeatures:
    """One sentence's word features: ``shape_ids`` (one per word) and ``char_ids`` (one tuple per
    word); each None when not asked for."""

    shape_ids: tuple[int, ...] | None
    char_ids: tuple[tuple[int, ...], ...] | None


class WordFeaturizer:
    """Word features of sentences for one ``--word-features`` mode.

    Args:
        mode: one of ``WORD_FEATURES`` other than ``none``.
        chars: the character vocabulary (``char_vocabulary``); used when the mode has ``chars``.
    """

    def __init__(self, mode: str, chars: str = "") -> None:
        if mode not in WORD_FEATURES or mode == "none":
            raise ValueError(f"word features must be one of {WORD_FEATURES[1:]}, got {mode!r}")
        self.mode = mode
        self.shapes = "shape" in mode
        self.vocabulary = CharVocabulary(chars) if "chars" in mode else None

    def sentence(self, words: Sequence[str]) -> WordFeatures:
        """The features of one sentence's words, as written."""
        shapes = sentence_shape_ids(words) if self.shapes else None
        chars = tuple(self.vocabulary.word_ids(w) for w in words) if self.vocabulary is not None else None
        return WordFeatures(shapes, chars)


def choose_word_features(sentences: Iterable[Sequence[str]], tokenizer) -> tuple[str, str]:
    """What ``--word-features auto`` means for training ``sentences`` (their words) under
    ``tokenizer``: ``(mode, reason)``, ``AUTO_WORD_FEATURES`` when the tokenizer lowercases and the
    share of words with an uppercase letter is inside ``CASE_VARIES``, else ``none``."""
    share, _ = uppercase_share(sentences)
    if not tokenizer_lowercases(tokenizer):
        return "none", "the tokenizer keeps case, so the encoder sees capitalisation itself"
    if not CASE_VARIES[0] <= share <= CASE_VARIES[1]:
        return "none", (f"{share:.0%} of training words have an uppercase letter: case says little in this data, "
                        "so the uncased encoder loses nothing")
    return AUTO_WORD_FEATURES, (f"the tokenizer lowercases, and {share:.0%} of training words have an uppercase "
                                "letter: the word features give the tagger their case and characters back")


def uppercase_share(sentences: Iterable[Sequence[str]]) -> tuple[float, int]:
    """The share of words with an uppercase letter, and the number of words.

    >>> uppercase_share([["Paris", "is", "big"], ["NASA"]])
    (0.5, 4)
    """
    words = upper = 0
    for sentence in sentences:
        for word in sentence:
            words += 1
            upper += any(c.isupper() for c in word)
    return (upper / words if words else 0.0), words
