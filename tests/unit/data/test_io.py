import pytest

from entitune.data import load_annotated, read_sentences, sniff_format, split_dev
from entitune.errors import DataFormatError
from entitune.types import Sentence


def test_conll_reader_skips_docstart_and_reads_last_column(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n")
    sents = read_sentences(f)
    assert [s.words for s in sents] == [("EU", "rejects"), ("Peter",)]
    assert [s.tags for s in sents] == [("B-ORG", "O"), ("B-PER",)]
    assert sents[0].line == 3
    assert [s.words for s in read_sentences(f, "conll", tag_column=2)][0] == ("EU", "rejects")


def test_bio_reader_tab_crlf_bom(tmp_path):
    f = tmp_path / "a.bio"
    f.write_bytes("\ufeffO\twhat\r\nB-ACTOR\tbruce willis\r\n\r\nO\tx\r\n".encode())
    assert sniff_format(f) == "bio"
    sents = read_sentences(f)
    assert sents[0] == Sentence(("what", "bruce willis"), ("O", "B-ACTOR"), 1)
    assert len(sents) == 2


def test_sniff_conll(tmp_path):
    f = tmp_path / "a.conll"
    f.write_text("Paris\tB-LOC\nis\tO\n")
    assert sniff_format(f) == "conll"


@pytest.mark.parametrize(
    "content, fmt, line, fragment",
    [
        ("O\twhat\nB-ACTOR\tbruce\nPERSON\twillis\n", "bio", 3, "'PERSON' is neither"),
        ("O\twhat\nB-ACTOR\n", "bio", 2, "expected 'TAG<TAB>word'"),
        ("Paris B-LOC\nis\n", "conll", 2, "missing tag column"),
        ("Paris B-LOC\nis X-FOO\n", "conll", 2, "'X-FOO' is neither"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, content, fmt, line, fragment):
    f = tmp_path / "bad.txt"
    f.write_text(content)
    with pytest.raises(DataFormatError) as info:
        read_sentences(f, fmt)
    assert str(info.value).startswith(f"{f}:{line}: ")
    assert fragment in str(info.value)


def test_invalid_utf8_names_line(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"Paris B-LOC\nx\xff B-LOC\n")
    with pytest.raises(DataFormatError, match=r":2: not valid UTF-8"):
        read_sentences(f, "conll")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_sentences(tmp_path / "nope.txt")
    f = tmp_path / "words.txt"
    f.write_text("hello world\nfoo bar\n")
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        read_sentences(f)


def test_iob1_is_detected_and_converted(tmp_path):
    f = tmp_path / "iob1.txt"
    f.write_text("John I-PER\nSmith I-PER\nsaw O\nParis I-LOC\n")
    data = load_annotated(f)
    assert data.scheme == "IOB1"
    assert data.sentences[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    assert "IOB1" in data.notices[0] and "2 places" in data.notices[0]


def test_iob2_file_gets_no_notice(tmp_path):
    f = tmp_path / "iob2.txt"
    f.write_text("John B-PER\nSmith I-PER\n")
    data = load_annotated(f)
    assert data.scheme == "IOB2" and data.notices == ()


def test_split_dev_is_seeded_and_disjoint():
    sents = [Sentence((str(i),), ("O",)) for i in range(100)]
    a_train, a_dev = split_dev(sents, 0.1, 7)
    b_train, b_dev = split_dev(sents, 0.1, 7)
    assert a_dev == b_dev and len(a_dev) == 10 and len(a_train) == 90
    assert not {s.words for s in a_dev} & {s.words for s in a_train}
    assert split_dev(sents, 0.1, 8)[1] != a_dev
