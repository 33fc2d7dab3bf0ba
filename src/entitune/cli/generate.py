"""Commands made from the option declarations (``entitune.options``): a verb is a function that takes
its config object; ``command(config_class, run)`` gives typer a function whose parameters are the
declared options (flags, arguments, help, metavars, input-file checks), and whose body only gathers
the flags given, reads ``--config FILE`` where the verb takes one, builds the config through the
one gate (``options.build_config``) and calls ``run(config)``. Nothing about an option is written here.

typer (over click) stays the parser because the flags keep their spellings and help layout; the
signature is generated, so a new option needs no change in this package.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import typer

from ..errors import ConfigError
from ..files import check_input_file
from ..options import Spec, build_config, declared, merged, parse_assignments, read_config_file, spec_of
from ..options.declare import GROUPS, TASKS

#: the meta-flags of verbs that read a config file (train, pretrain, tune)
CONFIG_HELP = "TOML, YAML or JSON file of options (a run's train_log.json too); flags override it"
SET_HELP = "an option as NAME=VALUE (e.g. --set max_length=64 --set head=crf); repeat it; overrides --config"


def input_path(value: str | list[str] | None) -> str | list[str] | None:
    """A command-line input file (or list of them) checked while the arguments are parsed, before
    anything heavy loads: a regular file within the size limit (``files.check_input_file``); None
    and ``-`` (stdin) pass as they are."""
    for path in value if isinstance(value, list) else [value]:
        if path is not None and path != "-":
            check_input_file(path)
    return value


def help_text(field: dataclasses.Field, spec: Spec) -> str:
    """An option's ``--help`` line: the tasks that read it, its help, and its default."""
    text = spec.help
    if spec.tasks != TASKS:
        text = f"{' and '.join(sorted(spec.tasks))}: {text}"
    default = default_text(field, spec)
    return f"{text} (default: {default})" if default else text


def default_text(field: dataclasses.Field, spec: Spec) -> str | None:
    """How an option's default reads, or None where it has none worth saying (required, or off)."""
    if spec.default_help is not None:
        return spec.default_help
    default = field.default
    if default is dataclasses.MISSING or default is None:
        return None
    if isinstance(default, bool):
        flags = (spec.flag_name(field.name), spec.negative)
        return (flags[0] if default else spec.negative or "off").lstrip("-")
    return str(default)


def cli_type(hint: Any, spec: Spec) -> Any:
    """The type typer parses an option's flag as: str for unions of a number and a word (``epochs``
    3 or auto), a list for repeated flags and several arguments, the base type otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        hint = kinds[0] if len(kinds) == 1 else str
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if spec.many or origin in (list, tuple):
        return list[str]
    return hint if hint in (int, float, str, bool) else str


def parameters(config_class: type) -> list[inspect.Parameter]:
    """One typer parameter per declared option of ``config_class`` that the command line takes."""
    hints = typing.get_type_hints(config_class)
    params = []
    ordered = sorted(declared(config_class), key=lambda d: (not d[1].positional, GROUPS.index(d[1].group)))
    for field, spec in ordered:
        if not spec.cli:
            continue
        kind = cli_type(hints[field.name], spec)
        callback = input_path if spec.input_file else None
        if spec.positional:
            required = field.default is dataclasses.MISSING
            info = typer.Argument(... if required else None, help=help_text(field, spec), metavar=spec.metavar,
                                  callback=callback, show_default=False)
        else:
            names = spec.flag_name(field.name) + (f"/{spec.negative}" if spec.negative else "")
            info = typer.Option(None, names, help=help_text(field, spec), metavar=spec.metavar, callback=callback,
                                show_default=False, rich_help_panel=spec.group.capitalize())
            kind = kind | None
        params.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind))
    return params


def command(config_class: type, run: Callable[[Any], None], *, config_file: bool = False,
            set_flag: bool = False, trailing: str | None = None, also: tuple[tuple[type, str], ...] = (),
            into: str | None = None) -> Callable[..., None]:
    """The typer command of a verb whose options are ``config_class``'s and whose body is ``run(config)``.

    ``config_file``: also ``--config FILE`` (its values under the flags'); ``set_flag``: also ``--set
    NAME=VALUE``; ``trailing``: the name of a repeated option whose further values may follow as
    arguments (``--text a.txt b.txt``); ``also``: options declared by another config class that this
    verb takes as flags too (``(FinetuneConfig, "train")``), gathered with ``--config``/``--set`` into
    the field ``into`` (``tune``'s ``base``)."""
    params = parameters(config_class)
    borrowed = {name: cls for cls, name in also}
    for cls, name in also:
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        spec = spec_of(cls, name)
        info = typer.Option(None, spec.flag_name(name), help=help_text(field, spec), metavar=spec.metavar,
                            callback=input_path if spec.input_file else None, show_default=False,
                            rich_help_panel=spec.group.capitalize())
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                        annotation=cli_type(typing.get_type_hints(cls)[name], spec) | None))
    if trailing is not None:
        params.append(inspect.Parameter(
            f"more_{trailing}", inspect.Parameter.KEYWORD_ONLY, annotation=list[str] | None,
            default=typer.Argument(None, callback=input_path, metavar=f"[MORE_{trailing.upper()}]...", show_default=False,
                                   help=f"more values of {spec_of(config_class, trailing).flag_name(trailing)}")))
    if config_file:
        params.insert(0, inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                                           default=typer.Option(None, "--config", help=CONFIG_HELP, callback=input_path,
                                                                metavar="FILE", rich_help_panel="Input")))
    if set_flag:
        params.append(inspect.Parameter("set_options", inspect.Parameter.KEYWORD_ONLY, annotation=list[str] | None,
                                        default=typer.Option(None, "--set", help=SET_HELP, metavar="NAME=VALUE")))

    @functools.wraps(run)
    def verb(**given: Any) -> None:
        source = given.pop("config", None)
        assignments = parse_assignments(given.pop("set_options", None) or [])
        if trailing is not None:
            more = given.pop(f"more_{trailing}", None) or []
            given[trailing] = [*(given[trailing] or []), *more] or None
        flags = {name: value for name, value in given.items() if value is not None and value != []}
        origins = {name: _flag_of(config_class, borrowed, name) for name in flags}
        options = merged(read_config_file(source) if source else {}, assignments)
        if into is None:
            values = merged(options, flags)
        else:  # tune: the file, --set and the borrowed flags are the options of another verb, in one field
            values = {k: v for k, v in flags.items() if k not in borrowed}
            values[into] = merged(options, {k: v for k, v in flags.items() if k in borrowed})
        for field, spec in declared(config_class):
            if field.default is dataclasses.MISSING and field.name != into and values.get(field.name) is None:
                where = " (on the command line or in --config)" if config_file else ""
                raise ConfigError(f"{spec.flag_name(field.name)} is required{where}")
        run(build_config(config_class, values, source, origins))

    verb.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    verb.__annotations__ = {p.name: p.annotation for p in params}
    return verb


def _flag_of(config_class: type, borrowed: dict[str, type], name: str) -> str:
    """The flag an option was given by, for error messages."""
    spec = spec_of(borrowed.get(name, config_class), name)
    return (spec.metavar or name.upper()) if spec.positional else spec.flag_name(name)
