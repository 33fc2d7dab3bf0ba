"""``tune``: a hyper-parameter search over ``entitune train`` with Optuna, callable from Python.

Reads top to bottom: the search space (``DEFAULT_SPACE`` or a YAML/JSON/TOML file; options the
user fixed leave it) -> the study (``studies``: in ``OUT/tune.db``, SQLite, one fixed name, so a
killed search resumes: its finished trials count, a trial that was running is marked failed and its
parameters queued again, once; or in the database ``--storage`` names, shared by any number of
workers on any machines) -> one ``finetune`` run per trial into ``OUT/trials/NNNN`` (its objective:
the run's best dev score; each dev evaluation is reported to the median pruner, which may stop the
run) until ``trials`` have finished in the study or ``budget_minutes`` are spent ->
``trials.csv``/``trials.md`` and ``best.toml`` (the best trial's full options, for ``entitune train
--config``) -> the best model scored on the test file, once, where it is on this machine.
``report`` skips the search: the tables from the study as it stands.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
import socket
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, output_error

try:
    import optuna
    from optuna.trial import TrialState
except ImportError:  # an optional extra: one line, not a traceback
    raise ConfigError("tune needs Optuna: pip install 'entitune[tune]'") from None

from ..artifact.hub import resolve_encoder
from ..files import RunLock, atomic_write_text
from ..train.progress import Silent
from ..terminal import Console
from .training import CHECKPOINT_DIR, RUN_ONLY_OPTIONS, finetune
from ..options import FinetuneConfig, TuneConfig, build_config, config_dict, declared, read_config_file
from ..options.training import STUDY_NAME
from . import studies
from .studies import DB_FILE, StudyPlace, SurplusTrial
from .tasks import resolve_task

TRIALS_DIR = "trials"
BEST_FILE = "best.toml"
#: the search space without a ``space`` file: option -> how it is sampled (``type`` float, int or
#: categorical; ``low``/``high``/``log`` or ``choices``); an option the user fixes leaves it
DEFAULT_SPACE: dict[str, dict] = {
    "lr": {"type": "float", "low": 1e-5, "high": 3e-4, "log": True},
    "head_lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
    "epochs": {"type": "int", "low": 1, "high": 5},
    "batch_size": {"type": "categorical", "choices": [16, 32]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    "head": {"type": "categorical", "choices": ["linear", "crf"]},
    "warmup": {"type": "float", "low": 0.0, "high": 0.2},
    "layer_decay": {"type": "categorical", "choices": [1.0, 0.9, 0.8]},
    "word_features": {"type": "categorical", "choices": ["none", "shape"]},
}
#: options for taggers only: a classification search leaves them out of the default space
NER_ONLY = ("head", "word_features")
#: options a space may not sample: the data, where and how a run goes (their declarations say so)
NOT_SEARCHABLE = frozenset(f.name for f, spec in declared(FinetuneConfig) if not spec.is_searchable())
#: where an evaluation is reported to the pruner: thousandths of an epoch (optimizer steps differ
#: between trials of different batch sizes; a share of the data seen does not)
POSITION_PER_EPOCH = 1000
_FIELDS = {f.name for f in fields(FinetuneConfig)}
_SPEC_KEYS = {"float": {"type", "low", "high", "log"}, "int": {"type", "low", "high", "log"},
              "categorical": {"type", "choices"}}


@dataclass
class TuneResult:
    """What a search left: ``out``, the best trial's number and dev score (None: no trial completed),
    the path of ``best.toml``, the test report of the best model (if a test file was given), and
    every trial as a table row."""

    out: Path
    best_trial: int | None
    best_score: float | None
    best_config: Path | None
    test: dict | None = None
    rows: list[dict] = field(default_factory=list)


class PruneRun(Exception):
    """Raised by ``PruningListener`` inside the training loop when the pruner stops a trial."""


class PruningListener(Silent):
    """Reports each dev evaluation to an Optuna trial (at its position in thousandths of an epoch)
    and stops the run (``PruneRun``) when the pruner says so."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.steps_per_epoch = 1

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        self.steps_per_epoch = max(steps_per_epoch, 1)

    def on_evaluation(self, result) -> None:
        if result.score is None:
            return
        position = round(result.step * POSITION_PER_EPOCH / self.steps_per_epoch)
        self.trial.report(result.score, position)
        if self.trial.should_prune():
            raise PruneRun(f"pruned at epoch {position / POSITION_PER_EPOCH:g} (dev {result.score:.4f})")


