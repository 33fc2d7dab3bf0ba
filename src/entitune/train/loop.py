"""The one training loop, for every task and head.

Reads top to bottom (``Run.train``): resume -> per epoch: the epoch's optimizer steps, each one
learning rate -> forward and backward over its micro-batches (autocast; on the CPU
``dropout.fast_dropout``'s cheaper masks) -> clip -> step (on the CPU the freed memory handed back,
``memory``) -> log -> (every ``eval_every`` steps)
evaluate -> checkpoint; at the epoch's end, evaluate on dev. Every evaluation competes for the
weights kept; ``patience`` evaluations without a better score, the spent ``time_budget_s``, or
``max_steps`` optimizer steps (which also sets the schedule's length) end training early; with ``average_last`` the mean of the last evaluations' weights is kept if dev
prefers it (``averaging``). What a checkpoint holds beyond the weights, the optimizer and the random
streams is ``LoopState``, saved and restored from its one list of fields.

A task contributes only what differs (``TrainData``: how examples become batches; the model's
``batch_loss`` and ``loss_weight``; the dev evaluation and the score that selects the best weights):
NER's is ``tagging.fit``.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import torch
from torch import nn

from ..encode import length_grouped_batches, token_budget_batches
from ..errors import ConfigError, EntituneError
from ..options import differences
from . import checkpoint as ckpt
from .averaging import LastEvaluations, RunningSum, planned_evaluations
from .compact import COMPACT_SUFFIX, compact_word_embeddings
from .config import PRECISIONS, CheckpointOptions, TrainConfig
from .distributed import all_sum, barrier, broadcast, current, gather, shard
from .dropout import fast_dropout
from ..memory import release_freed_memory
from .optim import build_optimizer, lr_factor, seed_everything
from .progress import EpochResult, Evaluation, ProgressBar, TrainListener, TrainResult, default_listener, tell_evaluation


class TrainingDiverged(EntituneError):
    """The loss became NaN or infinite: the settings (a learning rate too high) made training diverge.
    One line, exit 2, and no model is saved (a diverged model tags everything the same)."""


class TrainData(Protocol):
    """A task's training examples as the loop sees them.

    ``lengths``: each example's length in sub-tokens (batches group similar lengths);
    ``collate(indices)``: the batch of those examples, a dict of tensors that the model's
    ``batch_loss`` and ``loss_weight`` read (``attention_mask`` counts the sub-words). Data whose
    examples change from epoch to epoch (masked-LM's masks) also has ``set_epoch(epoch)``, called
    before each epoch's batches (and before the rest of an epoch a run resumes in).
    """

    lengths: Sequence[int]

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]: ...


class Trainable(Protocol):
    """A model the loop trains: an ``nn.Module`` with a ``head`` (trained at the head's learning
    rate), an ``encoder`` (whose word embedding may be trained compactly; read only with
    ``used_ids``), and ``batch_loss`` / ``loss_weight`` (what the loss averages over, so
    micro-batches and ranks weight exactly)."""

    head: nn.Module
    encoder: nn.Module

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float: ...


@dataclass(frozen=True)
class DevEvaluation:
    """How the loop evaluates on dev after each epoch (and every ``eval_every`` steps): ``run()``
    gives a report (a dict logged with the evaluation and the epoch), ``score(report)`` the number
    that selects the best weights (higher is better), named ``metric``. ``run`` may leave the model
    in eval mode and may draw random numbers: the loop restores both."""

    run: Callable[[], dict]
    score: Callable[[dict], float]
    metric: str = "score"


@dataclass
class LoopState:
    """Where a run is and what it keeps: everything a checkpoint holds besides the weights, the
    optimizer and scaler, the random streams and the settings. ``to_checkpoint`` and ``restore``
    go through these fields by name, so no checkpoint key is written twice."""

    step: int = 0  # optimizer steps done
    epoch: int = 1  # the epoch the run is in (a checkpoint at an epoch's end names the next one)
    steps_in_epoch: int = 0  # optimizer steps of that epoch done
    partial: tuple = (0.0, 0, 0)  # that epoch's loss sum, sub-words and padded positions so far
    best_f1: float = -math.inf  # the best dev score so far, whatever its metric (the name predates classifiers)
    best_state: dict | None = None  # the weights of the best evaluation (None: the last weights stand)
    since_best: int = 0  # evaluations since the best one (patience)
    elapsed_s: float = 0.0  # seconds trained before this process (the time budget)
    best_epoch: int = 0
    best_step: int = 0
    best_dev: dict | None = None  # the best evaluation's dev report
    stopped: dict | None = None  # why training ended early: patience, time_budget (None: it has not)
    epochs: list[EpochResult] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    averaging: dict | None = None  # the running sums of ``average_last`` (``LastEvaluations.to_state``)

    def to_checkpoint(self) -> dict[str, Any]:
        """The fields as a checkpoint stores them (results as plain dicts)."""
        saved = {f.name: getattr(self, f.name) for f in fields(self)}
        saved.update(partial=list(self.partial), epochs=[asdict(e) for e in self.epochs],
                     evaluations=[asdict(e) for e in self.evaluations])
        return saved

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> "LoopState":
        """The state a checkpoint holds; a key that an older version did not write keeps its default."""
        state = cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})
        state.partial = tuple(state.partial)
        state.epochs = [EpochResult(**e) for e in state.epochs]
        state.evaluations = [Evaluation(**e) for e in state.evaluations]
        return state


def train_loop(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    head_lr: float,
    dev: DevEvaluation | None = None,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
    used_ids: Iterable[int] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data``; keep the weights of the best dev evaluation (or the last), or
    their average over the last ``config.average_last`` evaluations when dev scores it higher.

    Args:
        model: a ``Trainable`` module, already on its device.
        data: the task's examples.
        config: optimisation settings.
        head_lr: the learning rate of ``model.head``.
        dev: the dev evaluation; None keeps the last epoch.
        listener: progress callbacks (logs, a progress bar).
        checkpoints: where to write resumable checkpoints; with ``resume``, a killed run continues
            where its newest checkpoint left off, to the same final weights, bit for bit.
        used_ids: token ids the data uses: only those rows of the word embedding are trained
            (exact, see ``compact``); None trains the embedding densely (or not at all).
    """
    if dev is None and config.patience:
        raise ConfigError("patience stops training on dev scores: it needs a dev set (give dev data or patience 0)")
    world = current()
    seed_everything(config.seed + world.rank)  # rank 0 (and a single process) uses the seed as given
    compacting = compact_word_embeddings(model.encoder, used_ids) if used_ids is not None else contextlib.nullcontext()
    listener = listener if listener is not None else default_listener()
    with fast_dropout(model), compacting as compact:
        run = Run(model, data, config, head_lr, dev, listener, checkpoints, compact)
        try:
            run.train()
        finally:
            if isinstance(listener, ProgressBar):  # made here, so closed here
                listener.close()
    result, best_state = run.result(), run.state.best_state
    window = run.averaging.result() if run.averaging is not None else None
    if window is not None:  # outside the compact swap: the averaged embedding rows are the ones read
        best_state = _keep_average(model, window, best_state, dev, result)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


class _LossOf(nn.Module):
    """The model's batch loss as ``forward``, so that DistributedDataParallel can wrap it. A rank
    with no examples in a step passes None and gets a zero loss that still touches every trained
    parameter (DDP needs each rank to take part in every gradient reduction)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if batch is None:
            return sum(p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad)
        return self.model.batch_loss(batch)


class Run:
    """One run of the loop: the model and what trains it (optimizer, schedule, scaler, averaging),
    its ``LoopState``, and the phases of training as methods: ``resume``, ``train`` (the epochs),
    ``train_epoch``, ``train_step``, ``evaluate``, ``save``."""

    def __init__(self, model: nn.Module, data: TrainData, config: TrainConfig, head_lr: float,
                 dev: DevEvaluation | None, listener: TrainListener, checkpoints: CheckpointOptions | None,
                 compact) -> None:
        self.model, self.data, self.config, self.dev, self.listener = model, data, config, dev, listener
        self.checkpoints, self.compact = checkpoints, compact
        self.world = world = current()
        self.device = next(model.parameters()).device
        self.loss_of: nn.Module = _LossOf(model)
        if world.distributed:
            # built here, after the compact embedding swap, so DDP sees the parameters that train
            device_ids = [self.device] if self.device.type == "cuda" else None
            self.loss_of = nn.parallel.DistributedDataParallel(self.loss_of, device_ids=device_ids)
        self.micro_size = max(1, math.ceil(config.batch_size / world.size))
        self.steps_per_epoch = len(_step_groups(data.lengths, config, 1))
        self.total_steps = self.steps_per_epoch * config.epochs
        if config.max_steps is not None:  # the cap is also the length the learning rate decays over
            self.total_steps = min(self.total_steps, config.max_steps)
        self.warmup_steps = int(config.warmup * self.total_steps)
        self.optimizer = build_optimizer(model, config, head_lr)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.autocast_dtype = PRECISIONS[config.precision]
        # fp16 needs loss scaling against underflow; for fp32 and bf16 the scaler is a no-op
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.averaging = None
        if config.average_last:
            epoch_steps = _capped([len(_step_groups(data.lengths, config, e)) for e in range(1, config.epochs + 1)],
                                  self.total_steps)
            self.averaging = LastEvaluations(config.average_last, config.patience,
                                             planned_evaluations(epoch_steps, config.eval_every))
        # evaluations between epoch ends: for dev scores, or for the weights that averaging sums
        self.evaluates_mid_epoch = bool(config.eval_every) and (dev is not None or self.averaging is not None)
        self.state = LoopState()
        self.clock_start = _clock()

    # ---- the run, top to bottom
    def train(self) -> None:
        """Resume if asked, then train epoch after epoch until the last, or an early stop."""
        self.resume()
        self.listener.on_start(self.total_steps, self.steps_per_epoch, self.state.step)
        self.clock_start = _clock() - self.state.elapsed_s
        start_epoch, skip, partial = self.state.epoch, self.state.steps_in_epoch, self.state.partial
        for epoch in range(start_epoch, self.config.epochs + 1):
            if self.state.stopped is not None:  # a checkpoint written when training stopped: nothing left
                break
            if self.state.step >= self.total_steps:  # max_steps reached at the end of the epoch before
                self.state.stopped = self.max_steps_stop(epoch - 1)
                break
            resumed = epoch == start_epoch
            self.train_epoch(epoch, skip if resumed else 0, partial if resumed else (0.0, 0, 0))
        if self.state.stopped is None:
            self.state.stopped = {"reason": "completed", "step": self.state.step, "epoch": self.config.epochs}

    def train_epoch(self, epoch: int, skip: int, sums: tuple) -> None:
        """One epoch's optimizer steps (the first ``skip`` done before a resume), the evaluation at
        its end, its result, and the checkpoint after it."""
        state, config = self.state, self.config
        self.model.train()
        # one optimizer step per group of accumulate * batch_size examples, cut into micro-batches
        groups = _step_groups(self.data.lengths, config, epoch)
        if hasattr(self.data, "set_epoch"):
            self.data.set_epoch(epoch)
        loss_sum, subwords, positions = sums
        done, stop = skip, None  # optimizer steps of this epoch done; why it stopped early
        t0, eval_seconds = time.perf_counter(), 0.0  # evaluations inside the epoch are left out of its time
        for g in range(skip, len(groups)):
            if state.step >= self.total_steps:
                stop = self.max_steps_stop(epoch if done else epoch - 1)
                break
            if self.out_of_time():
                stop = {"reason": "time_budget", "step": state.step, "epoch": epoch if done else epoch - 1,
                        "budget_s": config.time_budget_s}
                break
            step_loss, step_subwords, step_positions = self.train_step(groups[g])
            loss_sum, subwords, positions, done = loss_sum + step_loss, subwords + step_subwords, positions + step_positions, g + 1
            self.listener.on_step(state.step, step_loss, subwords / max(time.perf_counter() - t0 - eval_seconds, 1e-9),
                                  self.optimizer.param_groups[0]["lr"])
            # ---- evaluate every eval_every steps (the epoch's last step is evaluated at its end);
            # stop after patience evaluations without a better score
            if self.evaluates_mid_epoch and state.step % config.eval_every == 0 and g + 1 < len(groups):
                eval_seconds += self.evaluate(epoch, epoch_end=False).seconds
                if self.patience_spent():
                    stop = {"reason": "patience", "step": state.step, "epoch": epoch, "patience": config.patience}
                    break  # no step checkpoint: the one below, at the stop, records it
            # ---- checkpoint every save_every steps
            if self.checkpoints is not None and self.checkpoints.save_every and state.step % self.checkpoints.save_every == 0:
                self.save(epoch, g + 1, (loss_sum, subwords, positions))
        seconds = time.perf_counter() - t0 - eval_seconds
        # ---- evaluate on dev at the epoch's end (or where training stopped), keep the best
        if state.step and (not state.evaluations or state.evaluations[-1].step != state.step):
            self.evaluate(epoch, epoch_end=True)
        if stop is None and self.patience_spent():
            stop = {"reason": "patience", "step": state.step, "epoch": epoch, "patience": config.patience}
        if done:  # not an epoch that the time budget ended before its first step
            last = state.evaluations[-1]
            result = EpochResult(epoch, loss_sum / max(1, done), seconds, subwords, positions,
                                 subwords / max(seconds, 1e-9), last.dev, last.is_best, last.seconds, last.metric,
                                 last.score)
            state.epochs.append(result)
            self.listener.on_epoch(result)
        state.stopped = stop
        if self.checkpoints is not None:
            self.save(epoch + 1, 0, (0.0, 0, 0))

    def train_step(self, group: list[int]) -> tuple[float, int, int]:
        """One optimizer step on the examples ``group``: its learning rate, forward and backward over
        this rank's micro-batches (each weighted by its share of the global batch's loss, so
        accumulation and sharding give the one-batch update), clip, step. Returns the step's loss,
        sub-words and padded positions."""
        config, world, model = self.config, self.world, self.model
        # ---- learning rate for this step
        factor = lr_factor(self.state.step, self.warmup_steps, self.total_steps)
        for param_group, base in zip(self.optimizer.param_groups, self.base_lrs):
            param_group["lr"] = base * factor
        # ---- forward and backward
        mine = shard(group, world)
        size = self.micro_size if config.batch_tokens is None else max(1, math.ceil(len(mine) / config.accumulate))
        micro = [self.data.collate(mine[k : k + size]) for k in range(0, len(mine), size)]
        weights = [model.loss_weight(b) for b in micro]
        total_weight = all_sum([float(sum(weights))], world)[0] or 1.0
        step_loss, subwords, positions = 0.0, 0, 0
        autocast = torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                                  enabled=self.autocast_dtype is not None)
        for k, batch in enumerate(micro or [None]):
            if batch is not None:
                batch = {key: v.to(self.device) for key, v in batch.items()}
            last = k == max(len(micro), 1) - 1
            with self.loss_of.no_sync() if world.distributed and not last else contextlib.nullcontext():
                with autocast:
                    loss = self.loss_of(batch)
                if len(micro) > 1 or world.distributed:
                    share = weights[k] / total_weight if batch is not None else 0.0
                    loss = loss * (share * world.size)  # DDP averages gradients over ranks
                self.scaler.scale(loss).backward()
            step_loss += loss.item() / world.size
            if batch is not None:
                subwords += int(batch["attention_mask"].sum())
                positions += batch["attention_mask"].numel()
        if world.distributed:
            step_loss, subwords, positions = all_sum([step_loss, subwords, positions], world)
        if not math.isfinite(step_loss) and not self.scaler.is_enabled():  # fp16's scaler skips such a step itself
            raise TrainingDiverged(f"training diverged at step {self.state.step + 1}: the loss is not finite "
                                   f"({step_loss}); lower --lr or --head-lr, or train in fp32")
        # ---- clip, step
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        if self.device.type == "cpu":  # the step's activations are freed: give their pages back (``memory``)
            release_freed_memory()
        return step_loss, int(subwords), int(positions)

    def evaluate(self, epoch: int, epoch_end: bool) -> Evaluation:
        """Score the weights of this step on dev (a task's ``dev.run()``), keep them if best, count
        them for patience and averaging, and tell the listener."""
        state, dev, model = self.state, self.dev, self.model
        if self.compact is not None:
            self.compact.write_back()
        t1 = time.perf_counter()
        report, score = None, None
        if dev is not None:
            with _rng_kept(self.device):  # so that evaluating does not change the training that follows
                report = dev.run()
            score = dev.score(report)
            model.train()
        is_best = dev is None or score > state.best_f1
        if is_best:
            state.since_best = 0
            state.best_epoch, state.best_step, state.best_dev = epoch, state.step, report
        else:
            state.since_best += 1
        if is_best and dev is not None:  # without dev the last weights are kept: no copy needed
            state.best_f1 = score
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()
                                if not k.endswith(COMPACT_SUFFIX)}
        if self.averaging is not None:
            self.averaging.observe(lambda: _weights(model), state.step, state.since_best)
        evaluation = Evaluation(state.step, epoch, epoch_end, dev.metric if dev is not None else "", score, is_best,
                                time.perf_counter() - t1, report)
        state.evaluations.append(evaluation)
        tell_evaluation(self.listener, evaluation)
        return evaluation

    def patience_spent(self) -> bool:
        return bool(self.config.patience) and self.state.since_best >= self.config.patience

    def max_steps_stop(self, epoch: int) -> dict:
        """Why training stopped at ``max_steps`` (before the epochs were done)."""
        return {"reason": "max_steps", "step": self.state.step, "epoch": epoch, "max_steps": self.config.max_steps}

    def out_of_time(self) -> bool:
        """The time budget is spent (checked before each optimizer step, after the first); every
        process stops at the same step."""
        if self.config.time_budget_s is None or self.state.step == 0:
            return False
        over = _clock() - self.clock_start >= self.config.time_budget_s
        if self.world.distributed:
            over = all_sum([float(over)], self.world)[0] > 0
        return over

    # ---- checkpoints
    def save(self, epoch: int, steps_in_epoch: int, sums: tuple) -> None:
        """A resumable checkpoint: the settings, the weights, optimizer and scaler, every rank's
        random streams (for an exact resume) and the ``LoopState`` at this point."""
        state = self.state
        state.epoch, state.steps_in_epoch, state.partial = epoch, steps_in_epoch, tuple(sums)
        state.elapsed_s = _clock() - self.clock_start
        state.averaging = self.averaging.to_state() if self.averaging is not None else None
        rngs = gather(ckpt.rng_state(), self.world)
        if self.world.is_main:  # one writer; the other ranks hold the same weights
            ckpt.save_step({
                "config": _comparable(self.config), "model_settings": _model_settings(self.model),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": rngs, **state.to_checkpoint(),
            }, self.checkpoints.directory, state.step, self.checkpoints.keep)
        barrier(self.world)

    def resume(self) -> None:
        """With ``resume``: the newest checkpoint's weights, optimizer, scaler, random streams and
        state, once its settings are checked against this run's."""
        checkpoints, world = self.checkpoints, self.world
        if checkpoints is None or not checkpoints.resume:
            return
        # rank 0 alone reads (and sets a damaged file aside): other machines need not share the directory
        saved = broadcast(ckpt.load_latest(checkpoints.directory, checkpoints.notice) if world.is_main else None, world)
        if checkpoints.notice is not None and world.is_main:
            checkpoints.notice(f"resuming from step {saved['step']} in {checkpoints.directory}" if saved is not None else
                               f"--resume: no checkpoint in {checkpoints.directory}; starting from the beginning")
        if saved is None:
            return
        if saved["config"] != _comparable(self.config):
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written with other training settings "
                              f"({saved['config']}); resume with the same settings or start a new run")
        # None: a checkpoint written before model settings were kept, or a model without settings
        theirs, ours = saved.get("model_settings"), _model_settings(self.model)
        if theirs is not None and ours is not None and (differ := differences(theirs, ours)):
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written for a model with other settings "
                              f"({'; '.join(differ)}); resume with the same options or start a new run")
        if len(saved["rng"]) != world.size:
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written by {len(saved['rng'])} processes; "
                              f"resume with as many (this run has {world.size})")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scaler.load_state_dict(saved["scaler"])
        self.state = LoopState.restore(saved)
        if self.averaging is not None:
            self.averaging.load(self.state.averaging)
        ckpt.set_rng_state(saved["rng"][world.rank])

    def result(self) -> TrainResult:
        """What the run did, for the caller and ``train_log.json``."""
        state = self.state
        best_score = None if state.best_f1 == -math.inf or self.dev is None else state.best_f1
        return TrainResult(epochs=state.epochs, best_epoch=state.best_epoch, evaluations=state.evaluations,
                           best_step=state.best_step, best_score=best_score, best_dev=state.best_dev,
                           stopped=state.stopped)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as kept and averaged: the full embedding layout (compact rows written back)."""
    return {k: v.detach() for k, v in model.state_dict().items() if not k.endswith(COMPACT_SUFFIX)}


@contextlib.contextmanager
def _rng_kept(device: torch.device):
    """Python's, numpy's and torch's random states (the device's too) as they were before the block:
    a dev evaluation between steps must not shift the dropout and shuffling streams of training, or a
    run resumed from a checkpoint (which records those states) would drift from the one that was not
    interrupted."""
    saved = ckpt.rng_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield
    ckpt.set_rng_state(saved)


def _keep_average(model: nn.Module, window: RunningSum, best_state: dict | None, dev: DevEvaluation | None,
                  result: TrainResult) -> dict | None:
    """Load the mean of the weights at the window's evaluations, score it on dev, and return the
    weights to keep: the average if it scores above the best single evaluation (always without dev,
    where there is nothing to compare), else ``best_state``. ``result.average`` records both scores."""
    current = model.state_dict()
    if best_state is None and dev is not None:  # no evaluation scored (NaN): the last weights stand in
        best_state = {k: v.detach().clone() for k, v in current.items()}
    averaged = window.mean(current)
    model.load_state_dict(averaged)
    report, score = None, None
    if dev is not None:
        with _rng_kept(next(model.parameters()).device):
            report = dev.run()
        score = dev.score(report)
    kept = dev is None or (result.best_score is not None and score > result.best_score)
    result.average = {"evaluations": window.count, "steps": list(window.steps), "metric": dev.metric if dev else "",
                      "score": score, "best_score": result.best_score, "kept": kept}
    if kept:
        if dev is not None:
            result.best_dev = report
        return averaged
    return best_state


def _capped(epoch_steps: list[int], total: int) -> list[int]:
    """The steps of each epoch that a run capped at ``total`` steps takes (epochs past it dropped).

    >>> _capped([5, 5, 5], 7), _capped([5, 5], 10)
    ([5, 2], [5, 5])
    """
    out, done = [], 0
    for n in epoch_steps:
        if done >= total:
            break
        out.append(min(n, total - done))
        done += out[-1]
    return out


def _step_groups(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The examples of each optimizer step in ``epoch``: ``accumulate`` x ``batch_size`` examples of
    similar length, or with ``batch_tokens`` about ``accumulate`` x ``batch_tokens`` padded sub-words."""
    if config.batch_tokens is not None:
        return token_budget_batches(lengths, config.batch_tokens * config.accumulate, seed=config.seed + epoch)
    return length_grouped_batches(lengths, config.batch_size * config.accumulate, seed=config.seed + epoch)


#: settings added after the first checkpoints were written: left out of the comparison at their
#: defaults, so that a checkpoint of an earlier version still resumes
_LATER_SETTINGS = ("eval_every", "patience", "average_last", "layer_decay", "max_steps")


def _comparable(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it: all of them but the
    evaluation batch size, which does not change the weights, and the time budget, which a resumed
    run may extend."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    return {k: v for k, v in asdict(config).items() if k not in ("eval_batch_size", "time_budget_s")
            and not (k in _LATER_SETTINGS and v == defaults[k])}


def _model_settings(model: nn.Module) -> dict | None:
    """The model's settings (head, word features, document context...) as a checkpoint keeps them,
    so that a resume with other model options is refused even where the weights would still load."""
    settings = getattr(model, "settings", None)
    return asdict(settings) if settings is not None and hasattr(settings, "__dataclass_fields__") else None


def _clock() -> float:
    """Seconds on a monotonic clock, for the time budget (a test replaces it)."""
    return time.monotonic()
