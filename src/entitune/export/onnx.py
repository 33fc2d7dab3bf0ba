"""ONNX export (fp32 or int8) of a ``Tagger`` or ``Classifier``: the whole network, head included;
``backends.OnnxScorer`` runs it through the same ``Predictor`` without torch.

The exported graph is the encoder, the gather of each word's first sub-token and the head::

    input_ids, attention_mask, token_type_ids (batch, seq), word_starts (batch, words)
    [, word_shapes (batch, words)] [, word_chars (batch, words, chars)] [, word_mask (batch, words)]
        -> scores (batch, words, labels)      a tagger: the head's emission scores at each word
           scores (batch, labels)             a classifier: each window's class scores

A tagger with word features (``--word-features``) takes their ids as extra inputs, and its
``WordFeatureNet`` (shape embedding, character CNN) is part of the graph; ``word_mask`` is an input
only where the head reads it (a BiLSTM, mean pooling). ``OnnxScorer`` feeds whatever inputs the
graph names from the padded batch.

What turns a tagger's scores into tags is data, not network: ``decoder.json`` beside the graph holds
the head's ``decoding.TagDecoder`` (softmax or CRF, the scheme's allowed transitions, a CRF's learned
transition scores), and the runtime decodes with the numpy code the PyTorch model decodes with (the
constrained Viterbi, CRF marginals). A BiLSTM-CRF's LSTM runs in the graph without packed sequences
(``PaddedBiLSTM``: the backward direction reads each sequence reversed within its length, so padding
never reaches a real word), which the ONNX exporter cannot trace; the PyTorch model keeps packing.
So an export and its PyTorch model differ only by the numerics of the network.

For BERT-style encoders the last layer runs only at the word starts (keys and values still from
every sub-token): the head reads nothing else, and the rows skipped are [CLS], [SEP], later
sub-tokens and padding.

For BERT-family encoders the fp32 graph is first fused by onnxruntime's transformer optimizer
(attention, LayerNorm, GELU; not the residual Add into SkipLayerNormalization, whose CPU kernel is
slower than the two ops it replaces), then, with ``quantize="int8"``, the encoder's MatMul weights are
quantized per channel to int8 with dynamic (per-batch) activation scales (``quantize_dynamic``) and
GELU takes its tanh approximation (``FastGelu``; fp32 exports keep the exact erf GELU). The head's
layers stay float32 (they are small, and the old export ran them in float32 PyTorch). Quantization can
cost accuracy, so ``export_and_rescore`` scores the export against the PyTorch model on an annotated
file and refuses one that loses more than ``max_drop`` (``export.rescore``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..backends.onnx import require_onnx
from ..encode import collate
from ..errors import check_choice
from ..artifact import model_dir
from ..model.bert import bert_layers, last_layer_at
from ..model.encoder_model import EncoderModel
from ..model.heads import ClassificationHead, CRFHead

QUANTIZATIONS = ("none", "int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "word_starts")
#: the graph's output (``backends.onnx.SCORES``)
OUTPUT = "scores"
#: the graph's nodes of the head (its module's name in ``ScoreGraph``): int8 export leaves them float32
HEAD_SCOPE = "/head/"
# model types whose graphs onnxruntime's transformer optimizer knows how to fuse
_FUSABLE = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}


#: node types whose weights int8 export quantizes (fused attention's QKV projection included)
QUANTIZED_OPS = ["MatMul", "Attention"]


@contextlib.contextmanager
def _quiet_logging():
    """onnxruntime's optimizer and quantizer log advice through the root logger; keep it off stderr."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


class LastLayerAtWords(nn.Module):
    """A BERT-style encoder's last layer (``BertLayer`` in eval mode), computed only where the head
    reads it: keys and values from every sub-token, the query and everything after attention only
    at each word's first sub-token. The same arithmetic as ``transformers`` at those rows; the rows
    skipped ([CLS], [SEP], later sub-tokens, padding) are about a sixth of MIT Movie's."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    @staticmethod
    def fits(encoder: nn.Module) -> bool:
        """True for an encoder of two or more BERT-shaped layers (``model.bert.bert_layers``)."""
        layers = bert_layers(encoder)
        return layers is not None and len(layers) >= 2

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) input of the last layer, (batch, seq) 0/1 mask and (batch, words)
        word starts -> (batch, words, hidden) word vectors (``model.bert.last_layer_at``)."""
        return last_layer_at(self.layer, hidden, attention_mask, word_starts)