def tune(config: TuneConfig, console: Console | None = None) -> TuneResult:
    """Search ``config``'s space with Optuna (TPE; median pruning), one ``finetune`` per trial, in
    this process, until the study holds ``config.trials`` finished trials (this worker's and, with
    ``config.storage``, every other worker's); write the trial table and ``best.toml``; score the
    best model on the test file. With ``config.report``: only the tables, from the study as it is."""
    import sqlalchemy.exc

    console = console or Console()
    out = Path(config.out)
    place = StudyPlace.of(config.storage, config.study, out, config.heartbeat_seconds)
    try:
        if config.report:
            return _report(config, place, out, console)
        return _search(config, place, out, console)
    except sqlalchemy.exc.SQLAlchemyError as exc:  # the database went away or refused mid-search
        raise studies.unreachable(place, exc) from None


def _search(config: TuneConfig, place: StudyPlace, out: Path, console: Console) -> TuneResult:
    started = time.monotonic()
    base = {"seed": config.seed, **config.base, "resume": False}
    if base.get("dev") is None and base.get("dev_fraction") is None:
        base["dev_fraction"] = 0.1
    # the shared options, checked before a study is made (with the test file: it must be there)
    shared = build_config(FinetuneConfig, {**base, "out": str(out / TRIALS_DIR / "check")}, "options")
    resolve_encoder(shared.model)  # the encoder of every trial, once, before a study is made (a Hub name: fetched now)
    space = load_space(config.space, fixed=set(config.base), task=resolve_task(shared), console=console)
    # without --storage the study is in OUT and this process its only worker; with it, each trial's
    # directory is locked by its own run and the tables are written whole (workers may share OUT)
    lock = None if place.shared else RunLock(out, console.note).acquire()
    try:
        study = studies.open_study(place, config.seed, _pruner(config), _search_identity(space, shared), console)
        if not place.shared:
            studies.requeue_running(study, console)
        waiting = False
        while (finished := studies.finished(study)) < config.trials:
            left = None if config.budget_minutes is None else config.budget_minutes - (time.monotonic() - started) / 60
            if left is not None and left <= 0:
                console.note(f"the budget of {config.budget_minutes:g} min is spent: {finished} of {config.trials} "
                             "trials finished (run tune again to go on)")
                break
            if place.shared:
                studies.fail_stale(study)
            if not studies.room(study, config.trials, place.shared):  # the last trials run elsewhere: wait
                if not waiting:
                    console.note(f"{finished} of {config.trials} trials finished, the others run in other workers: "
                                 "waiting for them (one cut off would be queued again)")
                waiting = True
                time.sleep(min(place.heartbeat, 10))
                continue
            waiting = False
            def objective(trial: optuna.Trial, left=left) -> float:
                return _objective(trial, space, base, out, left, config.trials, place.shared, console)

            study.optimize(objective, n_trials=1, catch=(SurplusTrial,))
        return _conclude(study, config, out, console)
    finally:
        if lock is not None:
            lock.release()


def _report(config: TuneConfig, place: StudyPlace, out: Path, console: Console) -> TuneResult:
    """``--report``: the tables and ``best.toml`` of the study as it stands; no trial starts."""
    if not place.shared and not (out / DB_FILE).is_file():
        raise ConfigError(f"{out}: no search here ({DB_FILE}); give --storage and --study for a shared one")
    return _conclude(studies.load_study(place, console), config, out, console)


def _pruner(config: TuneConfig) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=config.startup_trials,
                                       n_warmup_steps=round(config.warmup_epochs * POSITION_PER_EPOCH))


#: options of a trial that may differ between the workers of one study: where files are (each
#: machine has its own paths) and how a run goes, not what it computes
WORKER_OPTIONS = RUN_ONLY_OPTIONS | {"train", "dev", "test", "model", "precision"}


def _search_identity(space: Mapping[str, dict], shared: FinetuneConfig) -> dict:
    """What makes two workers' searches one: the space, and the options every trial shares."""
    return {"space": space, "options": {k: v for k, v in config_dict(shared).items() if k not in WORKER_OPTIONS}}


def _conclude(study: optuna.Study, config: TuneConfig, out: Path, console: Console) -> TuneResult:
    """The trial table and ``best.toml`` into ``out``; the best model scored on the test file where
    it is on this machine."""
    try:
        out.mkdir(parents=True, exist_ok=True)  # a report's, or a shared study's worker that ran no trial
    except OSError as exc:
        raise output_error(out, exc) from None
    rows = trial_rows(study)
    _write_tables(rows, out)
    result = TuneResult(out, None, None, None, rows=rows)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        result.best_trial, result.best_score = best.number, best.value
        values = best.user_attrs.get("config")
        if values is None and config.base.get("train") is not None:  # a trial of a search before options were kept
            base = {"seed": config.seed, **config.base, "resume": False}
            values = {**config_dict(_trial_config(base, best.params, out, None)), "test": config.base.get("test"),
                      "time_budget_minutes": config.base.get("time_budget_minutes")}
        if values is not None:
            result.best_config = out / BEST_FILE
            atomic_write_text(toml_text({**values, "out": str(out / "best")},
                                        f"the best trial ({best.number}) of {out}: dev {best.value:.4f}; "
                                        "entitune train --config THIS_FILE trains it again"), result.best_config)
        else:
            console.note(f"trial {best.number} has no options recorded: no {BEST_FILE}")
    console.result(markdown_table(sorted(rows, key=_rank)[:20]))
    if not complete:
        console.note("no trial completed: no best.toml")
        return result
    console.result(f"best: trial {result.best_trial}, dev {result.best_score:.4f}; its options: {result.best_config}")
    if config.base.get("test") is not None:
        model = Path(best.user_attrs["out"])
        if (model / "train_log.json").is_file():
            result.test = _score_test(config.base, model, out, console)
        else:
            console.note(f"the best model is in {model} on {best.user_attrs.get('host', 'another machine')}: "
                         f"score it there (entitune evaluate {model} TEST_FILE)")
    return result


