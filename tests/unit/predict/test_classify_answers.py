"""What a ``ClassPredictor`` answers, on a stand-in ``Scorer`` that gives every window the same
logits: probabilities are float32 (``sigmoid``, ``probabilities``), ``sigmoid`` is exact at 0 and
saturates without overflow warnings, the multi-label threshold is inclusive for the best label
too, and a ``cls``-pooling model's windows point at [CLS] alone (``mean``: every sub-token)."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.encode import WordEncoder
from entitune.predict import ClassPredictor
from entitune.predict.classify import sigmoid

LABELS = ("a", "b", "c")


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    from transformers import BertTokenizerFast

    return WordEncoder(BertTokenizerFast.from_pretrained(str(tiny_bert)), max_length=16, stride=4)


class ConstantScorer:
    """A classifier ``Scorer`` without a model: every window scores ``logits``."""

    def __init__(self, encoder, logits, **settings) -> None:
        defaults = {"labels": LABELS, "multi_label": False, "threshold": 0.5, "windows": "all", "pooling": "mean"}
        self.settings = SimpleNamespace(**{**defaults, **settings})
        self.labels = LABELS
        self.pad_id = 0
        self.streams = 1
        self.word_encoder = encoder
        self.logits = np.asarray(logits, dtype=np.float32)

    def score_windows(self, batch: dict) -> np.ndarray:
        return np.tile(self.logits, (len(batch["input_ids"]), 1))

    def decode(self, scores, mask):  # pragma: no cover - a classifier has no tag decoder
        raise TypeError("no decoder")


def test_sigmoid_is_exact_at_zero_and_saturates_without_overflow_warnings():
    """``sigmoid(0)`` is 0.5; very negative logits give 0 and very positive 1, with no overflow
    warning even when warnings are errors; the result is float32 whatever the input's type.
    Broken: the overflow warning let through (``errstate(over=None)``), a float64 result."""
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])  # float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
    assert y.dtype == np.float32
    assert y.tolist() == [0.0, pytest.approx(0.0, abs=1e-21), 0.5, 1.0, 1.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-80, 80), min_size=1, max_size=8))
def test_sigmoid_is_the_logistic_function_in_float32(xs):
    """For any logits: 1 / (1 + e^-x) to float32 precision, and sigmoid(-x) = 1 - sigmoid(x)."""
    x = np.array(xs)
    y = sigmoid(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(sigmoid(-x), 1 - y, atol=1e-6)


def test_probabilities_are_float32_one_row_per_text_in_label_order(encoder):
    """``probabilities``: (texts, labels) float32, each row every label's probability in the
    model's label order. Broken: float64 rows (the Python floats' default)."""
    predictor = ClassPredictor(ConstantScorer(encoder, [0.0, 1.0, 2.0]))
    probs = predictor.probabilities(["one text", "another text here"])
    assert probs.dtype == np.float32 and probs.shape == (2, 3)
    want = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(probs, [want, want], rtol=1e-6)


def test_a_best_label_exactly_at_the_threshold_is_the_answer(encoder):
    """Multi-label, the threshold is inclusive for the answer's label as for the chosen ones: logit
    0 is probability 0.5 exactly, at a threshold of 0.5 the label is chosen and is the answer.
    Broken: ``>`` for the answer (None while the label is chosen)."""
    scorer = ConstantScorer(encoder, [0.0, -3.0, -4.0], multi_label=True, threshold=0.5)
    answer = ClassPredictor(scorer).classify(["some text"])[0]
    assert answer.score == 0.5 and answer.labels == ("a",) and answer.label == "a"
    scorer.settings.threshold = 0.5000001
    answer = ClassPredictor(scorer).classify(["some text"])[0]
    assert answer.labels == () and answer.label is None


def test_a_cls_model_pools_the_cls_position_and_a_mean_model_every_sub_token(encoder):
    """A ``cls``-pooling model's windows point at position 0 alone; a ``mean`` model's at every
    sub-token of the window, special tokens included. Broken: the model's pooling ignored."""
    texts = ["films with drew barrymore", "a b c d e f g h i j k l m n o p q r s t"]
    cls = ClassPredictor(ConstantScorer(encoder, [0, 0, 0], pooling="cls"))._windows(texts)
    mean = ClassPredictor(ConstantScorer(encoder, [0, 0, 0], pooling="mean"))._windows(texts)
    assert len(cls) == len(mean) > len(texts)
    assert all(w.word_starts == (0,) for w in cls)
    assert all(w.word_starts == tuple(range(len(w.input_ids))) for w in mean)
