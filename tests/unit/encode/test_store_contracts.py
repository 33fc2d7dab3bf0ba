"""Contracts of the token store (``encode.store``) beside the round trip of test_store.py:

- a store's used ids are exactly the ids it holds plus its special tokens, below the vocabulary size;
- an empty store and a one-sub-token store, in memory or on disk, read back as what was written,
  with the documented dtypes; a store on disk reads back read-only;
- word-start flags are 0 or 1, one 1 per word; ``window(i)`` is window ``i`` with no labels;
- a writer holds at most ``chunk`` texts before tokenizing them;
- what a store was made from reads back (an old store without the record: made from nothing);
- output that cannot be written is one ``OutputError`` naming the file and the reason;
- ``corpus_stores`` reads each file in the format asked for and reports what each gave.
"""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import BertTokenizerFast

from entitune.encode import TokenStore, TokenStoreWriter, WordEncoder, corpus_stores
from entitune.encode import store as store_module
from entitune.encode.store import STORE_FILE, FileRead
from entitune.errors import OutputError
from tests.helpers.vocab import tiny_vocab

TEXTS = [("show", "me", "films"), ("drew", "barrymore", "xylophones") * 3, ("paris",), ("the", "1980s")]


@pytest.fixture(scope="module")
def encoder() -> WordEncoder:
    vocab = tiny_vocab(0)
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    return WordEncoder(tokenizer, max_length=8, stride=0)


def _store(encoder, texts, directory=None, **kwargs) -> TokenStore:
    writer = TokenStoreWriter(encoder, directory, **kwargs)
    for t in texts:
        writer.add(t)
    return writer.finish()


# -- used ids ----------------------------------------------------------------------------------------

@given(ids=st.lists(st.integers(0, 30), max_size=20), prefix=st.lists(st.integers(0, 30), max_size=2),
       suffix=st.lists(st.integers(0, 30), max_size=2), vocab_size=st.integers(1, 31))
def test_used_ids_are_the_ids_held_and_the_special_tokens(ids, prefix, suffix, vocab_size):
    """``used_ids(V)``: every id the windows hold or the special tokens around them, once, sorted,
    none at or past ``V``. Broken: an id seen once left out, an unseen id let in, a special token
    missing or one equal to ``V`` let in."""
    store = TokenStore(np.asarray(ids, dtype=np.int32), np.ones(len(ids), dtype=np.uint8),
                       np.asarray([len(ids)] if ids else [], dtype=np.int64), tuple(prefix), tuple(suffix))
    expected = sorted({i for i in (*ids, *prefix, *suffix) if i < vocab_size})
    assert store.used_ids(vocab_size).tolist() == expected


def test_used_ids_of_a_written_store(encoder, tmp_path):
    """On a store written from texts: the ids of its windows' sub-tokens and [CLS] / [SEP]; an
    empty store uses only its special tokens."""
    store = _store(encoder, TEXTS, tmp_path / "s")
    held = {i for k in range(len(store)) for i in store.window(k).input_ids}
    vocab_size = len(encoder.tokenizer)
    assert store.used_ids(vocab_size).tolist() == sorted(held)
    empty = _store(encoder, [])
    assert empty.used_ids(vocab_size).tolist() == sorted({*encoder.prefix, *encoder.suffix})


# -- empty and tiny stores ---------------------------------------------------------------------------

@pytest.mark.parametrize("on_disk", [False, True])
def test_an_empty_store_reads_back_empty_with_its_dtypes(encoder, tmp_path, on_disk):
    """No text: no window, no sub-token, the arrays still int32 / uint8 / int64 (a file of no bytes
    is not memory-mapped)."""
    store = _store(encoder, [()], tmp_path / "s" if on_disk else None)
    assert (len(store), store.tokens, store.texts, store.words, store.nbytes) == (0, 0, 0, 0, 0)
    assert (store.ids.dtype, store.starts.dtype, store.ends.dtype) == (np.int32, np.uint8, np.int64)
    if on_disk:
        again = TokenStore.open(tmp_path / "s")
        assert again is not None and len(again) == 0 and again.ids.dtype == np.int32


def test_a_one_sub_token_store_reopens_to_its_window(encoder, tmp_path):
    """One text of one one-sub-token word: one window, one id, kept on disk and read back."""
    store = _store(encoder, [("paris",)], tmp_path / "s")
    again = TokenStore.open(tmp_path / "s")
    for s in (store, again):
        assert (len(s), s.tokens) == (1, 1)
        assert s.window(0).input_ids == (*encoder.prefix, encoder.tokenizer.convert_tokens_to_ids("paris"),
                                         *encoder.suffix)


def test_a_store_on_disk_reads_back_read_only(encoder, tmp_path):
    """The memory-mapped arrays cannot be written through (a bug cannot change the files)."""
    store = _store(encoder, TEXTS, tmp_path / "s")
    for array in (store.ids, store.starts, store.ends):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 1


# -- windows and word starts -------------------------------------------------------------------------

