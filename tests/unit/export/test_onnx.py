"""ONNX export: the exported model tags exactly like the PyTorch one, int8 is re-scored, a refused
export leaves nothing behind, and the CLI's export / --backend onnx paths work."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading

import pytest
import torch

pytest.importorskip("onnxruntime")

from entitune import OnnxScorer, Predictor, Tagger, TorchScorer  # noqa: E402
from entitune.backends import load_scorer  # noqa: E402
from entitune.encode import collate  # noqa: E402
from entitune.errors import ExportError  # noqa: E402
from entitune.export import ScoreGraph, export_and_rescore, export_onnx  # noqa: E402
from entitune.tags import label_set  # noqa: E402
from entitune.types import Sentence  # noqa: E402
from tests.helpers.data import TINY_SENTENCES, WORDS, entity_spans, gold_entities  # noqa: E402

INPUTS = [
    "show me films with drew barrymore from the 1980s",
    ["what", "movies", "star", "bruce", "willis"],
    "",
    " ".join(WORDS * 3),  # longer than the tiny model's 16 sub-tokens: windows
    "films directed by steven spielberg in paris",
]


def _same_predictions(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.tags == y.tags
        assert entity_spans(x) == entity_spans(y)
        for ex, ey in zip(x.entities, y.entities):
            assert ex.score == pytest.approx(ey.score, abs=1e-4)


def _tags_the_inputs(predictions) -> None:
    """The tiny tagger's answers to ``INPUTS`` are their gold spans, the windowed input's 15 too
    (20 in all): comparing answers compares real spans."""
    assert [entity_spans(p) for p in predictions] == [gold_entities(item) for item in INPUTS]
    assert sum(len(p.entities) for p in predictions) == 20


def test_fp32_export_tags_like_pytorch(tiny_tagger_dir, tmp_path):
    tagger = Tagger.load(tiny_tagger_dir)
    export_onnx(tagger, tmp_path / "onnx")
    exported = load_scorer(tmp_path / "onnx")  # auto: model.onnx is there
    assert isinstance(exported, OnnxScorer)
    reference = Predictor(TorchScorer(tagger)).predict(INPUTS)
    _tags_the_inputs(reference)
    _same_predictions(reference, Predictor(exported).predict(INPUTS))
    # batching does not change the exported model's answers
    _same_predictions(Predictor(exported, batch_size=1).predict(INPUTS), Predictor(exported, batch_size=8).predict(INPUTS))


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_export_fusions(tiny_tagger_dir, tmp_path, quantize):
    import onnx

    export_onnx(Tagger.load(tiny_tagger_dir), tmp_path / "onnx", quantize=quantize)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.node}
    # fused for speed where it pays (attention), but not into the slow SkipLayerNormalization
    assert ("QAttention" if quantize == "int8" else "Attention") in ops and "LayerNormalization" in ops
    assert "SkipLayerNormalization" not in ops
    # exact GELU in fp32; the faster tanh form where int8 rounding dwarfs its error
    assert ("FastGelu" in ops) == (quantize == "int8") and ("BiasGelu" in ops) == (quantize == "none")
    # the head is in the graph, and stays float32 under int8 (its MatMul is not quantized)
    head = {node.op_type for node in onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.node
            if node.name.startswith("/head/")}
    assert "MatMul" in head and not head & {"MatMulInteger", "DynamicQuantizeLinear", "QAttention"}
    assert ("MatMulInteger" in ops) == (quantize == "int8")  # the encoder's are


def test_streams_and_chunks_do_not_change_answers(tiny_tagger_dir, tmp_path):
    export_onnx(Tagger.load(tiny_tagger_dir), tmp_path / "onnx")
    one = OnnxScorer.load(tmp_path / "onnx", threads=1)
    three = OnnxScorer.load(tmp_path / "onnx", threads=3)
    assert (one.streams, three.streams) == (1, 3)
    inputs = [x for i in range(6) for x in INPUTS[i % 2 :]]  # 27 inputs of mixed lengths, in a mixed order
    reference = Predictor(one, batch_size=4).predict(inputs)
    _tags_the_inputs(reference[: len(INPUTS)])
    scored_on = set()
    score_windows = three.score_windows

    def recording(batch):
        scored_on.add(threading.get_ident())
        return score_windows(batch)

    three.score_windows = recording
    for batch_size, chunk_size in ((4, 5), (1, 2), (32, 512)):
        streamed = Predictor(three, batch_size=batch_size, chunk_size=chunk_size).predict(inputs)
        assert [p.text for p in streamed] == [p.text for p in reference]  # order kept across chunks
        _same_predictions(reference, streamed)
    assert scored_on and threading.get_ident() not in scored_on  # the batches ran on worker threads


def test_streams_leave_torch_threads_alone(tiny_tagger_dir, tmp_path):
    export_onnx(Tagger.load(tiny_tagger_dir), tmp_path / "onnx")
    before = torch.get_num_threads()
    Predictor(OnnxScorer.load(tmp_path / "onnx", threads=2), batch_size=1).predict(INPUTS)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert torch.get_num_threads() == before and seen == [before]


def test_worker_errors_reach_the_caller(tiny_tagger_dir, tmp_path):
    export_onnx(Tagger.load(tiny_tagger_dir), tmp_path / "onnx")
    model = OnnxScorer.load(tmp_path / "onnx", threads=2)
    calls = []

    def failing(batch):
        calls.append(1)
        raise RuntimeError("scoring failed")

    model.score_windows = failing
    with pytest.raises(RuntimeError, match="scoring failed"):
        Predictor(model, batch_size=1, chunk_size=2).predict(INPUTS)
    assert calls  # the workers ran and the failure came back instead of hanging


@pytest.mark.parametrize("features, head", [("finetune", "linear"), ("frozen-sum4", "linear"), ("finetune", "crf"),
                                            ("finetune", "bilstm-crf")])
def test_exported_forward_matches_the_model(tiny_bert, features, head):
    """The exported network (``ScoreGraph``: encoder, gather, head) gives the model's own scores at
    every real word, with the last layer at word starts only where that applies, and a BiLSTM run
    without packing (``PaddedBiLSTM``) as the packed one. Broken: a BiLSTM whose backward direction
    starts in the padding, or a head left out of the graph."""
    labels = label_set([t for _, ts in TINY_SENTENCES for t in ts])
    tagger = Tagger.from_encoder(tiny_bert, labels, features=features, head=head, max_length=16, stride=4).eval()
    # unequal lengths (padding), a word of several sub-tokens
    batch = collate(tagger.word_encoder.encode([WORDS[:3], ["barrymore", "1980s"] + WORDS[:6], ["x"]]), tagger.pad_id)
    wrapper = ScoreGraph(copy.deepcopy(tagger)).eval()
    # the last layer runs at word starts only where its input is one layer's output
    assert (wrapper.last is not None) == (features == "finetune")
    args = [batch[k] for k in wrapper.inputs]
    with torch.no_grad():
        expected = tagger(batch["input_ids"], batch["attention_mask"], batch["word_starts"], batch["word_mask"],
                          batch["token_type_ids"])
        got = wrapper(*args)
    real = batch["word_mask"]
    assert got.shape == expected.shape == (*real.shape, len(labels))
    assert torch.allclose(got[real], expected[real], atol=1e-5)


@pytest.mark.parametrize("head", ["crf", "bilstm-crf"])
def test_crf_heads_export(tiny_bert, tmp_path, head):
    labels = label_set([t for _, ts in TINY_SENTENCES for t in ts])
    tagger = Tagger.from_encoder(tiny_bert, labels, head=head, max_length=16, stride=4)
    tagger.save(tmp_path / "model")
    tagger = Tagger.load(tmp_path / "model")
    export_onnx(tagger, tmp_path / "onnx")
    for threads in (1, 2):  # 2: batches scored on two worker threads at once
        exported = OnnxScorer.load(tmp_path / "onnx", threads=threads)
        _same_predictions(Predictor(TorchScorer(tagger)).predict(INPUTS), Predictor(exported, batch_size=2).predict(INPUTS))


#: cased inputs for the word-feature exports: capitals, digits, punctuation, a windowed sentence
CASED_INPUTS = [
    "Show me FILMS with Drew Barrymore from the 1980s",
    ["what", "movies", "star", "Bruce", "Willis"],
    "",
    " ".join(w.title() if k % 3 == 0 else w for k, w in enumerate(WORDS * 3)) + " , 3.5 McDonald",
    "films directed by Steven Spielberg in PARIS",
]


@pytest.mark.parametrize("mode, head", [("shape", "linear"), ("chars", "crf"), ("shape+chars", "bilstm-crf")])
def test_word_features_export_tags_like_pytorch(tiny_bert, tmp_path, mode, head):
    """The export takes the word feature ids as inputs, computes the features in the graph, and an
    fp32 export tags exactly like PyTorch."""
    import onnx

    from entitune import TrainConfig, fit
    from entitune.encode import char_vocabulary

    train = [Sentence(tuple(w.title() if t != "O" else w for w, t in zip(ws, ts)), tuple(ts)) for ws, ts in TINY_SENTENCES]
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in train for t in s.tags]), head=head, max_length=16,
                                 stride=4, word_features=mode, char_vocab=char_vocabulary(s.words for s in train))
    fit(tagger, train * 4, None, TrainConfig(epochs=10, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0))
    tagger.save(tmp_path / "model")
    tagger = Tagger.load(tmp_path / "model")
    export_onnx(tagger, tmp_path / "onnx")
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph
    extra = {"shape": ["word_shapes"], "chars": ["word_chars"], "shape+chars": ["word_shapes", "word_chars"]}[mode]
    extra += ["word_mask"] if head == "bilstm-crf" else []  # the BiLSTM reads each sentence's length
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids", "word_starts", *extra]
    exported = load_scorer(tmp_path / "onnx")
    assert exported.word_encoder.features.mode == mode
    reference = Predictor(TorchScorer(tagger, fast=False)).predict(CASED_INPUTS)
    assert sum(len(p.entities) for p in reference) > 0  # real spans are compared
    _same_predictions(reference, Predictor(exported).predict(CASED_INPUTS))
    _same_predictions(reference, Predictor(exported, batch_size=1).predict(CASED_INPUTS))


def test_int8_export_is_rescored_and_tags_every_word(tiny_tagger_dir, tmp_path):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    report = export_and_rescore(tiny_tagger_dir, tmp_path / "int8", sentences, quantize="int8", accept_drop=True)
    assert report["quantize"] == "int8" and report["onnx_words_untagged"] == 0
    assert report["onnx_invalid_sequences"] == 0
    assert json.loads((tmp_path / "int8" / "export.json").read_text())["onnx_entity_f1"] == report["onnx_entity_f1"]
    exported = OnnxScorer.load(tmp_path / "int8")
    assert exported.quantize == "int8"
    out = Predictor(exported).predict(INPUTS)
    assert [len(p.tags) for p in out] == [len(p.words) for p in out]


def _export_with_bias(label: str, bias: float):
    """``export_onnx`` of the model with ``bias`` for ``label`` in its head: a real export whose
    tagging differs from its model's by a known, deterministic change (-1e4: it never says ``label``)."""

    def export(model, out, quantize="none"):
        changed = copy.deepcopy(model)
        with torch.no_grad():
            changed.head.classifier.bias[model.settings.labels.index(label)] = bias
        export_onnx(changed, out, quantize)

    return export


