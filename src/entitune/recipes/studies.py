"""The Optuna study of a ``tune`` search, and how several workers share one.

A study lives in ``OUT/tune.db`` (SQLite; one worker, which holds the lock on ``OUT``) or in the
database ``--storage`` names (PostgreSQL, MySQL, or an SQLite file several processes of one
machine share), where any number of ``tune`` processes on any machines work on it together. Three
rules make a shared study end with exactly ``--trials`` finished trials:

- **Claiming.** A worker starts a trial only while the claimed trials (finished, running, queued,
  and failed ones still owed their retry) are fewer than wanted. Two workers may both see room for
  the last trial; after ``ask`` each counts the claims with a lower trial number than its own, and
  the one that finds the study full gives its trial up before sampling anything (``SurplusTrial``:
  failed, marked ``surplus``, left out of the tables). Trial numbers are handed out by the
  database one by one, so exactly one of two racing workers yields; no lock outside Optuna is
  needed. (Optuna's ``MaxTrialsCallback`` stops a worker only after its trial, so N workers may
  overshoot by N - 1 trials.)
- **Liveness.** With ``--storage``, Optuna's heartbeats (``RDBStorage(heartbeat_interval=...)``)
  tell a running trial from a dead one: a trial whose worker has been silent for
  ``STALE_HEARTBEATS`` heartbeats (SIGKILL, a lost machine) is marked failed by whichever worker
  looks next, and ``RetryHeartbeatStaleTrialCallback(max_retry=1)`` queues its parameters again as
  a new trial, once. Without ``--storage`` the lock on ``OUT`` proves that no other process runs a
  trial, so a trial left running is cut off at once (``requeue_running``), through the same
  callback.
- **Waiting.** A worker that finds the study full but not finished waits (a trial running
  elsewhere may still be cut off and queued again) and ends when ``--trials`` have finished.

A worker's sampler is seeded by ``--seed`` alone without ``--storage``; with it, each worker draws
its own random state (workers of one seed would propose the same parameters) and TPE's constant
liar keeps them from crowding one spot. Each worker runs its trials into its own ``--out``; the
study records where (host and directory) and each trial's full options, so the tables and
``best.toml`` can be written by any worker, or by ``tune --report``.
"""
from __future__ import annotations

import contextlib
import json
import socket
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import ConfigError, ServiceError, one_line
from ..terminal import Console

#: the file of a study without ``--storage``, in ``--out``
DB_FILE = "tune.db"
#: how many times a cut-off trial's parameters are queued again
MAX_RETRY = 1
#: a running trial silent for this many heartbeats is taken as cut off
STALE_HEARTBEATS = 3
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: the states of trials that hold a place among the ``--trials`` wanted
CLAIMING = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
#: the study's user attribute holding what the search is (its space and shared options)
SEARCH_ATTR = "entitune:search"
#: drivers SQLAlchemy loads for a database, and what installs them
DRIVERS = {"postgresql": "pip install 'entitune[tune-postgres]' (psycopg 3)",
           "mysql": "pip install pymysql and write mysql+pymysql://..."}

try:  # Optuna >= 4.9 names the callback after what it does; before, RetryFailedTrialCallback
    from optuna.storages import RetryHeartbeatStaleTrialCallback as _Retry
    _RETRY_KEYWORD = "heartbeat_stale_trial_callback"
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as _Retry
    _RETRY_KEYWORD = "failed_trial_callback"


class SurplusTrial(Exception):
    """Raised at the start of a trial that lost the race for the study's last places."""


