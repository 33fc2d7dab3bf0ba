"""The ``entitune`` command: each verb's module turns nothing but its config object into a recipe
call; the flags come from the option declarations (``generate.command``). User errors
(``EntituneError``) print one line to stderr and exit with status 2 (1 for faults of the
environment: a full disk, a read-only file system); no traceback."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from .._version import __version__
from ..errors import ENVIRONMENT_ERRNOS, EntituneError, output_error
from ..options import (AdaptConfig, AuditConfig, ConvertConfig, DoctorConfig, EvaluateConfig, ExportConfig, FinetuneConfig,
                       PackageConfig, PredictConfig, PretrainConfig, ReportConfig, SelectConfig, ServeConfig, SplitConfig,
                       TuneConfig, VocabExtendConfig, VocabPlanConfig)
from ..terminal import prepare_process, report_error
from . import (adapt, audit, convert, doctor, evaluate, export, package, predict, pretrain, report, select, serve, split,
               train, tune, vocab)
from .generate import command

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Fine-tune BERT-family encoders for named entity recognition and text classification, evaluate them, and predict.",
)
vocab_app = typer.Typer(no_args_is_help=True, help="Fit a WordPiece vocabulary to your data before fine-tuning: "
                        "measure [UNK] words and sub-words per word (plan), add the words or characters that cut them (extend).")
app.add_typer(vocab_app, name="vocab")


def version_text() -> str:
    """``entitune X (torch Y, transformers Z, onnxruntime W)``: this package and the engines installed
    beside it, read from their metadata (nothing heavy is imported)."""
    engines = []
    for name in ("torch", "transformers", "onnxruntime"):
        try:
            engines.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return f"entitune {__version__}" + (f" ({', '.join(engines)})" if engines else "")


def _print_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback()
def _entitune(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                           help="Print the version (and those of torch, transformers, onnxruntime) "
                                                "and exit.")) -> None:
    """Fine-tune BERT-family encoders for named entity recognition and text classification, evaluate them, and predict."""

#: every verb: its name, its config class, the function its config goes to, and how ``command``
#: builds its flags (what the option reference in the docs lists, in this order)
VERBS: list[tuple[str, type, object, dict]] = [
    ("train", FinetuneConfig, train.train, {"config_file": True}),
    ("evaluate", EvaluateConfig, evaluate.evaluate, {}),
    ("predict", PredictConfig, predict.predict, {}),
    ("serve", ServeConfig, serve.serve, {}),
    ("export", ExportConfig, export.export, {}),
    ("package", PackageConfig, package.package, {}),
    ("report", ReportConfig, report.report, {}),
    ("doctor", DoctorConfig, doctor.doctor, {}),
    ("convert", ConvertConfig, convert.convert, {}),
    ("split", SplitConfig, split.split, {}),
    ("tune", TuneConfig, tune.tune, {"config_file": True, "set_flag": True, "into": "base",
                                     "also": tuple((FinetuneConfig, name) for name in TuneConfig.TRAIN_FLAGS)}),
    ("pretrain", PretrainConfig, pretrain.pretrain, {"config_file": True, "trailing": "text"}),
    ("adapt", AdaptConfig, adapt.adapt, {"config_file": True, "trailing": "text"}),
    ("audit", AuditConfig, audit.audit, {"config_file": True, "set_flag": True, "into": "base",
                                         "also": tuple((FinetuneConfig, name) for name in AuditConfig.TRAIN_FLAGS)}),
    ("select", SelectConfig, select.select, {}),
    ("vocab plan", VocabPlanConfig, vocab.plan, {}),
    ("vocab extend", VocabExtendConfig, vocab.extend, {}),
]
for name, config_class, run, how in VERBS:
    group, _, sub = name.rpartition(" ")
    (vocab_app if group == "vocab" else app).command(sub)(command(config_class, run, **how))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app; a user error (a bad flag or value, a bad file) is one line on
    stderr and exit status 2, a fault of the environment (a full disk) one line and status 1."""
    prepare_process()
    try:
        code = app(args=argv, standalone_mode=False, prog_name="entitune")
    except EntituneError as exc:
        report_error(exc)
        raise SystemExit(exc.exit_code) from None
    except typer.exceptions.TyperException as exc:  # the parser's own errors (a word for a number, a missing argument)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message:  # with no arguments at all the help was printed, and that is all
            report_error(" ".join(message.split()))
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C: a run with checkpoints resumes with --resume
        report_error("interrupted")
        raise SystemExit(130) from None
    except OSError as exc:  # a write the environment refused outside the places that name their file
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        report_error(output_error(exc.filename or "output", exc))
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
