"""Every reader on hand-made files: what it reads, and the one-line error it gives."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.data import (
    load_annotated, read_gmb, read_jsonl, read_klue, read_kmou, read_sentences, read_weibo, sentence_entities,
    sniff_format, spans_to_words, split_three, write_sentences,
)
from entitune.errors import DataFormatError
from entitune.types import Sentence

GMB = (
    "Sentence #,Word,POS,Tag\r\n"
    "Sentence: 1,Thousands,NNS,O\r\n"
    ",of,IN,O\r\n"
    ",London,NNP,B-geo\r\n"
    "Sentence: 2,Iran,NNP,B-gpe\r\n"
    ',"caf\xe9\x85s",NN,O\r\n'
    ",Tuesday,NNP,B-tim\r\n"
).encode("latin-1")


def test_gmb_reads_latin1_crlf_and_keeps_u0085_inside_words(tmp_path):
    f = tmp_path / "ner.csv"
    f.write_bytes(GMB)
    got = list(read_gmb(f))
    assert [s.words for s in got] == [("Thousands", "of", "London"), ("Iran", "caf\xe9\x85s", "Tuesday")]
    assert got[1].tags == ("B-gpe", "O", "B-tim") and got[1].line == 5
    assert sniff_format(f) == "gmb"


@pytest.mark.parametrize("body, line, why", [
    ("Word,Tag\n", 1, "lacks column"),
    ("Sentence #,Word,POS,Tag\n,of,IN,O\n", 2, "no sentence number"),
    ("Sentence #,Word,POS,Tag\nSentence: 1,of,IN,X-geo\n", 2, "neither 'O' nor"),
    ("Sentence #,Word,POS,Tag\nSentence: 1,of,IN\n", 2, "3 fields"),
])
def test_gmb_errors_name_the_line(tmp_path, body, line, why):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(DataFormatError) as err:
        list(read_gmb(f))
    assert err.value.line == line and why in err.value.why


def test_weibo_drops_the_position_digit(tmp_path):
    f = tmp_path / "weibo.train"
    f.write_text("科0\tO\n技1\tO\n张0\tB-PER.NAM\n三1\tI-PER.NAM\n\n好0\tO\n")
    assert sniff_format(f) == "weibo"
    got = list(read_weibo(f))
    assert got[0].words == ("科", "技", "张", "三") and got[0].tags[2:] == ("B-PER.NAM", "I-PER.NAM")
    f.write_text("科0\tO\n技\tO\n")
    with pytest.raises(DataFormatError, match=r"weibo.train:2: token '技' lacks"):
        list(read_weibo(f))


KLUE = (
    "## 토큰 : \\t\n## 문장 : \\n\n## klue-ner-v1_dev_00000-x\t<김 철:PS> 간다\n"
    "김\tB-PS\n \tI-PS\n철\tI-PS\n \tO\n간\tO\n다\tO\n\n"
    "## klue-ner-v1_dev_00001-x\t<서울:LC>\n \tB-LC\n서\tI-LC\n울\tI-LC\n"
)


def test_klue_keeps_text_drops_spaces_and_moves_a_b_off_a_space(tmp_path):
    f = tmp_path / "klue.tsv"
    f.write_text(KLUE)
    assert sniff_format(f) == "klue"
    a, b = read_klue(f)
    assert a.words == ("김", "철", "간", "다") and a.tags == ("B-PS", "I-PS", "O", "O")
    assert a.text == "김 철 간다" and a.offsets == ((0, 1), (2, 3), (4, 5), (5, 6))
    assert b.words == ("서", "울") and b.tags == ("B-LC", "I-LC")
    assert sentence_entities(a) == ("김 철 간다", [{"start": 0, "end": 3, "label": "PS"}])


KMOU = (
    "; 홍길동이 왔다.\r\n$<홍길동:PS>이 왔다.\r\n1\t홍길\tNNP\tB_PS\r\n1\t동\tNNP\tI\r\n1\t이\tJKS\tO\r\n"
    "2\t오\tVV\tO\r\n\r\n; 서울\r\n$<서울:LC>\r\n1\t서울\tNNP\tB_LC\r\n"
)


def test_kmou_converts_b_underscore_and_bare_i(tmp_path):
    f = tmp_path / "ner.train"
    f.write_text(KMOU, newline="")
    assert sniff_format(f) == "kmou"
    a, b = read_kmou(f)
    assert a.words == ("홍길", "동", "이", "오") and a.tags == ("B-PS", "I-PS", "O", "O")
    assert a.text == "홍길동이 왔다." and a.line == 1 and b.tags == ("B-LC",)


def test_kmou_bare_i_without_entity_is_an_error(tmp_path):
    f = tmp_path / "ner.dev"
    f.write_text("; x\n$x\n1\tx\tNNP\tO\n1\ty\tNNP\tI\n")
    with pytest.raises(DataFormatError, match=r"ner.dev:4: tag 'I' continues no entity"):
        list(read_kmou(f))


def test_jsonl_tokens_and_spans_in_one_file(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(
        json.dumps({"tokens": ["Jane", "Doe"], "tags": ["B-PER", "I-PER"]}) + "\n\n"
        + json.dumps({"text": "Visit New York!", "entities": [{"start": 6, "end": 14, "label": "LOC"}]}) + "\n"
    )
    assert sniff_format(f) == "jsonl"
    a, b = read_jsonl(f)
    assert a.words == ("Jane", "Doe") and a.line == 1
    assert b.words == ("Visit", "New", "York", "!") and b.tags == ("O", "B-LOC", "I-LOC", "O") and b.line == 3
    assert sentence_entities(b)[1] == [{"start": 6, "end": 14, "label": "LOC"}]


@pytest.mark.parametrize("line, why", [
    ('{"text": "ab cd", "entities": [{"start": 0, "end": 4, "label": "X"}, {"start": 3, "end": 5, "label": "Y"}]}', "overlap"),
    ('{"text": "ab", "entities": [{"start": 0, "end": 9, "label": "X"}]}', "out of range"),
    ('{"text": "ab cd", "entities": [{"start": 0, "end": 3, "label": "X"}]}', "whitespace"),
    ('{"text": "ab", "entities": [{"start": "0", "end": 2, "label": "X"}]}', "integers"),
    ('{"text": "ab", "entities": [{"start": 0, "end": 2}]}', "start, end and label"),
    ('{"tokens": ["a", "b"], "tags": ["O"]}', "2 tokens but 1 tags"),
    ('{"tokens": ["a"], "tags": ["PER"]}', "neither 'O' nor"),
    ('{"words": ["a"]}', "expected keys"),
    ("[1, 2]", "JSON object"),
    ('{"text": "ab", ', "not valid JSON"),
])
def test_jsonl_errors_name_the_line(tmp_path, line, why):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"tokens": ["ok"], "tags": ["O"]}\n' + line + "\n")
    with pytest.raises(DataFormatError) as err:
        list(read_jsonl(f))
    assert err.value.line == 2 and why in err.value.why


_TEXT = st.text(alphabet=st.sampled_from(list("ab1 -.'(é中한")), max_size=30)


@st.composite
def text_and_spans(draw):
    text = draw(_TEXT)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=8)))
    spans = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b, draw(st.sampled_from(["PER", "LOC"]))))
    return text, spans


@given(text_and_spans())
def test_spans_to_words_to_spans_is_exact(case):
    text, spans = case
    words, tags, offsets = spans_to_words(text, spans)
    assert all(text[s:e] == w for w, (s, e) in zip(words, offsets))
    back = sentence_entities(Sentence(tuple(words), tuple(tags), text=text, offsets=tuple(offsets)))[1]
    assert [(e["start"], e["end"], e["label"]) for e in back] == sorted(spans)


@pytest.mark.parametrize("to", ["conll", "bio", "jsonl", "jsonl-spans"])
def test_written_files_read_back_the_same(tmp_path, to):
    sentences = [Sentence(("Jane", "Doe", "visits", "New", "York"), ("B-PER", "I-PER", "O", "B-LOC", "I-LOC")),
                 Sentence(("ok",), ("O",))]
    f = tmp_path / f"out.{to}"
    f.write_text(write_sentences(sentences, to))
    back = read_sentences(f)
    assert [(s.words, s.tags) for s in back] == [(s.words, s.tags) for s in sentences]


def test_conll_documents_are_numbered_and_split_by_document_keeps_them_whole(tmp_path):
    f = tmp_path / "d.conll"
    body = "".join("-DOCSTART- -X- O\n\n" + "".join(f"w{d}{i} O\n\n" for i in range(3)) for d in range(10))
    f.write_text(body)
    sentences = read_sentences(f)
    assert [s.doc for s in sentences] == [d for d in range(10) for _ in range(3)]
    train, dev, test = split_three(sentences, (0.8, 0.1, 0.1), seed=3, by="document")
    assert (len(train), len(dev), len(test)) == (24, 3, 3)
    assert len({s.doc for s in dev}) == 1 and not {s.doc for s in dev} & {s.doc for s in train}
    assert split_three(sentences, (0.8, 0.1, 0.1), seed=3, by="document") == (train, dev, test)


def test_invalid_iob2_is_not_mistaken_for_iob1(tmp_path):
    f = tmp_path / "d.bio"
    f.write_text("B-PER\ta\nI-PER\tb\n\nO\tc\nI-PER\td\n\nB-LOC\te\n\n")
    data = load_annotated(f)
    assert data.scheme == "IOB2" and data.sentences[1].tags == ("O", "B-PER")
    assert "1 entities start with I- instead of B-" in data.notices[0] and "line 4" in data.notices[0]


def test_auto_format_refuses_what_it_cannot_tell(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("just some words\nand more words\n")
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        sniff_format(f)
