"""The one training loop, for every head.

Reads top to bottom: seed, encode, optimizer and schedule, then per epoch: batches of similar
length -> forward/loss -> backward -> clip -> step -> schedule -> log; at the epoch's end,
evaluate on dev and keep the best weights (by dev entity F1). The caller sees progress through a
``TrainListener`` and receives the best weights in the tagger.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from .compact import COMPACT_SUFFIX, compact_word_embeddings
from .distributed import all_sum, barrier, current, gather, shard
from .encode import Window, collate, length_grouped_batches, token_budget_batches
from .errors import ConfigError
from .evaluate import evaluate
from .model import Tagger
from .types import Sentence


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults were chosen by measurement on MIT Movie eng (see README)."""

    epochs: int = 3
    lr: float = 1e-4
    head_lr: float | None = None  # None: DEFAULT_HEAD_LR of the tagger's head
    batch_size: int = 32
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 42
    eval_batch_size: int = 64
    compact_embeddings: bool = True  # train only the embedding rows the data uses (exact; see compact.py)
    accumulate: int = 1  # micro-batches of batch_size per optimizer step; equals one batch of accumulate * batch_size
    batch_tokens: int | None = None  # instead of batch_size: padded sub-words per micro-batch (x accumulate per step)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with a gradient scaler)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr <= 0):
            raise ConfigError("learning rates must be > 0")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"warmup is a fraction of all steps in [0, 1), got {self.warmup}")
        if self.accumulate < 1:
            raise ConfigError(f"accumulate must be >= 1, got {self.accumulate}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ConfigError(f"batch tokens must be >= 1, got {self.batch_tokens}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


#: Head learning rates measured on MIT Movie eng, 1 epoch (bench/results/headlr_*.json, heads_e1.json):
#: linear 0.839 F1 at 1e-4, 0.853 at 1e-3; CRF 0.846 at 1e-4, 0.856 at 1e-3, 0.865 at 1e-2.
#: CRF transitions start at zero and need the larger rate.
DEFAULT_HEAD_LR = {"linear": 1e-3, "crf": 1e-2, "bilstm-crf": 1e-2}


@dataclass(frozen=True)
class CheckpointOptions:
    """Where and how often ``fit`` writes resumable checkpoints (see ``checkpoint``).

    ``save_every`` steps (0: only at epoch ends) and at every epoch end; the newest ``keep`` are
    kept. With ``resume``, training continues from the newest complete checkpoint, if any.
    """

    directory: Path
    save_every: int = 0
    keep: int = 2
    resume: bool = False

    def __post_init__(self) -> None:
        if self.save_every < 0 or self.keep < 1:
            raise ConfigError(f"save_every must be >= 0 and keep >= 1, got {self.save_every} and {self.keep}")


@dataclass
class EpochResult:
    """What one epoch did: mean loss, time, throughput, padding, and dev scores."""

    epoch: int
    train_loss: float
    seconds: float
    subwords: int
    positions: int
    subwords_per_s: float
    dev: dict | None
    is_best: bool
    eval_seconds: float = 0.0


@dataclass
class TrainResult:
    epochs: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def train_seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    @property
    def subwords_per_s(self) -> float:
        return sum(e.subwords for e in self.epochs) / max(self.train_seconds, 1e-9)

    @property
    def padding_overhead(self) -> float:
        real = sum(e.subwords for e in self.epochs)
        return sum(e.positions for e in self.epochs) / real - 1.0 if real else 0.0

    def to_dict(self) -> dict:
        return {
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "subwords_per_s": self.subwords_per_s,
            "padding_overhead": self.padding_overhead,
            "epochs": [asdict(e) for e in self.epochs],
        }


class TrainListener(Protocol):
    def on_start(self, total_steps: int, steps_per_epoch: int) -> None: ...
    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None: ...
    def on_epoch(self, result: EpochResult) -> None: ...


class _Silent:
    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        pass

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        pass

    def on_epoch(self, result: EpochResult) -> None:
        pass


class Listeners:
    """Several listeners as one."""

    def __init__(self, *listeners: TrainListener) -> None:
        self.listeners = listeners

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        for x in self.listeners:
            x.on_start(total_steps, steps_per_epoch)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        for x in self.listeners:
            x.on_step(step, loss, subwords_per_s, lr)

    def on_epoch(self, result: EpochResult) -> None:
        for x in self.listeners:
            x.on_epoch(result)


class JsonlLog:
    """Training log as JSON Lines: one ``{"event": "step", step, loss, lr, subwords_per_s}`` per
    optimizer step and one ``{"event": "epoch", ...}`` (with dev scores) per epoch; flushed as written."""

    def __init__(self, path, append: bool = False) -> None:
        self.file = open(path, "a" if append else "w", encoding="utf-8")

    def _write(self, obj: dict) -> None:
        self.file.write(json.dumps(obj) + "\n")
        self.file.flush()

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        self._write({"event": "start", "total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "time": time.time()})

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self._write({"event": "step", "step": step, "loss": loss, "lr": lr, "subwords_per_s": subwords_per_s})

    def on_epoch(self, result: EpochResult) -> None:
        self._write({"event": "epoch", **asdict(result)})

    def close(self) -> None:
        self.file.close()


class TensorBoardLog:
    """The same events as ``JsonlLog`` as TensorBoard scalars (``train/loss``, ``train/lr``,
    ``train/subwords_per_s`` per step; ``dev/entity_f1``, ``train/epoch_loss`` per epoch)."""

    def __init__(self, directory) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(directory))
        self.step = 0

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        pass

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self.step = step
        self.writer.add_scalar("train/loss", loss, step)
        self.writer.add_scalar("train/lr", lr, step)
        self.writer.add_scalar("train/subwords_per_s", subwords_per_s, step)

    def on_epoch(self, result: EpochResult) -> None:
        self.writer.add_scalar("train/epoch_loss", result.train_loss, self.step)
        if result.dev:
            self.writer.add_scalar("dev/entity_f1", result.dev["entity"]["f1"], self.step)
            self.writer.add_scalar("dev/token_micro_f1", result.dev["token_micro_f1"], self.step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from 0 to 1 over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def build_optimizer(tagger: Tagger, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW: encoder at ``lr``, head at ``head_lr`` (default per head kind, ``DEFAULT_HEAD_LR``); no weight decay on biases, LayerNorm and the
    word embedding (so that compact embedding training equals dense training, see ``compact``)."""
    head_lr = config.head_lr if config.head_lr is not None else DEFAULT_HEAD_LR[tagger.settings.head]
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in tagger.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name.startswith("head.")
        no_decay = (param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or name.endswith(".bias")
                    or name.endswith(COMPACT_SUFFIX) or "word_embeddings" in name)
        groups.setdefault((is_head, no_decay), []).append(param)
    param_groups = [
        {
            "params": params,
            "lr": head_lr if is_head else config.lr,
            "weight_decay": 0.0 if no_decay else config.weight_decay,
        }
        for (is_head, no_decay), params in sorted(groups.items())
    ]
    try:
        return torch.optim.AdamW(param_groups, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(param_groups, foreach=True)


@torch.no_grad()  # not inference_mode: the head's backward must be able to save these tensors
def frozen_word_vectors(tagger: Tagger, windows: Sequence[Window], batch_size: int = 64) -> list[torch.Tensor]:
    """Word vectors of every window from a frozen encoder, computed once: (n_words, hidden') each."""
    device = next(tagger.parameters()).device
    tagger.eval()
    out: list[torch.Tensor | None] = [None] * len(windows)
    for idx in length_grouped_batches([len(w.input_ids) for w in windows], batch_size, seed=0, shuffle=False):
        batch = {k: v.to(device) for k, v in collate([windows[i] for i in idx], tagger.pad_id).items()}
        vectors = tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                      batch["token_type_ids"])
        for row, i in enumerate(idx):
            out[i] = vectors[row, : windows[i].n_words].clone()
    return out  # type: ignore[return-value]


def fit(
    tagger: Tagger,
    train: Sequence[Sentence],
    dev: Sequence[Sentence] | None,
    config: TrainConfig,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
) -> TrainResult:
    """Fine-tune ``tagger`` on ``train``; keep the weights of the best dev epoch (or the last).

    With ``checkpoints``, resumable checkpoints are written as training goes, and with
    ``checkpoints.resume`` a killed run continues where its newest checkpoint left off, to the
    same final weights, bit for bit, as a run that was never interrupted.
    """
    listener = listener or _Silent()
    world = current()
    seed_everything(config.seed + world.rank)  # rank 0 (and a single process) uses the seed as given
    label_ids = {label: i for i, label in enumerate(tagger.labels)}
    train = [s for s in train if s.words]
    windows = tagger.word_encoder.encode(
        [s.words for s in train], [[label_ids[t] for t in (s.tags or ())] for s in train]
    )
    lengths = [len(w.input_ids) for w in windows]
    steps_per_epoch = len(_step_groups(lengths, config, 1))
    trains_embeddings = config.compact_embeddings and not tagger.frozen
    used_ids = {i for w in windows for i in w.input_ids} if trains_embeddings else None
    # a frozen encoder gives the same vectors every epoch: compute them once
    features = frozen_word_vectors(tagger, windows, config.eval_batch_size) if tagger.frozen else None
    with compact_word_embeddings(tagger.encoder, used_ids) as compact:
        result, best_state = _loop(tagger, windows, features, lengths, dev, config, listener, compact, steps_per_epoch,
                                   checkpoints)
    if best_state is not None:
        tagger.load_state_dict(best_state)
    tagger.eval()
    return result


class _LossOf(nn.Module):
    """The tagger's batch loss as ``forward``, so that DistributedDataParallel can wrap it. A rank
    with no windows in a step passes None and gets a zero loss that still touches every trained
    parameter (DDP needs each rank to take part in every gradient reduction)."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__()
        self.tagger = tagger

    def forward(self, batch: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if batch is None:
            return sum(p.sum() * 0.0 for p in self.tagger.parameters() if p.requires_grad)
        return self.tagger.batch_loss(batch)


def _loop(tagger, windows, features, lengths, dev, config, listener, compact, steps_per_epoch, checkpoints=None):
    """The epochs of ``fit``; returns the result and the best weights (full embedding layout)."""
    device = next(tagger.parameters()).device
    world = current()
    loss_of: nn.Module = _LossOf(tagger)
    if world.distributed:
        # built here, after the compact embedding swap, so DDP sees the parameters that train
        loss_of = nn.parallel.DistributedDataParallel(loss_of, device_ids=[device] if device.type == "cuda" else None)
    micro_size = max(1, math.ceil(config.batch_size / world.size))
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup * total_steps)
    optimizer = build_optimizer(tagger, config)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    autocast_dtype = PRECISIONS[config.precision]
    # fp16 needs loss scaling against underflow; for fp32 and bf16 the scaler is a no-op
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    listener.on_start(total_steps, steps_per_epoch)

    result = TrainResult()
    best_f1, best_state = -1.0, None
    step = 0
    # ---- resume: where the newest checkpoint left off
    start_epoch, skip, partial = 1, 0, (0.0, 0, 0)
    state = ckpt.load_latest(checkpoints.directory) if checkpoints is not None and checkpoints.resume else None
    if state is not None:
        if state["config"] != _comparable(config):
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written with other training settings "
                              f"({state['config']}); resume with the same settings or start a new run")
        tagger.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step, start_epoch, skip = state["step"], state["epoch"], state["steps_in_epoch"]
        partial = tuple(state["partial"])
        best_f1, best_state = state["best_f1"], state["best_state"]
        result.best_epoch = state["best_epoch"]
        result.epochs = [EpochResult(**e) for e in state["epochs"]]
        if len(state["rng"]) != world.size:
            raise ConfigError(f"{checkpoints.directory}: the checkpoint was written by {len(state['rng'])} processes; "
                              f"resume with as many (this run has {world.size})")
        ckpt.set_rng_state(state["rng"][world.rank])

    def save(epoch: int, steps_in_epoch: int, sums: tuple) -> None:
        rngs = gather(ckpt.rng_state(), world)  # every rank's dropout stream, for an exact resume
        if world.is_main:  # one writer; the other ranks hold the same weights
            ckpt.save_step({
                "config": _comparable(config), "step": step, "epoch": epoch, "steps_in_epoch": steps_in_epoch,
                "partial": list(sums), "model": tagger.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "best_f1": best_f1, "best_state": best_state,
                "best_epoch": result.best_epoch, "epochs": [asdict(e) for e in result.epochs],
            }, checkpoints.directory, step, checkpoints.keep)
        barrier(world)

    for epoch in range(start_epoch, config.epochs + 1):
        tagger.train()
        # one optimizer step per group of accumulate * batch_size windows, cut into micro-batches
        batches = _step_groups(lengths, config, epoch)
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
            micro = [collate([windows[i] for i in mine[k : k + size]], tagger.pad_id) for k in range(0, len(mine), size)]
            weights = [tagger.head.loss_weight(b["word_labels"]) for b in micro]
            total_weight = all_sum([float(sum(weights))], world)[0] or 1.0
            step_loss, step_subwords, step_positions = 0.0, 0, 0
            for k, batch in enumerate(micro or [None]):
                if batch is not None:
                    if features is not None:
                        idx = mine[k * size : (k + 1) * size]
                        batch["word_vectors"] = torch.nn.utils.rnn.pad_sequence([features[i] for i in idx], batch_first=True)
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
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), config.max_grad_norm)
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
        report = evaluate(tagger, dev, config.eval_batch_size, world) if dev else None
        f1 = report["entity"]["f1"] if report else float(epoch)
        is_best = f1 > best_f1
        if is_best:
            best_f1 = f1
            best_state = {
                k: v.detach().clone() for k, v in tagger.state_dict().items() if not k.endswith(COMPACT_SUFFIX)
            }
            result.best_epoch = epoch
        epoch_result = EpochResult(
            epoch, loss_sum / max(1, len(batches)), seconds, subwords, positions,
            subwords / max(seconds, 1e-9), report, is_best, time.perf_counter() - t1,
        )
        result.epochs.append(epoch_result)
        listener.on_epoch(epoch_result)
        if checkpoints is not None:
            save(epoch + 1, 0, (0.0, 0, 0))
    return result, best_state


def _step_groups(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The windows of each optimizer step in ``epoch``: ``accumulate`` x ``batch_size`` windows of
    similar length, or with ``batch_tokens`` about ``accumulate`` x ``batch_tokens`` padded sub-words."""
    if config.batch_tokens is not None:
        return token_budget_batches(lengths, config.batch_tokens * config.accumulate, seed=config.seed + epoch)
    return length_grouped_batches(lengths, config.batch_size * config.accumulate, seed=config.seed + epoch)


def _comparable(config: TrainConfig) -> dict:
    """The settings a checkpoint must share with the run that resumes it (all of them but the
    evaluation batch size, which does not change the weights)."""
    return {k: v for k, v in asdict(config).items() if k != "eval_batch_size"}
