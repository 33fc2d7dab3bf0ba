"""The PyTorch backend: ``TorchScorer``, a PyTorch model (``Tagger`` or ``Classifier``) as a
``Scorer``, with the lean BERT forward (``fastbert``) where it applies (a plain float32 BERT,
fine-tuned, on the CPU); the model's own forward elsewhere. Word features (``--word-features``) are
the model's own module on either path: the lean forward replaces only the encoder. Scores leave as
numpy arrays and are decoded by the head's ``decoding.TagDecoder``, the code an export decodes with.

Also what loading a PyTorch model directory takes (``load_model``, ``resolve_device``,
``set_threads``). ``entitune.backends`` imports this module only for a PyTorch model, so that an
export runs without torch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..artifact import model_dir
from ..artifact.archive import model_directory
from ..errors import ConfigError, check_choice
from ..model.classifier import Classifier
from ..model.encoder_model import EncoderModel, gather_words
from ..model.tagger import Tagger
from ..options.choices import DEVICES
from ..predict.scorer import HeadScorer
from .fastbert import BertFastPath
from .precision import INFERENCE_PRECISIONS, PrecisionChoice, Width, choose_precision

#: the PyTorch model class of each task
MODELS = {"ner": Tagger, "classify": Classifier}


def resolve_device(device: str = "auto") -> str:
    """``cpu`` or ``cuda``: ``auto`` is ``cuda`` when torch sees a GPU; ``cuda`` without one is a
    ``ConfigError`` saying why (a CPU-only build of torch, or no visible GPU), not a traceback later.

    >>> resolve_device("cpu")
    'cpu'
    """
    check_choice("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        why = (f"this torch ({torch.__version__}) is a CPU-only build" if torch.version.cuda is None
               else "torch sees no CUDA GPU (check CUDA_VISIBLE_DEVICES and the driver)")
        raise ConfigError(f"device cuda: {why}; use --device cpu, or auto (a GPU when there is one)")
    return "cuda" if available else "cpu"


def load_model(path: str | Path, device: str = "cpu") -> EncoderModel:
    """The PyTorch model in a directory (or an ``entitune package`` archive): a ``Tagger`` or a
    ``Classifier``, by its task."""
    path = model_directory(path)
    settings, _ = model_dir.read_settings(path)
    return MODELS[settings.task].load(path, device=device)


def set_threads(threads: int) -> None:
    """torch's intra-op threads for this process."""
    torch.set_num_threads(threads)


class TorchScorer(HeadScorer):
    """Scores windows with a PyTorch model; puts it in eval mode.

    Args:
        tagger: the model (a ``Tagger`` or a ``Classifier``). With ``fast`` (default) and a model the lean forward supports, its
            weights are copied and packed now: build a new scorer after the weights change (the
            training loop makes one per evaluation).
        fast: use the lean forward where it applies; False always runs the model's forward.
        precision: ``fp32``, ``bf16`` or ``auto`` (``precision.choose_precision`` for inference on
            the model's device: bf16 where a timed probe of this forward agrees, on a CPU with
            avx512_bf16 or AMX or a GPU with bf16 tensor cores). bf16 runs the lean forward with its
            matmuls in bf16 where it applies (``BertFastPath(dtype=bf16)``; LayerNorms, softmax
            and the residual stream stay float32), else the model's own forward under autocast.
            ``choice`` says what was chosen and why.
    """

    streams = 1

    def __init__(self, tagger: EncoderModel, fast: bool = True, precision: str = "fp32") -> None:
        self.tagger = tagger.eval()
        self.settings = tagger.settings
        self.tokenizer = tagger.tokenizer
        self.head = tagger.head
        # a tagger's decoding rule, read from its head now (build a new scorer after training steps)
        self.decoder = tagger.head.tag_decoder() if hasattr(tagger.head, "tag_decoder") else None
        self.word_encoder = tagger.word_encoder
        self.device = next(tagger.parameters()).device
        check_choice("precision", precision, INFERENCE_PRECISIONS)
        config = getattr(tagger.encoder, "config", None)
        applies = (fast and not tagger.frozen and self.device.type == "cpu" and BertFastPath.supports(tagger.encoder))
        # the inference probe times the lean forward; where that does not apply (a GPU, another
        # encoder), autocast over the model's own forward runs, which the training probe times
        self.choice = choose_precision(precision, self.device, width=Width.of(config) if config is not None else None,
                                       purpose="inference" if applies else "train")
        bf16 = self.choice.precision == "bf16"
        self.fast = BertFastPath(tagger.encoder, torch.bfloat16 if bf16 else torch.float32) if applies else None
        self.autocast = torch.bfloat16 if bf16 and self.fast is None else None

    @torch.inference_mode()
    def score_windows(self, batch: dict) -> np.ndarray:
        """Scores of a padded batch of windows (``encode.pad_batch``'s arrays, or ``encode.collate``'s
        tensors), as a float32 numpy array: the head's output, (batch, words, labels) for a tagger,
        (batch, labels) for a classifier. Enters inference mode itself, which matters on worker threads."""
        return self._scores({k: torch.as_tensor(v).to(self.device) for k, v in batch.items()}).numpy()

    def _scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``score_windows`` on tensors, as a float32 CPU tensor."""
        if self.fast is not None:
            # shape: (batch, seq, hidden)
            hidden = self.fast(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            words = self.tagger.add_word_features(gather_words(hidden, batch["word_starts"]), batch)
            return self.head(words, batch["word_mask"]).float().cpu()
        with torch.autocast(self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            words = self.tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                             batch["token_type_ids"])
        # the word features and the head in float32 (bf16 only inside the encoder)
        words = self.tagger.add_word_features(words.float(), batch)
        return self.head(words, batch["word_mask"]).float().cpu()
