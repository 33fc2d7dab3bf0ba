"""``OnnxScorer``: an ``entitune export`` directory run by onnxruntime, as a ``Scorer``.

The export's graph is the whole network, head included: it returns each word's label scores (a
tagger's emissions) or each window's class scores (a classifier), see ``export.onnx``. A tagger's
scores are decoded by the ``decoding.TagDecoder`` in ``decoder.json`` (the scheme's constraints, a
CRF's transitions), the numpy code the PyTorch model decodes with too. Loading an export reads its
files with ``artifact.layout`` and its tokenizer with ``tokenizers`` alone, so this backend needs
numpy, tokenizers and onnxruntime, never torch or transformers (the ``entitune[runtime]`` install;
an import-linter contract in pyproject.toml keeps it so).

Each batch runs on one onnxruntime thread (no spinning), and ``streams`` batches may run at once on
``Predictor``'s worker threads: for BERT-sized batches on a few cores that beats spreading one run
over all threads, which then wait on each other between small operators.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..artifact import layout
from ..artifact.settings import ClassifierSettings, TaggerSettings
from ..artifact.tokenizer import load_tokenizer_file
from ..decoding import TagDecoder
from ..encode import build_word_encoder
from ..errors import ConfigError, not_a_model
from ..predict.scorer import HeadScorer

#: onnxruntime graph fusions that make CPU inference slower: SkipLayerNormalization's CPU kernel
#: took 22% of an int8 MiniLM's time where Add + LayerNormalization take 4% (onnxruntime 1.32)
SLOW_FUSIONS = ["SkipLayerNormFusion"]
#: the graph's output: label scores per word (tagger) or per window (classifier)
SCORES = "scores"
#: what to install to run an export
RUNTIME_INSTALL = "pip install 'entitune[runtime]'"


def require_onnx() -> None:
    """Raise ``ConfigError`` with the install command when onnx or onnxruntime (what exporting
    needs) is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs onnx and onnxruntime ({exc}); pip install 'entitune[onnx]'") from None


def require_onnxruntime() -> None:
    """Raise ``ConfigError`` with the install command when onnxruntime (what running an export
    needs) is missing."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"running an ONNX export needs onnxruntime ({exc}); {RUNTIME_INSTALL}") from None


def default_streams() -> int:
    """How many batches an export scores at once by default: ``OMP_NUM_THREADS`` where set, else
    the CPUs this process may run on."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def open_session(file: str | Path, threads: int = 1, profile_prefix: str | None = None):
    """An onnxruntime CPU session on ``file`` as ``OnnxScorer.load`` opens one: ``threads`` threads per
    run (1: ``streams`` runs at once, Predictor maps batches over them), no spinning, every graph
    optimization but ``SLOW_FUSIONS``; with ``profile_prefix``, onnxruntime's profiler on."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"], disabled_optimizers=SLOW_FUSIONS)


class OnnxScorer(HeadScorer):
    """An exported model as a ``Scorer``. Build with ``OnnxScorer.load(directory, threads=N)``.

    ``streams``: how many batches ``Predictor`` may score at once (the session runs each on one thread).
    """

    def __init__(self, session, tokenizer, settings: TaggerSettings | ClassifierSettings, decoder: TagDecoder | None,
                 quantize: str, streams: int = 1) -> None:
        self.streams = streams
        self.session = session
        self.tokenizer = tokenizer
        self.settings = settings
        self.decoder = decoder
        self.quantize = quantize
        # with the model's word features: the graph then takes their ids (word_shapes, word_chars) too
        self.word_encoder = build_word_encoder(settings, tokenizer)
        self._inputs = [i.name for i in session.get_inputs()]

    def score_windows(self, batch: dict) -> np.ndarray:
        """Scores of a padded batch of windows (``encode.pad_batch``), float32: the graph's output."""
        feeds = {name: np.asarray(batch[name]) for name in self._inputs}
        return self.session.run([SCORES], feeds)[0]

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None) -> "OnnxScorer":
        """Load a directory written by ``export.export_onnx``; ``threads``: how many batches run at
        once, each on one onnxruntime thread (default: ``default_streams``)."""
        require_onnxruntime()
        path = Path(directory)
        for name in (layout.ONNX_FILE, layout.SETTINGS_FILE, layout.CONFIG_FILE):
            if not (path / name).is_file():
                raise not_a_model(path, f"not an ONNX export of entitune (no {name}); make one with 'entitune export'")
        settings, extra = layout.read_settings(path)
        layout.read_config_json(path, settings)  # its labels are the settings'; the tokenizer needs nothing else
        decoder = _read_decoder(path, settings) if settings.task == "ner" else None
        try:
            session = open_session(path / layout.ONNX_FILE)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise not_a_model(path, f"cannot load {layout.ONNX_FILE} ({str(exc).splitlines()[0][:200]})") from None
        if SCORES not in [o.name for o in session.get_outputs()]:
            raise not_a_model(path, f"its graph has no {SCORES!r} output (an export of an earlier entitune, "
                                    "whose head ran in PyTorch); export the model again with 'entitune export'")
        tokenizer = load_tokenizer_file(path)
        return cls(session, tokenizer, settings, decoder, extra.get("quantize", "none"),
                   streams=max(1, threads or default_streams()))


def _read_decoder(path: Path, settings: TaggerSettings) -> TagDecoder:
    """The tag decoder of an export of a tagger (``decoder.json``)."""
    file = path / layout.DECODER_FILE
    if not file.is_file():
        if (path / layout.HEAD_FILE).is_file():
            raise not_a_model(path, f"an export of an earlier entitune (its head is in {layout.HEAD_FILE}, run by "
                                    "PyTorch); export the model again with 'entitune export'")
        raise not_a_model(path, f"not an ONNX export of entitune (no {layout.DECODER_FILE}); make one with 'entitune export'")
    try:
        decoder = TagDecoder.from_dict(json.loads(file.read_text(encoding="utf-8")), settings.labels)
    except (OSError, ValueError) as exc:
        raise not_a_model(path, f"{layout.DECODER_FILE}: {exc}") from None
    kind = "softmax" if settings.head == "linear" else "crf"
    if decoder.kind != kind or (decoder.constraints is not None) != settings.constrained:
        raise not_a_model(path, f"{layout.DECODER_FILE} decodes as {decoder.kind} "
                                f"({'' if decoder.constraints is not None else 'un'}constrained), not as its "
                                f"{settings.head} head ({'' if settings.constrained else 'un'}constrained) does")
    return decoder
