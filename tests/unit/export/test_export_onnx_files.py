"""What ``export_onnx`` writes, on the tiny untrained models: ``model.onnx`` (fused unless
``optimize`` is off), a tagger's ``decoder.json`` (its head's decoding rule, a CRF's learned
transitions included), ``entitune.json`` (the settings, ``backend`` ``onnx`` and the quantization),
``config.json`` with the labels, the tokenizer; nothing for a classifier's decoding. The model
exported is left as it was, and a bad ``quantize`` is refused before anything is written."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnxruntime")

import onnx

from entitune import Classifier, Tagger
from entitune.errors import ConfigError
from entitune.export import export_onnx
from entitune.tags import label_set
from tests.helpers.data import TINY_SENTENCES

LABELS = label_set([t for _, ts in TINY_SENTENCES for t in ts])


def _ops(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_a_tagger_export_holds_its_decoder_settings_and_labels(tiny_bert, tmp_path):
    """Broken: ``decoder.json`` missing or not the head's rule (a CRF's transitions lost),
    ``entitune.json`` without ``backend``/``quantize``, the tagger changed by its export (its last
    layer taken for the graph, its mode switched)."""
    torch.manual_seed(0)
    tagger = Tagger.from_encoder(tiny_bert, LABELS, head="crf", max_length=16, stride=4)
    with torch.no_grad():
        tagger.head.transitions.uniform_(
            -1, 1
        )  # learned transitions, not the initial ones
    before = {k: v.clone() for k, v in tagger.state_dict().items()}
    layers = len(tagger.encoder.encoder.layer)
    tagger.train()
    out = export_onnx(tagger, tmp_path / "onnx")
    assert out == tmp_path / "onnx"
    decoder = json.loads((out / "decoder.json").read_text(encoding="utf-8"))
    assert decoder == json.loads(
        json.dumps(tagger.head.tag_decoder().to_dict(tagger.settings.labels))
    )
    assert decoder["kind"] == "crf" and decoder["labels"] == list(LABELS)
    settings = json.loads((out / "entitune.json").read_text())
    assert (settings["backend"], settings["quantize"], settings["task"]) == (
        "onnx",
        "none",
        "ner",
    )
    assert settings["labels"] == list(LABELS)
    config = json.loads((out / "config.json").read_text())
    assert list(config["id2label"].values()) == list(LABELS)
    assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()
    assert "Attention" in _ops(out / "model.onnx")  # fused by default
    # the model exported is untouched
    assert tagger.training and len(tagger.encoder.encoder.layer) == layers
    assert all(torch.equal(v, before[k]) for k, v in tagger.state_dict().items())


def test_a_classifier_export_has_no_tag_decoder(tiny_bert, tmp_path):
    model = Classifier.from_encoder(tiny_bert, ["a", "b"], max_length=16, stride=4)
    out = export_onnx(model, tmp_path / "onnx", quantize="int8")
    assert not (out / "decoder.json").exists()
    settings = json.loads((out / "entitune.json").read_text())
    assert (settings["backend"], settings["quantize"], settings["task"]) == (
        "onnx",
        "int8",
        "classify",
    )
    assert "MatMulInteger" in _ops(out / "model.onnx")


def test_without_optimize_the_graph_is_not_fused(tiny_bert, tmp_path):
    tagger = Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4)
    ops = _ops(export_onnx(tagger, tmp_path / "onnx", optimize=False) / "model.onnx")
    assert not ops & {"Attention", "BiasGelu", "FastGelu", "EmbedLayerNormalization"}
    assert "MatMul" in ops


def test_an_unknown_quantization_is_refused_before_anything_is_written(
    tiny_bert, tmp_path
):
    tagger = Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4)
    with pytest.raises(ConfigError) as refused:
        export_onnx(tagger, tmp_path / "onnx", quantize="int4")
    assert str(refused.value) == "quantize must be one of none, int8, got 'int4'"
    assert not (tmp_path / "onnx").exists()
