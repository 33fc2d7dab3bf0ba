"""A corpus as sub-token ids: the windows of masked-LM pretraining, stored flat (``TokenStore``).

Why: pretraining reads a corpus of hundreds of thousands of texts or more, and a Python object per
window (a tuple of ids, a list of word starts) costs about a hundred times the ids themselves. A
store holds three arrays: ``ids`` (int32), every window's sub-tokens without its special tokens,
back to back; ``starts`` (uint8), 1 at the first sub-token of each word (whole-word masking reads
them); ``ends`` (int64), where each window ends in ``ids``. About five bytes a sub-token. With a
directory the arrays are files there, written a chunk at a time and read back as ``np.memmap``
(the operating system pages them in and out); without one they are in memory.

``TokenStoreWriter`` takes texts one at a time (words, as ``data.corpus.iter_corpus`` streams
them) and tokenizes them ``CHUNK`` texts at a time: each text's words -> sub-tokens (pre-split, as
fine-tuning feeds them), cut into windows of whole words with no overlap (``WordEncoder.windows``
with stride 0), a word longer than a window split into window-sized parts
(``WordEncoder.unbroken_word_pieces``): the windows ``WordEncoder.encode_pieces`` makes of the same
texts. ``corpus_stores`` streams files into a training store and a dev store, a text's side decided
by a stable hash of its words (``data.split.held_out``), so neither the files' order nor anything
read before decides it. A store written to a directory records what it was made from
(``STORE_FILE``), so a resumed run reuses it when nothing changed.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..data.corpus import iter_corpus, resolve_corpus_format
from ..data.split import held_out
from ..errors import output_error
from ..files import atomic_write_text
from .windows import Window, WordEncoder

#: texts tokenized at a time
CHUNK = 1024
#: the store's description, written last: a directory without it holds no complete store
STORE_FILE = "store.json"
_ARRAYS = {"ids": np.int32, "starts": np.uint8, "ends": np.int64}


@dataclass(frozen=True, eq=False)
class TokenStore:
    """Windows of sub-token ids, flat (see the module docstring). ``prefix`` / ``suffix``: the
    special tokens around every window; ``texts`` and ``words``: what was read into it."""

    ids: np.ndarray  # shape: (tokens,) int32
    starts: np.ndarray  # shape: (tokens,) uint8, 1 at a word's first sub-token
    ends: np.ndarray  # shape: (windows,) int64, the end of each window's body in ids
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    texts: int = 0
    words: int = 0
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        """The number of windows."""
        return len(self.ends)

    @cached_property
    def begins(self) -> np.ndarray:
        """Where each window's body starts in ``ids``, shape (windows,)."""
        out = np.zeros(len(self.ends), dtype=np.int64)
        out[1:] = self.ends[:-1]
        return out

    @cached_property
    def lengths(self) -> np.ndarray:
        """Each window's length with its special tokens, shape (windows,) int64."""
        return self.ends - self.begins + len(self.prefix) + len(self.suffix)

    @property
    def tokens(self) -> int:
        """Sub-tokens in all, special tokens left out."""
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.starts.nbytes + self.ends.nbytes)

    def body(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Window ``i``'s sub-token ids and word-start flags, special tokens left out."""
        lo, hi = int(self.begins[i]), int(self.ends[i])
        return self.ids[lo:hi], self.starts[lo:hi]

    def window(self, i: int) -> Window:
        """Window ``i`` as a ``Window`` (its special tokens around it, no labels)."""
        ids, starts = self.body(i)
        n = len(self.prefix)
        word_starts = tuple(int(p) + n for p in np.flatnonzero(starts))
        return Window(i, 0, (*self.prefix, *map(int, ids), *self.suffix), word_starts, (0,) * len(word_starts), None)

    def used_ids(self, vocab_size: int) -> np.ndarray:
        """Every token id the windows hold (their special tokens included), sorted; shape (ids,)."""
        present = np.bincount(self.ids, minlength=vocab_size)[:vocab_size] > 0 if len(self.ids) else np.zeros(
            vocab_size, dtype=bool)
        present[[i for i in (*self.prefix, *self.suffix) if i < vocab_size]] = True
        return np.flatnonzero(present)

    @classmethod
    def open(cls, directory: str | Path) -> "TokenStore | None":
        """The store written to ``directory``, its arrays memory-mapped; None when there is none
        (or an incomplete one)."""
        path = Path(directory)
        try:
            info = json.loads((path / STORE_FILE).read_text(encoding="utf-8"))
            arrays = {name: _map(path / f"{name}.bin", dtype, info["counts"][name]) for name, dtype in _ARRAYS.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(arrays["ids"], arrays["starts"], arrays["ends"], tuple(info["prefix"]), tuple(info["suffix"]),
                   info["texts"], info["words"], info.get("made_from", {}))


def _map(path: Path, dtype, count: int) -> np.ndarray:
    if count == 0:
        return np.zeros(0, dtype=dtype)
    if path.stat().st_size != count * np.dtype(dtype).itemsize:
        raise ValueError(f"{path}: not the size the store says")
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


class TokenStoreWriter:
    """Builds a ``TokenStore`` from texts given one at a time (``add``), tokenizing ``CHUNK`` at a
    time; into ``directory`` (files, memory-mapped by ``finish``) or into memory. ``encoder``: a
    ``WordEncoder`` whose stride is 0 (windows do not overlap)."""

    def __init__(self, encoder: WordEncoder, directory: str | Path | None = None, made_from: dict | None = None,
                 chunk: int = CHUNK) -> None:
        if encoder.stride != 0:
            raise ValueError("a token store holds windows that do not overlap: give a WordEncoder with stride 0")
        self.encoder, self.chunk = encoder, chunk
        self.directory = Path(directory) if directory is not None else None
        self.made_from = dict(made_from or {})
        self.pending: list[Sequence[str]] = []
        self.texts = self.words = self.tokens = 0
        self.counts = {name: 0 for name in _ARRAYS}
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
        self.files = {}
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                (self.directory / STORE_FILE).unlink(missing_ok=True)  # incomplete until finish writes it
                self.files = {name: open(self.directory / f"{name}.bin", "wb") for name in _ARRAYS}
            except OSError as exc:
                self._close()
                raise output_error(exc.filename or self.directory, exc) from None

    def add(self, words: Sequence[str]) -> None:
        """One text (its words; an empty one is skipped)."""
        if words:
            self.pending.append(words)
            if len(self.pending) >= self.chunk:
                self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for pieces in self.encoder.unbroken_word_pieces(self.pending):
            for first, last in self.encoder.windows(pieces):
                for p in pieces[first:last]:
                    ids.extend(p)
                    starts.append(1)
                    starts.extend([0] * (len(p) - 1))
                ends.append(self.tokens + len(ids))
        self.texts += len(self.pending)
        self.words += sum(len(t) for t in self.pending)
        self.pending = []
        self.tokens += len(ids)
        self._write({"ids": np.asarray(ids, dtype=np.int32), "starts": np.asarray(starts, dtype=np.uint8),
                     "ends": np.asarray(ends, dtype=np.int64)})

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            self.counts[name] += len(array)
            if self.directory is None:
                self.parts[name].append(array)
                continue
            try:
                self.files[name].write(array.tobytes())
            except OSError as exc:
                self._close()
                raise output_error(self.directory / f"{name}.bin", exc) from None

    def _close(self) -> None:
        for fh in self.files.values():
            try:
                fh.close()
            except OSError:
                pass

    def finish(self) -> TokenStore:
        """The store of every text added (memory-mapped from the directory, where there is one)."""
        self._flush()
        prefix, suffix = tuple(self.encoder.prefix), tuple(self.encoder.suffix)
        if self.directory is None:
            arrays = {name: np.concatenate(parts) if parts else np.zeros(0, dtype=_ARRAYS[name])
                      for name, parts in self.parts.items()}
            return TokenStore(arrays["ids"], arrays["starts"], arrays["ends"], prefix, suffix, self.texts, self.words,
                              self.made_from)
        try:
            for fh in self.files.values():
                fh.flush()
                os.fsync(fh.fileno())
            self._close()
            atomic_write_text(json.dumps({"counts": self.counts, "prefix": prefix, "suffix": suffix, "texts": self.texts,
                                          "words": self.words, "made_from": self.made_from}, indent=1) + "\n",
                              self.directory / STORE_FILE)
        except OSError as exc:
            self._close()
            raise output_error(exc.filename or self.directory, exc) from None
        store = TokenStore.open(self.directory)
        assert store is not None, "a store just written reads back"
        return store


@dataclass(frozen=True)
class FileRead:
    """What one file gave to a corpus: its texts and words (dev share included), and the format read."""

    path: str
    format: str
    texts: int
    words: int


def corpus_stores(files: Iterable[str | Path], format: str, encoder: WordEncoder, dev_fraction: float, seed: int,
                  directory: str | Path | None = None, made_from: dict | None = None,
                  on_file: Callable[[FileRead], None] | None = None) -> tuple[TokenStore, TokenStore]:
    """Stream ``files`` (each read as ``format``, ``auto`` per file) into a training store and a dev
    store: a text goes to dev when ``held_out(words, dev_fraction, seed)``. With ``directory``, the
    stores are ``directory/train`` and ``directory/dev``; when both were written from the same
    ``made_from`` (what the caller says identifies the input: files, tokenizer, window length,
    split), they are reused as they are. ``on_file`` hears each file once it is read."""
    made_from = dict(made_from or {})
    if directory is not None:
        found = [TokenStore.open(Path(directory) / part) for part in ("train", "dev")]
        if all(s is not None and s.info == made_from for s in found):
            return found[0], found[1]  # type: ignore[return-value]
    where = (lambda part: Path(directory) / part) if directory is not None else (lambda part: None)
    train = TokenStoreWriter(encoder, where("train"), made_from)
    dev = TokenStoreWriter(encoder, where("dev"), made_from)
    for path in files:
        texts = words = 0
        read_as = resolve_corpus_format(path, format)
        for text in iter_corpus(path, read_as):
            (dev if held_out(text, dev_fraction, seed) else train).add(text)
            texts += 1
            words += len(text)
        if on_file is not None:
            on_file(FileRead(str(path), read_as, texts, words))
    return train.finish(), dev.finish()
