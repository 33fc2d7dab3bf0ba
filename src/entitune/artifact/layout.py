"""The files of a model directory, and what can be read from them with the standard library alone:
their names, the settings (``entitune.json``), the labels of ``config.json`` and which kind of
directory a folder is. ``model_dir`` (the artifact format, with transformers) re-exports all of it;
an export's runtime (``backends.onnx``) reads it from here, so loading an export imports neither
torch nor transformers (an import-linter contract in pyproject.toml checks it).
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from ..errors import ConfigError, not_a_model
from .settings import SETTINGS, ClassifierSettings, TaggerSettings

SETTINGS_FILE = "entitune.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
#: an export's tag decoder (``decoding.TagDecoder``: the constraints, a CRF's transitions)
DECODER_FILE = "decoder.json"
#: where exports of earlier versions kept their head (their graph gave word vectors, not scores)
HEAD_FILE = "head.safetensors"
EXPORT_REPORT_FILE = "export.json"
CARD_FILE = "README.md"


def is_tagger_dir(directory: str | Path) -> bool:
    """True when ``directory`` holds a trained entitune model (``entitune.json``)."""
    return (Path(directory) / SETTINGS_FILE).is_file()


def is_onnx_export(directory: str | Path) -> bool:
    """True when ``directory`` holds an ONNX export (``model.onnx``)."""
    return (Path(directory) / ONNX_FILE).is_file()


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


def read_config_json(directory: str | Path, settings: TaggerSettings | ClassifierSettings) -> dict:
    """``config.json`` of a saved model as JSON, checked to carry the labels of ``entitune.json`` in
    order (``id2label``), without transformers (what ``model_dir.read_labelled_config`` checks)."""
    path = Path(directory) / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        id2label = raw["id2label"]
        config_labels = tuple(id2label[str(i)] for i in range(len(id2label)))
    except (OSError, ValueError) as exc:
        raise not_a_model(directory, f"cannot read {CONFIG_FILE} ({exc})") from None
    except (KeyError, TypeError, AttributeError):
        raise not_a_model(directory, f"{CONFIG_FILE} has no labels (id2label 0..n-1)") from None
    if config_labels != settings.labels:
        raise not_a_model(directory, f"labels in {CONFIG_FILE} {config_labels} differ from {SETTINGS_FILE} {settings.labels}")
    return raw
