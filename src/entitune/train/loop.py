"""The one training loop, for every task and head.

Reads top to bottom: optimizer and schedule, resume, then per epoch: batches of similar length ->
forward/loss (micro-batches, autocast) -> backward -> clip -> step -> schedule -> log -> checkpoint;
at the epoch's end, evaluate on dev and keep the best weights. A task contributes only what differs
(``TrainData``: how examples become batches; the model's ``batch_loss`` and ``loss_weight``; the dev
evaluation and the score that selects the best epoch): NER's is ``tagging.fit``.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
from torch import nn

from ..encode import length_grouped_batches, token_budget_batches
from ..errors import ConfigError
from . import checkpoint as ckpt
from .compact import COMPACT_SUFFIX, compact_word_embeddings
from .config import PRECISIONS, CheckpointOptions, TrainConfig
from .distributed import all_sum, barrier, current, gather, shard
from .optim import build_optimizer, lr_factor, seed_everything
from .progress import EpochResult, Silent, TrainListener, TrainResult


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
    rate), an ``encoder`` (whose word embedding may be trained compactly), and ``batch_loss`` /
    ``loss_weight`` (what the loss averages over, so micro-batches and ranks weight exactly)."""

    head: nn.Module
    encoder: nn.Module

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float: ...


@dataclass(frozen=True)
class DevEvaluation:
    """How the loop evaluates on dev after each epoch: ``run()`` gives a report (a dict logged with
    the epoch), ``score(report)`` the number that selects the best epoch (higher is better), named
    ``metric``."""

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
    """Train ``model`` on ``data``; keep the weights of the best dev epoch (or the last).

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
    with compact_word_embeddings(model.encoder, used_ids) as compact:
        result, best_state = _epochs(model, data, config, head_lr, dev, listener, compact, steps_per_epoch, checkpoints)
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
    """The epochs of ``train_loop``; returns the result and the best weights (full embedding layout)."""
    device = next(model.parameters()).device
    world = current()
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

    result = TrainResult()
    best_score, best_state = -math.inf, None
    step = 0
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
        ckpt.set_rng_state(state["rng"][world.rank])
    listener.on_start(total_steps, steps_per_epoch, step)

    def save(epoch: int, steps_in_epoch: int, sums: tuple) -> None:
        rngs = gather(ckpt.rng_state(), world)  # every rank's dropout stream, for an exact resume
        if world.is_main:  # one writer; the other ranks hold the same weights
            ckpt.save_step({
                "config": _comparable(config), "step": step, "epoch": epoch, "steps_in_epoch": steps_in_epoch,
                "partial": list(sums), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "best_f1": best_score, "best_state": best_state,
                "best_epoch": result.best_epoch, "epochs": [asdict(e) for e in result.epochs],
            }, checkpoints.directory, step, checkpoints.keep)
        barrier(world)

    for epoch in range(start_epoch, config.epochs + 1):
        model.train()
        # one optimizer step per group of accumulate * batch_size examples, cut into micro-batches
        batches = _step_groups(data.lengths, config, epoch)
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch)
        loss_sum, subwords, positions = partial if epoch == start_epoch else (0.0, 0, 0)
        t0 = time.perf_counter()
        for g, group in enumerate(batches):
            if epoch == start_epoch and g < skip:
                continue  # done before the checkpoint we resumed from
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
            loss_sum += step_loss
            listener.on_step(step, step_loss, subwords / max(time.perf_counter() - t0, 1e-9),
                             optimizer.param_groups[0]["lr"])
            # ---- checkpoint every save_every steps
            if checkpoints is not None and checkpoints.save_every and step % checkpoints.save_every == 0:
                save(epoch, g + 1, (loss_sum, subwords, positions))
        seconds = time.perf_counter() - t0
        # ---- evaluate on dev, keep the best
        if compact is not None:
            compact.write_back()
        t1 = time.perf_counter()
        report = dev.run() if dev is not None else None
        score = dev.score(report) if dev is not None else float(epoch)
        is_best = score > best_score
        if is_best:
            best_score = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith(COMPACT_SUFFIX)}
            result.best_epoch = epoch
        epoch_result = EpochResult(
            epoch, loss_sum / max(1, len(batches)), seconds, subwords, positions,
            subwords / max(seconds, 1e-9), report, is_best, time.perf_counter() - t1,
            dev.metric if dev is not None else "", score if dev is not None else None,
        )
        result.epochs.append(epoch_result)
        listener.on_epoch(epoch_result)
        if checkpoints is not None:
            save(epoch + 1, 0, (0.0, 0, 0))
    return result, best_state


def _step_groups(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The examples of each optimizer step in ``epoch``: ``accumulate`` x ``batch_size`` examples of
    similar length, or with ``batch_tokens`` about ``accumulate`` x ``batch_tokens`` padded sub-words."""
    if config.batch_tokens is not None:
        return token_budget_batches(lengths, config.batch_tokens * config.accumulate, seed=config.seed + epoch)
    return length_grouped_batches(lengths, config.batch_size * config.accumulate, seed=config.seed + epoch)


def _comparable(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it (all of them but the
    evaluation batch size, which does not change the weights)."""
    return {k: v for k, v in asdict(config).items() if k != "eval_batch_size"}
