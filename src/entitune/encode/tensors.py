"""``collate``: windows -> a padded batch of torch tensors, what training and the PyTorch model read.
The arrays are ``batches.pad_batch``'s (one padding code for every backend), handed to torch
without a copy. Kept apart from ``batches`` so that inference on an ONNX export never imports torch."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .batches import pad_batch
from .windows import Window


def collate(windows: Sequence[Window], pad_id: int) -> dict[str, torch.Tensor]:
    """``batches.pad_batch`` as torch tensors (long, the masks bool): ``input_ids``, ``token_type_ids``,
    ``attention_mask``, ``word_starts``, ``word_mask``, and where the windows have them ``labels``,
    ``word_labels``, ``word_shapes`` and ``word_chars`` (see ``pad_batch`` for their shapes)."""
    return {name: torch.from_numpy(array) for name, array in pad_batch(windows, pad_id).items()}