@dataclass(frozen=True)
class StudyPlace:
    """Where a study lives: ``url`` (SQLAlchemy), ``name``, whether workers share it (``shared``:
    heartbeats on), and ``heartbeat`` (seconds)."""

    url: str
    name: str
    shared: bool
    heartbeat: int

    @classmethod
    def of(cls, storage: str | None, name: str, out: Path, heartbeat: int) -> "StudyPlace":
        if storage is None:
            return cls(f"sqlite:///{(out / DB_FILE).resolve()}", name, False, heartbeat)
        return cls(_database_url(storage), name, True, heartbeat)

    @property
    def shown(self) -> str:
        """The URL as messages show it: the password hidden."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def storage(self, console: Console) -> optuna.storages.RDBStorage:
        """Optuna's storage of this place, with heartbeats and the retry of cut-off trials when shared;
        a missing driver or an unknown database is a ``ConfigError``, an unreachable one a
        ``ServiceError``."""
        import sqlalchemy.exc

        heartbeats = {}
        if self.shared:
            heartbeats = {"heartbeat_interval": self.heartbeat, "grace_period": STALE_HEARTBEATS * self.heartbeat,
                          _RETRY_KEYWORD: retry_callback(console)}
        try:
            with _quiet_experimental():
                return optuna.storages.RDBStorage(self.url, engine_kwargs={"pool_pre_ping": True}, **heartbeats)
        except ImportError:
            dialect = self.url.split(":", 1)[0].split("+", 1)[0]
            how = DRIVERS.get(dialect, "install its SQLAlchemy driver")
            raise ConfigError(f"--storage {self.shown}: the database driver is missing; {how}") from None
        except sqlalchemy.exc.ArgumentError as exc:
            raise ConfigError(f"--storage {self.shown}: {one_line(exc)}") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise unreachable(self, exc) from None


def unreachable(place: StudyPlace, exc: Exception) -> ServiceError:
    """The one line for a database that cannot be reached or refuses the study."""
    reason = getattr(exc, "orig", None) or exc
    return ServiceError(f"--storage {place.shown}: the study's database cannot be used ({one_line(reason, 240)})")


def _database_url(storage: str) -> str:
    """``storage`` as SQLAlchemy takes it: ``postgresql://`` reads as ``postgresql+psycopg://``
    (psycopg 3, the driver the ``tune-postgres`` extra installs; SQLAlchemy's default is psycopg2).

    >>> _database_url("postgresql://tune@db.example/search")
    'postgresql+psycopg://tune@db.example/search'
    >>> _database_url("sqlite:///runs/study.db")
    'sqlite:///runs/study.db'
    >>> _database_url("no url")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: --storage 'no url': expected a database URL such as postgresql://USER@HOST/DB, mysql+pymysql://USER@HOST/DB or sqlite:///FILE
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except ArgumentError:
        raise ConfigError(f"--storage {storage!r}: expected a database URL such as postgresql://USER@HOST/DB, "
                          "mysql+pymysql://USER@HOST/DB or sqlite:///FILE") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def _quiet_experimental():
    """Optuna calls heartbeats and their retry experimental (and its older names deprecated) and says
    so each time; entitune relies on them knowingly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def retry_callback(console: Console) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's retry of a cut-off trial (its parameters queued as a new trial, at most
    ``MAX_RETRY`` times in a chain), saying what it did."""
    with _quiet_experimental():
        retry = _Retry(max_retry=MAX_RETRY)

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        retry(study, trial)
        where = trial.user_attrs.get("host")
        by = f" (on {where})" if where else ""
        if len(trial.system_attrs.get("retry_history", [])) < MAX_RETRY:
            console.note(f"trial {trial.number}{by} was cut off: marked failed, its parameters queued again")
        else:
            console.note(f"trial {trial.number}{by} was cut off, and it was a retry already: not queued again")

    return callback


def open_study(place: StudyPlace, sampler_seed: int, pruner: optuna.pruners.BasePruner, search: Mapping[str, Any],
               console: Console) -> optuna.Study:
    """The study at ``place``: made, or joined as an earlier run or other workers left it. ``search``
    (the space and the options every trial shares) is recorded by the first worker; a worker whose
    search differs is refused, so that one study never mixes two searches."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the recipe says what happens, one line a trial
    storage = place.storage(console)
    sampler = (optuna.samplers.TPESampler(constant_liar=True) if place.shared
               else optuna.samplers.TPESampler(seed=sampler_seed))
    study = optuna.create_study(storage=storage, study_name=place.name, direction="maximize", load_if_exists=True,
                                pruner=pruner, sampler=sampler)
    ours = json.loads(json.dumps(search))
    if SEARCH_ATTR not in study.user_attrs:
        study.set_user_attr(SEARCH_ATTR, ours)
    theirs = study.user_attrs[SEARCH_ATTR]
    if theirs != ours:
        from ..options import differences

        differ = differences(theirs.get("options", {}), ours.get("options", {}))
        if theirs.get("space") != ours.get("space"):
            differ.insert(0, "the search space")
        raise ConfigError(f"study {place.name!r} in {place.shown} searches otherwise ({'; '.join(differ)}); give the "
                          "same options as its other workers, or another --study")
    if place.shared:
        console.note(f"study {place.name!r} in {place.shown}, shared: a trial silent for "
                     f"{STALE_HEARTBEATS * place.heartbeat} s is taken as cut off and its parameters queued again, once")
    return study


def load_study(place: StudyPlace, console: Console) -> optuna.Study:
    """The study at ``place`` as it stands, for a report (nothing is made)."""
    storage = place.storage(console)
    try:
        return optuna.load_study(study_name=place.name, storage=storage)
    except KeyError:
        raise ConfigError(f"no study {place.name!r} in {place.shown}") from None


def requeue_running(study: optuna.Study, console: Console) -> None:
    """Without ``--storage``, under the lock on ``OUT``: a trial left running was cut off with the
    process that ran it. Each is marked failed, and its parameters queued again (once)."""
    retry = retry_callback(console)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        retry(study, study._storage.get_trial(trial._trial_id))


def fail_stale(study: optuna.Study) -> None:
    """With heartbeats on: trials whose workers went silent are failed, and queued again (Optuna's
    ``fail_stale_trials`` through the storage's retry callback)."""
    with _quiet_experimental():
        optuna.storages.fail_stale_trials(study)


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def claims(trials: list[FrozenTrial], shared: bool, below: int | None = None) -> int:
    """How many of ``trials`` hold a place among those wanted (of those numbered below ``below``):
    finished, running and queued trials and, in a ``shared`` study, cut-off trials whose retry is
    not queued yet (between a stale trial's failure and its retry another worker might otherwise
    take its place)."""
    retried = {t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")}
    count = 0
    for t in trials:
        if below is not None and t.number >= below:
            continue
        if t.state in CLAIMING or (shared and t.state == TrialState.FAIL and owed_retry(t) and t.number not in retried):
            count += 1
    return count


def owed_retry(trial: FrozenTrial) -> bool:
    """Whether a failed trial of a shared study is one the retry callback queues again: cut off (not
    failed by an error of its own, not given up as surplus) and not itself the last retry allowed."""
    if "error" in trial.user_attrs or trial.user_attrs.get("surplus"):
        return False
    return len(trial.system_attrs.get("retry_history", [])) < MAX_RETRY


def room(study: optuna.Study, wanted: int, shared: bool) -> bool:
    """Whether a worker may start a trial: one is queued (a retry), or the claims leave room."""
    trials = study.get_trials(deepcopy=False)
    return any(t.state == TrialState.WAITING for t in trials) or claims(trials, shared) < wanted


def claim(trial: optuna.Trial, wanted: int, shared: bool) -> None:
    """At a trial's start: give it up (``SurplusTrial``) when the trials numbered below it already
    hold every place wanted; another worker asked for the last place first."""
    trials = trial.study.get_trials(deepcopy=False)
    if claims(trials, shared, below=trial.number) >= wanted:
        trial.set_user_attr("surplus", True)
        raise SurplusTrial(f"trial {trial.number}: the study has its {wanted} trials")
    trial.set_user_attr("host", socket.gethostname())


def is_surplus(trial: FrozenTrial) -> bool:
    return bool(trial.user_attrs.get("surplus"))


__all__ = ["DB_FILE", "MAX_RETRY", "STALE_HEARTBEATS", "StudyPlace", "SurplusTrial", "claim", "claims", "fail_stale",
           "finished", "load_study", "open_study", "requeue_running", "room"]
