"""The shared fixtures do what the tests that use them assume: the tiny tagger really tags. Broken
(a tagger that tags every word O, as the fixture once did), every test that compares predicted
entities across paths (torch, ONNX, the service, the page) compares empty lists and checks nothing."""
from __future__ import annotations

from entitune import Predictor, Tagger, TorchScorer
from entitune.evaluate import evaluate
from entitune.tags import spans_from_tags
from tests.helpers.data import TINY_SENTENCES, entity_spans, gold_entities, tiny_sentences


def test_gold_entities_are_the_gold_spans_of_the_tiny_sentences():
    """``gold_entities`` (what the tests expect of the tiny tagger) finds exactly the gold spans."""
    for words, tags in TINY_SENTENCES:
        text = " ".join(words)
        expected = [(" ".join(words[s.start : s.end]), s.label) for s in spans_from_tags(tags)]
        found = gold_entities(words)
        assert [(t, label) for t, label, _, _ in found] == expected
        assert all(text[start:end] == t for t, _, start, end in found)
        assert gold_entities(text) == found
    assert gold_entities("Films with Drew  Barrymore, from the 1980s!") == [
        ("Drew  Barrymore", "ACTOR", 11, 26), ("1980s", "YEAR", 37, 42)]


def test_the_tiny_tagger_really_tags(tiny_tagger_dir):
    """Strict entity F1 >= 0.95 on its own training sentences, through entitune's evaluate, with
    entities of every type predicted where the gold spans are."""
    tagger = Tagger.load(tiny_tagger_dir)
    report = evaluate(tagger, tiny_sentences())
    assert report["entity"]["f1"] >= 0.95, f"the tiny tagger stopped tagging: {report['entity']}"
    assert report["invalid_sequences"] == 0 and report["words_untagged"] == 0
    predictions = Predictor(TorchScorer(tagger)).predict([list(w) for w, _ in TINY_SENTENCES])
    types = {label for p in predictions for _, label, _, _ in entity_spans(p)}
    assert len(types) >= 2, f"entities of {sorted(types)} only"
    assert [entity_spans(p) for p in predictions] == [gold_entities(w) for w, _ in TINY_SENTENCES]
