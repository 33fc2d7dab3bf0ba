"""``evaluate_classifier``, ``check_labels``, ``classification_report`` and a loaded classifier's
``evaluate`` (``ClassifierPredictor.evaluate``), on a stand-in classifier ``Scorer`` whose answers
can be counted by hand: a text is labelled by the keywords it holds (``willis``/``barrymore``:
actor, ``spielberg``: director, ``1980s``: year). The rules:

- a gold label the model does not know is refused at its file and line, word for word (labels in
  the model's order), before anything is scored; no label at all is fine;
- the report is ``classification_scores`` of the predictions against the gold labels, multi-label
  when the model is;
- texts are scored ``batch_size`` windows a batch (64 by default, ``SCORING_BATCH`` from ``load``);
- a file is read as ``entitune evaluate`` reads it: in the format named (not the one sniffed), with
  the text and label columns named, its labels named by the model's ``label_names``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from entitune.encode import WordEncoder
from entitune.errors import DataFormatError
from entitune.evaluate import (
    check_labels,
    classification_report,
    classification_scores,
    evaluate_classifier,
)
from entitune.evaluate.loaded import ClassifierPredictor
from entitune.options.inference import SCORING_BATCH
from entitune.types import Classification, TextExample

#: the model's labels, deliberately not sorted (messages list them in this order)
LABELS = ("year", "actor", "director")
KEYWORDS = {
    "actor": ("willis", "barrymore"),
    "director": ("spielberg",),
    "year": ("1980s",),
}
MESSAGE = "label {!r} is not one of the model's labels (year, actor, director)"


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    from transformers import BertTokenizerFast

    return WordEncoder(
        BertTokenizerFast.from_pretrained(str(tiny_bert)), max_length=16, stride=4
    )


class KeywordScorer:
    """A classifier ``Scorer`` without a model: a window's logit for a label is 10 per keyword of
    that label in it, minus 5 (so sigmoid < 0.5 without a keyword); records each batch's size."""

    def __init__(
        self,
        encoder: WordEncoder,
        multi_label: bool = False,
        label_names: dict | None = None,
    ) -> None:
        self.settings = SimpleNamespace(
            task="classify",
            labels=LABELS,
            multi_label=multi_label,
            threshold=0.5,
            windows="all",
            pooling="mean",
            label_names=label_names or {},
        )
        self.labels = LABELS
        self.pad_id = 0
        self.streams = 1
        self.word_encoder = encoder
        self.batches: list[int] = []
        ids = {
            w: encoder.tokenizer(w, add_special_tokens=False)["input_ids"]
            for ws in KEYWORDS.values()
            for w in ws
        }
        assert all(
            len(i) == 1 for i in ids.values()
        )  # whole words of the tiny vocabulary
        self.ids = [[ids[w][0] for w in KEYWORDS[label]] for label in LABELS]

    def score_windows(self, batch: dict) -> np.ndarray:
        input_ids = np.where(
            batch["attention_mask"].astype(bool), batch["input_ids"], -1
        )
        self.batches.append(len(input_ids))
        counts = [[np.isin(row, ids).sum() for ids in self.ids] for row in input_ids]
        return (10.0 * np.array(counts, dtype=np.float32) - 5.0).reshape(
            len(input_ids), len(LABELS)
        )

    def decode(
        self, scores, mask
    ):  # pragma: no cover - a classifier has no tag decoder
        raise TypeError("no decoder")


# gold label, text: the keyword rule gets the first three right, the last one wrong (director)
TEXTS = [
    ("actor", "show me films with drew barrymore"),
    ("director", "films directed by steven spielberg"),
    ("year", "movies from the 1980s"),
    ("actor", "what movies did steven spielberg direct"),
]
EXAMPLES = [TextExample(text, (label,), i + 1) for i, (label, text) in enumerate(TEXTS)]


def _expected_single() -> dict:
    """The report of EXAMPLES, counted by hand: actor P 1 R 1/2, director P 1/2 R 1, year all 1."""
    return {
        "labels": list(LABELS),
        "texts": 4,
        "accuracy": 0.75,
        "micro_f1": pytest.approx(0.75),
        "macro_f1": pytest.approx((2 / 3 + 2 / 3 + 1) / 3),
        "per_class": {
            "year": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
            "actor": {
                "precision": 1.0,
                "recall": 0.5,
                "f1": pytest.approx(2 / 3),
                "support": 2,
            },
            "director": {
                "precision": 0.5,
                "recall": 1.0,
                "f1": pytest.approx(2 / 3),
                "support": 1,
            },
        },
        # rows gold, columns predicted, in the model's label order
        "confusion_matrix": [[1, 0, 0], [0, 1, 1], [0, 0, 1]],
    }


