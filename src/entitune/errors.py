"""Errors that users can cause, each rendered as one line without a traceback, and the one
catalogue of their recurring messages.

Bugs in entitune itself raise ordinary Python exceptions; only the classes here are caught by the
CLI and printed as ``path:line: what is wrong``. Messages name settings by their config names
(``head``, ``max_length``), which are also the command-line flags with dashes (``--max-length``).
"""
from __future__ import annotations

import errno
import importlib.util
from collections.abc import Iterable
from pathlib import Path


class EntituneError(Exception):
    """Base class for every error a user can cause (bad data, bad config, bad paths). The CLI
    prints it as one line and exits with ``exit_code``: 2 for a mistake in what was asked, 1 for a
    fault of the environment (a full disk)."""

    exit_code = 2


class DataFormatError(EntituneError):
    """A data file that cannot be read: ``path:line: why``.

    Args:
        path: the file being read.
        line: 1-based line number, or None when the problem is the file as a whole.
        why: what is wrong and, where it helps, what was expected.
    """

    def __init__(self, path: str | Path, line: int | None, why: str) -> None:
        self.path = str(path)
        self.line = line
        self.why = why
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {why}")


class TagSchemeError(EntituneError):
    """A tag or tag sequence that does not fit the expected scheme."""


class ConfigError(EntituneError):
    """A setting or a model directory that cannot be used as given."""


class OutputError(EntituneError):
    """Output that cannot be written: a full disk or quota, a read-only file system or an I/O error
    (exit status 1: the environment's fault, nothing the command could change), or a path the user
    cannot write to (exit status 2)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ServiceError(EntituneError):
    """A service a run needs that cannot be reached or refuses it, such as the database of a shared
    ``tune`` study (exit status 1: the environment's fault, not a mistake in what was asked)."""

    exit_code = 1


class ExportError(EntituneError):
    """An export that failed its re-scoring (too large an F1 drop) or could not be written."""


# ------------------------------------------------------------------------------ the catalogue


def invalid_choice(name: str, value: object, choices: Iterable[str]) -> ConfigError:
    """``head must be one of linear, crf, bilstm-crf, got 'softmax'``

    >>> str(invalid_choice("head", "softmax", ("linear", "crf")))
    "head must be one of linear, crf, got 'softmax'"
    """
    return ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else ``invalid_choice``."""
    choices = tuple(choices)
    if value not in choices:
        raise invalid_choice(name, value, choices)
    return value


def unreadable_file(path: str | Path, exc: OSError) -> DataFormatError:
    """The one-line error for a data file that cannot be opened.

    >>> str(unreadable_file("x.bio", FileNotFoundError()))
    'x.bio: no such file'
    """
    if isinstance(exc, FileNotFoundError):
        why = "no such file"
    elif isinstance(exc, IsADirectoryError):
        why = "is a directory, expected a data file"
    elif isinstance(exc, PermissionError):
        why = "permission denied"
    else:
        why = f"cannot read ({exc.strerror or exc})"
    return DataFormatError(path, None, why)


#: errno values that mean "the environment cannot take the output", not "the user asked wrongly"
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


def output_error(path: str | Path, exc: OSError) -> OutputError:
    """The one-line error for output that cannot be written, exit 1 for environment faults.

    >>> e = output_error("run/step.pt", OSError(errno.ENOSPC, "No space left on device"))
    >>> str(e), e.exit_code
    ('run/step.pt: cannot write (no space left on device)', 1)
    """
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return OutputError(f"{path}: cannot write ({reason})", 1 if exc.errno in ENVIRONMENT_ERRNOS else 2)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, at most ``limit`` characters (library messages run to
    several lines and URLs); its type's name when it has no message.

    >>> one_line(ValueError("two\\nlines")), one_line(KeyError())
    ('two lines', 'KeyError')
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def not_a_model(path: str | Path, why: str) -> ConfigError:
    """A directory that is not the model it was given as."""
    return ConfigError(f"{path}: {why}")


#: what to install for training, exporting and PyTorch models (the base install runs ONNX exports only)
TRAIN_INSTALL = "pip install 'entitune[train]'"


def installed(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported (found, and not blocked)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked by a None in sys.modules
        return False


def require_training(verb: str) -> None:
    """A ``ConfigError`` naming what to install when torch or transformers is missing for ``verb``
    (``entitune[runtime]`` runs an ONNX export without them; training, exporting and the verbs that
    load a transformers tokenizer need the ``train`` extra), before anything loads."""
    missing = [name for name in ("torch", "transformers") if not installed(name)]
    if missing:
        raise ConfigError(f"entitune {verb} needs {' and '.join(missing)}, which this install lacks: {TRAIN_INSTALL} "
                          "(predict, evaluate and serve run an ONNX export without them)")


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis and its full length, for messages and
    reports that show words or lines from a user's file (which may be megabytes long).

    >>> shorten("barrymore"), shorten("x" * 100, 10)
    ('barrymore', 'xxxxxxxxx… (100 characters)')
    """
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"
