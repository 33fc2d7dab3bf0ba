"""Contracts of ``ClassPredictor``: how a long text's windows are combined (single-label: the
renormalised geometric mean of the windows' distributions; multi-label: each label's highest
probability; ``windows="first"``: the text's first window, whatever the batching order), checked
by hand against each window scored alone; what an answer holds (label, score, every label's
probability in the model's label order, the multi-label threshold inclusive); and batched equals
one-by-one. The classifier's head is set so that windows really disagree."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from entitune import Classifier, TorchScorer
from entitune.encode import collate
from entitune.predict import ClassPredictor
from entitune.predict.classify import combine

#: evidence for three different classes, one after another: a text of several windows that disagree
LONG = ("show me films with drew barrymore and bruce willis "
        "films directed by steven spielberg spielberg directed "
        "movies from the 1980s films of the 1980s")
#: a first window shorter than the next (a 12-piece first word): batching by length puts the second first
SHORT_FIRST = "qqqqqqqqqqqq xxxxxxxx " + "films " * 17


LABELS = ("actor", "director", "year")
#: one text per label: the head is set so that each reads as its label
ANCHORS = ("drew barrymore bruce willis", "steven spielberg directed", "from the 1980s")


@pytest.fixture(scope="module")
def model(tiny_bert):
    """A mean-pooling classifier on the tiny random BERT whose Linear layer is set (no training) so
    that windows like each anchor text score their label about 3 nats above the others: label j's
    weights are anchor j's pooled vector minus the anchors' mean, scaled, and the bias centres
    them. Windows of different words then disagree by whole units of log-probability."""
    model = Classifier.from_encoder(tiny_bert, LABELS, pooling="mean", max_length=16, stride=4).eval()
    predictor = ClassPredictor(TorchScorer(model))
    windows = predictor._windows(list(ANCHORS))
    assert [w.sentence for w in windows] == [0, 1, 2]
    with torch.no_grad():
        features = model.features(collate(windows, model.pad_id))
        centre = features.mean(0)
        offsets = features - centre
        weight = 3.0 * offsets / (offsets * offsets).sum(-1, keepdim=True)
        model.head.classifier.weight.copy_(weight)
        model.head.classifier.bias.copy_(-(weight @ centre))
    answers = ClassPredictor(TorchScorer(model)).classify(list(ANCHORS))
    assert [a.label for a in answers] == list(LABELS) and min(a.score for a in answers) > 0.6
    return model


def _scorer(model, **settings) -> TorchScorer:
    scorer = TorchScorer(model)
    scorer.settings = replace(scorer.settings, **settings)
    return scorer


def _window_logits(scorer, text) -> torch.Tensor:
    """Each window of ``text`` scored alone (no padding), in text order: (windows, labels)."""
    windows = ClassPredictor(scorer)._windows([text])
    return torch.cat([torch.as_tensor(scorer.score_windows(collate([w], scorer.pad_id))) for w in windows])


# ---------------------------------------------------------------- combine, by hand


def test_combine_single_label_is_the_renormalised_geometric_mean_of_the_windows_distributions():
    p1, p2 = [0.25, 0.5, 0.25], [4 / 6, 1 / 6, 1 / 6]
    logits = torch.tensor([[math.log(p) for p in p1], [math.log(p) + 3.0 for p in p2]])  # shifts do not matter
    geometric = [math.sqrt(a * b) for a, b in zip(p1, p2)]
    expected = [g / sum(geometric) for g in geometric]
    assert combine(logits, multi_label=False).tolist() == pytest.approx(expected, abs=1e-6)
    arithmetic = [(a + b) / 2 for a, b in zip(p1, p2)]
    assert max(abs(a - b) for a, b in zip(expected, arithmetic)) > 0.01  # the rule is not the plain mean
    assert combine(logits, multi_label=False, windows="first").tolist() == pytest.approx(p1, abs=1e-6)


def test_a_neutral_window_does_not_dilute_the_evidence_of_another():
    """[evidence, neutral, neutral]: the log-odds between two labels are the evidence's over 3."""
    logits = torch.tensor([[3.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    probs = combine(logits, multi_label=False).tolist()
    assert math.log(probs[0] / probs[1]) == pytest.approx(1.0, abs=1e-5)


def test_combine_multi_label_is_each_labels_highest_probability_over_the_windows():
    logits = torch.tensor([[2.0, -3.0, -1.0], [-1.0, 1.0, -2.0], [0.0, 0.5, -4.0]])
    sigmoid = [1 / (1 + math.exp(-x)) for x in (2.0, 1.0, -1.0)]
    assert combine(logits, multi_label=True).tolist() == pytest.approx(sigmoid, abs=1e-6)
    first = [1 / (1 + math.exp(-x)) for x in (2.0, -3.0, -1.0)]
    assert combine(logits, multi_label=True, windows="first").tolist() == pytest.approx(first, abs=1e-6)


# ---------------------------------------------------------------- through the predictor


def test_a_long_text_is_every_window_scored_alone_then_combined(model):
    """The predictor's answer for a text of several windows equals, to 1e-5, the geometric mean of
    its windows scored one by one; the windows disagree enough that the plain mean, the first or
    the last window alone would each be off by far more."""
    scorer = TorchScorer(model)
    per_window = _window_logits(scorer, LONG)
    assert len(per_window) >= 3
    expected = per_window.log_softmax(-1).mean(0).softmax(-1)
    [answer] = ClassPredictor(scorer, batch_size=2).classify([LONG])
    got = torch.tensor([answer.scores[label] for label in model.labels])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    for wrong in (per_window.softmax(-1).mean(0), per_window[0].softmax(-1), per_window[-1].softmax(-1)):
        assert (wrong - expected).abs().max() > 0.02
    assert answer.label == model.labels[int(expected.argmax())] and answer.score == pytest.approx(float(expected.max()), abs=1e-6)


def test_windows_first_reads_the_texts_first_window_even_when_a_later_one_is_longer(model):
    scorer = _scorer(model, windows="first")
    windows = ClassPredictor(scorer)._windows([SHORT_FIRST])
    assert len(windows) >= 3 and len(windows[0].input_ids) < len(windows[1].input_ids)
    per_window = _window_logits(scorer, SHORT_FIRST)
    expected = per_window[0].softmax(-1)
    assert (per_window[1].softmax(-1) - expected).abs().max() > 1e-3  # another window would show
    [answer] = ClassPredictor(scorer, batch_size=8).classify([SHORT_FIRST])
    torch.testing.assert_close(torch.tensor([answer.scores[label] for label in model.labels]), expected, atol=1e-5, rtol=0)


def test_multi_label_answers_are_the_labels_at_or_over_the_threshold_in_label_order(model):
    """Multi-label: each label's probability is its highest over the windows (sigmoid); ``labels``
    are those >= the threshold, in the model's label order (not by score); ``label``/``score`` the
    most probable one, or None when none reaches the threshold. The threshold set to a label's own
    probability keeps that label (inclusive)."""
    probe = _scorer(model, multi_label=True, threshold=0.5)
    per_window = _window_logits(probe, LONG)
    expected = torch.sigmoid(per_window).max(0).values
    [answer] = ClassPredictor(probe).classify([LONG])
    got = [answer.scores[label] for label in model.labels]
    torch.testing.assert_close(torch.tensor(got), expected, atol=1e-5, rtol=0)
    order = sorted(range(3), key=got.__getitem__)  # indices from the least to the most probable
    assert got[order[0]] < got[order[1]] < got[order[2]]
    at_middle = _scorer(model, multi_label=True, threshold=got[order[1]])
    [answer] = ClassPredictor(at_middle).classify([LONG])
    assert answer.labels == tuple(model.labels[i] for i in sorted(order[1:]))  # label order, inclusive
    assert answer.label == model.labels[order[2]] and answer.score == got[order[2]]
    over_all = _scorer(model, multi_label=True, threshold=min(0.999, got[order[2]] + 1e-4))
    [answer] = ClassPredictor(over_all).classify([LONG])
    assert answer.labels == () and answer.label is None and answer.score == got[order[2]]


def test_batched_equals_one_by_one_and_answers_keep_the_input_order(model):
    texts = [LONG, "show me films with drew barrymore", SHORT_FIRST, "movies from the 1980s", "paris", LONG[:40]]
    scorer = TorchScorer(model)
    batched = ClassPredictor(scorer, batch_size=3).classify(texts)
    alone = [ClassPredictor(scorer, batch_size=1).classify([t])[0] for t in texts]
    assert [a.text for a in batched] == texts
    for a, b in zip(batched, alone):
        assert a.label == b.label and a.labels == b.labels
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
    assert len({a.label for a in batched}) >= 2  # the texts are told apart


def test_every_answer_holds_every_labels_probability_in_label_order_summing_to_one(model):
    """``scores`` lists every label in the model's order and sums to 1 (single-label); ``label`` is
    the most probable and ``score`` its probability; ``probabilities`` gives the same numbers,
    columns in label order; ``to_dict(all_scores=True)`` the same, rounded."""
    texts = ["what movies star bruce willis", "films directed by steven spielberg", LONG]
    predictor = ClassPredictor(TorchScorer(model))
    answers = predictor.classify(texts)
    table = predictor.probabilities(texts)
    assert table.shape == (3, len(model.labels))
    for row, answer in zip(table.tolist(), answers):
        assert list(answer.scores) == list(model.labels)
        assert sum(answer.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert answer.label == max(answer.scores, key=answer.scores.get) and answer.score == answer.scores[answer.label]
        assert answer.labels == (answer.label,)
        assert row == pytest.approx([answer.scores[label] for label in model.labels], abs=1e-6)
        d = answer.to_dict(all_scores=True)
        assert list(d["scores"]) == list(model.labels) and "labels" not in d
    assert [a.label for a in answers[:2]] == ["actor", "director"]


def test_a_word_list_is_its_words_joined_and_a_string_is_one_text(model):
    predictor = ClassPredictor(TorchScorer(model))
    words = ["films", "directed", "by", "steven", "spielberg"]
    [joined] = predictor.classify([" ".join(words)])
    [split] = predictor.classify([words])
    assert split.text == joined.text and split.scores == pytest.approx(joined.scores, abs=1e-6)
    assert len(predictor.classify("films directed by steven spielberg")) == 1
