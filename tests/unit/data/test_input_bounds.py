"""Input hardening at the one gate every reader goes through (``data._lines``): only regular files,
bounded sizes and lines, encodings named, column counts checked, and the real datasets still read.

Each test's docstring says what breaking the behaviour looks like to a user.
"""
from __future__ import annotations

import gzip
import io
import os
import socket
import threading

import pytest

from entitune.data import load_annotated, read_sentences, read_texts, sniff_format, sniff_task
from entitune.data._lines import (
    check_input_file, encoding_problem, iter_lines, iter_stream_lines, max_input_bytes, max_line_bytes, read_bytes,
)
from entitune.errors import ConfigError, DataFormatError
from tests.helpers.data import data_dir

#: every public way into a file, each as the CLI verbs call it
READERS = {
    "read_sentences": lambda p: read_sentences(p),
    "read_sentences(conll)": lambda p: read_sentences(p, "conll"),
    "read_sentences(gmb)": lambda p: read_sentences(p, "gmb"),
    "load_annotated": lambda p: load_annotated(p),
    "sniff_format": lambda p: sniff_format(p),
    "sniff_task": lambda p: sniff_task(p),
    "read_texts": lambda p: read_texts(p),
    "read_texts(csv)": lambda p: read_texts(p, "csv"),
    "iter_lines": lambda p: list(iter_lines(p)),
    "read_bytes": lambda p: read_bytes(p),
}


