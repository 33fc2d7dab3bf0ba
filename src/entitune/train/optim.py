"""Optimizer, learning-rate schedule and seeding of the training loop: small pure pieces."""
from __future__ import annotations

import random
import re

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
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


#: where an encoder layer's parameters are: ``encoder.layer.N.`` (BERT, RoBERTa, ELECTRA, DeBERTa,
#: MiniLM...), ``transformer.layer.N.`` (DistilBERT), ``albert_layer_groups.N.`` (ALBERT: the layers
#: of a group share their weights, so a group counts as one layer)
LAYER_PATTERN = re.compile(r"(?:^|\.)(?:encoder\.layer|transformer\.layer|albert_layer_groups)\.(\d+)\.")
#: parameters below the first layer: the embeddings (and ALBERT's projection of them to the hidden size)
EMBEDDING_MARKERS = ("embeddings.", "word_embeddings", COMPACT_SUFFIX, "embedding_hidden_mapping_in")
#: parameters trained at the head's learning rate: the head, and new layers beside it (word features)
HEAD_PREFIXES = ("head.", "word_feature_net.")


def layer_depths(names: list[str]) -> dict[str, int]:
    """How many times ``layer_decay`` multiplies each encoder parameter's learning rate: layer l
    (from 0 at the bottom) of L: L - l; the embeddings: L + 1; anything above the layers (a pooler, a
    mix of layers): 0. A one-line ``ConfigError`` when no name shows a layer.

    >>> layer_depths(["encoder.embeddings.word_embeddings.weight", "encoder.encoder.layer.0.output.dense.weight",
    ...               "encoder.encoder.layer.1.output.dense.weight", "encoder.pooler.dense.weight"])
    {'encoder.embeddings.word_embeddings.weight': 3, 'encoder.encoder.layer.0.output.dense.weight': 2, \
'encoder.encoder.layer.1.output.dense.weight': 1, 'encoder.pooler.dense.weight': 0}
    """
    layers = {name: int(m.group(1)) for name in names if (m := LAYER_PATTERN.search(name))}
    if not layers:
        example = names[0] if names else "none"
        raise ConfigError(f"layer_decay: cannot tell the encoder's layers from its parameter names (such as {example}; "
                          "expected encoder.layer.N., transformer.layer.N. or albert_layer_groups.N.); use layer_decay 1.0")
    count = max(layers.values()) + 1
    return {name: count - layers[name] if name in layers else
            count + 1 if any(marker in name for marker in EMBEDDING_MARKERS) else 0 for name in names}


def build_optimizer(model: nn.Module, config: TrainConfig, head_lr: float) -> torch.optim.Optimizer:
    """AdamW: parameters under ``model.head`` and ``model.word_feature_net`` at ``head_lr``, the
    others (the encoder) at ``config.lr``; no weight decay on biases, LayerNorm and the word
    embedding (so that compact embedding training equals dense training, see ``compact``).

    With ``config.layer_decay`` D below 1 (layer-wise learning-rate decay, as ELECTRA and DeBERTa
    fine-tune; ``layer_depths``), encoder layer l (from 0) of L trains at ``lr * D ** (L - l)``, the
    embeddings at ``lr * D ** (L + 1)``, what lies above the layers (a pooler) at ``lr``; the head
    keeps ``head_lr``. Each depth has its own groups, with and without weight decay."""
    encoder_names = [name for name, param in model.named_parameters()
                     if param.requires_grad and not name.startswith(HEAD_PREFIXES)]
    depths = layer_depths(encoder_names) if config.layer_decay != 1.0 and encoder_names else {}
    groups: dict[tuple[bool, bool, int], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # new layers beside the head (word features) learn at its rate, not the pretrained encoder's
        is_head = name.startswith(HEAD_PREFIXES)
        no_decay = (param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or name.endswith(".bias")
                    or name.endswith(COMPACT_SUFFIX) or "word_embeddings" in name)
        groups.setdefault((is_head, no_decay, depths.get(name, 0)), []).append(param)
    param_groups = [
        {
            "params": params,
            "lr": head_lr if is_head else config.lr * config.layer_decay ** depth,
            "weight_decay": 0.0 if no_decay else config.weight_decay,
        }
        for (is_head, no_decay, depth), params in sorted(groups.items())
    ]
    try:
        return torch.optim.AdamW(param_groups, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(param_groups, foreach=True)
