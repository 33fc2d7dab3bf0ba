"""ONNX export (fp32 or int8) of a ``Tagger``; ``backends.OnnxScorer`` runs it through the same ``Predictor``.

The exported graph is the encoder plus the gather of each word's first sub-token::

    input_ids, attention_mask, token_type_ids (batch, seq), word_starts (batch, words)
    [, word_shapes (batch, words)] [, word_chars (batch, words, chars)]
        -> word_vectors (batch, words, hidden' [+ word features])

A tagger with word features (``--word-features``) takes their ids as extra inputs, and its
``WordFeatureNet`` (shape embedding, character CNN) is part of the graph: its vectors come out
concatenated to the encoder's, as the head reads them; ``OnnxScorer`` feeds whatever inputs the graph
names from the collated batch.

That is where the time goes. For BERT-style encoders the last layer runs only at the word starts
(keys and values still from every sub-token): the head reads nothing else, and the rows skipped are
[CLS], [SEP], later sub-tokens and padding. The head (linear, CRF or BiLSTM-CRF) stays in PyTorch,
loaded from ``head.safetensors``: it is small, the BiLSTM's packed sequences do not export cleanly,
and keeping it means the exported model decodes with exactly the code of the PyTorch model
(constrained Viterbi, CRF marginals), so the two can only differ by the encoder's numerics.

For BERT-family encoders the fp32 graph is first fused by onnxruntime's transformer optimizer
(attention, LayerNorm, GELU; not the residual Add into SkipLayerNormalization, whose CPU kernel is
slower than the two ops it replaces), then, with ``quantize="int8"``, the MatMul weights are quantized
per channel to int8 with dynamic (per-batch) activation scales (``quantize_dynamic``) and GELU takes
its tanh approximation (``FastGelu``; fp32 exports keep the exact erf GELU). Quantization can cost
accuracy, so ``export_and_rescore`` scores the export against the PyTorch model on an annotated file
and refuses one that loses more than ``max_drop`` entity F1 (``export.rescore``).
"""
from __future__ import annotations

import contextlib
import copy
import io
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

QUANTIZATIONS = ("none", "int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "word_starts")
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


class WordVectorGraph(nn.Module):
    """The exported part of a model: sub-token inputs -> the vectors at the gathered positions (each
    word's first sub-token for a tagger; [CLS] or every token for a classifier).

    Where it can (fine-tuned BERT-style encoders) the last layer runs only at word starts
    (``LastLayerAtWords``); the earlier layers stay ``transformers``' own, which onnxruntime's
    optimizer knows how to fuse. ``tagger`` must be a copy: its encoder loses its last layer here.
    """

    def __init__(self, tagger: EncoderModel) -> None:
        super().__init__()
        self.tagger = tagger
        self.last = None
        if not tagger.frozen and LastLayerAtWords.fits(tagger.encoder):
            layers = tagger.encoder.encoder.layer
            self.last = LastLayerAtWords(layers[-1])
            tagger.encoder.encoder.layer = nn.ModuleList(list(layers)[:-1])

    @property
    def inputs(self) -> tuple[str, ...]:
        """The graph's inputs, in order: ``INPUTS`` and the word feature ids the model reads."""
        net = self.tagger.word_feature_net
        return INPUTS + (net.inputs if net is not None else ())

    def forward(self, input_ids, attention_mask, token_type_ids, word_starts, *word_features):  # noqa: D102
        if self.last is None:
            vectors = self.tagger.encode_words(input_ids, attention_mask, word_starts, token_type_ids)
        else:
            hidden = self.tagger.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                         **self.tagger.encoder_kwargs(token_type_ids)).last_hidden_state
            vectors = self.last(hidden, attention_mask, word_starts)
        return self.tagger.add_word_features(vectors, dict(zip(self.inputs[len(INPUTS):], word_features)))


def export_onnx(tagger: EncoderModel, out_dir: str | Path, quantize: str = "none", optimize: bool = True) -> Path:
    """Write ``tagger`` as an ONNX model directory that ``backends.OnnxScorer.load`` reads.

    The directory holds ``model.onnx``, ``head.safetensors``, ``entitune.json``, ``config.json``
    and the tokenizer files.

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
    wrapper = WordVectorGraph(model).eval()
    sample = model.word_encoder.encode([["Entitune", "exports", "this"], ["x"]])
    batch = collate(sample, model.pad_id)
    inputs = wrapper.inputs
    args = tuple(batch[name] for name in inputs)
    axes = {name: {0: "batch", 1: "seq"} for name in INPUTS[:3]}
    for name in ("word_starts", "word_shapes", "word_vectors"):
        axes[name] = {0: "batch", 1: "words"}
    axes["word_chars"] = {0: "batch", 1: "words", 2: "chars"}
    axes = {name: axis for name, axis in axes.items() if name in (*inputs, "word_vectors")}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, args, str(raw), input_names=list(inputs), output_names=["word_vectors"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        current = raw
        model_type = _FUSABLE.get(model.encoder.config.model_type)
        if optimize and model_type:
            from onnxruntime.transformers import optimizer
            from onnxruntime.transformers.fusion_options import FusionOptions

            fused = Path(tmp) / "fused.onnx"
            config = model.encoder.config
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
            current = fused
        if quantize == "int8":
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantized = Path(tmp) / "int8.onnx"
            # fused (com.microsoft) nodes defeat ONNX shape inference: their outputs are float
            with contextlib.redirect_stdout(io.StringIO()), _quiet_logging():
                quantize_dynamic(str(current), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=QUANTIZED_OPS,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            current = quantized
        shutil.copyfile(current, out / model_dir.ONNX_FILE)
    model_dir.save_safetensors(model.head.state_dict(), out / model_dir.HEAD_FILE)
    model_dir.write_model_files(out, model.settings, model.encoder.config, model.tokenizer,
                                extra={"backend": "onnx", "quantize": quantize}, config_extra=model.hf_config_extra())
    return out