def _within(seconds: float, call):
    """``call()``'s exception, failing the test (instead of hanging it) when it takes longer."""
    box: dict = {}

    def target():
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["exc"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s (it blocked on the input)"
    return box.get("exc")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.bio"
    os.mkfifo(path)
    yield path
    # unblock a reader stuck in open() if the check was broken, so the daemon thread can end
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


@pytest.mark.parametrize("reader", READERS)
def test_fifo_is_refused_without_opening(fifo, reader):
    """Broken: every command hangs for ever on a named pipe (opening a FIFO for reading blocks
    until a writer comes), or it is read as an empty file."""
    exc = _within(2, lambda: READERS[reader](fifo))
    assert isinstance(exc, DataFormatError)
    assert str(exc) == f"{fifo}: not a regular file (a FIFO); give a file"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_devices_are_refused(device, reader):
    """Broken: /dev/zero is read until MemoryError, /dev/null as an empty file."""
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    exc = _within(2, lambda: READERS[reader](device))
    assert isinstance(exc, DataFormatError) and str(exc) == f"{device}: not a regular file (a character device); give a file"


def test_directory_and_socket_are_refused(tmp_path):
    """Broken: a directory or a socket gives a traceback (IsADirectoryError, ENXIO) instead of one line."""
    with pytest.raises(DataFormatError, match="is a directory, expected a data file"):
        read_sentences(tmp_path)
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(DataFormatError, match=r"s.sock: not a regular file \(a socket\); give a file$"):
            read_sentences(path)


def test_symlink_to_a_regular_file_is_read(tmp_path):
    """Broken: the regular-file check looks at the link (lstat) and refuses a symlinked data file."""
    (tmp_path / "a.bio").write_text("O\tshow\nB-ACTOR\tdrew\n")
    (tmp_path / "link.bio").symlink_to(tmp_path / "a.bio")
    assert read_sentences(tmp_path / "link.bio")[0].words == ("show", "drew")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    """Broken: a file of many GB is read into memory (MemoryError, swapping) before anything is said."""
    path = tmp_path / "big.bio"
    path.write_text("O\tword\n" * 40_000)  # 280 KB
    monkeypatch.setenv("ENTITUNE_MAX_INPUT_MB", "0.1")
    for reader in ("read_sentences", "read_texts", "read_bytes", "iter_lines"):
        with pytest.raises(DataFormatError) as info:
            READERS[reader](path)
        assert str(info.value) == (f"{path}: is 280,000 bytes, more than the 104,857 bytes allowed for one input; "
                                   "set ENTITUNE_MAX_INPUT_MB to raise the limit")
    monkeypatch.setenv("ENTITUNE_MAX_INPUT_MB", "1")
    assert len(read_sentences(path)[0].words) == 40_000


def test_default_limits_and_bad_settings(monkeypatch):
    """Broken: the defaults drift (2 GiB a file, 1 MiB a line) or a typo in the variable is ignored."""
    monkeypatch.delenv("ENTITUNE_MAX_INPUT_MB", raising=False)
    monkeypatch.delenv("ENTITUNE_MAX_LINE_MB", raising=False)
    assert max_input_bytes() == 2 << 30 and max_line_bytes() == 1 << 20
    for bad in ("lots", "-1", "0", "inf", "nan"):
        monkeypatch.setenv("ENTITUNE_MAX_INPUT_MB", bad)
        with pytest.raises(ConfigError, match="ENTITUNE_MAX_INPUT_MB must be a positive number of megabytes"):
            max_input_bytes()


@pytest.mark.parametrize("reader, head", [
    ("read_sentences", "O\tx\nO\ty\nO\t"), ("iter_lines", "O\tx\nO\ty\nO\t"), ("read_texts", "l,x\nl,y\nl,"),
    ("read_bytes", "l,x\nl,y\nl,"), ("read_sentences(gmb)", "Sentence #,Word,POS,Tag\nSentence: 1,x,NN,O\n,"),
])
def test_overlong_line_is_refused_with_its_line(tmp_path, monkeypatch, reader, head):
    """Broken: a line of megabytes (a minified dump, a file without newlines) is read whole, or the
    error does not say which line."""
    monkeypatch.setenv("ENTITUNE_MAX_LINE_MB", "0.01")  # 10,485 bytes
    path = tmp_path / "long.txt"
    path.write_text(head + "z" * 20_000 + "\nO,w\n")
    with pytest.raises(DataFormatError) as info:
        READERS[reader](path)
    assert str(info.value).startswith(f"{path}:3: line longer than 10,485 bytes")
    assert "ENTITUNE_MAX_LINE_MB" in str(info.value)


def test_line_just_under_the_limit_and_one_without_newline(tmp_path, monkeypatch):
    """Broken: a line exactly at the limit (its LF one past it) is refused, or a last line without a
    newline escapes the check."""
    monkeypatch.setenv("ENTITUNE_MAX_LINE_MB", str(100 / (1 << 20)))  # 100 bytes
    path = tmp_path / "edge.txt"
    path.write_bytes(b"a" * 100 + b"\n" + b"b" * 100)
    assert [len(t) for _, t in iter_lines(path)] == [100, 100] and len(read_bytes(path)) == 201
    path.write_bytes(b"a\n" + b"b" * 101)
    with pytest.raises(DataFormatError, match=":2: line longer"):
        list(iter_lines(path))
    with pytest.raises(DataFormatError, match=":2: line longer"):
        read_bytes(path)


def test_line_limit_across_read_chunks(tmp_path, monkeypatch):
    """Broken: a long line that straddles two read chunks of ``read_bytes`` is not noticed (or a
    short one is refused)."""
    monkeypatch.setenv("ENTITUNE_MAX_LINE_MB", "0.1")  # 104,857 bytes; chunks are that long
    path = tmp_path / "c.csv"
    ok = b"l,t\n" + b"x" * 100_000 + b"\n" + b"y" * 100_000 + b"\n"
    path.write_bytes(ok)
    assert read_bytes(path) == ok
    path.write_bytes(b"l,t\n" * 20_000 + b"x" * 110_000 + b"\n")  # starts in the first chunk, ends in the third
    with pytest.raises(DataFormatError, match=":20001: line longer"):
        read_bytes(path)


def test_stdin_is_bounded_the_same_way(monkeypatch):
    """Broken: ``predict`` reads all of standard input first (``< /dev/zero`` until MemoryError), or
    a binary stream is decoded with a traceback."""
    monkeypatch.setenv("ENTITUNE_MAX_LINE_MB", "0.001")  # 1,048 bytes
    assert list(iter_stream_lines(io.StringIO("a\n\nb\r\n"))) == [(1, "a"), (2, ""), (3, "b")]
    with pytest.raises(DataFormatError, match=r"^<stdin>:2: line longer than 1,048 bytes"):
        list(iter_stream_lines(io.StringIO("a\n" + "b" * 2000 + "\n")))
    endless = io.TextIOWrapper(io.BytesIO(b"a" * 10_000_000))
    with pytest.raises(DataFormatError, match="^<stdin>:1: line longer"):
        list(iter_stream_lines(endless))
    zeros = io.TextIOWrapper(io.BytesIO(b"\x00" * 10_000_000))
    with pytest.raises(DataFormatError, match=r"^<stdin>: looks like a binary file \(100% NUL bytes\)"):
        list(iter_stream_lines(zeros))
    monkeypatch.setenv("ENTITUNE_MAX_INPUT_MB", "0.002")  # 2,097 bytes
    with pytest.raises(DataFormatError, match=r"^<stdin>:3: has more than 2,097 bytes"):
        list(iter_stream_lines(io.StringIO("x" * 900 + "\n" + "y" * 900 + "\n" + "z" * 900 + "\n")))
    utf16 = io.TextIOWrapper(io.BytesIO("hello\nworld\n".encode("utf-16")))
    with pytest.raises(DataFormatError, match="^<stdin>: looks like UTF-16"):
        list(iter_stream_lines(utf16))
    bad = io.TextIOWrapper(io.BytesIO(b"ok\ncaf\xe9\n"))
    with pytest.raises(DataFormatError, match=r"^<stdin>:2: not valid UTF-8 \(byte 0xE9 at byte 4 of the line\)"):
        list(iter_stream_lines(bad))


@pytest.mark.parametrize("encoding, named", [
    ("utf-16", "looks like UTF-16 (byte-order mark); save it as UTF-8"),
    ("utf-16-be", "looks like UTF-16 (every other byte is NUL, no byte-order mark); save it as UTF-8"),
    ("utf-16-le", "looks like UTF-16 (every other byte is NUL, no byte-order mark); save it as UTF-8"),
    ("utf-32", "looks like UTF-32 (byte-order mark); save it as UTF-8"),
    ("utf-32-le", "looks like UTF-32 (three of every four bytes are NUL, no byte-order mark); save it as UTF-8"),
])
@pytest.mark.parametrize("reader", ["read_sentences", "sniff_task", "read_texts", "load_annotated"])
def test_utf16_and_utf32_are_named(tmp_path, encoding, named, reader):
    """Broken: a file saved as UTF-16 (Excel, Notepad, PowerShell) gets "cannot tell the format"
    with no word about its encoding."""
    path = tmp_path / "wide.bio"
    text = "O\tshow\nB-ACTOR\tdrew\n" if reader != "read_texts" else "label,text\npos,good film\n"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(DataFormatError) as info:
        READERS[reader](path)
    assert str(info.value) == f"{path}: {named}"


def test_compressed_and_binary_files_are_named(tmp_path):
    """Broken: a .gz or a model file given as data is reported as "cannot tell the format" or as a
    UTF-8 error at some line."""
    gz = tmp_path / "train.bio.gz"
    gz.write_bytes(gzip.compress(b"O\tshow\n"))
    with pytest.raises(DataFormatError, match="looks like a gzip file; decompress it first"):
        read_sentences(gz)
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) + b"\x00" * 3000)
    with pytest.raises(DataFormatError, match=r"looks like a binary file \(\d+% NUL bytes\), not text"):
        read_sentences(blob)
    assert encoding_problem("O\tjane\nB-PER\tdoe\n".encode()) is None
    assert encoding_problem("O\t北京\n".encode()) is None


