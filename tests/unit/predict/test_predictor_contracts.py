"""``Predictor`` contracts that hold whatever the model: a stand-in ``Scorer`` over the real
``WordEncoder`` (no network) makes each word's tag a function of its own first sub-token and its
probability a function of everything its window reads, so that

- where a word's scores come from (window, batch row, merge) shows in its tag, and what a window
  reads (document context) shows in its probability;
- chunks of the streamed path (``streams`` > 1: each chunk encoded on its own) end only at
  document boundaries, so every sentence reads the same context whatever ``chunk_size``;
- batched equals one by one, for long inputs cut into several windows too (also on a real model);
- an entity's text, offsets and score (the mean of its words' probabilities) follow from its words.
"""
from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune import Predictor, Tagger, TorchScorer
from entitune.encode import WordEncoder
from entitune.tags import spans_from_tags
from entitune.types import Tagged
from tests.helpers.data import WORDS

LABELS = ("O", "B-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR")


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(tiny_bert))


class WindowEcho:
    """A ``Scorer`` without a model. A word's scores: 4 on label ``first sub-token id % 5`` (its tag,
    wherever it is read) plus ``0.01 * ((sum of the window's ids + label) % 7)`` (its probability,
    which moves with anything else in the window: context, neighbours). Records every window it
    scores (its real ids) and every list of sentences the encoder is asked for."""

    def __init__(self, encoder: WordEncoder, streams: int = 1) -> None:
        self.settings = SimpleNamespace(scheme="IOB2", labels=LABELS)
        self.labels = LABELS
        self.pad_id = 0
        self.streams = streams
        self.scored: list[tuple[int, ...]] = []
        self.encoded: list[list] = []  # the document ids of each encode call
        self._lock = threading.Lock()
        scorer = self

        class _Recording(WordEncoder):
            def encode(self, sentences, tag_ids=None, documents=None):
                with scorer._lock:
                    scorer.encoded.append(list(documents) if documents is not None else [None] * len(sentences))
                return super().encode(sentences, tag_ids, documents)

        self.word_encoder = _Recording(encoder.tokenizer, encoder.max_length, encoder.stride, context=encoder.context)

    def score_windows(self, batch: dict) -> np.ndarray:
        batch = {k: torch.as_tensor(v) for k, v in batch.items()}  # the predictor's numpy arrays
        ids, mask = batch["input_ids"], batch["attention_mask"]
        with self._lock:
            self.scored.extend(tuple(row[m.bool()].tolist()) for row, m in zip(ids, mask))
        # shape: (batch, words) the id at each word start; (batch, 1) the window's sum
        first = ids.gather(1, batch["word_starts"])
        total = (ids * mask).sum(1, keepdim=True)
        labels = torch.arange(len(LABELS))
        # shape: (batch, words, labels)
        scores = 4.0 * (first.unsqueeze(2) % len(LABELS) == labels).float()
        return (scores + 0.01 * ((total.unsqueeze(2) + labels) % 7).float()).numpy()

    @staticmethod
    def decode(scores: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = torch.as_tensor(scores)
        probs = scores.softmax(-1)
        tags = scores.argmax(-1)
        return tags.numpy(), probs.gather(2, tags.unsqueeze(2)).squeeze(2).numpy()


def _expected_tags(tokenizer, words) -> tuple[str, ...]:
    """What ``WindowEcho`` tags each word, from the tokenizer alone (no window, no merge)."""
    return tuple(LABELS[tokenizer(w, add_special_tokens=False)["input_ids"][0] % len(LABELS)] for w in words)


def _sentence(k: int, n: int) -> tuple[str, ...]:
    return tuple(WORDS[(k * 7 + i * 3) % len(WORDS)] for i in range(n))


# ------------------------------------------------------------------------- windows, batches, merge


#: lengths that fit one window of 8 sub-tokens, and lengths that need two to nine, and empty ones
LENGTHS = [3, 0, 25, 1, 6, 40, 0, 13, 2, 31, 7]


@pytest.mark.parametrize("batch_size, streams, chunk_size", [(1, 1, 512), (3, 1, 512), (64, 1, 512), (2, 2, 3)])
def test_every_word_of_a_long_input_gets_the_scores_of_a_window_that_holds_it(tokenizer, batch_size, streams,
                                                                              chunk_size):
    """Every word of every input, however many windows it needs, is tagged from a window that holds
    that word (its own first sub-token): the tags are what the tokenizer alone says, in order, one
    per word, in any batching, and on the streamed path. Broken: a word read from the next window's
    rows or a neighbour's batch row (an off-by-one in the window's word range, the one-window
    shortcut taken for a windowed sentence), or answers out of input order."""
    encoder = WordEncoder(tokenizer, max_length=8, stride=2)
    sentences = [_sentence(k, n) for k, n in enumerate(LENGTHS)]
    scorer = WindowEcho(encoder, streams)
    tagged = Predictor(scorer, batch_size=batch_size, chunk_size=chunk_size).tag(sentences)
    assert [t.words for t in tagged] == sentences
    assert [t.tags for t in tagged] == [_expected_tags(tokenizer, s) for s in sentences]
    assert len(scorer.scored) > len(sentences)  # long inputs really were cut into several windows
    assert len({t.tags for t in tagged if len(t.tags) > 20}) == 3  # and tagged with more than one label
    assert {tag for t in tagged for tag in t.tags} == set(LABELS)


def test_batched_equals_one_by_one_with_inputs_of_several_windows(tokenizer):
    """Tags and probabilities of a list of inputs (long and short, empty, in a mixed order) equal
    each input's own, tagged alone with a batch of one, in every batching and on the streamed path.
    The stand-in is exact arithmetic, so equal means equal. Broken: padding or a neighbour's row read
    into a window's scores, merged windows of one input given to another."""
    encoder = WordEncoder(tokenizer, max_length=8, stride=2)
    sentences = [_sentence(k, n) for k, n in enumerate(LENGTHS)]
    alone = [Predictor(WindowEcho(encoder), batch_size=1).tag([s])[0] for s in sentences]
    for batch_size, streams, chunk_size in ((4, 1, 512), (64, 1, 512), (3, 2, 2), (1, 3, 1)):
        together = Predictor(WindowEcho(encoder, streams), batch_size=batch_size, chunk_size=chunk_size).tag(sentences)
        assert together == alone, (batch_size, streams, chunk_size)


@pytest.fixture(scope="module")
def random_tagger(tiny_bert):
    """An untrained tiny tagger: 16 sub-tokens a window, so most inputs here need several."""
    return Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4, seed=3)


