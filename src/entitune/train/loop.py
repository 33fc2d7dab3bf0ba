"""The one training loop, for every task and head.

Reads top to bottom: optimizer and schedule, resume, then per epoch: batches of similar length ->
forward/loss (micro-batches, autocast; on the CPU ``dropout.fast_dropout``'s cheaper masks) ->
backward -> clip -> step -> schedule -> log -> (every ``eval_every`` steps) evaluate -> checkpoint;
at the epoch's end, evaluate on dev. Every evaluation competes for the weights kept; ``patience``
evaluations without a better score, or the spent ``time_budget_s``, end training early; with
``average_last`` the mean of the last evaluations' weights is kept if dev prefers it
(``averaging``). A task contributes only what differs (``TrainData``: how examples become batches;
the model's ``batch_loss`` and ``loss_weight``; the dev evaluation and the score that selects the
best weights): NER's is ``tagging.fit``.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Protocol

import torch
from torch import nn

from ..config import differences
from ..encode import length_grouped_batches, token_budget_batches
from ..errors import ConfigError
from . import checkpoint as ckpt
from .averaging import LastEvaluations, RunningSum, planned_evaluations
from .compact import COMPACT_SUFFIX, compact_word_embeddings
from .config import PRECISIONS, CheckpointOptions, TrainConfig
from .distributed import all_sum, barrier, current, gather, shard
from .dropout import fast_dropout
from .optim import build_optimizer, lr_factor, seed_everything
from .progress import EpochResult, Evaluation, Silent, TrainListener, TrainResult, tell_evaluation


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
    listener = listener or Silent()
    world = current()
    seed_everything(config.seed + world.rank)  # rank 0 (and a single process) uses the seed as given
    steps_per_epoch = len(_step_groups(data.lengths, config, 1))
    compacting = compact_word_embeddings(model.encoder, used_ids) if used_ids is not None else contextlib.nullcontext()
    with fast_dropout(model), compacting as compact:
        result, best_state, averaging = _epochs(model, data, config, head_lr, dev, listener, compact, steps_per_epoch,
                                                checkpoints)
    window = averaging.result() if averaging is not None else None
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


def _epochs(model, data, config, head_lr, dev, listener, compact, steps_per_epoch, checkpoints):
    """The epochs of ``train_loop``; returns the result, the best weights (full embedding layout;
    None: the last weights, as without dev) and the running sums of checkpoint averaging (or None)."""
    device = next(model.parameters()).device
    world = current()
    if dev is None and config.patience:
        raise ConfigError("patience stops training on dev scores: it needs a dev set (give dev data or patience 0)")
    loss_of: nn.Module = _LossOf(model)
    if world.distributed:
        # built here, after the compact embedding swap, so DDP sees the parameters that train
        loss_of = nn.parallel.DistributedDataParallel(loss_of, device_ids=[device] if device.type == "cuda" else None)
    micro_size = max(1, math.ceil(config.batch_size / world.size))
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup * total_steps)
    optimizer = build_optimizer(model, config, head_lr)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    autocast_dtype = PRECISIONS[config.precision]
    # fp16 needs loss scaling against underflow; for fp32 and bf16 the scaler is a no-op
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    averaging = None
    if config.average_last:
        epoch_steps = [len(_step_groups(data.lengths, config, e)) for e in range(1, config.epochs + 1)]
        averaging = LastEvaluations(config.average_last, config.patience,
                                    planned_evaluations(epoch_steps, config.eval_every))
    # evaluations between epoch ends: for dev scores, or for the weights that averaging sums
    evaluates_mid_epoch = bool(config.eval_every) and (dev is not None or averaging is not None)

    result = TrainResult()
    best_score, best_state = -math.inf, None
    since_best = 0  # evaluations since the best one (patience)
    step = 0
    elapsed_before = 0.0  # seconds the run trained before the checkpoint it resumed from (time budget)
    # ---- resume: where the newest checkpoint left off
    start_epoch, skip, partial = 1, 0, (0.0, 0, 0)
    state = None
    if checkpoints is not None and checkpoints.resume:
        state = ckpt.load_latest(checkpoints.directory, checkpoints.notice if world.is_main else None)
        if checkpoints.notice is not None and world.is_main:
            checkpoints.notice(f"resuming from step {state['step']} in {checkpoints.directory}" if state is not None else
                               f"--resume: no checkpoint in {checkpoints.directory}; starting from the beginning")
    if state is not None:
        if state["config"] != _comparable(config):
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written with other training settings "
                              f"({state['config']}); resume with the same settings or start a new run")
        # None: a checkpoint written before model settings were kept, or a model without settings
        saved, ours = state.get("model_settings"), _model_settings(model)
        if saved is not None and ours is not None and (differ := differences(saved, ours)):
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written for a model with other settings "
                              f"({'; '.join(differ)}); resume with the same options or start a new run")
        if len(state["rng"]) != world.size:
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written by {len(state['rng'])} processes; "
                              f"resume with as many (this run has {world.size})")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step, start_epoch, skip = state["step"], state["epoch"], state["steps_in_epoch"]
        partial = tuple(state["partial"])
        best_score, best_state = state["best_f1"], state["best_state"]
        result.best_epoch = state["best_epoch"]
        result.epochs = [EpochResult(**e) for e in state["epochs"]]
        # written by versions with evaluations between epoch ends; older checkpoints had none
        result.evaluations = [Evaluation(**e) for e in state.get("evaluations", ())]
        result.best_step, result.best_dev = state.get("best_step", 0), state.get("best_dev")
        result.best_score = None if best_score == -math.inf or dev is None else best_score
        result.stopped = state.get("stopped")
        since_best, elapsed_before = state.get("since_best", 0), state.get("elapsed_s", 0.0)
        if averaging is not None:
            averaging.load(state["averaging"])
        ckpt.set_rng_state(state["rng"][world.rank])
    listener.on_start(total_steps, steps_per_epoch, step)
    clock_start = _clock() - elapsed_before

    def save(epoch: int, steps_in_epoch: int, sums: tuple) -> None:
        rngs = gather(ckpt.rng_state(), world)  # every rank's dropout stream, for an exact resume
        if world.is_main:  # one writer; the other ranks hold the same weights
            ckpt.save_step({
                "config": _comparable(config), "model_settings": _model_settings(model), "step": step, "epoch": epoch, "steps_in_epoch": steps_in_epoch,
                "partial": list(sums), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "best_f1": best_score, "best_state": best_state,
                "best_epoch": result.best_epoch, "epochs": [asdict(e) for e in result.epochs],
                "evaluations": [asdict(e) for e in result.evaluations], "best_step": result.best_step,
                "best_dev": result.best_dev, "since_best": since_best, "stopped": result.stopped,
                "elapsed_s": _clock() - clock_start,
                "averaging": averaging.to_state() if averaging is not None else None,
            }, checkpoints.directory, step, checkpoints.keep)
        barrier(world)

    def evaluate(epoch: int, epoch_end: bool) -> Evaluation:
        """Score the weights of this step on dev (a task's ``dev.run()``), keep them if best, count
        them for patience and averaging, and tell the listener."""
        nonlocal best_score, best_state, since_best
        if compact is not None:
            compact.write_back()
        t1 = time.perf_counter()
        report, score = None, None
        if dev is not None:
            with _rng_kept(device):  # so that evaluating does not change the training that follows
                report = dev.run()
            score = dev.score(report)
            model.train()
        is_best = dev is None or score > best_score
        if is_best:
            since_best = 0
            result.best_epoch, result.best_step, result.best_dev = epoch, step, report
        else:
            since_best += 1
        if is_best and dev is not None:  # without dev the last weights are kept: no copy needed
            best_score = result.best_score = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith(COMPACT_SUFFIX)}
        if averaging is not None:
            averaging.observe(lambda: _weights(model), step, since_best)
        evaluation = Evaluation(step, epoch, epoch_end, dev.metric if dev is not None else "", score, is_best,
                                time.perf_counter() - t1, report)
        result.evaluations.append(evaluation)
        tell_evaluation(listener, evaluation)
        return evaluation

    def out_of_time() -> bool:
        """The time budget is spent (checked before each optimizer step, after the first); every
        process stops at the same step."""
        if config.time_budget_s is None or step == 0:
            return False
        over = _clock() - clock_start >= config.time_budget_s
        if world.distributed:
            over = all_sum([float(over)], world)[0] > 0
        return over

    stop = result.stopped  # a checkpoint written when training stopped early: nothing left to train
    for epoch in range(start_epoch, config.epochs + 1):
        if stop is not None:
            break
        model.train()
        # one optimizer step per group of accumulate * batch_size examples, cut into micro-batches
        batches = _step_groups(data.lengths, config, epoch)
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch)
        loss_sum, subwords, positions = partial if epoch == start_epoch else (0.0, 0, 0)
        done = skip if epoch == start_epoch else 0  # optimizer steps of this epoch done
        t0 = time.perf_counter()
        eval_seconds = 0.0  # of the evaluations inside the epoch, left out of its training time
        for g, group in enumerate(batches):
            if epoch == start_epoch and g < skip:
                continue  # done before the checkpoint we resumed from
            if out_of_time():
                stop = {"reason": "time_budget", "step": step, "epoch": epoch if done else epoch - 1,
                        "budget_s": config.time_budget_s}
                break
            # ---- learning rate for this step
            factor = lr_factor(step, warmup_steps, total_steps)
            for param_group, base in zip(optimizer.param_groups, base_lrs):
                param_group["lr"] = base * factor
            # ---- forward and backward over this rank's micro-batches, each weighted by its share of
            # the global batch's loss (so accumulation and sharding give the one-batch update)
            mine = shard(group, world)
            size = micro_size if config.batch_tokens is None else max(1, math.ceil(len(mine) / config.accumulate))
            micro = [data.collate(mine[k : k + size]) for k in range(0, len(mine), size)]
            weights = [model.loss_weight(b) for b in micro]
            total_weight = all_sum([float(sum(weights))], world)[0] or 1.0
            step_loss, step_subwords, step_positions = 0.0, 0, 0
            for k, batch in enumerate(micro or [None]):
                if batch is not None:
                    batch = {key: v.to(device) for key, v in batch.items()}
                last = k == max(len(micro), 1) - 1
                sync = loss_of.no_sync() if world.distributed and not last else contextlib.nullcontext()
                with sync:
                    with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                        loss = loss_of(batch)
                    if len(micro) > 1 or world.distributed:
                        share = weights[k] / total_weight if batch is not None else 0.0
                        loss = loss * (share * world.size)  # DDP averages gradients over ranks
                    scaler.scale(loss).backward()
                step_loss += loss.item() / world.size
                if batch is not None:
                    step_subwords += int(batch["attention_mask"].sum())
                    step_positions += batch["attention_mask"].numel()
            if world.distributed:
                step_loss, step_subwords, step_positions = all_sum([step_loss, step_subwords, step_positions], world)
            subwords += int(step_subwords)
            positions += int(step_positions)
            # ---- clip, step
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            # ---- log
            step += 1
            done = g + 1
            loss_sum += step_loss
            listener.on_step(step, step_loss, subwords / max(time.perf_counter() - t0 - eval_seconds, 1e-9),
                             optimizer.param_groups[0]["lr"])
            # ---- evaluate every eval_every steps (the epoch's last step is evaluated at its end);
            # stop after patience evaluations without a better score
            if evaluates_mid_epoch and step % config.eval_every == 0 and g + 1 < len(batches):
                eval_seconds += evaluate(epoch, epoch_end=False).seconds
                if config.patience and since_best >= config.patience:
                    stop = {"reason": "patience", "step": step, "epoch": epoch, "patience": config.patience}
                    break  # no step checkpoint: the one below, at the stop, records it
            # ---- checkpoint every save_every steps
            if checkpoints is not None and checkpoints.save_every and step % checkpoints.save_every == 0:
                save(epoch, g + 1, (loss_sum, subwords, positions))
        seconds = time.perf_counter() - t0 - eval_seconds
        # ---- evaluate on dev at the epoch's end (or where training stopped), keep the best
        if step and (not result.evaluations or result.evaluations[-1].step != step):
            evaluate(epoch, epoch_end=True)
        if stop is None and config.patience and since_best >= config.patience:
            stop = {"reason": "patience", "step": step, "epoch": epoch, "patience": config.patience}
        if done:  # not an epoch that the time budget ended before its first step
            last = result.evaluations[-1]
            epoch_result = EpochResult(
                epoch, loss_sum / max(1, done), seconds, subwords, positions,
                subwords / max(seconds, 1e-9), last.dev, last.is_best, last.seconds,
                last.metric, last.score,
            )
            result.epochs.append(epoch_result)
            listener.on_epoch(epoch_result)
        result.stopped = stop
        if checkpoints is not None:
            save(epoch + 1, 0, (0.0, 0, 0))
    if result.stopped is None:
        result.stopped = {"reason": "completed", "step": step, "epoch": config.epochs}
    return result, best_state, averaging


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


def _step_groups(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The examples of each optimizer step in ``epoch``: ``accumulate`` x ``batch_size`` examples of
    similar length, or with ``batch_tokens`` about ``accumulate`` x ``batch_tokens`` padded sub-words."""
    if config.batch_tokens is not None:
        return token_budget_batches(lengths, config.batch_tokens * config.accumulate, seed=config.seed + epoch)
    return length_grouped_batches(lengths, config.batch_size * config.accumulate, seed=config.seed + epoch)


#: settings added after the first checkpoints were written: left out of the comparison at their
#: defaults, so that a checkpoint of an earlier version still resumes
_LATER_SETTINGS = ("eval_every", "patience", "average_last", "layer_decay")


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
