"""ONNX export (fp32 or int8) and ``OnnxTagger``, which runs an export through the same ``Predictor``.

The exported graph is the encoder plus the gather of each word's first sub-token::

    input_ids, attention_mask, token_type_ids (batch, seq), word_starts (batch, words)
        -> word_vectors (batch, words, hidden')

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
and refuses one that loses more than ``max_drop`` entity F1.

``OnnxTagger`` runs each batch on one onnxruntime thread (no spinning) and lets ``Predictor`` run
``threads`` batches at once: for BERT-sized batches on a few cores that beats spreading one run
over all threads, which then wait on each other between small operators.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import ConfigError, EntituneError
from .fastbert import attend, key_mask
from .model import SETTINGS_FILE, LabelsAndPadding, Tagger, TaggerSettings, build_tagging_head, load_tokenizer, read_settings
from .types import Sentence

ONNX_FILE = "model.onnx"
HEAD_FILE = "head.safetensors"
REPORT_FILE = "export.json"
QUANTIZATIONS = ("none", "int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "word_starts")
# model types whose graphs onnxruntime's transformer optimizer knows how to fuse
_FUSABLE = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}


#: onnxruntime graph fusions that make CPU inference slower: SkipLayerNormalization's CPU kernel
#: took 22% of an int8 MiniLM's time where Add + LayerNormalization take 4% (onnxruntime 1.32)
_SLOW_FUSIONS = ["SkipLayerNormFusion"]

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


class ExportError(EntituneError):
    """An export that failed its re-scoring (too large an F1 drop) or could not be written."""


class _LastLayerAtWords(nn.Module):
    """A BERT-style encoder's last layer (``BertLayer`` in eval mode), computed only where the head
    reads it: keys and values from every sub-token, the query and everything after attention only
    at each word's first sub-token. The same arithmetic as ``transformers`` at those rows; the rows
    skipped ([CLS], [SEP], later sub-tokens, padding) are about a sixth of MIT Movie's."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    @staticmethod
    def fits(encoder: nn.Module) -> bool:
        """True for an encoder whose layers are ``BertLayer``-shaped with absolute positions."""
        config = encoder.config
        layers = getattr(getattr(encoder, "encoder", None), "layer", None)
        if (not isinstance(layers, nn.ModuleList) or len(layers) < 2 or getattr(config, "is_decoder", False)
                or getattr(config, "position_embedding_type", "absolute") != "absolute"):
            return False
        last = layers[-1]
        names = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate", "output.dense", "output.LayerNorm")
        modules = dict(last.named_modules())
        return all(n in modules for n in names) and hasattr(last.attention.self, "attention_head_size")

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) input of the last layer, (batch, seq) 0/1 mask and (batch, words)
        word starts -> (batch, words, hidden) word vectors."""
        attention, heads = self.layer.attention, self.layer.attention.self
        batch, seq, size = hidden.shape
        head_dim = heads.attention_head_size
        # shape: (batch, words, hidden)
        x = hidden.gather(1, word_starts.unsqueeze(-1).expand(-1, -1, size))
        # shape: (batch, heads, words or seq, head_dim)
        q = heads.query(x).view(batch, -1, size // head_dim, head_dim).transpose(1, 2)
        k = heads.key(hidden).view(batch, seq, -1, head_dim).transpose(1, 2)
        v = heads.value(hidden).view(batch, seq, -1, head_dim).transpose(1, 2)
        mask = key_mask(attention_mask, hidden.dtype)  # shape: (batch, 1, 1, seq)
        context = attend(q, k, v, mask, head_dim**-0.5).transpose(1, 2).reshape(batch, -1, size)
        x = attention.output.LayerNorm(attention.output.dense(context) + x)
        return self.layer.output.LayerNorm(self.layer.output.dense(self.layer.intermediate(x)) + x)


class _WordVectors(nn.Module):
    """The exported part of a ``Tagger``: sub-token inputs -> first-sub-token word vectors.

    Where it can (fine-tuned BERT-style encoders) the last layer runs only at word starts
    (``_LastLayerAtWords``); the earlier layers stay ``transformers``' own, which onnxruntime's
    optimizer knows how to fuse. ``tagger`` must be a copy: its encoder loses its last layer here.
    """

    def __init__(self, tagger: Tagger) -> None:
        super().__init__()
        self.tagger = tagger
        self.last = None
        if not tagger.frozen and _LastLayerAtWords.fits(tagger.encoder):
            layers = tagger.encoder.encoder.layer
            self.last = _LastLayerAtWords(layers[-1])
            tagger.encoder.encoder.layer = nn.ModuleList(list(layers)[:-1])

    def forward(self, input_ids, attention_mask, token_type_ids, word_starts):  # noqa: D102
        if self.last is None:
            return self.tagger.encode_words(input_ids, attention_mask, word_starts, token_type_ids)
        hidden = self.tagger.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                     **self.tagger.encoder_kwargs(token_type_ids)).last_hidden_state
        return self.last(hidden, attention_mask, word_starts)


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export and the onnx backend need onnx and onnxruntime ({exc}); "
                          "pip install 'entitune[onnx]'") from None


def export_onnx(tagger: Tagger, out_dir: str | Path, quantize: str = "none", optimize: bool = True) -> Path:
    """Write ``tagger`` as an ONNX model directory that ``OnnxTagger.load`` reads.

    The directory holds ``model.onnx``, ``head.safetensors``, ``entitune.json``, ``config.json``
    and the tokenizer files.

    Args:
        tagger: a trained model (not changed).
        out_dir: directory to write (created).
        quantize: ``"none"`` (fp32) or ``"int8"`` (dynamic int8 MatMuls).
        optimize: fuse attention/LayerNorm/GELU with onnxruntime's transformer optimizer where the
            encoder is BERT-like.
    """
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    _require_onnx()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # export a CPU copy with eager attention: the traced SDPA path of some encoders is not exact
    model = copy.deepcopy(tagger).to("cpu").eval()
    model.fast_inference = False  # export the transformers forward, not the oneDNN fast path
    with contextlib.suppress(AttributeError, ValueError):
        model.encoder.set_attn_implementation("eager")
    wrapper = _WordVectors(model).eval()
    sample = model.word_encoder.encode([["entitune", "exports", "this"], ["x"]])
    from .encode import collate

    batch = collate(sample, model.pad_id)
    args = tuple(batch[name] for name in INPUTS)
    axes = {name: {0: "batch", 1: "seq"} for name in INPUTS[:3]}
    axes["word_starts"] = {0: "batch", 1: "words"}
    axes["word_vectors"] = {0: "batch", 1: "words"}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, args, str(raw), input_names=list(INPUTS), output_names=["word_vectors"],
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
            # call with onnxruntime 1.32): keep them apart (OnnxTagger.load keeps onnxruntime from
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
        shutil.copyfile(current, out / ONNX_FILE)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}, str(out / HEAD_FILE))
    config = copy.deepcopy(model.encoder.config)
    config.id2label = dict(enumerate(model.labels))
    config.label2id = {label: i for i, label in enumerate(model.labels)}
    config.architectures = None
    config.save_pretrained(str(out))
    model.tokenizer.save_pretrained(str(out))
    settings = {**asdict(model.settings), "backend": "onnx", "quantize": quantize}
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    return out


class OnnxTagger(LabelsAndPadding):
    """An exported model with the interface ``Predictor`` uses (``score_windows``, ``head``,
    ``word_encoder``, ``labels``, ``settings``, ``pad_id``).

    Build with ``OnnxTagger.load(directory, threads=N)``. ``streams``: how many batches
    ``Predictor`` may score at once (the session runs each on one thread).
    """

    training = False

    def __init__(self, session, tokenizer, settings: TaggerSettings, head: nn.Module, quantize: str,
                 streams: int = 1) -> None:
        from .encode import WordEncoder

        self.streams = streams
        self.session = session
        self.tokenizer = tokenizer
        self.settings = settings
        self.head = head.eval()
        self.quantize = quantize
        self.word_encoder = WordEncoder(tokenizer, settings.max_length, settings.stride)
        self._inputs = [i.name for i in session.get_inputs()]

    def eval(self) -> "OnnxTagger":
        return self

    def train(self, mode: bool = True) -> "OnnxTagger":  # inference only; kept for Predictor
        return self

    @torch.inference_mode()
    def score_windows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a collated batch of windows: (batch, words, labels) float32."""
        feeds = {name: batch[name].numpy() for name in self._inputs}
        # shape: (batch, words, hidden')
        vectors = torch.from_numpy(self.session.run(None, feeds)[0])
        return self.head(vectors, batch["word_mask"]).float()

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None) -> "OnnxTagger":
        """Load a directory written by ``export_onnx``; ``threads``: how many batches run at once,
        each on one onnxruntime thread (default: torch's thread count)."""
        _require_onnx()
        import onnxruntime as ort
        from transformers import AutoConfig

        path = Path(directory)
        for name in (ONNX_FILE, HEAD_FILE, SETTINGS_FILE, "config.json"):
            if not (path / name).is_file():
                raise ConfigError(f"{path}: not an ONNX export of entitune (no {name}); make one with 'entitune export'")
        settings, extra = read_settings(path)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        head, _ = build_tagging_head(settings, config)
        try:
            head.load_state_dict(load_file(str(path / HEAD_FILE)), strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"{path}: head weights do not match head {settings.head!r} ({exc})") from None
        options = ort.SessionOptions()
        # one thread per run and ``streams`` runs at once (Predictor maps batches over them): for
        # BERT-sized batches this beats one run over all threads, which waits on its threads
        # between small operators
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path / ONNX_FILE), options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=_SLOW_FUSIONS)
        return cls(session, load_tokenizer(path, config.model_type), settings, head, extra.get("quantize", "none"),
                   streams=max(1, threads or torch.get_num_threads()))


