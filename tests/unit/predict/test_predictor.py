"""``Predictor``, the one decode path: batched equals one by one, nothing truncated, offsets index
the text, and it takes any backend's ``Scorer`` (never a bare model)."""
import pytest

import entitune
from entitune import Predictor, Sentence, Tagger, TorchScorer
from entitune.data.text import split_words
from entitune.evaluate import evaluate
from tests.helpers.data import TINY_SENTENCES, entity_spans, gold_entities


@pytest.fixture(scope="module")
def tagger(tiny_tagger_dir):
    return Tagger.load(tiny_tagger_dir)


@pytest.fixture(scope="module")
def scorer(tagger):
    return TorchScorer(tagger)


def test_batched_equals_one_by_one(scorer):
    words = [w for w, _ in TINY_SENTENCES] + [["films"] * 40, [], ["a"]]
    batched = Predictor(scorer, batch_size=4).tag(words)
    single = [Predictor(scorer, batch_size=1).tag([w])[0] for w in words]
    assert [b.tags for b in batched] == [s.tags for s in single]
    assert [b.tags for b in batched[: len(TINY_SENTENCES)]] == [tuple(t) for _, t in TINY_SENTENCES]  # real tags
    for b, s in zip(batched, single):
        assert b.scores == pytest.approx(s.scores, abs=1e-5)


def test_3000_word_sentence_is_fully_tagged(tagger, scorer):
    words = [w for ws, _ in TINY_SENTENCES for w in ws]
    long = (words * 200)[:3000]
    [tagged] = Predictor(scorer).tag([long])
    assert len(tagged.tags) == 3000 and all(tagged.tags)
    report = evaluate(tagger, [Sentence(tuple(long), tuple(["O"] * 3000))])
    assert report["words"] == 3000 and report["words_untagged"] == 0 and report["invalid_sequences"] == 0


def test_predict_text_offsets(tiny_tagger_dir):
    predictor = entitune.load(str(tiny_tagger_dir))
    [p] = [x.to_dict() for x in predictor.predict(["Films with Drew  Barrymore, from the 1980s!"])]
    text = p["text"]
    assert len(p["words"]) == len(p["tags"])
    # offsets index the raw text: its capitals, the double space inside the entity, the punctuation
    assert entity_spans(p) == gold_entities(text) == [("Drew  Barrymore", "ACTOR", 11, 26), ("1980s", "YEAR", 37, 42)]
    for e in p["entities"]:
        assert text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1
    [q] = predictor.predict([["drew", "barrymore"]])
    assert q.text == "drew barrymore" and entity_spans(q) == [("drew barrymore", "ACTOR", 0, 14)]


def test_mixed_language_text_keeps_offsets_in_prediction(tiny_tagger_dir):
    text = "张三 visited 서울 in 2020年 with drew barrymore 😀, then 東京!"
    words = split_words(text)
    assert ("서울", 11, 13) in words and ("年", 21, 22) in words and ("😀", 43, 44) in words
    result = entitune.load(str(tiny_tagger_dir)).predict([text])[0].to_dict()
    assert [text[s:e] for _, s, e in words] == result["words"]
    assert ("drew barrymore", "ACTOR", 28, 42) in entity_spans(result)  # among words it never saw
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]


def test_predictor_rejects_bad_sizes_and_bare_models(tagger, scorer):
    for kwargs in ({"batch_size": 0}, {"chunk_size": 0}):
        with pytest.raises(ValueError):
            Predictor(scorer, **kwargs)
    with pytest.raises(TypeError, match="needs a Scorer"):
        Predictor(tagger)


def test_a_single_string_is_one_input(tiny_tagger_dir, tiny_classifier_dir):
    """``predict("a text")`` is that one text, for taggers and classifiers alike. Broken: a string is
    a sequence, so every character was tagged (or classified) as an input of its own."""
    tagger, classifier = entitune.load(str(tiny_tagger_dir)), entitune.load(str(tiny_classifier_dir))
    text = "films with drew barrymore"
    [one] = tagger.predict(text)
    assert one.to_dict() == tagger.predict([text])[0].to_dict() and len(one.words) == 4
    assert entity_spans(one) == [("drew barrymore", "ACTOR", 11, 25)]
    [label] = classifier.predict(text)
    assert label.to_dict() == classifier.predict([text])[0].to_dict()