class PaddedBiLSTM(nn.Module):
    """A bidirectional single-layer ``nn.LSTM`` (``batch_first``) over right-padded sequences, without
    packing: the forward direction reads each row as it is (padding comes after the real words), the
    backward direction reads each row reversed within its length, so it starts at the last real
    word. At real words the outputs are the packed LSTM's (``CRFHead.forward``); at padding they are
    not used. Built from the trained LSTM's weights; what the ONNX exporter can trace.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if not (lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1):
            raise ValueError("PaddedBiLSTM takes a one-layer, batch_first, bidirectional LSTM")
        self.hidden = lstm.hidden_size
        self.forward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(self.forward_lstm, name).data.copy_(getattr(lstm, name).data)
            getattr(self.backward_lstm, name).data.copy_(getattr(lstm, f"{name}_reverse").data)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, words, input) vectors and their (batch, words) mask -> (batch, words, 2 * hidden)."""
        # shape: (batch, 1) lengths and (1, words) positions -> (batch, words) reading order
        lengths = mask.long().sum(1, keepdim=True)
        positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        order = torch.where(positions < lengths, lengths - 1 - positions, positions)
        forward, _ = self.forward_lstm(x)
        reversed_x = x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        backward, _ = self.backward_lstm(reversed_x)
        # the reversal within each length is its own inverse
        backward = backward.gather(1, order.unsqueeze(-1).expand(-1, -1, self.hidden))
        return torch.cat([forward, backward], dim=-1)


