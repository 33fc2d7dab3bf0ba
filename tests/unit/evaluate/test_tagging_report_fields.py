"""Every field of the tagging report (``evaluate.tagging_report``) on a case counted by hand, and what
``evaluate`` hands the predictor and the report, on a stand-in tagger ``Scorer`` whose tags are a
table of words:

- ``entity`` and ``per_type`` are strict spans, ``entity_conlleval`` lenient ones (an ``I-`` after
  ``O`` starts an entity), ``token_micro_f1`` the share of words tagged right, ``words``,
  ``words_untagged`` (0 when every word has a tag), ``sentences``;
- ``invalid_sequences`` checks each prediction in the model's own scheme (its ``native`` tags,
  against the model's ``labels``): a BIOES ``B-`` never closed is invalid there, though its IOB2
  form is not;
- ``evaluate`` scores 64 windows a batch by default (``batch_size`` as given), reads each sentence
  with its document's neighbours (``Sentence.doc``), adds ``errors`` only when asked.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from entitune.encode import WordEncoder
from entitune.evaluate import entity_scores, evaluate, tagging_report, token_micro_f1
from entitune.types import Sentence, Tagged

BIOES = ("O", *(f"{p}-{t}" for t in ("ACTOR", "DIRECTOR", "YEAR") for p in "BIES"))


def _report_case():
    gold = [
        Sentence(("drew", "barrymore", "films"), ("B-ACTOR", "I-ACTOR", "O"), 1),
        Sentence(("movies", "from", "the", "1980s"), ("O", "O", "O", "B-YEAR"), 5),
        Sentence(("steven", "spielberg"), ("B-DIRECTOR", "I-DIRECTOR"), 10),
    ]
    tagged = [
        Tagged(
            gold[0].words,
            ("B-ACTOR", "I-ACTOR", "O"),
            (1.0,) * 3,
            ("B-ACTOR", "E-ACTOR", "O"),
        ),
        # an I- after O: no strict entity, a conlleval one; invalid in either scheme
        Tagged(gold[1].words, ("O", "O", "O", "I-YEAR"), (1.0,) * 4),
        # valid IOB2, but its BIOES B- is never closed
        Tagged(gold[2].words, ("B-DIRECTOR", "O"), (1.0,) * 2, ("B-DIRECTOR", "O")),
    ]
    return gold, tagged


def test_every_field_of_the_report_counted_by_hand():
    """Strict: 1 of 2 predicted spans right, 1 of 3 gold found (P 1/2, R 1/3); conlleval also finds
    the year (P 2/3, R 2/3); 7 of 9 words tagged right; two predictions break the BIOES model's
    transitions. Broken: a field renamed or dropped, the modes swapped, untagged words counted on
    full sentences, validity read on IOB2 tags or on the tags seen instead of the model's labels."""
    gold, tagged = _report_case()
    report = tagging_report(gold, tagged, BIOES)
    pred = [list(t.tags) for t in tagged]
    assert report == {
        "entity": {
            "precision": 0.5,
            "recall": pytest.approx(1 / 3),
            "f1": pytest.approx(0.4),
        },
        "per_type": entity_scores([list(s.tags) for s in gold], pred, "strict")[
            "per_type"
        ],
        "entity_conlleval": {
            "precision": pytest.approx(2 / 3),
            "recall": pytest.approx(2 / 3),
            "f1": pytest.approx(2 / 3),
        },
        "token_micro_f1": pytest.approx(7 / 9),
        "words": 9,
        "words_untagged": 0,
        "invalid_sequences": 2,
        "sentences": 3,
    }
    assert report["per_type"]["ACTOR"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 1,
    }
    assert (
        report["per_type"]["DIRECTOR"]["f1"] == 0.0
        and report["per_type"]["YEAR"]["support"] == 1
    )
    assert report["token_micro_f1"] == token_micro_f1(
        [list(s.tags) for s in gold], pred
    )


def test_invalid_sequences_are_judged_in_the_model_scheme():
    """The same predictions for an IOB2 model (no E-/S- labels, no native tags): only the I- after
    O is invalid."""
    gold, tagged = _report_case()
    iob2 = [Tagged(t.words, t.tags, t.scores) for t in tagged]
    labels = ("O", "B-ACTOR", "I-ACTOR", "B-DIRECTOR", "I-DIRECTOR", "B-YEAR", "I-YEAR")
    assert tagging_report(gold, iob2, labels)["invalid_sequences"] == 1
    assert tagging_report(gold[:1], tagged[:1], BIOES)["invalid_sequences"] == 0


# ---------------------------------------------------------------- evaluate, on a stand-in scorer

