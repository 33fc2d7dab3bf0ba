"""A checkpoint's WordPiece vocabulary: what a corpus costs under it, which new tokens would cut
that most, and the tokenizer files of an extended vocabulary. The ``tokenizers`` library only, no
torch (``entitune vocab plan`` runs without it); the embedding rows are ``model.vocab``'s part.

Words are measured as the tokenizer sees them: each word of the data goes through the tokenizer's
own normalizer (lower case, accents stripped, CJK ideographs set apart, Hangul decomposed into jamo
by NFD for an uncased BERT) and pre-tokenizer (spaces, punctuation, one pre-token per ideograph),
and each pre-token through a greedy longest-match WordPiece over the vocabulary (the algorithm of
the fast tokenizer's ``WordPiece`` model, re-implemented here so that a candidate vocabulary can be
measured without building a tokenizer, and so that a ``##continuation`` can be split on its own).

Candidates (``plan_vocabulary``), each a real vocabulary entry, never an added token:

- ``word`` units: a whole pre-token that is not one token yet (``washington``, ``홍길동``);
- ``char`` units: each character of a pre-token, normalized, as ``c`` at the start of the
  pre-token and ``##c`` inside it (a Hangul syllable is its jamo string: one token for the syllable);
  a CJK ideograph is always a pre-token of its own, so it comes as ``c``;
- ``learned`` units: the tokens a WordPiece vocabulary learned on the corpus's own words holds and
  the base vocabulary lacks (``learned_units``: the ``tokenizers`` library's ``WordPieceTrainer``,
  on the words as the base tokenizer normalizes and pre-tokenizes them, each as often as the
  corpus has it): units longer than a character that the corpus's words share (a Korean stem or
  ending, a frequent two-character Chinese word) where whole words are too many and single
  characters too short. A word's saving with them (``pieces`` before, minus pieces with every
  learned unit) is shared among the learned units its new split uses;
- with any unit, the single normalized characters that the vocabulary lacks in the position
  where a word needs them (a missing ``##ᆻ`` makes every word with that jamo ``[UNK]``): adding them
  keeps unseen words with those characters off ``[UNK]``.

Each candidate is scored by the sub-words it would save on the corpus, an ``[UNK]`` word counting as
``UNK_COST`` sub-words (it loses the whole word, not a piece of it): a whole word saves
``count x (pieces - 1)``; a word's saving by characters (``pieces - characters``) is shared among
its missing characters; an ``[UNK]`` word's missing single characters share ``UNK_COST``. The
ranking is by that score, then by count; the numbers after extension (``VocabPlan.after``) are
measured exactly with the extended vocabulary, not estimated.

>>> wp = WordPiece.from_state(_toy_state(["[UNK]", "new", "york", "##york", "##er", "y", "##o"]))
>>> [wp.pieces(t) for t in ("newyorker", "york", "yo", "ny")], wp.pieces("york", continuation=True)
([['new', '##york', '##er'], ['york'], ['y', '##o'], None], ['##york'])
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, check_choice, one_line
from ..files import atomic_write_bytes

UNITS = ("auto", "word", "char", "learned")
#: Sub-words an ``[UNK]`` word counts for when candidates are scored: losing a word costs more than
#: splitting it (an ordinary word rarely has more than four pieces).
UNK_COST = 10
#: Share of word occurrences written in CJK scripts (Han, kana, Hangul) above which ``auto`` picks
#: ``char`` units.
CJK_SHARE_FOR_CHARS = 0.5
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
_UNUSED = re.compile(r"^\[unused\d+\]$")


def is_cjk_char(ch: str) -> bool:
    """True for a Han ideograph, kana or Hangul (syllable or jamo) character.

    >>> [is_cjk_char(c) for c in "我カ한ᄒa1"]
    [True, True, True, True, False, False]
    """
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F or 0xF900 <= cp <= 0xFAFF
            or 0x3040 <= cp <= 0x30FF or 0xAC00 <= cp <= 0xD7A3 or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F)


@dataclass(frozen=True)
class PreToken:
    """One pre-token of a word as WordPiece sees it: ``text`` normalized; ``units`` its characters,
    each normalized on its own (``"".join(units) == text``; one unit when they do not add up);
    ``cjk`` when the original is written in a CJK script."""

    text: str
    units: tuple[str, ...]
    cjk: bool


@dataclass(frozen=True)
class CorpusStats:
    """Words of a corpus and their sub-words under one vocabulary. A word with no sub-word (only
    characters the normalizer drops) counts in ``words`` and ``zero_words`` only."""

    words: int
    unk_words: int
    subwords: int
    zero_words: int

    @property
    def unk_share(self) -> float:
        return self.unk_words / max(1, self.words)

    @property
    def subwords_per_word(self) -> float:
        return self.subwords / max(1, self.words - self.zero_words)

    def as_dict(self) -> dict:
        return {"words": self.words, "unk_words": self.unk_words, "unk_share": round(self.unk_share, 6),
                "subwords": self.subwords, "subwords_per_word": round(self.subwords_per_word, 4),
                "zero_subword_words": self.zero_words}


@dataclass(frozen=True)
class Candidate:
    """A token that could enter the vocabulary: ``token`` as it would be written there (``##x`` for a
    continuation), ``count`` occurrences in the corpus (of the words that need it), ``saved`` the
    estimated sub-words saved (see the module docstring), ``pieces`` how the vocabulary splits it now
    (None: ``[UNK]``), ``kind`` word | char | character (a missing single character)."""

    token: str
    count: int
    saved: float
    pieces: tuple[str, ...] | None
    kind: str

    def as_dict(self) -> dict:
        return {"token": self.token, "kind": self.kind, "count": self.count, "saved": round(self.saved, 2),
                "pieces": list(self.pieces) if self.pieces is not None else None}


@dataclass(frozen=True)
class VocabPlan:
    """``candidates`` ranked (count at least ``min_count``), ``chosen`` the first ``max_new`` of them,
    and the corpus measured ``before`` and ``after`` adding ``chosen``."""

    unit: str
    unit_reason: str
    cjk_share: float
    distinct_words: int
    min_count: int
    max_new: int
    candidates: list[Candidate]
    chosen: list[Candidate]
    before: CorpusStats
    after: CorpusStats

    def as_dict(self) -> dict:
        return {"unit": self.unit, "unit_reason": self.unit_reason, "cjk_share": round(self.cjk_share, 4),
                "distinct_words": self.distinct_words, "min_count": self.min_count, "max_new": self.max_new,
                "unk_cost": UNK_COST, "before": self.before.as_dict(), "after": self.after.as_dict(),
                "chosen": len(self.chosen), "candidates": [c.as_dict() for c in self.candidates]}


@dataclass(frozen=True)
class WordPiece:
    """A WordPiece tokenizer (``tokenizer.json``) read for measuring and extending its vocabulary.

    ``vocab`` maps every entry to its id (ids ``0 .. size-1``); ``known`` also holds the contents of
    added tokens (already one token each); ``prefix`` marks continuations (``##``)."""

    state: dict = field(repr=False)
    vocab: dict[str, int] = field(repr=False)
    prefix: str
    unk_token: str
    max_chars: int
    directory: Path | None = None
    _tokenizer: object = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------------------ reading
    @classmethod
    def read(cls, directory: str | Path) -> WordPiece:
        """The WordPiece tokenizer in ``directory/tokenizer.json``; anything else is one ``ConfigError``."""
        path = Path(directory)
        if not path.is_dir():
            raise ConfigError(f"{path}: no such model directory")
        file = path / TOKENIZER_FILE
        if not file.is_file():
            raise ConfigError(f"{path}: no {TOKENIZER_FILE}; 'entitune vocab' extends the WordPiece vocabulary of a "
                              "fast tokenizer saved as tokenizer.json")
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{file}: cannot read it ({one_line(exc)})") from None
        return cls.from_state(state, path, where=str(file))

    @classmethod
    def from_state(cls, state: dict, directory: Path | None = None, where: str = TOKENIZER_FILE) -> WordPiece:
        """A ``WordPiece`` from a parsed ``tokenizer.json``."""
        from tokenizers import Tokenizer

        model = state.get("model") if isinstance(state, dict) else None
        kind = model.get("type") if isinstance(model, dict) else None
        if kind != "WordPiece":
            raise ConfigError(f"{where}: the tokenizer is {kind or 'of no known type'}, not WordPiece; 'entitune vocab' "
                              "extends WordPiece vocabularies (BERT, DistilBERT, ELECTRA, MiniLM) only")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict) or sorted(vocab.values()) != list(range(len(vocab))):
            raise ConfigError(f"{where}: the WordPiece vocabulary's ids are not 0..{len(vocab or ()) - 1}, one per entry")
        try:
            tokenizer = Tokenizer.from_str(json.dumps(state))
        except Exception as exc:  # noqa: BLE001 (tokenizers raises plain Exception types)
            raise ConfigError(f"{where}: the tokenizers library cannot load it ({one_line(exc)})") from None
        unk = model.get("unk_token", "[UNK]")
        if unk not in vocab:
            raise ConfigError(f"{where}: the unknown token {unk!r} is not in the vocabulary")
        return cls(state, dict(vocab), model.get("continuing_subword_prefix") or "##", unk,
                   int(model.get("max_input_chars_per_word") or 100), directory, tokenizer)

    @property
    def size(self) -> int:
        return len(self.vocab)

    @property
    def added(self) -> set[str]:
        """Contents of the added tokens (special or not): each is one token whatever the vocabulary."""
        return {t.get("content", "") for t in self.state.get("added_tokens") or ()}

    @property
    def unused_ids(self) -> list[int]:
        """Ids of the ``[unusedN]`` placeholders (not added tokens), in id order: slots that
        ``--use-unused`` fills without growing the vocabulary."""
        added = self.added
        return sorted(i for t, i in self.vocab.items() if _UNUSED.match(t) and t not in added)

    def is_token(self, text: str) -> bool:
        return text in self.vocab or text in self.added

    # ------------------------------------------------------------------------------ splitting
    def pieces(self, word: str, continuation: bool = False) -> list[str] | None:
        """Greedy longest-match WordPiece of a normalized pre-token, as the fast tokenizer's model
        does it (None: ``[UNK]``); ``continuation`` splits it as the inside of a word (every piece
        ``##``). Cached for the plain case."""
        key = (word, continuation)
        if key in self._cache:
            return self._cache[key]
        out = self._greedy(word, continuation, lenient=False)
        if len(self._cache) < 2_000_000:
            self._cache[key] = out
        return out

    def known_pieces(self, word: str, continuation: bool = False) -> list[str]:
        """Like ``pieces``, but a character that no piece covers is skipped instead of making the
        whole word ``[UNK]``: the known pieces of ``word`` (empty when it has none)."""
        return self._greedy(word, continuation, lenient=True) or []

    def _greedy(self, word: str, continuation: bool, lenient: bool) -> list[str] | None:
        if len(word) > self.max_chars:
            return None
        out: list[str] = []
        start = 0
        inside = continuation
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = self.prefix + word[start:end] if inside else word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                if not lenient:
                    return None
                end = start + 1
            else:
                out.append(found)
            start = end
            inside = True
        return out

    def split_word(self, raw: str) -> tuple[PreToken, ...]:
        """A word (or text) of the data -> its pre-tokens, through the tokenizer's own normalizer and
        pre-tokenizer."""
        from tokenizers import PreTokenizedString

        tok = self._tokenizer
        normalizer, pre_tokenizer = tok.normalizer, tok.pre_tokenizer  # type: ignore[attr-defined]
        pts = PreTokenizedString(raw)
        if normalizer is not None:
            pts.normalize(lambda ns: normalizer.normalize(ns))
        if pre_tokenizer is not None:
            pre_tokenizer.pre_tokenize(pts)
        out = []
        for text, (start, end), _ in pts.get_splits(offset_referential="original", offset_type="char"):
            if not text or text.isspace():
                continue
            original = raw[start:end]
            units = tuple(u for u in (self._normalize(c) for c in original) if u)
            if "".join(units) != text:
                units = (text,)
            out.append(PreToken(text, units, bool(original) and all(is_cjk_char(c) for c in original)))
        return tuple(out)

    def _normalize(self, text: str) -> str:
        normalizer = self._tokenizer.normalizer  # type: ignore[attr-defined]
        return (normalizer.normalize_str(text) if normalizer is not None else text).strip()

    # ------------------------------------------------------------------------------ extending
    def extended_vocab(self, tokens: Sequence[str], use_unused: bool = False) -> tuple[dict[str, int], list[int]]:
        """The vocabulary with ``tokens`` added, and each token's id: appended after the last id, or
        written over the ``[unusedN]`` slots in id order (``use_unused``; the size stays)."""
        tokens = list(dict.fromkeys(tokens))
        clash = [t for t in tokens if self.is_token(t)]
        if clash:
            raise ConfigError(f"already in the vocabulary: {', '.join(map(repr, clash[:5]))}")
        if use_unused:
            slots = self.unused_ids
            if len(tokens) > len(slots):
                raise ConfigError(f"{len(tokens):,} tokens but only {len(slots):,} [unusedN] slots")
            ids = slots[: len(tokens)]
            by_id = {i: t for t, i in self.vocab.items()}
            by_id.update(zip(ids, tokens))
            vocab = {by_id[i]: i for i in range(len(by_id))}
        else:
            ids = list(range(self.size, self.size + len(tokens)))
            vocab = {**dict(sorted(self.vocab.items(), key=lambda kv: kv[1])), **dict(zip(tokens, ids))}
        return vocab, ids

    def with_vocab(self, vocab: dict[str, int]) -> WordPiece:
        """The same tokenizer over another vocabulary."""
        state = json.loads(json.dumps(self.state))
        state["model"]["vocab"] = vocab
        return WordPiece.from_state(state, self.directory)

    def write(self, directory: str | Path) -> None:
        """Write this tokenizer as ``tokenizer.json`` and ``vocab.txt`` (one entry per line, in id
        order, as BERT's slow tokenizer reads it) into ``directory``."""
        path = Path(directory)
        state = dict(self.state)
        state["model"] = {**self.state["model"], "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))}
        atomic_write_bytes((json.dumps(state, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), path / TOKENIZER_FILE)
        lines = sorted(self.vocab, key=self.vocab.__getitem__)
        atomic_write_bytes(("\n".join(lines) + "\n").encode("utf-8"), path / VOCAB_FILE)


# ---------------------------------------------------------------------------------- the corpus


def analyse(wp: WordPiece, words: Counter) -> list[tuple[tuple[PreToken, ...], int]]:
    """Each distinct word of a corpus (``Counter`` of raw words) as its pre-tokens, with its count."""
    return [(wp.split_word(word), n) for word, n in words.items()]


def corpus_stats(wp: WordPiece, entries: Iterable[tuple[tuple[PreToken, ...], int]]) -> CorpusStats:
    """Words, ``[UNK]`` words and sub-words of analysed words under ``wp``'s vocabulary (a word is
    ``[UNK]`` when one of its pre-tokens is, as ``entitune doctor`` counts it)."""
    words = unk = subwords = zero = 0
    for pre_tokens, n in entries:
        words += n
        if not pre_tokens:
            zero += n
            continue
        splits = [wp.pieces(p.text) for p in pre_tokens]
        unk += n * any(s is None for s in splits)
        subwords += n * sum(1 if s is None else len(s) for s in splits)
    return CorpusStats(words, unk, subwords, zero)


def choose_unit(entries: Sequence[tuple[tuple[PreToken, ...], int]], unit: str) -> tuple[str, str, float]:
    """The unit to use (``unit``, or for ``auto``: char when more than ``CJK_SHARE_FOR_CHARS`` of the
    pre-token occurrences are CJK), why, and that CJK share."""
    check_choice("unit", unit, UNITS)
    total = sum(n * len(p) for p, n in entries)
    cjk = sum(n * sum(t.cjk for t in p) for p, n in entries)
    share = cjk / max(1, total)
    if unit != "auto":
        return unit, "as asked", share
    chosen = "char" if share > CJK_SHARE_FOR_CHARS else "word"
    return chosen, f"auto: {share:.0%} of the words are CJK", share


def learned_units(wp: WordPiece, entries: Sequence[tuple[tuple[PreToken, ...], int]], size: int,
                  min_count: int = 2) -> list[str]:
    """The tokens of a WordPiece vocabulary of ``size`` entries learned on the corpus's pre-tokens
    (``tokenizers``' ``WordPieceTrainer``; each pre-token fed as often as it occurs; no normalizer or
    pre-tokenizer of its own: the pre-tokens are normalized already) that ``wp`` lacks, in the
    trainer's order; ``min_count``: the trainer's minimum frequency of a merge."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=wp.unk_token, continuing_subword_prefix=wp.prefix,
                                           max_input_chars_per_word=wp.max_chars))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordPieceTrainer(vocab_size=size, min_frequency=min_count, special_tokens=[wp.unk_token],
                                        continuing_subword_prefix=wp.prefix, show_progress=False)

    def lines():
        for pre_tokens, n in entries:
            for p in pre_tokens:
                if p.text and not any(c.isspace() for c in p.text) and len(p.text) <= wp.max_chars:
                    for k in range(0, n, 512):  # one pre-token n times, 512 to a line
                        yield " ".join([p.text] * min(512, n - k))

    tokenizer.train_from_iterator(lines(), trainer=trainer)
    learned = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return [t for t, _ in learned if t != wp.unk_token and not wp.is_token(t)]


def plan_vocabulary(wp: WordPiece, words: Counter, max_new: int = 3000, min_count: int = 2,
                    unit: str = "auto") -> VocabPlan:
    """Rank the tokens that would cut ``[UNK]`` words and sub-words per word on a corpus (``words``:
    a ``Counter`` of raw words), choose the best ``max_new`` and measure the corpus before and after."""
    if max_new < 1:
        raise ConfigError(f"max_new must be at least 1, got {max_new}")
    if min_count < 1:
        raise ConfigError(f"min_count must be at least 1, got {min_count}")
    entries = analyse(wp, words)
    unit, reason, share = choose_unit(entries, unit)
    learned = None
    if unit == "learned":
        units = learned_units(wp, entries, max(wp.size, 4 * max_new), min_count)
        learned = wp.with_vocab(wp.extended_vocab(units)[0]) if units else None
    count: Counter = Counter()
    saved: defaultdict[str, float] = defaultdict(float)
    kind: dict[str, str] = {}

    def credit(token: str, n: int, gain: float, what: str) -> None:
        if token not in seen:  # one occurrence per pre-token, whichever rules credit it
            seen.add(token)
            count[token] += n
        saved[token] += gain
        kind.setdefault(token, what)

    for pre_tokens, n in entries:
        for p in pre_tokens:
            seen: set[str] = set()
            split = wp.pieces(p.text)
            cost = UNK_COST if split is None else len(split)
            if cost <= 1:
                continue
            if unit == "word":
                if len(p.text) <= wp.max_chars:
                    credit(p.text, n, n * (cost - 1), "word")
            elif unit == "learned":
                if learned is not None and (new := learned.pieces(p.text)) is not None and len(new) < cost:
                    fresh = [t for t in dict.fromkeys(new) if not wp.is_token(t)]
                    for t in fresh:
                        credit(t, n, n * (cost - len(new)) / len(fresh), "learned")
            else:
                forms = [u if i == 0 else wp.prefix + u for i, u in enumerate(p.units)]
                missing = [f for f in dict.fromkeys(forms) if not wp.is_token(f)]
                if missing and cost > len(forms):
                    for f in missing:
                        credit(f, n, n * (cost - len(forms)) / len(missing), "char")
            if split is None:  # the single characters it lacks, where it needs them
                lacking = [c if i == 0 else wp.prefix + c for i, c in enumerate(p.text)]
                lacking = [c for c in dict.fromkeys(lacking) if not wp.is_token(c)]
                for c in lacking:
                    credit(c, n, n * UNK_COST / len(lacking), "character")
    ranked = sorted((t for t in count if count[t] >= min_count), key=lambda t: (-saved[t], -count[t], t))
    candidates = [Candidate(t, count[t], saved[t], _as_tuple(_current_pieces(wp, t)), kind[t]) for t in ranked]
    chosen = candidates[:max_new]
    before = corpus_stats(wp, entries)
    after = corpus_stats(wp.with_vocab(wp.extended_vocab([c.token for c in chosen])[0]), entries) if chosen else before
    return VocabPlan(unit, reason, share, len(entries), min_count, max_new, candidates, chosen, before, after)


def _current_pieces(wp: WordPiece, token: str) -> list[str] | None:
    if token.startswith(wp.prefix) and len(token) > len(wp.prefix):
        return wp.pieces(token[len(wp.prefix):], continuation=True)
    return wp.pieces(token)


def init_pieces(wp: WordPiece, token: str) -> list[int]:
    """Ids of the known pieces ``token`` splits into under ``wp`` (a ``##continuation`` split as the
    inside of a word), for initialising its embedding as their mean; when it has none in its own
    position, those of the other position (``x`` for ``##x`` and back); empty when none is known."""
    inside = token.startswith(wp.prefix) and len(token) > len(wp.prefix)
    bare = token[len(wp.prefix):] if inside else token
    pieces = wp.known_pieces(bare, inside) or wp.known_pieces(bare, not inside)
    return [wp.vocab[p] for p in pieces]


def _as_tuple(pieces: list[str] | None) -> tuple[str, ...] | None:
    return None if pieces is None else tuple(pieces)


def _toy_state(vocab: Sequence[str]) -> dict:
    """A minimal BERT ``tokenizer.json`` over ``vocab`` (for examples and tests)."""
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}},
    }
