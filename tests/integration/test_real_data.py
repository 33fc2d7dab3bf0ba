"""All seven datasets in ../shared/data: --format auto picks the right reader, the counts equal
those in each SOURCE.md, and spans JSONL -> BIO -> spans is exact. In CI missing data fails."""
import pytest

from entitune.curate import diagnose
from entitune.data import read_jsonl, read_sentences, sentence_entities, write_sentences

from tests.helpers.data import require_data

# (dataset, file, format, sentences, tokens, entities by type) as given in each SOURCE.md
SOURCE_COUNTS = [
    ("mit_movie_eng", "engtest.bio", "bio", 2443, 24686, {"GENRE": 1117, "ACTOR": 812, "YEAR": 720, "TITLE": 562, "RATING": 500, "PLOT": 491, "RATINGS_AVERAGE": 451, "DIRECTOR": 456, "CHARACTER": 90, "SONG": 54, "REVIEW": 56, "TRAILER": 30}),
    ("mit_movie_eng", "engtrain.bio", "bio", 9775, 99491, {"GENRE": 4354, "ACTOR": 3220, "YEAR": 2858, "TITLE": 2376, "RATING": 2007, "PLOT": 1927, "RATINGS_AVERAGE": 1869, "DIRECTOR": 1720, "CHARACTER": 385, "SONG": 245, "REVIEW": 221, "TRAILER": 113}),
    ("conll2003", "train.txt", "conll", 14041, 203621, {"LOC": 7140, "PER": 6600, "ORG": 6321, "MISC": 3438}),
    ("conll2003", "valid.txt", "conll", 3250, 51362, {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}),
    ("conll2003", "test.txt", "conll", 3453, 46435, {"LOC": 1668, "ORG": 1661, "PER": 1617, "MISC": 702}),
    ("wnut17", "wnut17train.conll", "conll", 3394, 62730, {"person": 660, "location": 548, "group": 264, "corporation": 221, "product": 142, "creative-work": 140}),
    ("wnut17", "emerging.dev.conll", "conll", 1009, 15733, {"person": 470, "product": 114, "creative-work": 105, "location": 74, "group": 39, "corporation": 34}),
    ("wnut17", "emerging.test.annotated", "conll", 1287, 23394, {"person": 429, "group": 165, "location": 150, "creative-work": 142, "product": 127, "corporation": 66}),
    ("gmb_kaggle_ner", "ner_dataset.csv", "gmb", 47959, 1048575, {"geo": 37644, "tim": 20333, "org": 20143, "per": 16990, "gpe": 15870, "art": 402, "eve": 308, "nat": 201}),
    ("weibo_ner", "weiboNER_2nd_conll.train", "weibo", 1350, 73778, {"PER.NOM": 766, "PER.NAM": 574, "GPE.NAM": 205, "ORG.NAM": 183, "LOC.NAM": 56, "LOC.NOM": 51, "ORG.NOM": 42, "GPE.NOM": 8}),
    ("weibo_ner", "weiboNER_2nd_conll.dev", "weibo", 270, 14509, None),
    ("weibo_ner", "weiboNER_2nd_conll.test", "weibo", 270, 14842, {"PER.NOM": 170, "PER.NAM": 111, "GPE.NAM": 47, "ORG.NAM": 39, "LOC.NAM": 19, "ORG.NOM": 17, "LOC.NOM": 9, "GPE.NOM": 2}),
    ("weibo_ner", "weibo_char_bio.train", "conll", 1350, 73778, None),
    ("klue_ner", "klue-ner-v1.1_dev.tsv", "klue", 5000, 285929, {"PS": 4418, "QT": 3151, "DT": 2312, "OG": 2182, "LC": 1649, "TI": 545}),
    ("kmou_ner_2016klp", "ner.train", "kmou", 2928, 114256, {"PS": 2518, "LC": 1390, "DT": 1089, "OG": 1065, "TI": 213}),
    ("kmou_ner_2016klp", "ner.dev", "kmou", 366, 14077, {"PS": 343, "LC": 160, "DT": 122, "OG": 103, "TI": 22}),
    ("kmou_ner_2016klp", "ner.test", "kmou", 366, 13799, {"PS": 287, "LC": 166, "DT": 132, "OG": 149, "TI": 20}),
]


@pytest.mark.parametrize("name, file, fmt, sentences, tokens, entities", SOURCE_COUNTS, ids=[f"{c[0]}/{c[1]}" for c in SOURCE_COUNTS])
def test_doctor_counts_equal_source_md(name, file, fmt, sentences, tokens, entities):
    report = diagnose([require_data(name, file)])
    f = report["files"][0]
    assert f["format"] == fmt
    assert f["sentences"] == sentences
    # KLUE counts every character line, spaces included; entitune keeps spaces in the text only
    assert (f["characters"] if fmt == "klue" else f["words"]) == tokens
    if entities is not None:
        assert f["entities"] == entities


@pytest.mark.parametrize("name, file", [(c[0], c[1]) for c in SOURCE_COUNTS if c[1] != "weibo_char_bio.train"])
def test_spans_jsonl_round_trip_is_exact(name, file, tmp_path):
    sentences = read_sentences(require_data(name, file))
    spans = tmp_path / "spans.jsonl"
    spans.write_text(write_sentences(sentences, "jsonl-spans"))
    back = list(read_jsonl(spans))
    assert len(back) == len(sentences)
    for before, after in zip(sentences, back):
        assert sentence_entities(after) == sentence_entities(before)
