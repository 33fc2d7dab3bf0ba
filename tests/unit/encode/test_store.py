"""The token store of masked-LM pretraining: the windows ``WordEncoder`` makes, kept as flat arrays
(int32 ids, a uint8 word-start flag per id, an int64 end per window: nothing per window but its
end), written to files and memory-mapped, reused only when made from the same input, and filled
from files whose texts go to dev by a hash of their words, whatever the files' order."""
from __future__ import annotations

import lzma

import numpy as np
import pytest
from transformers import AutoTokenizer

from entitune.data.split import held_out
from entitune.encode import TokenStore, TokenStoreWriter, WordEncoder, corpus_stores
from entitune.encode.store import STORE_FILE
from tests.helpers.data import WORDS

LONG_WORDS = ("xylophones", "quizzical", "jukeboxes", "a" * 40)


def _texts(n: int) -> list[tuple[str, ...]]:
    """``n`` texts of 1 to 30 words, some longer than a 16-token window, some words split or cut."""
    rng = np.random.default_rng(0)
    pool = [*WORDS, *LONG_WORDS]
    return [tuple(pool[i] for i in rng.integers(len(pool), size=1 + k % 30)) for k in range(n)]


@pytest.fixture(scope="module")
def encoder(tiny_bert) -> WordEncoder:
    return WordEncoder(AutoTokenizer.from_pretrained(str(tiny_bert)), max_length=16, stride=0)


@pytest.mark.parametrize("on_disk", [False, True])
def test_the_store_holds_the_windows_the_word_encoder_makes(encoder, tmp_path, on_disk):
    """Window by window, the store gives the ids and word starts of ``encode_pieces`` over
    ``unbroken_word_pieces`` (no overlap, a word longer than a window split), in memory and from
    memory-mapped files, across several tokenizer chunks. Broken: a window cut in the middle of a
    word, a word start lost, windows shifted between chunks."""
    texts = _texts(300)
    writer = TokenStoreWriter(encoder, tmp_path / "store" if on_disk else None, chunk=64)
    for t in texts:
        writer.add(t)
    store = writer.finish()
    expected = encoder.encode_pieces(encoder.unbroken_word_pieces(texts))
    assert len(store) == len(expected) > len(texts)
    for i, w in enumerate(expected):
        got = store.window(i)
        assert got.input_ids == w.input_ids and got.word_starts == w.word_starts, i
    assert store.texts == len(texts) and store.words == sum(map(len, texts))
    assert list(store.lengths) == [len(w.input_ids) for w in expected]
    assert isinstance(store.ids, np.memmap) == on_disk


def test_the_store_costs_five_bytes_a_sub_token_and_eight_a_window(encoder, tmp_path):
    """The files hold int32 ids, a uint8 flag per id and an int64 end per window, nothing else: the
    store's size is 5 x sub-tokens + 8 x windows bytes (whereas a tuple of ids per window costs
    about 40 bytes a sub-token). Broken: int64 ids, or an offset per token."""
    writer = TokenStoreWriter(encoder, tmp_path / "s")
    for t in _texts(200):
        writer.add(t)
    store = writer.finish()
    on_disk = sum((tmp_path / "s" / f"{name}.bin").stat().st_size for name in ("ids", "starts", "ends"))
    assert store.nbytes == on_disk == 5 * store.tokens + 8 * len(store)
    assert store.ids.dtype == np.int32 and store.starts.dtype == np.uint8 and store.ends.dtype == np.int64


def test_a_store_is_reused_only_when_made_from_the_same_input(encoder, tmp_path):
    """``corpus_stores`` into a directory reuses the stores there when their record of what they were
    made from matches, rebuilds them when it does not, and never reads a store whose record was not
    written (a run killed while writing it)."""
    path = tmp_path / "a.txt"
    path.write_text("\n".join(" ".join(t) for t in _texts(40)) + "\n")
    made = {"files": ["a"], "max_length": 16}
    train, dev = corpus_stores([path], "auto", encoder, 0.2, 1, tmp_path / "c", made)
    stamp = (tmp_path / "c" / "train" / "ids.bin").stat().st_mtime_ns
    again, _ = corpus_stores([path], "auto", encoder, 0.2, 1, tmp_path / "c", made)
    assert (tmp_path / "c" / "train" / "ids.bin").stat().st_mtime_ns == stamp and len(again) == len(train)
    other, _ = corpus_stores([path], "auto", encoder, 0.5, 1, tmp_path / "c", {**made, "dev_fraction": 0.5})
    assert other.texts < train.texts
    (tmp_path / "c" / "train" / STORE_FILE).unlink()
    assert TokenStore.open(tmp_path / "c" / "train") is None


def test_dev_texts_follow_their_words_not_the_files_order(encoder, tmp_path):
    """Two files streamed in either order give the same dev texts (those ``held_out`` picks) and
    the same number of training windows; the dev store holds exactly those texts."""
    texts = _texts(400)
    a, b = tmp_path / "a.txt.xz", tmp_path / "b.txt"
    a.write_bytes(lzma.compress(("\n".join(" ".join(t) for t in texts[:250]) + "\n").encode()))
    b.write_text("\n".join(" ".join(t) for t in texts[250:]) + "\n")
    seen = []
    first = corpus_stores([a, b], "auto", encoder, 0.1, 3, on_file=seen.append)
    second = corpus_stores([b, a], "auto", encoder, 0.1, 3)
    picked = [t for t in texts if held_out(t, 0.1, 3)]
    assert 0 < first[1].texts == second[1].texts == len(picked)
    assert first[0].texts == second[0].texts == len(texts) - len(picked)
    assert first[0].tokens == second[0].tokens

    def bodies(store):
        return sorted(tuple(int(i) for i in store.window(k).input_ids) for k in range(len(store)))

    assert bodies(first[1]) == bodies(second[1])
    assert [(r.texts, r.format) for r in seen] == [(250, "text"), (150, "text")]
