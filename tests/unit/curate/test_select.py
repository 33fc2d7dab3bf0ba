"""``select``: each uncertainty as its definition says (checked against hand computations), the order
it gives, the cap per document, diversity over clusters, and the files written for the annotators."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from entitune.curate.probabilities import WordDistributions
from entitune.curate.select import capped, class_uncertainty, diverse, rank, sequence_uncertainty
from entitune.options import SelectConfig
from entitune.recipes.curation import select
from entitune.terminal import Console

# two sentences of two words over three tags: word distributions and the decoded tags' probabilities
SURE = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])
TORN = np.array([[0.5, 0.4, 0.1], [0.98, 0.01, 0.01]])


def test_mnlp_is_the_negated_mean_log_probability_of_the_decoded_tags():
    """Shen et al.'s MNLP from the decoded tags' probabilities: -(log .9 + log .8) / 2."""
    assert sequence_uncertainty("mnlp", SURE, [0.9, 0.8]) == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    # the decoded tags' probabilities decide, not the distributions' maxima (a constrained path may
    # take a word's second tag)
    assert sequence_uncertainty("mnlp", SURE, [0.05, 0.8]) == pytest.approx(-(math.log(0.05) + math.log(0.8)) / 2)


def test_margin_is_one_minus_the_smallest_gap_between_a_words_two_best_tags():
    assert sequence_uncertainty("margin", SURE, [0.9, 0.8]) == pytest.approx(1 - min(0.85, 0.7))
    assert sequence_uncertainty("margin", TORN, [0.5, 0.98]) == pytest.approx(1 - 0.1)


def test_entropy_is_the_mean_word_entropy():
    h = lambda p: -sum(x * math.log(x) for x in p)  # noqa: E731
    assert sequence_uncertainty("entropy", TORN, [0.5, 0.98]) == pytest.approx((h(TORN[0]) + h(TORN[1])) / 2)
    assert sequence_uncertainty("entropy", np.array([[1.0, 0.0]]), [1.0]) == 0.0  # 0 log 0 = 0


def test_each_variant_ranks_the_torn_sentence_first_and_classes_alike():
    for strategy in ("mnlp", "margin", "entropy"):
        u = [sequence_uncertainty(strategy, SURE, SURE.max(1)), sequence_uncertainty(strategy, TORN, TORN.max(1))]
        assert rank(u) == [1, 0], strategy
    p = np.array([0.6, 0.3, 0.1])
    assert class_uncertainty("mnlp", p) == pytest.approx(-math.log(0.6))
    assert class_uncertainty("margin", p) == pytest.approx(1 - 0.3)
    assert class_uncertainty("entropy", p) == pytest.approx(-(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1)))
    with pytest.raises(ValueError, match="strategy must be one of"):
        class_uncertainty("lc", p)


def test_the_cap_takes_at_most_so_many_of_a_document_in_order():
    docs = ["a", "a", "a", "b", "b", "c"]
    assert capped([0, 1, 2, 3, 4, 5], 4, docs, 1) == [0, 3, 5]  # only three documents
    assert capped([2, 0, 3, 1, 4, 5], 4, docs, 2) == [2, 0, 3, 4]
    assert capped([2, 0, 3], 2, docs, None) == [2, 0]


def test_diversity_takes_the_most_uncertain_of_each_cluster():
    """Ten inputs in two tight clusters, the six most uncertain all in the first: without diversity
    the two picks come from the first cluster; with it, one from each, each its cluster's most
    uncertain."""
    vectors = np.array([[0.0, 0.0]] * 6 + [[10.0, 10.0]] * 4) + np.arange(10)[:, None] * 0.01
    uncertainty = [0.9, 0.8, 0.85, 0.7, 0.75, 0.65, 0.3, 0.5, 0.2, 0.1]
    order = rank(uncertainty)
    assert capped(order, 2, None, None) == [0, 2]
    assert diverse(order, uncertainty, vectors, 2, seed=0) == [0, 7]


def test_word_distributions_agree_with_what_the_predictor_reports(tiny_tagger_dir):
    """Each word's distribution sums to 1, and its entry at the decoded tag is the probability
    ``Predictor.tag`` gives that tag (so MNLP reads the predictor's own numbers)."""
    import entitune

    predictor = entitune.load(str(tiny_tagger_dir))
    words = [["show", "me", "films", "with", "drew", "barrymore"], ["movies", "from", "the", "1980s"]]
    found = WordDistributions(predictor.scorer).distributions(words)
    plain = predictor.tag(words)
    labels = list(predictor.scorer.labels)
    for d, t in zip(found, plain):
        assert d.tagged == t
        assert np.allclose(d.probs.sum(1), 1.0)
        assert np.allclose([d.probs[k, labels.index(tag)] for k, tag in enumerate(t.native or t.tags)], t.scores,
                           atol=1e-5)


def test_select_writes_label_studio_tasks_and_span_jsonl(tiny_tagger_dir, tmp_path):
    """Three picks of five lines in two documents, at most two a document: tasks.json holds the texts
    with the model's entities as Label Studio predictions, selected.jsonl the same as span JSONL that
    the reader takes back, in the order of uncertainty."""
    pool = tmp_path / "pool.jsonl"
    texts = ["show me films with drew barrymore", "movies from the 1980s", "films directed by steven spielberg",
             "what movies star bruce willis", "films in paris"]
    pool.write_text("".join(json.dumps({"text": t, "id": k, "doc": k // 3}) + "\n" for k, t in enumerate(texts)))
    out = tmp_path / "picked"
    summary = select(SelectConfig(model=str(tiny_tagger_dir), pool=str(pool), n=3, out=str(out), per_doc=2,
                                  strategy="entropy"), Console(quiet=True))
    assert summary["selected"] == 3
    tasks = json.loads((out / "tasks.json").read_text())
    lines = [json.loads(x) for x in (out / "selected.jsonl").read_text().splitlines()]
    assert [t["data"]["text"] for t in tasks] == [x["text"] for x in lines]
    assert [x["uncertainty"] for x in lines] == sorted((x["uncertainty"] for x in lines), reverse=True)
    docs = [x["doc"] for x in lines]
    assert max(docs.count(d) for d in set(docs)) <= 2
    for task, line in zip(tasks, lines):
        result = task["predictions"][0]["result"]
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in result] == [
            (e["start"], e["end"], e["label"]) for e in line["entities"]]
        for r in result:
            assert task["data"]["text"][r["value"]["start"]:r["value"]["end"]] == r["value"]["text"]
    assert any(line["entities"] for line in lines)
    from entitune.data import read_sentences

    assert len(read_sentences(out / "selected.jsonl", "jsonl")) == 3
    assert '<Label value="ACTOR"/>' in (out / "label_config.xml").read_text()


def test_a_crfs_word_distributions_are_its_marginals(tiny_bert):
    """For a CRF the distribution is each word's marginal under the CRF (transitions made strong so
    it differs from the softmax of the scores): its entry at the Viterbi tag is what the predictor
    reports, and it is not the softmax of the emissions."""
    import torch

    from entitune import Predictor, Tagger, TorchScorer
    from entitune.tags import label_set

    tagger = Tagger.from_encoder(tiny_bert, label_set(["O", "B-ACTOR", "I-ACTOR"]), head="crf", max_length=16, stride=4)
    with torch.no_grad():
        tagger.head.transitions.normal_(0, 3.0, generator=torch.Generator().manual_seed(1))
    scorer = TorchScorer(tagger)
    words = [["show", "me", "films", "with", "drew", "barrymore"]]
    (d,) = WordDistributions(scorer).distributions(words)
    (t,) = Predictor(scorer).tag(words)
    labels = list(scorer.labels)
    assert np.allclose(d.probs.sum(1), 1.0)
    assert np.allclose([d.probs[k, labels.index(tag)] for k, tag in enumerate(t.tags)], t.scores, atol=1e-5)
    from entitune.encode import collate

    # one window: the scores of the sentence's words are the window's
    emissions = np.asarray(scorer.score_windows(collate(scorer.word_encoder.encode(words), scorer.pad_id))[0])
    softmax = np.exp(emissions - emissions.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert not np.allclose(d.probs, softmax, atol=1e-3)