def test_export_refused_when_f1_drops_too_much(tiny_tagger_dir, tmp_path, monkeypatch):
    """With a real drop: an export that never says B-YEAR loses the YEAR entities (the PyTorch model
    tags every entity), its drop of D points is what evaluating the kept export independently gives,
    it is refused under ``max_drop`` D - 1 (nothing left behind) and kept under D + 1 or with
    ``accept_drop``. The other way round, a model that never says B-YEAR, exported with B-YEAR back,
    scores D points higher: kept under ``max_drop`` 0. Broken: the drop measured the wrong way (the
    loss kept, the gain refused), or in fractions instead of points."""
    from entitune.evaluate import evaluate
    from entitune.export import rescore

    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    tagger = Tagger.load(tiny_tagger_dir)
    assert evaluate(tagger, sentences)["entity"]["f1"] == 1.0
    monkeypatch.setattr(rescore, "export_onnx", _export_with_bias("B-YEAR", -1e4))
    report = export_and_rescore(tiny_tagger_dir, tmp_path / "measured", sentences, max_drop=100.0)
    exported_f1 = evaluate(OnnxScorer.load(tmp_path / "measured"), sentences)["entity"]["f1"]
    drop = 100 * (1.0 - exported_f1)
    assert drop > 10  # two YEAR entities of seven lost, at least
    assert report["drop_points"] == pytest.approx(drop, abs=1e-9) and report["onnx_score"] == exported_f1
    refused = f"export refused: entity F1 {exported_f1:.4f} .* a drop of {drop:.2f} points"
    with pytest.raises(ExportError, match=refused):
        export_and_rescore(tiny_tagger_dir, tmp_path / "refused", sentences, max_drop=drop - 1)
    assert not (tmp_path / "refused").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]
    assert export_and_rescore(tiny_tagger_dir, tmp_path / "kept", sentences, max_drop=drop + 1)["accepted"]
    report = export_and_rescore(tiny_tagger_dir, tmp_path / "accepted", sentences, max_drop=0.5, accept_drop=True)
    assert report["accepted"] and (tmp_path / "accepted" / "model.onnx").is_file()
    # the export scores higher than its model: never refused
    year = tagger.labels.index("B-YEAR")
    good = tagger.head.classifier.bias[year].item()
    with torch.no_grad():
        tagger.head.classifier.bias[year] = -1e4
    tagger.save(tmp_path / "no-year")
    monkeypatch.setattr(rescore, "export_onnx", _export_with_bias("B-YEAR", good))
    report = export_and_rescore(tmp_path / "no-year", tmp_path / "better", sentences, max_drop=0.0)
    assert report["accepted"] and report["onnx_score"] == 1.0
    assert report["drop_points"] == pytest.approx(-drop, abs=1e-9)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entitune", *args], capture_output=True, text=True, input=stdin, timeout=300)


