"""Optimizer, learning-rate schedule and seeding of the training loop: small pure pieces."""
from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from .compact import COMPACT_SUFFIX
from .config import TrainConfig


#: Head learning rates measured on MIT Movie eng, 1 epoch (bench/results/headlr_*.json, heads_e1.json):
#: linear 0.839 F1 at 1e-4, 0.853 at 1e-3; CRF 0.846 at 1e-4, 0.856 at 1e-3, 0.865 at 1e-2.
#: CRF transitions start at zero and need the larger rate.
DEFAULT_HEAD_LR = {"linear": 1e-3, "crf": 1e-2, "bilstm-crf": 1e-2, "classify": 1e-3}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from 0 to 1 over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def head_lr_for(head: str, config: TrainConfig) -> float:
    """The head's learning rate: ``config.head_lr`` if set, else the measured default for ``head``."""
    return config.head_lr if config.head_lr is not None else DEFAULT_HEAD_LR.get(head, 1e-3)


def build_optimizer(model: nn.Module, config: TrainConfig, head_lr: float) -> torch.optim.Optimizer:
    """AdamW: parameters under ``model.head`` at ``head_lr``, the others (the encoder) at
    ``config.lr``; no weight decay on biases, LayerNorm and the word embedding (so that compact
    embedding training equals dense training, see ``compact``)."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
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