def is_onnx_export(directory: str | Path) -> bool:
    """True when ``directory`` holds an ONNX export (``model.onnx``)."""
    return (Path(directory) / ONNX_FILE).is_file()


def export_and_rescore(
    model_dir: str | Path,
    out_dir: str | Path,
    sentences: Sequence[Sentence] | None,
    quantize: str = "none",
    max_drop: float = 0.5,
    accept_drop: bool = False,
    batch_size: int = 64,
) -> dict:
    """Export a saved model, score both on ``sentences`` and keep the export only if its entity F1
    is at most ``max_drop`` points (of 100) below the PyTorch model's, or ``accept_drop``.

    The report (both F1s, the drop, sizes, times) is returned and written to ``export.json`` in
    the export. An export that fails the check is deleted and ``ExportError`` says why.
    """
    from .evaluate import evaluate

    tagger = Tagger.load(model_dir)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not is_onnx_export(out):
        raise ConfigError(f"{out}: exists and is not an entitune ONNX export; choose an empty or new directory")
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        export_onnx(tagger, staging, quantize)
        report: dict = {"model": str(model_dir), "quantize": quantize, "export_seconds": round(time.perf_counter() - t0, 2),
                        "onnx_bytes": (staging / ONNX_FILE).stat().st_size, "max_drop_points": max_drop}
        if sentences:
            exported = OnnxTagger.load(staging)
            torch_report = evaluate(tagger, sentences, batch_size)
            onnx_report = evaluate(exported, sentences, batch_size)
            drop = 100 * (torch_report["entity"]["f1"] - onnx_report["entity"]["f1"])
            report.update({
                "eval_sentences": len(sentences),
                "torch_entity_f1": torch_report["entity"]["f1"], "onnx_entity_f1": onnx_report["entity"]["f1"],
                "drop_points": drop, "torch_token_micro_f1": torch_report["token_micro_f1"],
                "onnx_token_micro_f1": onnx_report["token_micro_f1"],
                "onnx_invalid_sequences": onnx_report["invalid_sequences"],
                "onnx_words_untagged": onnx_report["words_untagged"],
            })
            report["accepted"] = drop <= max_drop or accept_drop
            if not report["accepted"]:
                raise ExportError(
                    f"{out}: export refused: entity F1 {onnx_report['entity']['f1']:.4f} ({quantize}) vs "
                    f"{torch_report['entity']['f1']:.4f} (PyTorch), a drop of {drop:.2f} points > {max_drop}; "
                    "nothing written (--accept-drop keeps it anyway)")
        else:
            report["accepted"] = True
            report["note"] = "not re-scored: no --eval file given"
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        return report
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
