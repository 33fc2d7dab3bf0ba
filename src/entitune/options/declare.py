"""How an option is declared, once, and the one gate every value passes.

An option is a field of a frozen config dataclass made by ``option(...)``: its name is the field's
name, its type the field's annotation, its default the field's default, and the rest (help, group,
choices, range, the tasks that take it, its flag) is a ``Spec`` in the field's metadata. Options that
several verbs share are declared once in a shared base class (``groups``) that each verb's config
inherits. From these declarations come the command line (``entitune.cli``), the keys a config file
takes and their checks (``build_config``), ``--help``, the docs' option reference (``reference``) and
the ``config`` block of ``train_log.json`` (``config_dict``).

Why dataclasses with metadata rather than jsonargparse, tyro or simple-parsing: the configs stay
plain frozen dataclasses that any reader (and type checker) can follow from a flag to where it acts;
the flags keep the spellings users already type (``--keep-checkpoints-after/--remove-checkpoints-after``,
``--json`` for ``json_out``), which those libraries would rename; and errors stay entitune's one line
and exit 2 instead of a parser's usage dump. The CLI is generated from the declarations with typer
(already a dependency), so nothing is written twice.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError

C = TypeVar("C")

#: the groups options are shown in, in this order
GROUPS = ("input", "data", "model", "training", "run", "output", "service")
#: every task; an option that only one task reads says so (its help starts "ner:" or "classify:")
TASKS = frozenset({"ner", "classify"})
_KEY = "entitune"


class OptionError(ConfigError):
    """A value the declaration of option ``name`` refuses: ``why`` completes "NAME ..."."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(self.naming(name, why))
        self.name, self.why = name, why

    @staticmethod
    def naming(subject: str, why: str) -> str:
        """``why`` about ``subject`` (an option's name or its flag): "lr must be ...", "label_names: ..."."""
        return subject + (why if why.startswith(":") else " " + why)


@dataclass(frozen=True)
class Spec:
    """What a declaration says beyond the field's name, type and default.

    ``help``: one sentence or two, shown by ``--help`` and the reference; ``default_help``: how the
    default reads where the field's default (often None) stands for a choice made later;
    ``group``: one of ``GROUPS``; ``choices``: the allowed values (``fold_case``: compared and kept
    in the case of ``choices``); ``low``/``high``: the allowed range (``low_open``/``high_open``:
    the bound itself excluded); ``flag``: the command-line name when it is not ``--`` + the name
    with dashes; ``negative``: a boolean's second flag (``--no-resume``); ``positional``: an
    argument, not an option; ``input_file``: a file (or files) read, checked before anything heavy
    loads; ``many``: the flag may repeat (a list); ``tasks``: the tasks that read it; ``searchable``:
    whether ``tune`` may sample it (default: the options of the data, model and training groups); ``parse``: turns a value as written into the field's value (or
    raises ``ConfigError``) before the checks; ``metavar``: the placeholder shown in ``--help``;
    ``cli``: False for options only a config file or Python sets."""

    help: str
    group: str = "run"
    default_help: str | None = None
    choices: tuple | None = None
    fold_case: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    flag: str | None = None
    negative: str | None = None
    positional: bool = False
    input_file: bool = False
    many: bool = False
    tasks: frozenset[str] = TASKS
    searchable: bool | None = None
    parse: Callable[[Any], Any] | None = None
    metavar: str | None = None
    cli: bool = True

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group {self.group!r} is not one of {GROUPS}")

    def is_searchable(self) -> bool:
        return self.searchable if self.searchable is not None else self.group in ("data", "model", "training")

    def flag_name(self, name: str) -> str:
        return self.flag or "--" + name.replace("_", "-")

    def range_text(self) -> str:
        """The allowed range as the reference and errors write it: ``> 0``, ``in [0, 1)``..."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return ""


def option(default: Any = dataclasses.MISSING, help: str = "", **spec: Any) -> Any:
    """A config field declaring one option (see ``Spec`` for the keywords).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Run:
    ...     epochs: int = option(3, "passes over the data", group="training", low=1)
    >>> spec_of(Run, "epochs").range_text()
    '>= 1'
    """
    return dataclasses.field(default=default, metadata={_KEY: Spec(help=help, **spec)})


def spec_of(cls: type, name: str) -> Spec:
    """The declaration of option ``name`` of config class ``cls``."""
    return {f.name: f for f in dataclasses.fields(cls)}[name].metadata[_KEY]


def declared(cls: type) -> list[tuple[dataclasses.Field, Spec]]:
    """Every option of a config class with its declaration, in field order."""
    return [(f, f.metadata[_KEY]) for f in dataclasses.fields(cls) if _KEY in f.metadata]


class Options:
    """Base of every verb's config: a frozen dataclass whose declared fields all pass the gate when it
    is made, from the command line, a config file or Python alike (``gate``). A subclass that checks
    more (one option against another) extends ``__post_init__`` and calls this one first."""

    def __post_init__(self) -> None:
        gate(self)


def gate(config: Any) -> None:
    """Every declared field of ``config`` through its declaration: ``parse`` (a value as written:
    ``"auto"``, ``"5"``), the declared type (``coerce``), then range, choices and finiteness
    (``check_value``); the checked values replace the given ones (a choice in its declared case,
    an int where a float is declared, a path as a string)."""
    hints = typing.get_type_hints(type(config))
    for f, spec in declared(type(config)):
        value = getattr(config, f.name)
        if spec.parse is not None and value is not None:
            value = _parsed(f.name, value, spec.parse)
        value = check_value(f.name, coerce(f.name, value, hints[f.name]), spec)
        object.__setattr__(config, f.name, value)


def _parsed(name: str, value: Any, parse: Callable[[Any], Any]) -> Any:
    """``parse(value)``; its one-line error, which names the option, as an ``OptionError`` (so the
    command line can name the flag instead)."""
    try:
        return parse(value)
    except OptionError:
        raise
    except ConfigError as exc:
        text = str(exc)
        raise OptionError(name, text[len(name):].lstrip(" ") if text.startswith(name) else text) from None


def build_config(cls: type[C], values: Mapping[str, Any], source: str | None = "config",
                 origins: Mapping[str, str] | None = None) -> C:
    """``cls(**values)`` for a config class (``Options``): unknown names are refused with the closest
    known name, and every error of the gate is one line that says where the value came from:
    ``origins`` maps an option to its flag (``--lr``) or its file; ``source`` stands for the rest
    (the config file's name, or None for Python's keywords).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True)
    ... class Run(Options):
    ...     epochs: int = option(3, "passes", group="training", low=1)
    ...     lr: float = option(1e-4, "learning rate", group="training", low=0, low_open=True)
    >>> build_config(Run, {"epochs": 5, "lr": 1})
    Run(epochs=5, lr=1.0)
    >>> build_config(Run, {"epoch": 5})
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: config: unknown option 'epoch' (did you mean 'epochs'?)
    >>> build_config(Run, {"lr": float("nan")}, "run.toml")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: run.toml: lr must be a finite number, got nan
    >>> build_config(Run, {"epochs": 0}, origins={"epochs": "--epochs"})
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: --epochs must be >= 1, got 0
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    origins = origins or {}
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known options: {', '.join(names)}"
            raise ConfigError(f"{origins.get(key, source) or 'config'}: unknown option {key!r}{hint}")
    try:
        return cls(**values)
    except OptionError as exc:
        origin = origins.get(exc.name, source)
        if origin is not None and origin.startswith("--"):
            raise ConfigError(OptionError.naming(origin, exc.why)) from None
        raise (exc if origin is None else ConfigError(f"{origin}: {exc}")) from None
    except ConfigError as exc:
        raise (exc if source is None else ConfigError(f"{source}: {exc}")) from None