# ---------------------------------------------------------------- check_labels


def test_known_labels_and_unlabelled_texts_pass():
    """Every gold label known, or none given (``labels`` None or empty): nothing is refused.
    Broken: a known label refused (``in`` for ``not in``)."""
    check_labels(
        [
            TextExample("a", ("actor",), 1),
            TextExample("b", None, 2),
            TextExample("c", (), 3),
            TextExample("d", ("director", "year"), 4),
        ],
        LABELS,
        "texts.csv",
    )


def test_an_unknown_label_is_refused_at_its_file_and_line_word_for_word():
    examples = [TextExample("a", ("actor",), 2), TextExample("b", ("genre",), 3)]
    with pytest.raises(DataFormatError) as caught:
        check_labels(examples, LABELS, "texts.csv")
    assert str(caught.value) == "texts.csv:3: " + MESSAGE.format("genre")
    assert (caught.value.path, caught.value.line, caught.value.why) == (
        "texts.csv",
        3,
        MESSAGE.format("genre"),
    )


def test_the_first_unknown_label_of_a_text_is_named():
    with pytest.raises(DataFormatError, match=r"^texts.jsonl:7: label 'genre' is not"):
        check_labels(
            [TextExample("a", ("actor", "genre", "plot"), 7)], LABELS, "texts.jsonl"
        )


def test_without_a_path_or_a_line_the_refusal_says_data():
    """A text of unknown line (0) is refused at its file alone; the file defaults to ``data``."""
    with pytest.raises(DataFormatError) as caught:
        check_labels([TextExample("a", ("genre",))], LABELS)
    assert (
        str(caught.value) == "data: " + MESSAGE.format("genre")
        and caught.value.line is None
    )


# ---------------------------------------------------------------- classification_report


