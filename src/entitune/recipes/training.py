"""``finetune``: the whole ``entitune train`` run, callable from Python with the same result.

Reads top to bottom: settings -> a lock on the output directory (``--resume`` of a finished run
stops here; a new run clears an earlier run's checkpoints) -> the task's data (dev split, labels)
and model -> logs and checkpoints -> the one training loop -> save -> test evaluation ->
the model card (``README.md``) -> ``train_log.json`` (written last: it marks the run finished) ->
the checkpoints removed (unless ``keep_checkpoints_after``). The task
(tagging or classification, ``tasks``; masked-LM pretraining, ``pretrain``) contributes its data,
model, fit, card and report; everything else is the same for all (``run_task``). ``FinetuneConfig``
holds every option; ``entitune train`` only turns flags (and ``--config FILE``) into one.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError, output_error
from ..files import RunLock, atomic_write_text
from ..artifact import model_dir
from ..artifact.hub import Encoder, resolve_encoder
from ..model.encoder_model import EncoderModel
from ..train import CheckpointOptions, JsonlLog, Listeners, TensorBoardLog, TrainConfig, tensorboard_available
from ..train.distributed import all_sum, barrier, gather, init_from_env, shutdown
from .common import set_threads
from ..terminal import Console
from ..options import DEVICES, FinetuneConfig, config_dict, differences
from .tasks import TASK_RUNS, resolve_task

LOG_FILE = "train_log.json"
#: where ``--refit``'s first run (the one that chooses where to stop) writes, inside OUT
REFIT_DIR = "refit-selection"
CHECKPOINT_DIR = "checkpoints"
#: options that change how a run goes, not what it computes: ``--resume`` of a finished run
#: accepts any values of these (the time budget too: a killed run may be resumed with a longer one)
RUN_ONLY_OPTIONS = frozenset({"out", "resume", "save_every", "keep_checkpoints", "keep_checkpoints_after", "device",
                              "nproc", "threads", "time_budget_minutes"})


@dataclass
class FinetuneResult:
    """What a run left: its directory, its ``train_log.json`` content, and (in this process) the
    trained model, or None when the run went to other processes (``nproc`` > 1) or had finished
    before (``--resume`` of a finished run: the model is in ``out``)."""

    out: Path
    log: dict
    model: EncoderModel | None = field(default=None, repr=False)

    @property
    def test(self) -> dict | None:
        return self.log.get("test")


def finetune(config: FinetuneConfig, console: Console | None = None, listeners: tuple = ()) -> FinetuneResult:
    """Fine-tune an encoder for the run's task (``config.task``, or what the training file is for)
    on ``config.train``, keep the best dev epoch, save the model to ``config.out``, score it on
    ``config.test``, and write ``train_log.json``. ``listeners``: more training listeners (in this
    process; ``tune`` prunes a trial by raising from one), beside the console's and the logs."""
    console = console or Console()
    if config.refit:
        return refit(config, console, listeners)
    return run_task(config, console, "train",
                    lambda console, encoder: TASK_RUNS[resolve_task(config)](config, console, encoder), listeners)


def refit(config: FinetuneConfig, console: Console, listeners: tuple = ()) -> FinetuneResult:
    """``--refit``: two runs, so that the saved model has learned from every training example and
    still stopped where a dev score said. The first, into ``OUT/refit-selection`` with dev held out
    from ``--train`` and no test, chooses the point (its best epoch; its best step too with
    ``--eval-every``, scaled to the larger data; whether the average of the last evaluations won)
    and, for multi-label texts, the threshold. The second trains from the start on all of
    ``--train``, no dev, to that point, with that threshold, into ``OUT``, and scores ``--test``.
    Its ``train_log.json`` records the choice under ``refit``; the selection keeps its logs, not
    its weights. Each run resumes as any run does (``--resume`` passes through)."""
    out = Path(config.out)
    chooser = replace(config, refit=False, out=str(out / REFIT_DIR), test=None, keep_checkpoints_after=False)
    console.note(f"refit 1/2: choosing where to stop on dev held out from --train ({REFIT_DIR}/)")
    finetune(chooser, console, listeners)
    chosen = _read_log(out / REFIT_DIR)
    if chosen is None:  # a process of a distributed run other than the first has no log to read: none is written
        raise ConfigError(f"refit: the selection run left no {LOG_FILE} in {out / REFIT_DIR}")
    final, point = refit_config(config, chosen)
    (out / REFIT_DIR / "model.safetensors").unlink(missing_ok=True)  # its weights were only there to be scored
    console.note(f"refit 2/2: training on all of --train ({point['train_examples']} examples) to {point.pop('describe')}")
    result = finetune(final, console, listeners)
    if result.log:
        result.log["refit"] = point
        atomic_write_text(json.dumps(result.log, indent=2) + "\n", out / LOG_FILE)
    return result


