"""Contract of ``doctor``: the share of words the tokenizer maps to [UNK]. Checked by
``tests/mutations/inject.py``."""
from __future__ import annotations

from transformers import BertTokenizerFast

from entitune.encode import WordEncoder
from entitune.curate.doctor import diagnose
from tests.helpers.data import write_bio


def test_doctor_reports_the_unk_share(tiny_bert, tmp_path):
    """Two of eight words are outside the tiny vocabulary (symbols WordPiece maps to [UNK]): the
    report says 2 words, share 0.25, with them as examples.

    Broken (the share always 0), the report hides an encoder that cannot read the data."""
    path = write_bio(tmp_path / "train.bio", [
        (["show", "me", "\u2603", "films"], ["O", "O", "O", "O"]),
        (["drew", "barrymore", "\u2764", "with"], ["B-ACTOR", "I-ACTOR", "O", "O"]),
    ])
    tokenizer = BertTokenizerFast.from_pretrained(str(tiny_bert))
    report = diagnose([path], encoder=WordEncoder(tokenizer, 16, 0))
    unk = report["files"][0]["unk_words"]
    assert unk["count"] == 2
    assert unk["share"] == 0.25
    assert sorted(unk["examples"]) == sorted(["\u2603", "\u2764"])


def test_doctor_counts_documents_and_advises_context(tmp_path):
    """A CoNLL file with ``-DOCSTART-`` blocks: the report counts its documents, the text shows the
    count, and the advice names ``--context auto``; a file of one document gets neither."""
    from entitune.curate.doctor import format_doctor

    docs = tmp_path / "train.txt"
    docs.write_text("-DOCSTART- -X- -X- O\n\nParis NNP B-NP B-LOC\nis VBZ B-VP O\n\n"
                    "-DOCSTART- -X- -X- O\n\nBerlin NNP B-NP B-LOC\n\n-DOCSTART- -X- -X- O\n\nRome NNP B-NP B-LOC\n\n")
    report = diagnose([docs], "conll")
    assert report["files"][0]["documents"] == 3
    (advice,) = report["advice"]
    assert advice.startswith("the training file has 3 documents: --context auto")
    assert "documents: 3" in format_doctor(report).splitlines()
    single = write_bio(tmp_path / "one.bio", [(["paris", "is"], ["B-LOC", "O"]), (["rome"], ["B-LOC"])])
    report = diagnose([single], "bio")
    assert report["files"][0]["documents"] == 1 and report["advice"] == []
    assert not any(line.startswith("documents:") for line in format_doctor(report).splitlines())
