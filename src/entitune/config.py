"""Run configuration files and typed, frozen configs built from them.

A run's options can come from a file (``entitune train --config run.toml``): TOML, YAML (``.yaml``
/ ``.yml``) or JSON, a flat table of option names (the command's flags with underscores:
``batch_size = 16``). A JSON file with a ``config`` table, as ``train_log.json`` records the
resolved options of a finished run, is read from that table, so a run can be repeated from its
log unchanged. Options given on the command line override the file's. Relative paths in a file are
taken relative to the current directory, as on the command line.

TOML is read by the standard library, YAML by PyYAML (a dependency of transformers).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .files import check_input_file

C = TypeVar("C")
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


def build_config(cls: type[C], values: Mapping[str, Any], source: str = "config") -> C:
    """``cls(**values)`` for a frozen dataclass, with unknown names and wrong types refused in one
    line that names the option (and the closest known name).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Run:
    ...     epochs: int = 3
    ...     lr: float = 1e-4
    >>> build_config(Run, {"epochs": 5, "lr": 1})
    Run(epochs=5, lr=1.0)
    >>> build_config(Run, {"epoch": 5})
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: config: unknown option 'epoch' (did you mean 'epochs'?)
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known options: {', '.join(names)}"
            raise ConfigError(f"{source}: unknown option {key!r}{hint}")
        checked[key] = _coerce(key, value, hints[key], source)
    return cls(**checked)


def _coerce(name: str, value: Any, hint: Any, source: str) -> Any:
    """``value`` as type ``hint`` (``int``, ``float``, ``str``, ``bool`` or ``X | None``), or a
    ``ConfigError``. Ints are taken for floats; nothing else is converted."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) > 1:  # e.g. ``int | str`` (epochs: 3 or "auto"): the first type that takes it
            for option in options:
                try:
                    return _coerce(name, value, option, source)
                except ConfigError:
                    pass
            names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
            raise ConfigError(f"{source}: option {name!r} takes a {names}, got {value!r}")
        (hint,) = options
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is hint):
        return value
    if hint not in (int, float, str, bool):
        return value
    raise ConfigError(f"{source}: option {name!r} takes a {hint.__name__}, got {value!r}")


def merged(file_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The file's options with ``overrides`` on top (overrides that are None are not given)."""
    return {**file_values, **{k: v for k, v in overrides.items() if v is not None}}


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict of its options, as ``train_log.json`` records them and JSON
    reads them back: a tuple (several training files) is a list, so a saved config compares equal
    to the one it came from."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def differences(saved: Mapping[str, Any], ours: Mapping[str, Any], ignore: frozenset[str] = frozenset()) -> list[str]:
    """``name: saved there, ours now`` for each setting both mappings hold (and ``ignore`` does not
    name) whose values differ, in name order: how a refusal to resume says what changed.

    >>> differences({"lr": 0.1, "seed": 1, "out": "a"}, {"lr": 0.2, "seed": 1, "out": "b"}, frozenset({"out"}))
    ['lr: 0.1 there, 0.2 now']
    """
    return [f"{k}: {saved[k]!r} there, {ours[k]!r} now" for k in sorted(saved.keys() & ours.keys())
            if k not in ignore and saved[k] != ours[k]]


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
