"""Text for pretraining: plain text and every annotated format give the words fine-tuning would feed
the tokenizer (pre-split; Chinese one character per word), the kind of file is told from its first
lines, and a file with no text, or a binary one, is one ``DataFormatError``."""
from __future__ import annotations

import json

import pytest

from entitune.data import read_sentences
from entitune.data.corpus import read_corpus, sniff_corpus_format
from entitune.errors import DataFormatError
from tests.helpers.data import TINY_SENTENCES, require_data, write_bio


def test_plain_text_is_split_into_words_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Drew Barrymore's 1980s films, pg-13.\n\n   \n北京欢迎你 ok\n")
    corpus = read_corpus(path)
    assert corpus.format == "text"
    assert corpus.texts == [("Drew", "Barrymore's", "1980s", "films", ",", "pg-13", "."), ("北", "京", "欢", "迎", "你", "ok")]
    assert corpus.words == 13


def test_prose_ending_in_a_tag_like_word_is_still_plain_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the letter O\nnothing here\nand more plain words\n")
    assert sniff_corpus_format(str(path)) == "text"


def test_annotated_files_give_their_readers_words(tmp_path):
    bio = write_bio(tmp_path / "a.bio", TINY_SENTENCES)
    assert read_corpus(bio).format == "bio"
    assert read_corpus(bio).texts == [tuple(w) for w, _ in TINY_SENTENCES]
    conll = tmp_path / "a.conll"
    conll.write_text("-DOCSTART- O\n\n" + "".join("".join(f"{w} NN {t}\n" for w, t in zip(ws, ts)) + "\n"
                                                  for ws, ts in TINY_SENTENCES))
    assert read_corpus(conll).format == "conll"
    assert read_corpus(conll).texts == [tuple(w) for w, _ in TINY_SENTENCES]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(json.dumps({"text": "Jane Doe's cat", "entities": [{"start": 0, "end": 8, "label": "PER"}]}) + "\n"
                     + json.dumps({"text": "a text to classify", "label": "x"}) + "\n")
    # span JSONL is cut at entity boundaries as its tagger reads it ("Doe", "'", "s")
    assert read_corpus(jsonl).texts == [("Jane", "Doe", "'", "s", "cat"), ("a", "text", "to", "classify")]


def test_labelled_csv_gives_its_texts(tmp_path):
    with_header = tmp_path / "h.csv"
    with_header.write_text("label,text\nsports,Team wins the cup\nworld,Talks end\n")
    assert read_corpus(with_header).texts == [("Team", "wins", "the", "cup"), ("Talks", "end")]
    quoted = tmp_path / "q.csv"
    quoted.write_text('"3","Fears for pension","Unions say"\n"4","Chips, faster","More cores"\n')
    assert read_corpus(quoted).format == "csv"
    assert read_corpus(quoted).texts[1] == ("Chips", ",", "faster", "More", "cores")
    # an explicit format wins over the guess
    assert read_corpus(quoted, "text").texts[0][0] == '"'


def test_chinese_character_data_stays_one_character_per_word():
    path = require_data("weibo_ner", "weiboNER_2nd_conll.dev")
    corpus = read_corpus(path)
    assert corpus.format == "weibo"
    assert corpus.texts[:5] == [s.words for s in read_sentences(path, "weibo")[:5]]
    words = [w for t in corpus.texts for w in t]
    assert sum(len(w) == 1 for w in words) > 0.99 * len(words)  # (a few emoji are two code points)


@pytest.mark.parametrize("content, why", [
    (b"", "empty file"),
    (b"\n \n\t\n", "empty file"),
    ((bytes(64) + bytes(range(256))) * 8, "binary file"),
    ("words\n".encode("utf-16"), "UTF-16"),
])
def test_files_without_text_are_one_error(tmp_path, content, why):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=why) as err:
        read_corpus(path)
    assert "\n" not in str(err.value)


def test_an_annotated_file_with_no_sentence_is_an_error(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- O\n\n")
    with pytest.raises(DataFormatError):
        read_corpus(path, "conll")
