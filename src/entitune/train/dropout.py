"""Dropout with cheaper random masks on the CPU, swapped in for the length of a training run.

Why by hand: PyTorch's CPU dropout draws its mask with ``bernoulli_``, one Mersenne-Twister draw
and a float comparison per element. Profiled on the bundled MiniLM (``bench/profile_train.py``,
2-core AMD EPYC) those masks took 7% of an fp32 training step and 8% of a bf16 one, more than the
attention's batched matmuls. ``MaskDropout`` draws one 64-bit random number for every four
elements and compares each 16-bit quarter with a threshold: a drop probability of
``round(p * 65536) / 65536`` (0.100006 for 0.1), every element independent, the same
``torch`` generator (so seeding, checkpoints and exact resume cover it as before). The mask is
kept as booleans for the backward pass. Measured: a (416, 384) dropout forward and backward takes
about half the time of ``F.dropout``'s, and a whole training step 2-6% less (docs/benchmarks.md).

Off the CPU (a GPU fuses dropout into one kernel already) and in eval mode it is ``nn.Dropout``.
No library offers this; ``fast_dropout`` swaps every plain ``nn.Dropout`` of a model for it during
training and puts the originals back afterwards, so a trained model's modules are unchanged.
Attention-probability dropout inside ``scaled_dot_product_attention`` is not a module and keeps
PyTorch's own.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

_LOW, _HIGH = -(2 ** 63), 2 ** 63 - 1


class _ApplyMask(torch.autograd.Function):
    """``x * keep * scale`` with only the boolean ``keep`` saved for the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x * scale, 0.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad * ctx.scale, 0.0), None, None


def keep_mask(shape: torch.Size, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A boolean mask of ``shape``, each element False with probability ``round(p * 65536) / 65536``:
    16 random bits per element, four elements per 64-bit draw.

    >>> m = keep_mask(torch.Size([1000, 100]), 0.1, torch.Generator().manual_seed(0))
    >>> m.dtype, m.shape, 0.09 < 1 - m.float().mean().item() < 0.11
    (torch.bool, torch.Size([1000, 100]), True)
    """
    n = math.prod(shape)
    bits = torch.randint(_LOW, _HIGH, ((n + 3) // 4,), dtype=torch.int64, generator=generator)
    # shape: (n,) 16-bit integers, uniform over [-32768, 32767]
    quarters = bits.view(torch.int16)[:n]
    return quarters.view(shape) >= round(-32768 + p * 65536)


class MaskDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training masks come from ``keep_mask``; anything else (eval mode,
    p = 0, a tensor off the CPU, ``inplace``) is ``nn.Dropout``'s own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or self.inplace or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1.0:
            return x * 0.0
        return _ApplyMask.apply(x, keep_mask(x.shape, self.p), 1.0 / (1.0 - self.p))


@contextlib.contextmanager
def fast_dropout(model: nn.Module) -> Iterator[int]:
    """Within the block, every plain ``nn.Dropout`` of ``model`` is a ``MaskDropout`` of the same
    ``p``; the originals come back afterwards (also on an error). Yields how many were swapped."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                swapped.append((parent, name, child))
    try:
        for parent, name, child in swapped:
            replacement = MaskDropout(child.p)
            replacement.train(child.training)
            setattr(parent, name, replacement)
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)
