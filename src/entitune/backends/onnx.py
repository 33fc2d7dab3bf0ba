"""``OnnxScorer``: an ``entitune export`` directory run by onnxruntime, as a ``Scorer``.

The export's graph gives each word's vector (see ``export.onnx``); the head (linear, CRF or
BiLSTM-CRF) runs in PyTorch from ``head.safetensors``, so an export decodes with exactly the code of
the model it came from. Loading an export reads ``model_dir`` and builds the head; it never imports
the training model.

Each batch runs on one onnxruntime thread (no spinning), and ``streams`` batches may run at once on
``Predictor``'s worker threads: for BERT-sized batches on a few cores that beats spreading one run
over all threads, which then wait on each other between small operators.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, not_a_model
from ..artifact import model_dir
from ..artifact.settings import ClassifierSettings, TaggerSettings
from ..model.build import build_head_for, build_word_encoder
from ..predict.scorer import HeadScorer

#: onnxruntime graph fusions that make CPU inference slower: SkipLayerNormalization's CPU kernel
#: took 22% of an int8 MiniLM's time where Add + LayerNormalization take 4% (onnxruntime 1.32)
SLOW_FUSIONS = ["SkipLayerNormFusion"]


def require_onnx() -> None:
    """Raise ``ConfigError`` with the install command when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export and the onnx backend need onnx and onnxruntime ({exc}); "
                          "pip install 'entitune[onnx]'") from None


class OnnxScorer(HeadScorer):
    """An exported model as a ``Scorer``. Build with ``OnnxScorer.load(directory, threads=N)``.

    ``streams``: how many batches ``Predictor`` may score at once (the session runs each on one thread).
    """

    def __init__(self, session, tokenizer, settings: TaggerSettings | ClassifierSettings, head: nn.Module, quantize: str,
                 streams: int = 1) -> None:
        self.streams = streams
        self.session = session
        self.tokenizer = tokenizer
        self.settings = settings
        self.head = head.eval()
        self.quantize = quantize
        # with the model's word features: the graph then takes their ids (word_shapes, word_chars) too
        self.word_encoder = build_word_encoder(settings, tokenizer)
        self._inputs = [i.name for i in session.get_inputs()]

    @torch.inference_mode()
    def score_windows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a collated batch of windows, float32: the head's output on the exported vectors."""
        feeds = {name: batch[name].numpy() for name in self._inputs}
        # shape: (batch, words, hidden')
        vectors = torch.from_numpy(self.session.run(None, feeds)[0])
        return self.head(vectors, batch["word_mask"]).float()

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None) -> "OnnxScorer":
        """Load a directory written by ``export.export_onnx``; ``threads``: how many batches run at
        once, each on one onnxruntime thread (default: torch's thread count)."""
        require_onnx()
        import onnxruntime as ort

        path = Path(directory)
        for name in (model_dir.ONNX_FILE, model_dir.HEAD_FILE, model_dir.SETTINGS_FILE, model_dir.CONFIG_FILE):
            if not (path / name).is_file():
                raise not_a_model(path, f"not an ONNX export of entitune (no {name}); make one with 'entitune export'")
        settings, extra = model_dir.read_settings(path)
        config = model_dir.read_labelled_config(path, settings)
        head = build_head_for(settings, config.hidden_size, config.num_hidden_layers)
        try:
            head.load_state_dict(model_dir.load_safetensors(path / model_dir.HEAD_FILE), strict=True)
        except RuntimeError as exc:
            raise not_a_model(path, f"head weights do not match this model's head ({exc})") from None
        options = ort.SessionOptions()
        # one thread per run and ``streams`` runs at once (Predictor maps batches over them)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(path / model_dir.ONNX_FILE), options, providers=["CPUExecutionProvider"],
                                           disabled_optimizers=SLOW_FUSIONS)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise not_a_model(path, f"cannot load {model_dir.ONNX_FILE} ({str(exc).splitlines()[0][:200]})") from None
        return cls(session, model_dir.load_tokenizer(path, config.model_type), settings, head,
                   extra.get("quantize", "none"), streams=max(1, threads or torch.get_num_threads()))