def refit_config(config: FinetuneConfig, chosen: dict) -> tuple[FinetuneConfig, dict]:
    """The second run of ``refit``, from the selection run's ``train_log.json`` (``chosen``), and
    what was chosen (for the log): epochs = the best epoch; with ``eval_every``, also a step limit,
    the best step times (train + dev) / train, as the dev examples join the training data; the
    average of the last evaluations kept only where it won on dev; the multi-label threshold."""
    train, data = chosen["train"], chosen["data"]
    epochs = max(1, int(train["best_epoch"]))
    examples = data["train"] + data["dev"]
    max_steps = (max(1, math.ceil(train["best_step"] * examples / max(1, data["train"]))) if config.eval_every
                 else config.max_steps)
    averaged = bool((train.get("average") or {}).get("kept"))
    model = chosen.get("model") or {}
    threshold = model.get("threshold") if model.get("multi_label") and config.threshold is None else config.threshold
    final = replace(config, refit=False, dev_fraction=0.0, epochs=epochs, max_steps=max_steps, patience=0,
                    eval_every=0, average_last=config.average_last if averaged else 0, threshold=threshold)
    point = {"epochs": epochs, "max_steps": max_steps, "average_last": final.average_last, "threshold": threshold,
             "dev_score": train.get("best_score"), "dev_examples": data["dev"], "train_examples": examples,
             "selection": REFIT_DIR}
    point["describe"] = (f"epoch {epochs}" + (f", step {max_steps}" if config.eval_every else "")
                         + (f", averaging the last {final.average_last} epochs" if final.average_last else "")
                         + (f", threshold {threshold}" if threshold is not None else ""))
    return final, point


def run_task(config, console: Console, verb: str, make_task, listeners: tuple = ()) -> FinetuneResult:
    """The run every training verb shares (``train``; ``pretrain``, ``recipes.pretrain``): threads,
    processes, precision, the locked output directory, resume, logs and checkpoints, the one loop,
    save, ``train_log.json``. ``make_task(console, encoder)`` gives what the task adds
    (``tasks.TaskRun``) on the encoder ``config.model`` names (``hub.Encoder``: resolved here, once,
    before any data loads, so a name that is not there fails first); with ``config.nproc`` > 1 the
    run is relaunched under torchrun as ``entitune VERB --config``."""
    encoder = resolve_encoder(config.model)
    model_dir.refuse_custom_code(encoder.directory)
    model_dir.check_max_length(encoder.directory, config.max_length, encoder.asked if encoder.from_hub else None)
    if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(config, console, verb)
    set_threads(config.threads)
    world = init_from_env(config.device)
    if not world.is_main:  # one voice: only rank 0 prints, logs and saves
        console = Console(quiet=True)
    task = make_task(console, encoder)

    # ---- the output directory, ours alone for the run (a second run into it stops here)
    out = Path(config.out)
    lock = RunLock(out, console.note).acquire() if world.is_main else None
    try:
        if config.resume and _finished(config, out, console, world):
            barrier(world)
            shutdown()
            return FinetuneResult(out, (_read_log(out) or {}) if world.is_main else {})
        if world.is_main and not config.resume:
            _start_clean(out, console)
        return _run(config, console, world, task, out, listeners, encoder)
    finally:
        if lock is not None:
            lock.release()


