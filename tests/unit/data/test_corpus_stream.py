"""A corpus streamed from its files: compressed text (xz, gzip, bzip2) read as the plain file reads,
a text at a time and a chunk of the stream at a time (never the whole text in memory); damaged or
mislabelled compressed files refused in one line; and the dev share decided by a hash of each text,
the same whatever the files' order."""
from __future__ import annotations

import bz2
import gzip
import inspect
import lzma
import tracemalloc
from collections import Counter

import pytest

from entitune.data._lines import iter_text_lines
from entitune.data.corpus import iter_corpus, read_corpus
from entitune.data.split import hash_share, held_out
from entitune.errors import DataFormatError

LINES = ["The first text, with words.", "", "  ", "北京 and 서울 in one line", "last line without newline"]
COMPRESSORS = {"xz": lzma.compress, "gz": gzip.compress, "bz2": bz2.compress}


@pytest.fixture
def plain(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("\n".join(LINES), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_compressed_file_gives_the_texts_of_the_plain_one(plain, tmp_path, suffix):
    """xz, gzip and bzip2, told by their first bytes (the name does not matter): the same texts,
    blank lines skipped, as the plain file."""
    packed = tmp_path / f"texts.{suffix}"
    packed.write_bytes(COMPRESSORS[suffix](plain.read_bytes()))
    misnamed = tmp_path / "texts.txt.bin"
    misnamed.write_bytes(packed.read_bytes())
    expected = list(iter_corpus(plain))
    assert len(expected) == 3
    assert list(iter_corpus(packed)) == expected == list(iter_corpus(misnamed))
    assert read_corpus(packed).format == "text" and read_corpus(packed).texts == expected


def test_the_reader_is_a_generator_that_reads_the_stream_a_chunk_at_a_time(tmp_path):
    """Memory stays bounded whatever the corpus's size: ``iter_corpus`` is a generator, its first text
    comes before the rest of the stream is read, and reading 48 MiB of decompressed text through
    ``iter_text_lines`` allocates at most a few chunks (traced peak under 16 MiB). Broken: a reader
    that decompresses the whole file (``lzma.decompress(read())``) or lists its lines."""
    line = ("word " * 199 + "end\n").encode()  # 1 KiB a line
    path = tmp_path / "big.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for _ in range(48):
            fh.write(line * 1024)
    texts = iter_corpus(path)
    assert inspect.isgenerator(texts)
    tracemalloc.start()
    try:
        first = next(texts)
        after_first = tracemalloc.get_traced_memory()[1]
        count = sum(1 for _ in iter_text_lines(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        texts.close()
    assert first[-1] == "end" and len(first) == 200
    assert count == 48 * 1024
    assert after_first < 16 * 2**20 and peak < 16 * 2**20, (after_first, peak)


def test_a_damaged_or_cut_stream_is_one_error_with_its_line(plain, tmp_path):
    """A cut xz stream, and a gzip stream with bytes changed in the middle, each fail as a
    ``DataFormatError`` naming the file (and the line reached), never a traceback of lzma or zlib."""
    data = (("a text of a few words\n" * 4000)).encode()
    cut = tmp_path / "cut.xz"
    cut.write_bytes(lzma.compress(data)[:-40])
    with pytest.raises(DataFormatError, match=r"cut\.xz:\d+: the xz stream is damaged or cut short"):
        list(iter_corpus(cut))
    packed = bytearray(gzip.compress(data))
    packed[len(packed) // 2: len(packed) // 2 + 8] = b"\xff" * 8
    bad = tmp_path / "bad.gz"
    bad.write_bytes(bytes(packed))
    with pytest.raises(DataFormatError, match="the gzip stream is damaged"):
        list(iter_corpus(bad))


def test_a_compressed_file_holds_plain_text_only(tmp_path):
    """A compressed CoNLL file would be pretrained on with its tags as words: refused with a line
    saying to decompress it, as is asking for another format than text for a compressed file."""
    tagged = tmp_path / "train.conll.xz"
    tagged.write_bytes(lzma.compress("".join(f"w{i} B-PER\nx{i} O\n\n" for i in range(50)).encode()))
    with pytest.raises(DataFormatError, match="looks like an annotated file, not plain text; decompress it"):
        list(iter_corpus(tagged))
    text = tmp_path / "t.xz"
    text.write_bytes(lzma.compress(b"plain words\n"))
    with pytest.raises(DataFormatError, match="read as plain text .* decompress it to read it as conll"):
        list(iter_corpus(text, "conll"))


def test_the_dev_share_follows_each_text_alone():
    """``held_out`` takes about the asked share of texts, the same texts whatever order they come in
    or which file holds them, duplicates on the same side, and another seed another share. Broken:
    a split by position (every 20th text) or by a random stream."""
    texts = [(f"text{i}", "with", "words", str(i * 7)) for i in range(20000)]
    dev = {t for t in texts if held_out(t, 0.05, 42)}
    assert 0.045 < len(dev) / len(texts) < 0.055
    assert {t for t in reversed(texts) if held_out(t, 0.05, 42)} == dev
    assert {t for t in texts[::2] if held_out(t, 0.05, 42)} == {t for t in texts[::2] if t in dev}
    assert all(held_out(t, 0.05, 42) for t in list(dev)[:50])  # asked again, same answer
    other = {t for t in texts if held_out(t, 0.05, 7)}
    assert len(other & dev) < len(dev) / 4
    assert not any(held_out(t, 0.0, 42) for t in texts[:100])
    # spread evenly over [0, 1): no tenth of the range takes much more than a tenth of the texts
    tenths = Counter(int(hash_share(t, 1) * 10) for t in texts)
    assert set(tenths) == set(range(10)) and max(tenths.values()) < 2200