def test_a_real_model_batched_equals_one_by_one_with_long_inputs(random_tagger):
    """On a real (random) model, inputs of one to seven windows in a mixed order tag exactly as each
    alone, probabilities to 1e-5 (padding moves float sums in the last digits), batched, one by
    one, and streamed on two worker threads in chunks of two."""
    sentences = [_sentence(k, n) for k, n in enumerate([50, 4, 0, 17, 33, 1, 9, 26])]
    alone = [Predictor(TorchScorer(random_tagger), batch_size=1).tag([s])[0] for s in sentences]
    streamed = TorchScorer(random_tagger)
    streamed.streams = 2
    for predictor in (Predictor(TorchScorer(random_tagger), batch_size=5),
                      Predictor(TorchScorer(random_tagger), batch_size=64), Predictor(streamed, 3, chunk_size=2)):
        together = predictor.tag(sentences)
        assert [t.words for t in together] == sentences
        assert [t.tags for t in together] == [t.tags for t in alone]
        for a, b in zip(together, alone):
            assert a.scores == pytest.approx(b.scores, abs=1e-5)
    assert len({tag for t in alone for tag in t.tags}) > 1  # not one label everywhere


# ------------------------------------------------------------------------- document context, chunks

#: document ids of a list of sentences: runs of one to four, a document that comes back (A), a
#: long sentence (windows, no context) and an empty one inside documents
DOCS = ["A", "A", "A", "B", "C", "C", "A", "D", "D", "D", "D", "E", "F", "F"]
DOC_LENGTHS = [3, 4, 2, 5, 3, 30, 2, 1, 3, 0, 4, 6, 2, 3]


def _runs(docs) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of equal consecutive ids."""
    runs, start = [], 0
    for i in range(1, len(docs) + 1):
        if i == len(docs) or docs[i] != docs[start]:
            runs.append((start, i))
            start = i
    return runs


@pytest.fixture(scope="module")
def context_encoder(tokenizer):
    return WordEncoder(tokenizer, max_length=24, stride=4, context=6)


def test_context_is_read_within_runs_of_equal_ids_only(context_encoder):
    """A document is a run of consecutive sentences with equal ids: each sentence reads exactly the
    windows of its run encoded alone; "A" coming back after "B" and "C" is a new document (its
    sentence reads nothing of the first "A"). And the context is really read: a lone sentence's
    window is shorter than the same sentence's inside its run."""
    sentences = [_sentence(k, n) for k, n in enumerate(DOC_LENGTHS)]
    scorer = WindowEcho(context_encoder)
    Predictor(scorer).tag(sentences, DOCS)
    per_run = []
    for start, end in _runs(DOCS):
        per_run += [w.input_ids for w in context_encoder.encode(sentences[start:end], documents=[0] * (end - start))]
    assert Counter(scorer.scored) == Counter(per_run)
    lone = {(w.sentence, w.first_word): w.input_ids for w in context_encoder.encode(sentences)}
    read = {(w.sentence, w.first_word): w.input_ids for w in context_encoder.encode(sentences, documents=DOCS)}
    # every sentence of one window with a neighbour read more than itself (9, empty, reads only context)
    longer = sorted(s for s, f in read if len(read[s, f]) > len(lone.get((s, f), ())))
    assert longer == [0, 1, 2, 4, 7, 8, 9, 10, 12, 13]


