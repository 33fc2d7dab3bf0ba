"""Config files: a run's options from a TOML, YAML (``.yaml`` / ``.yml``) or JSON file
(``entitune train --config run.toml``), a flat table of option names (the command's flags with
underscores: ``batch_size = 16``). A JSON file with a ``config`` table, as ``train_log.json`` records
the resolved options of a finished run, is read from that table, so a run can be repeated from its
log unchanged. Options given on the command line override the file's. Relative paths in a file are
taken relative to the current directory, as on the command line. The keys are the declared options
of the verb (``declare``), checked by the same gate as the flags.

TOML is read by the standard library, YAML by PyYAML (a dependency of transformers).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import check_input_file

CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options in a TOML, YAML or JSON file (or a ``train_log.json``'s ``config`` table)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(f"{path}: a config file ends in {', '.join(CONFIG_SUFFIXES)}")
    check_input_file(path)  # a FIFO or a device would block or never end
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - each parser has its own error types; all are the user's file
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()} ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a table of options, found {type(data).__name__}")
    if "config" in data and isinstance(data["config"], Mapping):  # a train_log.json
        data = data["config"]
    return dict(data)


def merged(file_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The file's options with ``overrides`` on top (overrides that are None are not given)."""
    return {**file_values, **{k: v for k, v in overrides.items() if v is not None}}


def parse_assignments(items: list[str] | tuple[str, ...], source: str = "--set") -> dict[str, Any]:
    """``["lr=1e-3", "head=crf", "resume=true"]`` as options: numbers, true/false and none are
    read as such, anything else stays a string (``build_config`` then checks each against its field).

    >>> parse_assignments(["lr=1e-3", "epochs=2", "head=crf", "resume=false", "head_lr=none"])
    {'lr': 0.001, 'epochs': 2, 'head': 'crf', 'resume': False, 'head_lr': None}
    >>> parse_assignments(["lr"])
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: --set: expected NAME=VALUE, got 'lr'
    """
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{source}: expected NAME=VALUE, got {item!r}")
        values[name.strip().replace("-", "_")] = _scalar(text.strip())
    return values


def _scalar(text: str) -> Any:
    """A value written on the command line: int, float, bool, None, else the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
