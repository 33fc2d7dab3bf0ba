"""``finetune``: the whole ``entitune train`` run, callable from Python with the same result.

Reads top to bottom: settings -> a lock on the output directory -> the task's data (dev split,
labels) and model -> logs and checkpoints -> the one training loop -> save -> test evaluation ->
``train_log.json``. The task
(tagging or classification, ``tasks``) contributes its data, model, fit and report; everything else
is the same for both. ``FinetuneConfig`` holds every option; ``entitune train`` only turns flags
(and ``--config FILE``) into one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import config_dict
from ..files import RunLock, atomic_write_text
from ..model.encoder_model import EncoderModel
from ..train import CheckpointOptions, JsonlLog, Listeners, TensorBoardLog, tensorboard_available
from ..train.distributed import barrier, init_from_env, shutdown
from .common import set_threads
from .console import Console
from .options import DEVICES, FinetuneConfig
from .tasks import TASK_RUNS, resolve_task

@dataclass
class FinetuneResult:
    """What a run left: its directory, its ``train_log.json`` content, and (in this process) the
    trained model, or None when the run went to other processes (``nproc`` > 1)."""

    out: Path
    log: dict
    model: EncoderModel | None = field(default=None, repr=False)

    @property
    def test(self) -> dict | None:
        return self.log.get("test")


def finetune(config: FinetuneConfig, console: Console | None = None) -> FinetuneResult:
    """Fine-tune an encoder for the run's task (``config.task``, or what the training file is for)
    on ``config.train``, keep the best dev epoch, save the model to ``config.out``, score it on
    ``config.test``, and write ``train_log.json``."""
    console = console or Console()
    if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(config, console)
    set_threads(config.threads)
    world = init_from_env(config.device)
    if not world.is_main:  # one voice: only rank 0 prints, logs and saves
        console = Console(quiet=True)
    train_config = config.train_config()
    task = TASK_RUNS[resolve_task(config)](config, console)

    # ---- the output directory, ours alone for the run (a second run into it stops here)
    out = Path(config.out)
    lock = RunLock(out, console.note).acquire() if world.is_main else None
    try:
        return _run(config, console, world, task, train_config, out)
    finally:
        if lock is not None:
            lock.release()


def _run(config: FinetuneConfig, console: Console, world, task, train_config, out: Path) -> FinetuneResult:
    """``finetune`` once the output directory is locked."""
    # ---- data and model: the task's own
    train_data, dev_data, test_data = task.load()
    model = task.build().to(world.device)

    # ---- logs and checkpoints
    checkpoints = CheckpointOptions(out / "checkpoints", config.save_every, config.keep_checkpoints, config.resume,
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
        result = task.fit(model, train_data, dev_data, train_config, Listeners(progress, *logs), checkpoints)
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
           "model": asdict(model.settings),
           "data": {"train": len(train_data), "dev": len(dev_data), "test": len(test_data or [])},
           "train": result.to_dict()}
    console.note(f"saved best model (epoch {result.best_epoch}) to {out}")
    if test_data is not None:
        log["test"] = task.evaluate(model, test_data)
        console.result(f"test: {config.test}")
        console.result(task.format(log["test"]))
    atomic_write_text(json.dumps(log, indent=2) + "\n", out / "train_log.json")
    barrier(world)
    shutdown()
    return FinetuneResult(out, log, model)


def _launch(config: FinetuneConfig, console: Console) -> FinetuneResult:
    """Run ``config`` in ``config.nproc`` data-parallel processes on this machine under torchrun
    (``entitune train --config`` with these exact options), and read back its log."""
    with tempfile.TemporaryDirectory(prefix="entitune-launch-") as tmp:
        resolved = Path(tmp) / "config.json"
        resolved.write_text(json.dumps(config_dict(config), indent=2))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={config.nproc}",
               "-m", "entitune", "train", "--config", str(resolved)]
        console.note(f"launching: {' '.join(cmd)}")
        code = subprocess.call(cmd)
    if code:
        raise SystemExit(code)
    log_path = Path(config.out) / "train_log.json"
    return FinetuneResult(Path(config.out), json.loads(log_path.read_text()) if log_path.is_file() else {})


__all__ = ["DEVICES", "FinetuneConfig", "FinetuneResult", "finetune"]
