"""A tagger trained with document context (--context 16, FLERT-style): it saves the context size,
reloads, tags the same batched and one-by-one and in chunks of any size on the streamed path,
through ``predict --documents``, ``evaluate`` (which reads the file's documents by itself), and an
fp32 ONNX export tags exactly like PyTorch."""
from __future__ import annotations

import json

import pytest
import torch

from entitune import Predictor, Tagger, TorchScorer, TrainConfig, fit, label_set
from entitune.evaluate import evaluate
from entitune.artifact import model_dir
from entitune.predict.engine import WindowScoring
from entitune.recipes import predict_lines
from entitune.types import Sentence
from tests.helpers.data import TINY_SENTENCES, WORDS

#: three documents of the tiny sentences, and one long sentence (windows, no context) in the last
DOCUMENTS = [TINY_SENTENCES[:3], TINY_SENTENCES[3:], [*TINY_SENTENCES[:2], (WORDS * 2, ["O"] * len(WORDS) * 2)]]


def _sentences() -> list[Sentence]:
    return [Sentence(tuple(w), tuple(t), doc=d) for d, doc in enumerate(DOCUMENTS) for w, t in doc]


@pytest.fixture(scope="module")
def context_tagger_dir(tiny_bert, tmp_path_factory):
    train = _sentences()
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in train for t in s.tags]), max_length=32, stride=4,
                                 context=16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(tagger, train * 2, None, TrainConfig(epochs=6, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0),
            context_dropout=0.5)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("context-tagger")
    tagger.save(out)
    return out


def _tags(tagged):
    return [(t.tags, [round(s, 5) for s in t.scores]) for t in tagged]


def test_context_is_saved_and_reloaded_and_batching_changes_nothing(context_tagger_dir, monkeypatch):
    assert model_dir.read_settings(context_tagger_dir)[0].context == 16
    tagger = Tagger.load(context_tagger_dir)
    assert tagger.word_encoder.context == 16
    sentences = _sentences()
    words, docs = [s.words for s in sentences], [s.doc for s in sentences]
    batched = Predictor(TorchScorer(tagger), batch_size=8).tag(words, docs)
    assert [len(t.tags) for t in batched] == [len(w) for w in words]  # every word tagged, the long one too
    one_by_one = Predictor(TorchScorer(tagger), batch_size=1).tag(words, docs)
    assert _tags(batched) == _tags(one_by_one)
    # a document tagged alone reads the same context as in the whole list
    per_document = [t for d in range(len(DOCUMENTS)) for t in Predictor(TorchScorer(tagger)).tag(
        [s.words for s in sentences if s.doc == d], [d] * sum(s.doc == d for s in sentences))]
    assert _tags(per_document) == _tags(batched)
    # the streamed path (an ONNX export's: chunks encoded apart, scored on worker threads) cuts
    # chunks at document boundaries only: tiny chunks change no answer. (With one stream, as here
    # above, every chunk is joined before encoding, so chunk_size could not change anything.)
    streamed = TorchScorer(tagger)
    streamed.streams = 2
    encoded: list[int] = []
    encode = tagger.word_encoder.encode
    monkeypatch.setattr(tagger.word_encoder, "encode", lambda s, *a, **k: encoded.append(len(s)) or encode(s, *a, **k))
    for chunk_size in (1, 2, 4):
        encoded.clear()
        got = Predictor(streamed, batch_size=8, chunk_size=chunk_size).tag(words, docs)
        assert len(encoded) > 1  # really encoded chunk by chunk
        assert [t.tags for t in got] == [t.tags for t in batched]
        for a, b in zip(got, batched):
            assert a.scores == pytest.approx(b.scores, abs=1e-5)
    # the context is really read: scores differ from sentence-level tagging
    alone = Predictor(TorchScorer(tagger)).tag(words)
    assert [t.scores for t in alone] != [t.scores for t in batched]


def test_predict_documents_and_evaluate_use_the_context(context_tagger_dir, tmp_path, monkeypatch):
    import io

    sentences = _sentences()
    lines = []
    for d in range(len(DOCUMENTS)):
        lines += [json.dumps(list(s.words)) for s in sentences if s.doc == d] + [""]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    predict_lines(context_tagger_dir, tmp_path / "in.txt", documents=True, stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines() if json.loads(line)["words"]]
    tagger = Tagger.load(context_tagger_dir)
    reference = Predictor(TorchScorer(tagger)).tag([s.words for s in sentences], [s.doc for s in sentences])
    assert [tuple(a["tags"]) for a in answers] == [t.tags for t in reference]
    # JSON objects grouped by their doc field give the same answers
    records = [json.dumps({"tokens": list(s.words), "doc": f"d{s.doc}"}) for s in sentences]
    (tmp_path / "in.jsonl").write_text("\n".join(records) + "\n")
    out = io.StringIO()
    predict_lines(context_tagger_dir, tmp_path / "in.jsonl", documents=True, stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [tuple(a["tags"]) for a in answers] == [t.tags for t in reference]
    assert [a["doc"] for a in answers] == [f"d{s.doc}" for s in sentences]
    # evaluate reads Sentence.doc: the windows it scores carry the context
    seen: list[int] = []
    score = WindowScoring._score
    monkeypatch.setattr(WindowScoring, "_score", lambda self, w, idx: seen.extend(len(w[i].input_ids) for i in idx)
                        or score(self, w, idx))
    evaluate(tagger, sentences)
    with_context = sorted(seen)
    seen.clear()
    evaluate(tagger, [Sentence(s.words, s.tags) for s in sentences[:3]] + [Sentence(s.words, s.tags, doc=9 + k)
                                                                           for k, s in enumerate(sentences[3:])])
    assert sum(with_context) > sum(seen)


def test_fp32_onnx_export_tags_like_pytorch_with_context(context_tagger_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from entitune import OnnxScorer
    from entitune.backends import load_scorer
    from entitune.export import export_onnx

    tagger = Tagger.load(context_tagger_dir)
    export_onnx(tagger, tmp_path / "onnx")
    exported = load_scorer(tmp_path / "onnx")
    assert exported.word_encoder.context == 16
    sentences = _sentences()
    words, docs = [s.words for s in sentences], [s.doc for s in sentences]
    reference = Predictor(TorchScorer(tagger, fast=False)).tag(words, docs)
    # two streams and chunks of one sentence: each chunk encoded on its own, cut only between documents
    for predictor in (Predictor(exported), Predictor(exported, batch_size=1),
                      Predictor(OnnxScorer.load(tmp_path / "onnx", threads=2), batch_size=2, chunk_size=1)):
        got = predictor.tag(words, docs)
        assert [t.tags for t in got] == [t.tags for t in reference]
        for a, b in zip(got, reference):
            assert a.scores == pytest.approx(b.scores, abs=1e-4)