def test_cli_export_predict_evaluate(tiny_tagger_dir, tiny_files, tmp_path, monkeypatch):
    _, test = tiny_files
    out = tmp_path / "exp"
    r = _cli("export", str(tiny_tagger_dir), "--onnx", str(out), "--eval", str(test))
    assert r.returncode == 0, r.stderr
    assert "drop 0.00 points" in r.stdout
    r = _cli("predict", str(out), "--backend", "onnx", stdin="show me films with drew barrymore\n")
    assert r.returncode == 0, r.stderr
    torch_out = _cli("predict", str(tiny_tagger_dir), "--backend", "torch", stdin="show me films with drew barrymore\n")
    onnx_answer, torch_answer = json.loads(r.stdout), json.loads(torch_out.stdout)
    assert onnx_answer["tags"] == torch_answer["tags"]
    assert entity_spans(onnx_answer) == entity_spans(torch_answer) == [("drew barrymore", "ACTOR", 19, 33)]
    assert onnx_answer["entities"][0]["score"] == pytest.approx(torch_answer["entities"][0]["score"], abs=1e-4)
    r = _cli("evaluate", str(out), str(test), "--backend", "onnx", "--json", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "e.json").read_text())["words_untagged"] == 0
    # --max-drop in points, on a real drop (an export that never says B-YEAR, run in this process):
    # refused one point under it (exit 2, one clear line, nothing written), kept one point over it
    from entitune.export import rescore
    from tests.helpers.cli import run_main

    monkeypatch.setattr(rescore, "export_onnx", _export_with_bias("B-YEAR", -1e4))
    threads = torch.get_num_threads()
    try:
        code, _, err = run_main(["export", str(tiny_tagger_dir), "--onnx", str(tmp_path / "measured"),
                                 "--eval", str(test), "--max-drop", "100"])
        assert code == 0, err
        drop = json.loads((tmp_path / "measured" / "export.json").read_text())["drop_points"]
        assert drop > 10
        code, printed, err = run_main(["export", str(tiny_tagger_dir), "--onnx", str(tmp_path / "no"),
                                       "--eval", str(test), "--max-drop", str(round(drop - 1, 3))])
        assert code == 2 and "Traceback" not in err and printed == ""
        assert err.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'no'}: export refused: entity F1 ")
        assert not (tmp_path / "no").exists()
        allowance = round(drop + 1, 3)
        code, printed, err = run_main(["export", str(tiny_tagger_dir), "--onnx", str(tmp_path / "yes"),
                                       "--eval", str(test), "--max-drop", str(allowance)])
        assert code == 0, err
        assert f"drop {drop:.2f} points (max {allowance})" in printed and (tmp_path / "yes" / "model.onnx").is_file()
    finally:
        torch.set_num_threads(threads)
    # a torch model directory is not an ONNX export
    r = _cli("predict", str(tiny_tagger_dir), "--backend", "onnx", stdin="films\n")
    assert r.returncode == 2 and "not an ONNX export" in r.stderr