#: each word's tag in the model's own scheme (BIOES); any other word is O. "bruce" opens an entity
#: that "willis" (O) never closes: an invalid BIOES sequence whose IOB2 form (B-ACTOR, O) is valid
TABLE = {
    "drew": "B-ACTOR",
    "barrymore": "E-ACTOR",
    "bruce": "B-ACTOR",
    "1980s": "S-YEAR",
    "spielberg": "S-DIRECTOR",
}


class TableScorer:
    """A BIOES tagger ``Scorer`` without a model: each word scores 4 on its TABLE tag (read from its
    first sub-token). Records each batch's size and the document ids of each encode call."""

    def __init__(self, tokenizer, context: int = 0) -> None:
        self.settings = SimpleNamespace(scheme="BIOES", labels=BIOES, task="ner")
        self.labels = BIOES
        self.pad_id = 0
        self.streams = 1
        self.batches: list[int] = []
        self.encoded: list[list] = []
        self._lock = threading.Lock()
        self.tag_of = {
            tokenizer(w, add_special_tokens=False)["input_ids"][0]: BIOES.index(t)
            for w, t in TABLE.items()
        }
        scorer = self

        class _Recording(WordEncoder):
            def encode(self, sentences, tag_ids=None, documents=None):
                scorer.encoded.append(
                    list(documents) if documents is not None else None
                )
                return super().encode(sentences, tag_ids, documents)

        self.word_encoder = _Recording(
            tokenizer, max_length=24, stride=4, context=context
        )

    def score_windows(self, batch: dict) -> np.ndarray:
        with self._lock:
            self.batches.append(len(batch["input_ids"]))
        first = np.take_along_axis(batch["input_ids"], batch["word_starts"], axis=1)
        tags = np.vectorize(lambda i: self.tag_of.get(int(i), 0))(first)
        return (4.0 * (tags[:, :, None] == np.arange(len(BIOES)))).astype(np.float32)

    @staticmethod
    def decode(scores: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return scores.argmax(-1), np.ones(scores.shape[:2], dtype=np.float32)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(tiny_bert))


SENTENCES = [
    Sentence(
        ("show", "me", "films", "with", "drew", "barrymore"),
        ("O", "O", "O", "O", "B-ACTOR", "I-ACTOR"),
        1,
        0,
    ),
    Sentence(
        ("what", "movies", "star", "bruce", "willis"),
        ("O", "O", "O", "B-ACTOR", "I-ACTOR"),
        8,
        0,
    ),
    Sentence(("movies", "from", "the", "1980s"), ("O", "O", "O", "B-YEAR"), 15, 1),
    Sentence(("films", "in", "paris"), ("O", "O", "B-LOC"), 21, 1),
]


def test_evaluate_reports_the_predictions_of_the_model(tokenizer):
    """The table's tags: drew barrymore found, bruce willis cut short (wrong boundary), the year
    found, paris missed; one sequence invalid in the model's BIOES scheme; no ``errors`` unless
    asked, then the error analysis of the same spans."""
    report = evaluate(TableScorer(tokenizer), SENTENCES)
    assert report["entity"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 0.5,
        "f1": pytest.approx(4 / 7),
    }
    assert report["invalid_sequences"] == 1
    assert report["token_micro_f1"] == pytest.approx(16 / 18) and report["words"] == 18
    assert "errors" not in report
    errors = evaluate(TableScorer(tokenizer), SENTENCES, errors=True)["errors"]
    assert errors["counts"] == {
        "gold": 4,
        "pred": 3,
        "correct": 2,
        "overlapping": 1,
        "missed": 1,
        "spurious": 0,
        "wrong_type": 0,
        "wrong_boundary": 1,
        "both": 0,
    }
    assert [(s["sentence"], s["line"]) for s in errors["sentences"]] == [
        (1, 8),
        (3, 21),
    ]


def test_evaluate_scores_64_windows_a_batch_by_default(tokenizer):
    sentences = [SENTENCES[i % 4] for i in range(70)]
    scorer = TableScorer(tokenizer)
    evaluate(scorer, sentences)
    assert sorted(scorer.batches) == [6, 64]
    scorer.batches.clear()
    evaluate(scorer, sentences, 30)
    assert sorted(scorer.batches) == [10, 30, 30]


def test_evaluate_reads_each_sentence_within_its_document(tokenizer):
    """A model trained with document context is handed each sentence's ``doc``, so its windows hold
    the neighbours of the same document."""
    scorer = TableScorer(tokenizer, context=6)
    report = evaluate(scorer, SENTENCES)
    assert scorer.encoded == [[0, 0, 1, 1]]
    assert report["entity"]["recall"] == 0.5  # the table's tags, neighbours or not