class ExportedHead(nn.Module):
    """A model's head as the graph computes it (eval mode, no dropout): word vectors -> scores. The
    linear and CRF heads' emission layer, a BiLSTM-CRF's through ``PaddedBiLSTM``, or a classifier's
    pooling head. ``reads_mask``: whether ``word_mask`` is a graph input."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.classify = isinstance(head, ClassificationHead)
        self.head = head
        self.lstm = PaddedBiLSTM(head.lstm) if isinstance(head, CRFHead) and head.lstm is not None else None
        self.reads_mask = self.lstm is not None or (self.classify and head.pooling == "mean")

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.classify:
            return self.head(vectors, mask)
        if self.lstm is not None:
            vectors = self.lstm(vectors, mask)
        return self.head.classifier(vectors)


class ScoreGraph(nn.Module):
    """The exported network: sub-token inputs -> label scores (each word's for a tagger, each
    window's for a classifier), gathered at each word's first sub-token ([CLS] or every token for a
    classifier).

    Where it can (fine-tuned BERT-style encoders) the last layer runs only at word starts
    (``LastLayerAtWords``); the earlier layers stay ``transformers``' own, which onnxruntime's
    optimizer knows how to fuse. ``model`` must be a copy: its encoder loses its last layer here.
    """

    def __init__(self, model: EncoderModel) -> None:
        super().__init__()
        self.model = model
        self.last = None
        if not model.frozen and LastLayerAtWords.fits(model.encoder):
            layers = model.encoder.encoder.layer
            self.last = LastLayerAtWords(layers[-1])
            model.encoder.encoder.layer = nn.ModuleList(list(layers)[:-1])
        self.head = ExportedHead(model.head)  # named ``head``: its nodes are HEAD_SCOPE's

    @property
    def inputs(self) -> tuple[str, ...]:
        """The graph's inputs, in order: ``INPUTS``, the word feature ids the model reads, and
        ``word_mask`` where the head reads it."""
        net = self.model.word_feature_net
        return INPUTS + (net.inputs if net is not None else ()) + (("word_mask",) if self.head.reads_mask else ())

    def forward(self, input_ids, attention_mask, token_type_ids, word_starts, *rest):  # noqa: D102
        named = dict(zip(self.inputs[len(INPUTS):], rest))
        if self.last is None:
            vectors = self.model.encode_words(input_ids, attention_mask, word_starts, token_type_ids)
        else:
            hidden = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                        **self.model.encoder_kwargs(token_type_ids)).last_hidden_state
            vectors = self.last(hidden, attention_mask, word_starts)
        vectors = self.model.add_word_features(vectors, named)
        return self.head(vectors, named.get("word_mask"))


def export_onnx(tagger: EncoderModel, out_dir: str | Path, quantize: str = "none", optimize: bool = True) -> Path:
    """Write ``tagger`` (a ``Tagger`` or a ``Classifier``) as an ONNX model directory that
    ``backends.OnnxScorer.load`` reads.

    The directory holds ``model.onnx`` (the network, head included: ``ScoreGraph``),
    ``decoder.json`` (a tagger's ``decoding.TagDecoder``), ``entitune.json``, ``config.json`` and the
    tokenizer files.

    Args:
        tagger: a trained model (not changed).
        out_dir: directory to write (created).
        quantize: ``"none"`` (fp32) or ``"int8"`` (dynamic int8 MatMuls).
        optimize: fuse attention/LayerNorm/GELU with onnxruntime's transformer optimizer where the
            encoder is BERT-like.
    """
    check_choice("quantize", quantize, QUANTIZATIONS)
    require_onnx()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # export a CPU copy with eager attention: the traced SDPA path of some encoders is not exact
    model = copy.deepcopy(tagger).to("cpu").eval()
    with contextlib.suppress(AttributeError, ValueError):
        model.encoder.set_attn_implementation("eager")
    wrapper = ScoreGraph(model).eval()
    sample = model.word_encoder.encode([["Entitune", "exports", "this"], ["x"]])
    batch = collate(sample, model.pad_id)
    with tempfile.TemporaryDirectory() as tmp:
        current = _trace(wrapper, batch, model.task, Path(tmp) / "raw.onnx")
        model_type = _FUSABLE.get(model.encoder.config.model_type)
        if optimize and model_type:
            current = _fuse(current, model.encoder.config, model_type, quantize, Path(tmp) / "fused.onnx")
        if quantize == "int8":
            current = _quantize(current, Path(tmp) / "int8.onnx")
        shutil.copyfile(current, out / model_dir.ONNX_FILE)
    if model.task == "ner":
        decoder = model.head.tag_decoder().to_dict(model.settings.labels)
        (out / model_dir.DECODER_FILE).write_text(json.dumps(decoder) + "\n", encoding="utf-8")
    model_dir.write_model_files(out, model.settings, model.encoder.config, model.tokenizer,
                                extra={"backend": "onnx", "quantize": quantize}, config_extra=model.hf_config_extra())
    return out


def _trace(wrapper: "ScoreGraph", batch: dict, task: str, raw: Path) -> Path:
    """``wrapper`` traced to ONNX at ``raw``, batch and length axes dynamic."""
    inputs = wrapper.inputs
    args = tuple(batch[name] for name in inputs)
    axes = {name: {0: "batch", 1: "seq"} for name in INPUTS[:3]}
    for name in ("word_starts", "word_shapes", "word_mask"):
        axes[name] = {0: "batch", 1: "words"}
    axes["word_chars"] = {0: "batch", 1: "words", 2: "chars"}
    axes = {name: axis for name, axis in axes.items() if name in inputs}
    axes[OUTPUT] = {0: "batch"} if task == "classify" else {0: "batch", 1: "words"}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, args, str(raw), input_names=list(inputs), output_names=[OUTPUT],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return raw


def _fuse(current: Path, config, model_type: str, quantize: str, fused: Path) -> Path:
    """Attention, LayerNorm and GELU fused by onnxruntime's transformer optimizer, written to ``fused``."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    fusion = FusionOptions(model_type)
    # residual Add + LayerNormalization beat the fused SkipLayerNormalization on CPU (6x per
    # call with onnxruntime 1.32): keep them apart (OnnxScorer.load keeps onnxruntime from
    # fusing them back)
    fusion.enable_skip_layer_norm = False
    fusion.enable_bias_skip_layer_norm = False
    # int8: GELU by its tanh form (FastGelu, a third faster here); it moves activations by
    # under 5e-4, far less than int8 rounding does, and the export is re-scored anyway
    fusion.enable_gelu_approximation = quantize == "int8"
    with contextlib.redirect_stdout(io.StringIO()), _quiet_logging():
        optimized = optimizer.optimize_model(str(current), model_type=model_type,
                                             num_heads=config.num_attention_heads,
                                             hidden_size=config.hidden_size, opt_level=1,
                                             optimization_options=fusion)
        optimized.save_model_to_file(str(fused))
    return fused


def _quantize(current: Path, quantized: Path) -> Path:
    """Dynamic int8 MatMuls (per channel), the head's nodes left in fp32, written to ``quantized``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    head_nodes = [node.name for node in onnx.load(str(current), load_external_data=False).graph.node
                  if node.name.startswith(HEAD_SCOPE)]
    # fused (com.microsoft) nodes defeat ONNX shape inference: their outputs are float
    with contextlib.redirect_stdout(io.StringIO()), _quiet_logging():
        quantize_dynamic(str(current), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=head_nodes,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return quantized