def load_space(path: str | None, fixed: set[str] = frozenset(), task: str = "auto",
               console: Console | None = None) -> dict[str, dict]:
    """The search space: ``DEFAULT_SPACE`` (without the tagger's options for ``task`` classify), or
    the file at ``path`` (``{option: {type, low, high, log} | {type: categorical, choices} | value}``),
    checked; options in ``fixed`` (given by the user) are left out."""
    if path is None:
        raw: Mapping[str, Any] = {k: v for k, v in DEFAULT_SPACE.items() if not (task == "classify" and k in NER_ONLY)}
    else:
        raw = read_config_file(path)
        if not raw:
            raise ConfigError(f"{path}: an empty search space; give at least one option to sample")
    where = f"{path}: " if path else "space: "
    space = {}
    for name, spec in raw.items():
        if name not in _FIELDS:
            raise ConfigError(f"{where}unknown option {name!r}; a space samples options of 'entitune train'")
        if name in NOT_SEARCHABLE:
            raise ConfigError(f"{where}option {name!r} cannot be searched (give it as a fixed option instead)")
        space[name] = _check_spec(name, spec, where)
    overridden = sorted(set(space) & set(fixed))
    if overridden and path is not None and console is not None:
        console.note(f"fixed by the options, not searched: {', '.join(overridden)}")
    return {k: v for k, v in space.items() if k not in fixed}


def _check_spec(name: str, spec: Any, where: str) -> dict:
    """One option's distribution, checked; a bare value is a categorical of one choice."""
    if not isinstance(spec, Mapping):
        spec = {"type": "categorical", "choices": [spec]}
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in _SPEC_KEYS:
        raise ConfigError(f"{where}{name}: type must be float, int or categorical, got {kind!r}")
    if unknown := sorted(set(spec) - _SPEC_KEYS[kind]):
        raise ConfigError(f"{where}{name}: unknown key(s) {', '.join(unknown)} for type {kind}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices or \
                not all(c is None or isinstance(c, (str, int, float, bool)) for c in choices):
            raise ConfigError(f"{where}{name}: choices must be a non-empty list of values, got {choices!r}")
        return {"type": kind, "choices": list(choices)}
    number = int if kind == "int" else (int, float)
    low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in (low, high)) or not low <= high:
        raise ConfigError(f"{where}{name}: {kind} needs low <= high, both {kind}s, got low={low!r}, high={high!r}")
    if not isinstance(log, bool) or (log and low <= 0):
        raise ConfigError(f"{where}{name}: log must be true or false, and log needs low > 0")
    return {"type": kind, "low": low, "high": high, "log": log}


def sample(trial: optuna.Trial, space: Mapping[str, dict]) -> dict[str, Any]:
    """One value per option of ``space``, asked of ``trial``."""
    params = {}
    for name, spec in space.items():
        if spec["type"] == "float":
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=spec["log"])
        elif spec["type"] == "int":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


def _trial_config(base: Mapping[str, Any], params: Mapping[str, Any], out: Path, budget_left: float | None) -> FinetuneConfig:
    values = {**base, **params, "out": str(out), "test": None}
    if budget_left is not None:
        values["time_budget_minutes"] = min(values.get("time_budget_minutes") or math.inf, budget_left)
    return build_config(FinetuneConfig, values, "tune")


def _objective(trial: optuna.Trial, space, base, out: Path, budget_left: float | None, wanted: int, shared: bool,
               console: Console) -> float:
    """One trial: claim its place in the study, sample, fine-tune into ``out/trials/NNNN``, return
    the best dev score. A failure of the trial's own is recorded on it (not a cut-off: no retry)."""
    studies.claim(trial, wanted, shared)
    try:
        return _train_trial(trial, space, base, out, budget_left, console)
    except (optuna.TrialPruned, SurplusTrial):
        raise
    except (Exception, KeyboardInterrupt) as exc:
        trial.set_user_attr("error", str(exc)[:500] or type(exc).__name__)
        raise