def _run(config: FinetuneConfig, console: Console, world, task, out: Path, listeners: tuple = (),
         encoder: Encoder | None = None) -> FinetuneResult:
    """``finetune`` once the output directory is locked."""
    # ---- data and model: the task's own
    train_data, dev_data, test_data = task.load()
    model = task.build().to(world.device)
    # ---- precision: auto is decided on rank 0 (a timed probe for the model's width) and shared
    from ..backends.precision import Width, choose_precision

    width = Width.of(model.encoder.config) if hasattr(model.encoder, "config") else None
    precision = gather(choose_precision(config.precision, world.device, width=width) if world.is_main else None,
                       world)[0]
    if config.precision == "auto":
        console.note(f"precision {precision.precision}: {precision.reason}")
    train_config = TrainConfig.of(config, precision.precision)

    # ---- logs and checkpoints
    checkpoints = CheckpointOptions(out / CHECKPOINT_DIR, config.save_every, config.keep_checkpoints, config.resume,
                                    notice=console.note)
    if world.distributed:
        console.note(f"distributed: {world.size} processes, device {world.device}, global batch {config.batch_size}")
    progress = console.progress()
    logs: list = []
    if world.is_main:
        logs.append(JsonlLog(out / "log.jsonl"))
        if tensorboard_available():
            logs.append(TensorBoardLog(out / "tensorboard"))
            console.note(f"logging to {out / 'log.jsonl'} and TensorBoard ({out / 'tensorboard'})")

    # ---- train
    try:
        result = task.fit(model, train_data, dev_data, train_config, Listeners(progress, *logs, *listeners),
                          checkpoints)
    finally:
        progress.close()
        for log_writer in logs:
            log_writer.close()
    if not world.is_main:
        barrier(world)
        shutdown()
        return FinetuneResult(out, {}, model)

    # ---- save, test, log
    task.after_fit(model, dev_data)
    model.save(out)
    log = {"config": config_dict(config), "task": task.name, "training": asdict(train_config),
           "precision": precision.to_dict(), **({"auto": task.auto} if task.auto else {}),
           "model": asdict(model.settings),
           **({"base_model": encoder.record()} if encoder is not None and encoder.from_hub else {}),
           "data": {"train": len(train_data) - task.augmented, **({"augmented": task.augmented} if task.augmented else {}),
                    "dev": len(dev_data), "test": len(test_data or [])},
           "train": result.to_dict()}
    for line in training_notes(result, train_config, out):
        console.note(line)
    if test_data is not None:
        log["test"] = task.evaluate(model, test_data)
        console.result(f"test: {config.test}")
        console.result(task.format(log["test"]))
    card = task.write_card(out, log)
    atomic_write_text(json.dumps(log, indent=2) + "\n", out / LOG_FILE)  # last: it marks the run finished
    console.note(f"model card: {card}; {_after_checkpoints(out / CHECKPOINT_DIR, config.keep_checkpoints_after)}")
    barrier(world)
    shutdown()
    return FinetuneResult(out, log, model)


def training_notes(result, train_config, out: Path) -> list[str]:
    """What the run kept and why it stopped, for the console: the best evaluation (or the average
    of the last ones), an early stop (patience, time budget)."""
    notes = []
    stopped = result.stopped or {}
    if stopped.get("reason") == "patience":
        notes.append(f"stopped early after step {stopped['step']} (epoch {stopped['epoch']}): no better dev score in "
                     f"{stopped['patience']} evaluations")
    elif stopped.get("reason") == "time_budget":
        notes.append(f"stopped after step {stopped['step']} (epoch {stopped['epoch']}): the time budget of "
                     f"{stopped['budget_s'] / 60:g} min is spent")
    elif stopped.get("reason") == "max_steps":
        notes.append(f"stopped after step {stopped['step']} (epoch {stopped['epoch']}): --max-steps "
                     f"{stopped['max_steps']} reached")
    where = f"epoch {result.best_epoch}" + (f", step {result.best_step}" if train_config.eval_every else "")
    average = result.average
    if average is not None:
        compared = (f": dev {average['score']:.4f} against {average['best_score']:.4f} for the best single one "
                    f"({where})" if average["score"] is not None else " (no dev set to compare it with)")
        notes.append(f"average of the weights at the last {average['evaluations']} evaluations (steps "
                     f"{', '.join(map(str, average['steps']))}){compared}: "
                     + ("kept" if average["kept"] else "not kept"))
    kept = "the average" if average is not None and average["kept"] else f"best model ({where})"
    notes.append(f"saved {kept} to {out}")
    return notes