def test_invalid_utf8_names_line_byte_and_what_to_do(tmp_path):
    """Broken: a Latin-1 file gives a UnicodeDecodeError traceback, or a message without the line or
    without saying to save it as UTF-8."""
    path = tmp_path / "latin.bio"
    path.write_bytes("O\tshow\nB-ACTOR\tcafé\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        read_sentences(path)
    assert str(info.value) == (f"{path}:2: not valid UTF-8 (byte 0xE9 at byte 12 of the line); save the file as "
                               "UTF-8 (e.g. iconv -f latin1 -t utf-8, naming its encoding)")
    csv_path = tmp_path / "latin.csv"
    csv_path.write_bytes("label,text\npos,good\nneg,caf\xe9 bad\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin.csv:3: not valid UTF-8 \(byte 0xE9 at byte 8 of the line\)"):
        read_texts(csv_path)


def test_column_count_must_match_the_first_token_line(tmp_path):
    """Broken: a CoNLL line with more (or fewer) columns than the rest is read with the extra columns
    dropped unseen, so a shifted or merged line trains on the wrong tag."""
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-NP I-NP B-MISC\n")
    with pytest.raises(DataFormatError) as info:
        read_sentences(path)
    assert str(info.value) == (f"{path}:6: has 5 columns, but the first token line (line 3) has 4; "
                               "every token line needs the same columns")
    bio = tmp_path / "a.bio"
    bio.write_text("O\tshow\nB-ACTOR\tdrew\tbarrymore\n")
    with pytest.raises(DataFormatError, match=r"a.bio:2: has 3 columns, but the first token line \(line 1\) has 2"):
        read_sentences(bio, "bio")


def test_ten_thousand_columns_is_refused(tmp_path):
    """Broken: a line of 10,000 columns is read as word + tag with 9,998 columns dropped silently."""
    path = tmp_path / "wide.conll"
    path.write_text("Paris B-LOC\n" + " ".join(["x"] * 9_999) + " O\n")
    with pytest.raises(DataFormatError) as info:
        read_sentences(path, "conll")
    assert str(info.value).startswith(f"{path}:2: has 10,000 columns, more than the 100 a token line may have")
    path.write_text(" ".join(["x"] * 9_999) + " O\n")  # even as the file's only line
    with pytest.raises(DataFormatError, match=r":1: has 10,000 columns"):
        read_sentences(path, "conll")


def test_reader_errors_shorten_what_they_quote(tmp_path):
    """Broken: an error about a bad line of megabytes prints the whole line (one "line" of 500 KB)."""
    path = tmp_path / "a.bio"
    path.write_text("O\tshow\n" + "X" * 500_000 + "\n")
    with pytest.raises(DataFormatError) as info:
        read_sentences(path, "bio")
    assert str(info.value).startswith(f"{path}:2: expected 'TAG<TAB>word', found 'XXX")
    assert len(str(info.value)) < 300 and "(500,000 characters)" in str(info.value)
    path.write_text("O\tshow\n" + "PERSON" + "X" * 500_000 + "\tdrew\n")
    with pytest.raises(DataFormatError) as info:
        read_sentences(path, "bio")
    assert len(str(info.value)) < 300 and "(500,006 characters)" in str(info.value)


@pytest.mark.parametrize("content, fmt, why", [
    ('{"tokens": [], "tags": []}\n\n{"text": "  ", "entities": []}\n', "auto",
     "every line is blank or has no words"),
    ("-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n", "conll", "only blank lines and -DOCSTART- lines"),
    ("## klue-ner-v1_dev_00001-nsmc\t \n \tO\n", "klue", "no '## id<TAB>sentence' line is followed by a character"),
])
def test_a_file_whose_sentences_are_all_dropped_says_why(tmp_path, content, fmt, why):
    """Broken: a training file whose only sentence the reader drops gives a bare "no sentences
    found" (or, before, training started on nothing)."""
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError) as info:
        load_annotated(path, fmt)
    assert str(info.value).startswith(f"{path}: no sentences found: {why}")