@pytest.mark.parametrize("chunk_size", range(1, len(DOCS) + 2))
def test_streamed_chunks_end_at_document_boundaries_and_change_no_context(context_encoder, chunk_size):
    """On the streamed path (an ONNX export's: two worker threads, each chunk encoded on its own),
    a chunk is the shortest run of whole documents holding at least ``chunk_size`` sentences, so
    every window reads exactly what it reads when the whole list is encoded at once, and answers
    (tags and probabilities, exact here) are those of the unchunked path, for ``tag`` and for
    ``predict``. Broken: a chunk cut inside a document (the sentences at the cut lose their
    neighbours, and their probabilities move), or chunks that keep growing past a boundary."""
    sentences = [_sentence(k, n) for k, n in enumerate(DOC_LENGTHS)]
    reference = WindowEcho(context_encoder)  # streams 1: one encode call over every sentence
    expected = Predictor(reference).tag(sentences, DOCS)
    assert reference.encoded == [DOCS]
    streamed = WindowEcho(context_encoder, streams=2)
    got = Predictor(streamed, batch_size=2, chunk_size=chunk_size).tag(sentences, DOCS)
    assert got == expected
    assert Counter(streamed.scored) == Counter(reference.scored)
    # the chunks: whole documents, each the fewest that reach chunk_size (the last may hold fewer)
    runs = _runs(DOCS)
    position = 0
    for k, chunk in enumerate(streamed.encoded):
        assert chunk == DOCS[position : position + len(chunk)]
        end = position + len(chunk)
        assert end in {e for _, e in runs}, f"chunk {k} ends inside a document"
        if k < len(streamed.encoded) - 1:
            last_run_start = max(s for s, e in runs if e == end)
            assert len(chunk) >= chunk_size and last_run_start - position < chunk_size
        position = end
    assert position == len(DOCS)
    # predict (texts split into words here) follows the same chunks
    texts = [" ".join(s) for s in sentences]
    reference.scored.clear()
    streamed.scored.clear()
    want = Predictor(reference).predict(texts, DOCS)
    have = Predictor(streamed, batch_size=2, chunk_size=chunk_size).predict(texts, DOCS)
    assert [p.text for p in have] == texts
    assert have == want and Counter(streamed.scored) == Counter(reference.scored)


def test_documents_change_nothing_for_a_model_without_context_and_must_match_the_inputs(tokenizer,
                                                                                         context_encoder):
    """Without ``settings.context`` the document ids change nothing (same windows, same answers);
    with it, ids of another length are a ValueError, and no ids means
    sentence-level windows (no context)."""
    sentences = [_sentence(k, n) for k, n in enumerate(DOC_LENGTHS)]
    plain = WordEncoder(tokenizer, max_length=24, stride=4)
    with_ids, without = WindowEcho(plain), WindowEcho(plain)
    assert Predictor(with_ids).tag(sentences, DOCS) == Predictor(without).tag(sentences)
    assert with_ids.scored == without.scored
    for streams in (1, 2):
        with pytest.raises(ValueError, match="14 inputs but 13 document ids"):
            Predictor(WindowEcho(context_encoder, streams)).tag(sentences, DOCS[:-1])
    no_ids = WindowEcho(context_encoder)
    Predictor(no_ids).tag(sentences)
    assert Counter(no_ids.scored) == Counter(w.input_ids for w in context_encoder.encode(sentences))


