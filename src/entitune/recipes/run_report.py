"""``report``: a training run (and an evaluation of it) as one self-contained HTML page."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from ..files import atomic_write_text, check_input_file
from ..report import build_report, read_run_log, report_task, require_matplotlib
from ..options import ReportConfig
from ..terminal import Console


def _read_json(path: Path, what: str) -> dict:
    check_input_file(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON {what} ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: not a JSON {what} (expected an object)")
    return value


def _settings_task(run: Path) -> str | None:
    """The task in the model's settings, None when ``run`` holds no model; model_dir (and torch,
    which its settings import) loads only when the run's own files do not say."""
    from ..artifact import model_dir

    return model_dir.read_settings(run)[0].task if model_dir.is_tagger_dir(run) else None


def report(config: ReportConfig, console: Console | None = None) -> Path:
    """Write the report of the run in ``config.run_dir`` (its ``log.jsonl``, ``train_log.json`` and
    ``entitune.json``, whichever are there) and of ``eval_file`` (the JSON of ``entitune evaluate
    --json``, with ``--errors`` for the error view) to ``out`` (default ``run_dir/report.html``);
    returns the path written."""
    console = console or Console()
    run_dir, eval_file, out = config.run_dir, config.eval_file, config.out
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"{run}: not a directory; expected a training run's output directory")
    log_path, train_log_path = run / "log.jsonl", run / "train_log.json"
    if not (log_path.is_file() or train_log_path.is_file() or _settings_task(run)):
        raise ConfigError(f"{run}: no log.jsonl, train_log.json or entitune.json; "
                          "expected the output directory of 'entitune train'")
    require_matplotlib()
    eval_report = _read_json(Path(eval_file), "evaluation report") if eval_file is not None else None
    train_log = _read_json(train_log_path, "training log") if train_log_path.is_file() else None
    if log_path.is_file():
        check_input_file(log_path)
        log = read_run_log(log_path)
    else:
        log = None
        console.note(f"notice: no {log_path}: the report has no training curves")
    task = report_task(eval_report, train_log, None if (train_log or {}).get("task") else _settings_task(run))
    if eval_report is not None and ("accuracy" in eval_report) != (task == "classify"):
        raise ConfigError(f"{eval_file}: the evaluation of a {'tagger' if task == 'classify' else 'classifier'}, "
                          f"but {run} is a {'classifier' if task == 'classify' else 'tagger'}'s run")
    page = build_report(title=run.resolve().name, task=task, log=log, train_log=train_log, eval_report=eval_report,
                        eval_name=Path(eval_file).name if eval_file is not None else None)
    target = Path(out) if out is not None else run / "report.html"
    atomic_write_text(page, target)
    console.result(f"wrote {target} ({len(page.encode()) / 1e3:.0f} kB)")
    return target