def check_value(name: str, value: Any, spec: Spec) -> Any:
    """``value`` (of the declared type already) if its declaration allows it, else a one-line
    ``ConfigError``: a float must be finite; a value must be among ``choices`` (in their case with
    ``fold_case``) and inside the range. Lists are checked item by item."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return type(value)(check_value(name, v, spec) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(name, f"must be a finite number, got {value}")
    if spec.choices is not None and isinstance(value, str):
        by_key = {(c.lower() if spec.fold_case else c): c for c in spec.choices if isinstance(c, str)}
        key = value.lower() if spec.fold_case else value
        if key not in by_key:
            raise OptionError(name, f"must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
        return by_key[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and spec.range_text():
        low_ok = spec.low is None or (value > spec.low if spec.low_open else value >= spec.low)
        high_ok = spec.high is None or (value < spec.high if spec.high_open else value <= spec.high)
        if not (low_ok and high_ok):
            raise OptionError(name, f"must be {spec.range_text()}, got {_num(value)}")
    return value


def coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (``int``, ``float``, ``str``, ``bool``, ``X | None``, a union of
    those, or a tuple/list of them), or a ``ConfigError``. Ints are taken for floats; a path for a
    string; nothing else is converted."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) > 1:  # e.g. ``int | str`` (epochs: 3 or "auto"): the first type that takes it
            for option_type in options:
                try:
                    return coerce(name, value, option_type)
                except ConfigError:
                    pass
            kinds = " or ".join(_type_name(o) for o in options)
            raise OptionError(name, f"takes a {kinds}, got {value!r}")
        (hint,) = options
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise OptionError(name, f"takes a list, got {value!r}")
        item = args[0] if args else Any
        return origin(coerce(name, v, item) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, Path):
        return str(value)
    if hint in (int, float, str, bool) and type(value) is hint:
        return value
    if hint not in (int, float, str, bool):
        return value
    raise OptionError(name, f"takes a {hint.__name__}, got {value!r}")


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


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _num(value: float) -> str:
    """A bound as written: 1 not 1.0, 1e-05 as 1e-05."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else str(value)