def test_report_of_classifications_against_the_examples_gold_labels():
    """Multi-label: a text without gold labels (None) counts as the empty set, and the report is
    ``classification_scores`` of the predicted ``labels`` (not ``label``) against the gold ones.
    Broken: every gold set read as empty, the multi-label flag dropped."""
    examples = [
        TextExample("t1", ("actor", "director")),
        TextExample("t2", None),
        TextExample("t3", ("year",)),
    ]
    predicted = [
        Classification("t1", "actor", 0.9, ("actor", "director"), {}),
        Classification("t2", None, 0.1, (), {}),
        Classification("t3", "actor", 0.8, ("actor",), {}),
    ]
    report = classification_report(examples, predicted, LABELS, True)
    assert report == classification_scores(
        [["actor", "director"], [], ["year"]],
        [["actor", "director"], [], ["actor"]],
        LABELS,
        multi_label=True,
    )
    assert report["subset_accuracy"] == pytest.approx(2 / 3)
    assert report["per_class"]["actor"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert report["per_class"]["year"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    single = classification_report(
        EXAMPLES[:1], [Classification("t", "year", 0.9, ("year",), {})], LABELS, False
    )
    assert (
        single["confusion_matrix"] == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
        and "subset_accuracy" not in single
    )


# ---------------------------------------------------------------- evaluate_classifier


def test_evaluate_classifier_scores_what_the_model_predicts(encoder):
    scorer = KeywordScorer(encoder)
    assert evaluate_classifier(scorer, EXAMPLES) == _expected_single()


def test_a_multi_label_model_gets_the_multi_label_report(encoder):
    """The model's ``multi_label`` setting picks the report: subset accuracy, no confusion matrix."""
    examples = [
        TextExample(
            "bruce willis films directed by steven spielberg", ("actor", "director"), 1
        ),
        TextExample("movies from the 1980s", ("year", "actor"), 2),
        TextExample("films in paris", None, 3),
    ]
    report = evaluate_classifier(KeywordScorer(encoder, multi_label=True), examples)
    assert report["subset_accuracy"] == pytest.approx(2 / 3) and report[
        "accuracy"
    ] == pytest.approx(2 / 3)
    assert "confusion_matrix" not in report
    assert report["per_class"]["actor"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }


def test_texts_are_scored_64_windows_a_batch_by_default(encoder):
    """70 one-window texts: a batch of 64 and one of 6 by default; ``batch_size`` as given."""
    examples = [EXAMPLES[i % 4] for i in range(70)]
    scorer = KeywordScorer(encoder)
    evaluate_classifier(scorer, examples)
    assert sorted(scorer.batches) == [6, 64]
    scorer.batches.clear()
    evaluate_classifier(scorer, examples, 30)
    assert sorted(scorer.batches) == [10, 30, 30]


def test_an_unknown_gold_label_is_refused_before_scoring(encoder):
    scorer = KeywordScorer(encoder)
    bad = [*EXAMPLES, TextExample("films in paris", ("genre",), 9)]
    with pytest.raises(DataFormatError) as caught:
        evaluate_classifier(scorer, bad)
    assert str(caught.value) == "data:9: " + MESSAGE.format("genre")
    with pytest.raises(DataFormatError, match=r"^test\.csv:9: label 'genre'"):
        evaluate_classifier(scorer, bad, path="test.csv")
    assert scorer.batches == []


# ---------------------------------------------------------------- ClassifierPredictor.evaluate


def test_a_loaded_classifier_evaluates_examples_as_evaluate_classifier_does(encoder):
    """Given ``TextExample`` objects (any iterable), the report is ``evaluate_classifier``'s, scored
    ``SCORING_BATCH`` windows a batch whatever the predictor's own batch size; a bad label is
    refused at ``data``."""
    scorer = KeywordScorer(encoder)
    predictor = ClassifierPredictor(scorer, batch_size=4)
    examples = [EXAMPLES[i % 4] for i in range(70)]
    assert predictor.evaluate(iter(EXAMPLES)) == _expected_single()
    scorer.batches.clear()
    predictor.evaluate(examples)
    assert sorted(scorer.batches) == sorted([SCORING_BATCH, 70 - SCORING_BATCH])
    with pytest.raises(DataFormatError, match=r"^data:2: label 'genre'"):
        predictor.evaluate([EXAMPLES[0], TextExample("films", ("genre",), 2)])


def test_a_loaded_classifier_reads_a_file_in_the_format_named(encoder, tmp_path):
    """A CSV file whose first text holds a tab: named ``csv`` it is read as CSV; sniffed, it would
    be taken for TSV and refused (its other rows have no tab)."""
    path = tmp_path / "texts.csv"
    rows = [(label, text) for label, text in TEXTS]
    rows[0] = ("actor", "show me films\twith drew barrymore")
    path.write_text("".join(f"{label},{text}\n" for label, text in rows))
    predictor = ClassifierPredictor(KeywordScorer(encoder))
    assert predictor.evaluate(path, "csv") == _expected_single()
    with pytest.raises(DataFormatError, match="has 1 fields, the first row has 2"):
        predictor.evaluate(path)  # what makes the named format matter here
    scorer = KeywordScorer(encoder)
    assert ClassifierPredictor(scorer).evaluate(str(path), "csv") == _expected_single()
    assert scorer.batches == [4]


def test_a_loaded_classifier_reads_the_columns_named_and_its_label_names(
    encoder, tmp_path
):
    """``text_columns`` and ``label_column`` pick the columns (not the header's ``text`` and
    ``label``), and the file's labels ``0``/``1``/``2`` are named by the model's ``label_names``
    (a label written with its name stays)."""
    names = {"0": "actor", "1": "director", "2": "year"}
    codes = {v: k for k, v in names.items()}
    path = tmp_path / "texts.csv"
    lines = ["label,gold,text,body"]
    lines += [
        f"x,{codes[label] if i else label},films in paris,{text}"
        for i, (label, text) in enumerate(TEXTS)
    ]
    path.write_text("\n".join(lines) + "\n")
    predictor = ClassifierPredictor(KeywordScorer(encoder, label_names=names))
    report = predictor.evaluate(path, text_columns="body", label_column="gold")
    assert report == _expected_single()
    # the header's text column: every text "films in paris", no keyword, so the first label (year)
    other = predictor.evaluate(path, text_columns="text", label_column="gold")
    assert other["accuracy"] != report["accuracy"]


def test_a_file_with_a_label_the_model_does_not_know_is_refused_at_its_path_and_line(
    encoder, tmp_path
):
    path = tmp_path / "texts.csv"
    path.write_text("label,text\nactor,drew barrymore\ngenre,films in paris\n")
    predictor = ClassifierPredictor(KeywordScorer(encoder))
    with pytest.raises(DataFormatError) as caught:
        predictor.evaluate(path)
    assert str(caught.value) == f"{path}:3: " + MESSAGE.format("genre")