def _read_log(out: Path) -> dict | None:
    """The ``train_log.json`` a finished run left in ``out`` (None: none, or unreadable)."""
    try:
        log = json.loads((out / LOG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return log if isinstance(log, dict) and isinstance(log.get("config"), dict) else None


def _finished(config: FinetuneConfig, out: Path, console: Console, world) -> bool:
    """``--resume`` where a run has already finished (``train_log.json`` is written last and a new
    run removes it first): True after a note that there is nothing to resume, so that re-running a
    command that may have been cut off is safe; a ``ConfigError`` when that run had other settings
    (the model there is not what these options would train). The main process decides for all."""
    differing: list[str] = []
    finished = 0.0  # 1: finished with these settings, 2: with others
    if world.is_main and (log := _read_log(out)) is not None:
        differing = differences(log["config"], config_dict(config), RUN_ONLY_OPTIONS)
        finished = 2.0 if differing else 1.0
    finished = all_sum([finished], world)[0]  # every rank stops, or none
    if not finished:
        return False
    if finished == 2.0:  # said once, by rank 0 (report_error)
        raise ConfigError(f"{out}: --resume, but the run there finished with other training settings "
                          f"({'; '.join(differing) or 'see rank 0'}); train without --resume to start over into it, "
                          "or give another --out")
    console.note(f"--resume: the run in {out} has finished ({LOG_FILE}); nothing to resume, the model is there "
                 "(train without --resume to start over)")
    if world.is_main and (out / CHECKPOINT_DIR).is_dir():  # it was stopped before it removed them
        console.note(_after_checkpoints(out / CHECKPOINT_DIR, config.keep_checkpoints_after))
    return True


def _start_clean(out: Path, console: Console) -> None:
    """A new run (no ``--resume``) into a directory an earlier run used: that run's log marks it
    finished and its checkpoints would be resumed as this run's, so both go first."""
    stale = out / CHECKPOINT_DIR
    earlier = stale.is_dir()
    try:
        (out / LOG_FILE).unlink(missing_ok=True)
        if earlier:
            shutil.rmtree(stale)
    except OSError as exc:
        raise output_error(exc.filename or stale, exc) from None
    if earlier:
        console.note(f"removed the checkpoints of an earlier run in {stale} (a new run starts clean; --resume continues one)")


def _after_checkpoints(directory: Path, keep: bool) -> str:
    """Remove a finished run's checkpoints (unless ``keep``); says where they went."""
    if not directory.is_dir():
        return "no training checkpoints"
    if keep:
        return f"training checkpoints kept in {directory} (--keep-checkpoints-after)"
    try:
        shutil.rmtree(directory)
    except OSError as exc:
        return f"could not remove the training checkpoints in {directory} ({exc}); delete them by hand"
    return f"training checkpoints removed from {directory} (--keep-checkpoints-after keeps them)"


def _launch(config, console: Console, verb: str = "train") -> FinetuneResult:
    """Run ``config`` in ``config.nproc`` data-parallel processes on this machine under torchrun
    (``entitune VERB --config`` with these exact options), and read back its log."""
    with tempfile.TemporaryDirectory(prefix="entitune-launch-") as tmp:
        resolved = Path(tmp) / "config.json"
        resolved.write_text(json.dumps(config_dict(config), indent=2))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={config.nproc}",
               "-m", "entitune", verb, "--config", str(resolved)]
        console.note(f"launching: {' '.join(cmd)}")
        code = subprocess.call(cmd)
    if code:
        raise SystemExit(code)
    log_path = Path(config.out) / "train_log.json"
    return FinetuneResult(Path(config.out), json.loads(log_path.read_text()) if log_path.is_file() else {})


__all__ = ["DEVICES", "FinetuneConfig", "FinetuneResult", "finetune"]