def test_check_input_file_is_the_gate(tmp_path):
    """Broken: ``check_input_file`` opens the path (and blocks on a FIFO) or lets a missing path through."""
    with pytest.raises(DataFormatError, match="no such file"):
        check_input_file(tmp_path / "missing.bio")
    (tmp_path / "ok.bio").write_text("O\tx\n")
    assert check_input_file(tmp_path / "ok.bio").st_size == 4


REAL_FILES = [
    ("conll2003/train.txt", 14_041, 203_621), ("conll2003/valid.txt", 3_250, 51_362), ("conll2003/test.txt", 3_453, 46_435),
    ("wnut17/wnut17train.conll", 3_394, 62_730), ("wnut17/emerging.dev.conll", 1_009, 15_733),
    ("wnut17/emerging.test.annotated", 1_287, 23_394),
    ("mit_movie_eng/engtrain.bio", 9_775, 99_491), ("mit_movie_eng/engtest.bio", 2_443, 24_686),
    ("weibo_ner/weiboNER_2nd_conll.train", 1_350, 73_778), ("weibo_ner/weiboNER_2nd_conll.dev", 270, 14_509),
    ("weibo_ner/weiboNER_2nd_conll.test", 270, 14_842), ("weibo_ner/weibo_char_bio.train", 1_350, 73_778),
    ("weibo_ner/weibo_char_bio.dev", 270, 14_509), ("weibo_ner/weibo_char_bio.test", 270, 14_842),
    ("klue_ner/klue-ner-v1.1_dev.tsv", 5_000, 225_550),
    ("kmou_ner_2016klp/ner.train", 2_928, 114_256), ("kmou_ner_2016klp/ner.dev", 366, 14_077),
    ("kmou_ner_2016klp/ner.test", 366, 13_799),
    ("gmb_kaggle_ner/ner_dataset.csv", 47_959, 1_048_575),
]