def test_predict_reads_document_context_as_tag_does(context_encoder):
    """``predict`` with document ids (texts split into words here, one path or the other) reads the
    windows of each document, those ``tag`` reads with the same ids, not the sentence-level ones;
    and an entity's score (its words' mean probability, which moves with the context) is the one
    ``tag`` gives with the ids. Broken: the ids dropped on the way to the encoder."""
    sentences = [_sentence(k, n) for k, n in enumerate(DOC_LENGTHS)]
    texts = [" ".join(s) for s in sentences]
    for streams in (1, 2):
        tagging, predicting = WindowEcho(context_encoder, streams), WindowEcho(context_encoder, streams)
        tagged = Predictor(tagging, chunk_size=4).tag(sentences, DOCS)
        predicted = Predictor(predicting, chunk_size=4).predict(texts, DOCS)
        assert Counter(predicting.scored) == Counter(tagging.scored)
        assert Counter(tagging.scored) != Counter(w.input_ids for w in context_encoder.encode(sentences))
        for t, p in zip(tagged, predicted):
            want = [sum(t.scores[s.start : s.end]) / (s.end - s.start) for s in spans_from_tags(t.tags)]
            assert [e.score for e in p.entities] == pytest.approx(want, abs=0)


# ------------------------------------------------------------------------- entities

TAGS = ["O", "B-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR"]


class _Given(Predictor):
    """A predictor whose model 'says' the tags and probabilities given for each input, in order."""

    def __init__(self, answers) -> None:
        super().__init__(SimpleNamespace(settings=None, word_encoder=SimpleNamespace(context=0), streams=1,
                                         labels=(), pad_id=0, score_windows=lambda b: None, decode=lambda s, m: None))
        self.answers = answers

    def _run(self, chunks):
        for k, words in enumerate(w for chunk in chunks for w in chunk):
            tags, scores = self.answers[k]
            assert len(tags) == len(words)
            yield Tagged(tuple(words), tuple(tags), tuple(scores))


word = st.text(alphabet="abcxyz19", min_size=1, max_size=6)
spaces = st.sampled_from([" ", "  ", "\t", " \n "])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(word, spaces, st.sampled_from(TAGS), st.floats(0.01, 1.0)), min_size=1, max_size=12),
       st.sampled_from(["", " ", "\t "]))
def test_entities_follow_from_their_words(rows, lead):
    """For any tags and probabilities: the entities are the tag spans, in order; each one's score is
    the mean of its words' probabilities; its offsets index the raw text from its first word's start
    to its last word's end (whitespace before, inside and after kept as written); for the same words
    pre-split, offsets index the words joined by single spaces. Broken: the score of the first or
    last word only, or over a span one word too long; the end taken from the word after the span."""
    words = [w for w, _, _, _ in rows]
    tags = [t for _, _, t, _ in rows]
    scores = [p for _, _, _, p in rows]
    text = lead + "".join(w + sep for w, sep, _, _ in rows)
    starts = []
    at = len(lead)
    for w, sep, _, _ in rows:
        starts.append(at)
        at += len(w) + len(sep)
    raw, split = _Given([(tags, scores), (tags, scores)]).predict([text, words])
    spans = spans_from_tags(tags)
    for prediction, joined in ((raw, False), (split, True)):
        assert prediction.words == tuple(words) and prediction.tags == tuple(tags)
        assert [(e.word_start, e.word_end, e.label) for e in prediction.entities] == \
            [(s.start, s.end, s.label) for s in spans]
        for e in prediction.entities:
            mean = sum(scores[e.word_start:e.word_end]) / (e.word_end - e.word_start)
            assert e.score == pytest.approx(mean, rel=1e-12)
            if joined:
                assert prediction.text == " ".join(words)
                assert e.text == " ".join(words[e.word_start:e.word_end])
            else:
                assert (e.start, e.end) == (starts[e.word_start], starts[e.word_end - 1] + len(words[e.word_end - 1]))
            assert prediction.text[e.start:e.end] == e.text


def test_entity_score_is_the_mean_not_the_first_last_or_extreme_probability():
    """Known numbers: three-word ACTOR with 0.2, 0.9, 0.4 scores 0.5; a two-word YEAR right after it
    (B- closes the ACTOR) 0.3 and 0.7 scores 0.5 too; a one-word entity at the end its own 0.25."""
    words = ["w1", "w2", "w3", "w4", "w5", "w6", "w7"]
    tags = ["B-ACTOR", "I-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR", "O", "B-ACTOR"]
    scores = [0.2, 0.9, 0.4, 0.3, 0.7, 0.99, 0.25]
    [p] = _Given([(tags, scores)]).predict([" ".join(words)])
    assert [(e.text, e.label, e.start, e.end) for e in p.entities] == [
        ("w1 w2 w3", "ACTOR", 0, 8), ("w4 w5", "YEAR", 9, 14), ("w7", "ACTOR", 18, 20)]
    assert [e.score for e in p.entities] == pytest.approx([0.5, 0.5, 0.25], abs=1e-12)