def _train_trial(trial: optuna.Trial, space, base, out: Path, budget_left: float | None, console: Console) -> float:
    params = sample(trial, space)
    run_dir = out / TRIALS_DIR / f"{trial.number:04d}"
    trial.set_user_attr("out", str(run_dir.resolve()))
    run_config = _trial_config(base, params, run_dir, budget_left)
    # the options best.toml gives for this trial, wherever the table is written
    trial.set_user_attr("config", {**{k: v for k, v in config_dict(run_config).items() if k != "out"},
                                   "test": base.get("test"), "time_budget_minutes": base.get("time_budget_minutes")})
    console.note(f"trial {trial.number}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
    started = time.monotonic()
    try:
        result = finetune(run_config, Console(quiet=True), listeners=(PruningListener(trial),))
    except PruneRun as stop:
        trial.set_user_attr("seconds", time.monotonic() - started)
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)  # a pruned trial's weights are not kept
        console.note(f"trial {trial.number}: {stop}")
        raise optuna.TrialPruned(str(stop)) from None
    trial.set_user_attr("seconds", time.monotonic() - started)
    score = run_score(result.log)
    if score is None:
        raise ConfigError(f"trial {trial.number}: the run has no dev score to compare (see {run_dir / 'train_log.json'})")
    console.note(f"trial {trial.number}: dev {score:.4f}")
    return score


def run_score(log: Mapping[str, Any]) -> float | None:
    """The dev score of the model a run kept: the best evaluation's, or the average's if it was kept."""
    train = log.get("train") or {}
    average = train.get("average")
    if average and average.get("kept") and average.get("score") is not None:
        return average["score"]
    return train.get("best_score")


def trial_rows(study: optuna.Study) -> list[dict]:
    """Every trial as a row: number, state, dev score, seconds, the machine it ran on (when the
    trials ran elsewhere than here), and its parameters."""
    trials = [t for t in study.get_trials(deepcopy=False) if not studies.is_surplus(t)]  # surplus: never ran
    hosts = {t.user_attrs["host"] for t in trials if "host" in t.user_attrs}
    show_host = bool(hosts - {socket.gethostname()})
    rows = []
    for t in trials:
        seconds = t.user_attrs.get("seconds")
        if seconds is None and t.duration is not None:
            seconds = t.duration.total_seconds()
        where = {"host": t.user_attrs.get("host")} if show_host else {}
        rows.append({"number": t.number, "state": t.state.name, "dev_score": t.value,
                     "seconds": None if seconds is None else round(seconds, 1), **where, **t.params})
    return rows


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in [{"number": 0, "state": 0, "dev_score": 0, "seconds": 0}, *rows] for k in row))


def _rank(row: dict):
    return (row["dev_score"] is None, -(row["dev_score"] or 0.0), row["number"])


def _short(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    columns = _columns(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_short(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _write_tables(rows: list[dict], out: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(buffer.getvalue(), out / "trials.csv")
    atomic_write_text(markdown_table(rows) + "\n", out / "trials.md")


def toml_text(values: Mapping[str, Any], comment: str = "") -> str:
    """A flat table of options as TOML (None values are left out: they are the defaults).

    >>> print(toml_text({"lr": 1e-05, "head": "crf", "resume": False, "head_lr": None, "epochs": 2}))
    lr = 1e-05
    head = "crf"
    resume = false
    epochs = 2
    <BLANKLINE>
    >>> print(toml_text({"train": ["train.conll", "dev.conll"]}), end="")
    train = ["train.conll", "dev.conll"]
    """
    lines = [f"# {comment}"] if comment else []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)) and math.isfinite(value):
            text = repr(value)
        elif isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = json.dumps(value, ensure_ascii=False)  # several training files
        else:
            raise ValueError(f"{key}: no TOML for {value!r}")
        lines.append(f"{key} = {text}")
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == {k: v for k, v in values.items() if v is not None}
    return text


def _score_test(base: Mapping[str, Any], model_dir: Path, out: Path, console: Console) -> dict:
    """The best model scored on the test file, once, at the end (``out/test.json``)."""
    from .inference import evaluate_file

    console.result(f"test: {base['test']} (the best trial's model)")
    precision = base.get("precision", "auto")
    return evaluate_file(model_dir, base["test"], out / "test.json", format=base.get("format", "auto"),
                         text_columns=base.get("text_columns"), label_column=base.get("label_column"),
                         device=base.get("device", "auto"), precision=precision if precision in ("fp32", "bf16") else "auto",
                         threads=base.get("threads"), console=console)


__all__ = ["DEFAULT_SPACE", "PruneRun", "PruningListener", "TuneConfig", "TuneResult", "load_space", "tune"]
