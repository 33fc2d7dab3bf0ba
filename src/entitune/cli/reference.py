"""The docs' option reference, generated from the declarations: ``markdown("cli")`` lists each verb's
arguments and flags, ``markdown("config")`` the keys a config file takes (the same names, grouped).
The docs build writes both pages from here (``docs/hooks.py``), so they cannot drift from the code.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing

from ..options import declared, spec_of
from ..options.declare import GROUPS, TASKS
from .app import VERBS
from .generate import CONFIG_HELP, SET_HELP, cli_type, default_text


def markdown(kind: str = "cli") -> str:
    """The reference page: ``cli`` (every verb's flags) or ``config`` (config-file keys)."""
    if kind == "cli":
        return "\n".join(_verb_section(name, cls, run, how) for name, cls, run, how in VERBS)
    return "\n".join(_config_section(name, cls) for name, cls, _, how in VERBS if how.get("config_file"))


def _verb_section(name: str, cls: type, run: object, how: dict) -> str:
    lines = [f"## entitune {name}", "", inspect.cleandoc(run.__doc__ or ""), ""]
    lines += ["| argument or flag | type | default | allowed | help |", "| --- | --- | --- | --- | --- |"]
    if how.get("config_file"):
        lines.append(f"| `--config FILE` | path | | | {_cell(CONFIG_HELP)} |")
    rows = [(f, s, cls) for f, s in declared(cls) if s.cli]
    rows += [(next(f for f in dataclasses.fields(other) if f.name == n), spec_of(other, n), other)
             for other, n in how.get("also", ())]
    for field, spec, owner in sorted(rows, key=lambda r: (not r[1].positional, GROUPS.index(r[1].group))):
        lines.append(_row(field, spec, owner))
    if how.get("set_flag"):
        lines.append(f"| `--set NAME=VALUE` | repeated | | | {_cell(SET_HELP)} |")
    return "\n".join(lines) + "\n"


def _config_section(name: str, cls: type) -> str:
    lines = [f"## {name}", ""]
    by_group: dict[str, list] = {}
    for field, spec in declared(cls):
        by_group.setdefault(spec.group, []).append((field, spec))
    for group in GROUPS:
        if group not in by_group:
            continue
        lines += [f"### {group}", "", "| key | type | default | allowed | help |", "| --- | --- | --- | --- | --- |"]
        for field, spec in by_group[group]:
            lines.append(_row(field, spec, cls, key=True))
        lines.append("")
    return "\n".join(lines)


def _row(field: dataclasses.Field, spec, owner: type, key: bool = False) -> str:
    hint = typing.get_type_hints(owner)[field.name]
    if key:
        name = f"`{field.name}`"
    elif spec.positional:
        name = f"`{spec.metavar or field.name.upper()}`" + (" ..." if spec.many else "")
    else:
        name = f"`{spec.flag_name(field.name)}`" + (f" / `{spec.negative}`" if spec.negative else "")
    kind = _type_name(cli_type(hint, spec)) + (" (repeatable)" if spec.many and not spec.positional else "")
    allowed = ", ".join(f"`{c}`" for c in spec.choices) if spec.choices else ""
    if spec.range_text():
        allowed = (allowed + "; " if allowed else "") + f"{'number ' if spec.choices else ''}{spec.range_text()}"
    default = default_text(field, spec) or ("required" if field.default is dataclasses.MISSING else "")
    text = spec.help if spec.tasks == TASKS else f"{' and '.join(sorted(spec.tasks))} only: {spec.help}"
    return f"| {name} | {kind} | {_cell(default)} | {_cell(allowed)} | {_cell(text)} |"


def _type_name(kind) -> str:
    return {int: "integer", float: "number", str: "text", bool: "switch"}.get(kind, "list of text")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