@pytest.mark.parametrize("on_disk", [False, True])
def test_word_start_flags_are_one_per_word_and_windows_are_numbered(encoder, tmp_path, on_disk):
    """``starts`` holds 0 or 1 only (whole-word masking counts words by summing them), as many 1s
    as words across the windows; ``window(i)`` is window ``i`` (its index as its sentence, first
    word 0, no context counted, no labels)."""
    store = _store(encoder, TEXTS, tmp_path / "s" if on_disk else None)
    assert set(np.unique(store.starts).tolist()) == {0, 1}
    assert int(store.starts.sum()) == sum(store.window(i).n_words for i in range(len(store)))
    for i in range(len(store)):
        w = store.window(i)
        assert (w.sentence, w.first_word, w.labels) == (i, 0, None)
        assert w.context == (0,) * w.n_words


def test_a_writer_tokenizes_once_chunk_texts_wait(encoder):
    """After exactly ``chunk`` texts nothing waits untokenized (memory stays bounded by ``chunk``)."""
    writer = TokenStoreWriter(encoder, chunk=3)
    for t in TEXTS[:3]:
        writer.add(t)
    assert writer.pending == [] and writer.texts == 3
    writer.add(TEXTS[3])
    assert len(writer.pending) == 1


# -- what a store was made from ----------------------------------------------------------------------

@pytest.mark.parametrize("on_disk", [False, True])
def test_a_store_keeps_what_it_was_made_from(encoder, tmp_path, on_disk):
    made = {"files": ["a.txt"], "max_length": 8}
    assert _store(encoder, TEXTS, tmp_path / "s" if on_disk else None, made_from=made).info == made


def test_a_store_recorded_without_its_origin_reads_as_made_from_nothing(encoder, tmp_path):
    _store(encoder, TEXTS, tmp_path / "s", made_from={"a": 1})
    record = json.loads((tmp_path / "s" / STORE_FILE).read_text())
    del record["made_from"]
    (tmp_path / "s" / STORE_FILE).write_text(json.dumps(record))
    store = TokenStore.open(tmp_path / "s")
    assert store is not None and store.info == {}


# -- errors ------------------------------------------------------------------------------------------

def test_a_writer_needs_windows_that_do_not_overlap(encoder):
    overlapping = WordEncoder(encoder.tokenizer, max_length=8, stride=2)
    with pytest.raises(ValueError, match=r"^a token store holds windows that do not overlap: give a WordEncoder "
                                         r"with stride 0$"):
        TokenStoreWriter(overlapping)


def test_a_directory_that_cannot_be_made_is_an_output_error(encoder, tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "store"
    with pytest.raises(OutputError) as caught:
        TokenStoreWriter(encoder, target)
    assert str(caught.value) == f"{target}: cannot write (not a directory)"


def test_an_array_file_that_cannot_be_opened_is_named(encoder, tmp_path):
    """The error names the file that failed (ids.bin), not just the directory."""
    (tmp_path / "s" / "ids.bin").mkdir(parents=True)
    with pytest.raises(OutputError) as caught:
        TokenStoreWriter(encoder, tmp_path / "s")
    assert str(caught.value) == f"{tmp_path / 's' / 'ids.bin'}: cannot write (is a directory)"


class _FullDisk:
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        pass


def test_a_failed_write_names_the_array_file(encoder, tmp_path):
    writer = TokenStoreWriter(encoder, tmp_path / "s", chunk=1)
    writer.files["ids"].close()
    writer.files["ids"] = _FullDisk()
    with pytest.raises(OutputError) as caught:
        writer.add(TEXTS[0])
    assert str(caught.value) == f"{tmp_path / 's' / 'ids.bin'}: cannot write (no space left on device)"
    assert caught.value.exit_code == 1


def test_a_failed_finish_names_the_store_directory(encoder, tmp_path, monkeypatch):
    writer = TokenStoreWriter(encoder, tmp_path / "s")
    writer.add(TEXTS[0])

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module.os, "fsync", failing_fsync)
    with pytest.raises(OutputError) as caught:
        writer.finish()
    assert str(caught.value) == f"{tmp_path / 's'}: cannot write (input/output error)"


# -- corpus_stores -----------------------------------------------------------------------------------

def test_corpus_stores_read_the_format_asked_for_and_report_each_file(encoder, tmp_path):
    """A CoNLL-looking file read as ``text`` is one text per line (auto would read sentences); each
    file's report gives its path, the format read and all its texts and words, dev share included."""
    conll = tmp_path / "a.txt"
    conll.write_text("show O\nme O\n\nfilms O\nin O\nparis B-LOC\n")
    plain = tmp_path / "b.txt"
    plain.write_text("show me films\nwith drew barrymore from the 1980s\n")
    seen: list[FileRead] = []
    train, dev = corpus_stores([conll, plain], "text", encoder, 0.5, 0, on_file=seen.append)
    assert seen == [FileRead(str(conll), "text", 5, 10), FileRead(str(plain), "text", 2, 9)]
    assert train.texts + dev.texts == 7 and train.words + dev.words == 19