@pytest.mark.parametrize("name, sentences, words", REAL_FILES)
def test_real_datasets_still_read_whole(name, sentences, words):
    """Broken: the column rule, the line bound or the encoding check refuses (or cuts) a real
    dataset: CoNLL-2003 (4 columns), WNUT (2), MIT .bio (tag first), Weibo, KLUE, KMOU, GMB (latin-1)."""
    path = data_dir() / name
    if not path.exists():
        pytest.skip(f"real data not found: {path}")
    data = load_annotated(path)
    assert (len(data.sentences), sum(len(s.words) for s in data.sentences)) == (sentences, words)


@pytest.mark.parametrize("name, texts", [("ag_news/train.csv", 6_080), ("ag_news/test.csv", 1_520),
                                         ("ag_news/ag_news_original_test.csv", 7_600)])
def test_real_text_datasets_still_read_whole(name, texts):
    """Broken: the bounds refuse AG News (quoted CSV) or drop rows."""
    path = data_dir() / name
    if not path.exists():
        pytest.skip(f"real data not found: {path}")
    assert len(read_texts(path).examples) == texts and sniff_task(path) == "classify"


def test_a_text_file_with_only_a_header_says_why(tmp_path):
    """Broken: a CSV with a header and no rows gives a bare "no texts found" (so training on it
    cannot say why it has nothing to learn)."""
    path = tmp_path / "t.csv"
    path.write_text("label,text\n\n")
    with pytest.raises(DataFormatError, match=r"t.csv: no texts found: only blank lines, or a header row with no rows"):
        read_texts(path)


def test_a_path_swapped_for_a_fifo_after_the_check_does_not_block(tmp_path, monkeypatch):
    """Broken: a file replaced by a FIFO between the stat and the open (a race) blocks the reader."""
    import entitune.data._lines as lines

    path = tmp_path / "swapped.bio"
    os.mkfifo(path)
    monkeypatch.setattr(lines, "check_input_file", lambda p: None)  # as if the stat saw a regular file
    exc = _within(2, lambda: read_sentences(path, "bio"))
    assert isinstance(exc, DataFormatError) and str(exc) == f"{path}: not a regular file (a FIFO); give a file"
