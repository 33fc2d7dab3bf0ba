"""Contracts of the pretraining corpus readers (``data/corpus.py``) at their thresholds: a head is
read as tagged columns when at least 90% of its rows (the first 500, ``-DOCSTART-`` rows left out)
carry a tag in the tag column, exactly 90% included; a compressed file must hold plain text by the
same rule (and no JSON first line, indented or not); the CSV/TSV guesses (a quoted label header, 20
quoted lines of one width of at least 2); and each refusal with its path, word for word."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pytest

from entitune.data.corpus import (
    iter_corpus,
    read_corpus,
    resolve_corpus_format,
    sniff_corpus_format,
)
from entitune.errors import DataFormatError

COMPRESS = {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}
KIND = {"gz": "gzip", "xz": "xz", "bz2": "bzip2"}


def _file(tmp_path, content: str, name: str = "c.txt"):
    path = tmp_path / name
    data = content.encode("utf-8")
    ext = name.rsplit(".", 1)[-1]
    path.write_bytes(COMPRESS[ext](data) if ext in COMPRESS else data)
    return path


def _refusal(call, path) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        call(path)
    return info.value


def _tagged(n: int) -> str:
    return "".join(f"w{i}\tO\n" for i in range(n))


def _plain(n: int) -> str:
    return "".join(f"some plain words {i}\n" for i in range(n))


@pytest.mark.parametrize(
    "content, fmt",
    [
        (_tagged(9) + _plain(1), "conll"),  # exactly 90% tagged
        (_tagged(8) + _plain(2), "text"),
        (
            "-DOCSTART-\n\n" + _tagged(9) + "-DOCSTART-\n" + _plain(1),
            "conll",
        ),  # -DOCSTART- rows do not count
        (
            _tagged(450) + _plain(50) + _plain(100),
            "conll",
        ),  # only the first 500 rows are looked at
        ("EU NNP B-ORG\nrejects VBZ O\n", "conll"),
        ("O\tfirst\nthe plain line\n", "text"),  # a BIO guess with too few tagged rows
        ("O\tfirst\nB-PER\tjohn\n", "bio"),
        ('  {"text": "indented json"}\n', "jsonl"),
        (
            '{"text": "a b", "label": [[0, 1, "PER"]]}\n',
            "jsonl",
        ),  # any JSON line, doccano's too
        ('  {"text": "a b", "label": [[0, 1, "PER"]]}\n', "jsonl"),
        (
            '"labelX","text"\nfoo,bar baz\n',
            "text",
        ),  # a header must name a label column exactly
        ("text\tlabel\nsome words\tpos\n", "tsv"),
        ('"label","text"\npos,great film\n', "csv"),
        (
            '"3","title"\n' * 20 + "an unquoted line, with a comma\n",
            "csv",
        ),  # only 20 lines are looked at
        ('"3","title"\n"1","x"\n', "csv"),
        ('"a","b"\n"c","d","e"\n', "text"),
        ('"a"\n"b"\n', "text"),
    ],
)
def test_sniff_corpus_format_thresholds(tmp_path, content, fmt):
    assert sniff_corpus_format(str(_file(tmp_path, content))) == fmt


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_a_compressed_file_is_plain_text_unless_its_head_is_annotated(tmp_path, ext):
    """Refused: 90% tagged rows (the last column, or the first as in BIO) among the first
    500, a JSON first line (indented too). Read: a few rows that happen to end in a tag-like word, and a head whose tags
    only start after row 500."""
    annotated = f"this {KIND[ext]}-compressed file looks like an annotated file, not plain text; decompress it and give the file itself"
    for content in [
        _tagged(450) + _plain(50) + _plain(5),  # 90% of the first 500 rows
        "EU NNP B-ORG\nrejects VBZ O\n",
        "B-PER\tjohn\nO\tsaid\n",
        '{"text": "a"}\nplain words\n',
        '  {"text": "a"}\n',
    ]:
        path = _file(tmp_path, content, f"c.{ext}")
        err = _refusal(resolve_corpus_format, path)
        assert (err.path, err.line, str(err)) == (
            str(path),
            None,
            f"{path}: {annotated}",
        )
    for content in [_plain(9) + "say O\n", _plain(450) + _plain(50) + _tagged(50)]:
        path = _file(tmp_path, content, f"c.{ext}")
        assert resolve_corpus_format(path) == "text"
        assert read_corpus(path).texts[-1] == tuple(content.splitlines()[-1].split())


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_an_empty_compressed_file_is_refused_by_kind(tmp_path, ext):
    path = _file(tmp_path, "\n  \n", f"c.{ext}")
    err = _refusal(read_corpus, path)
    assert (err.path, err.line, str(err)) == (
        str(path),
        None,
        f"{path}: empty {KIND[ext]}-compressed file: no text to read",
    )


def test_an_empty_plain_file_is_refused_with_its_path(tmp_path):
    path = _file(tmp_path, "\n \n")
    err = _refusal(read_corpus, path)
    assert (err.path, err.line, str(err)) == (
        str(path),
        None,
        f"{path}: empty file: no text to pretrain on",
    )


def test_a_corpus_names_its_file_and_streams_words(tmp_path):
    path = _file(tmp_path, "one two\n\nthree\n", "c.gz")
    corpus = read_corpus(path)
    assert (corpus.path, corpus.format, corpus.texts, corpus.words) == (
        str(path),
        "text",
        [("one", "two"), ("three",)],
        3,
    )
    assert list(iter_corpus(str(path))) == corpus.texts
