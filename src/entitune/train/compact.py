"""Train only the word-embedding rows that the training data uses.

A BERT word-embedding matrix (30,522 x 384 for MiniLM) gets a dense gradient every step, although
a batch touches a few hundred rows: on a 2-core CPU, zero-filling that gradient, clipping it and the
AdamW update over it took about a quarter of each step. ``CompactEmbedding`` swaps in a small
trainable table holding only the rows of token ids that occur in the training windows; every other
row is read from the frozen full matrix. Rows that never occur get a zero gradient under dense
training, and AdamW with zero gradient (and no weight decay on the embedding) leaves them unchanged,
so the result is the same as dense fine-tuning. On exit the trained rows are written back.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

COMPACT_SUFFIX = "compact_rows"


class CompactEmbedding(nn.Module):
    """Stands in for an ``nn.Embedding`` during training.

    Args:
        full: the encoder's word embedding; its weight is kept (frozen) under the same name.
        used_ids: token ids whose rows are trained.
    """

    def __init__(self, full: nn.Embedding, used_ids: Iterable[int]) -> None:
        super().__init__()
        ids = torch.tensor(sorted(set(used_ids)), dtype=torch.long)
        self.weight = full.weight  # same Parameter: the state_dict key stays "...word_embeddings.weight"
        self.padding_idx = full.padding_idx
        remap = torch.zeros(full.num_embeddings, dtype=torch.long)
        remap[ids] = torch.arange(1, len(ids) + 1)
        self.register_buffer("remap", remap.to(full.weight.device), persistent=False)
        self.register_buffer("ids", ids.to(full.weight.device), persistent=False)
        # row 0 is a placeholder for ids that are not trained
        rows = torch.cat([torch.zeros_like(full.weight[:1]), full.weight.detach()[ids]])
        setattr(self, COMPACT_SUFFIX, nn.Parameter(rows))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(batch, seq) token ids -> (batch, seq, hidden) vectors; gradients reach trained rows only."""
        compact_ids = self.remap[input_ids]
        trained = getattr(self, COMPACT_SUFFIX)
        out = nn.functional.embedding(input_ids, self.weight.detach())
        return torch.where((compact_ids > 0).unsqueeze(-1), nn.functional.embedding(compact_ids, trained), out)

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained rows into the full matrix."""
        self.weight[self.ids] = getattr(self, COMPACT_SUFFIX)[1:].to(self.weight.dtype)


@contextmanager
def compact_word_embeddings(model: nn.Module, used_ids: Iterable[int] | None) -> Iterator[CompactEmbedding | None]:
    """Swap ``model.get_input_embeddings()`` for a ``CompactEmbedding`` inside the block.

    Yields None (and changes nothing) when ``used_ids`` is None or the model's input embedding is
    not an ``nn.Embedding``.
    """
    full = model.get_input_embeddings()
    if used_ids is None or not isinstance(full, nn.Embedding):
        yield None
        return
    used = set(used_ids) - ({full.padding_idx} if full.padding_idx is not None else set())
    compact = CompactEmbedding(full, used)
    requires_grad = full.weight.requires_grad
    full.weight.requires_grad_(False)
    model.set_input_embeddings(compact)
    try:
        yield compact
    finally:
        compact.write_back()
        model.set_input_embeddings(full)
        full.weight.requires_grad_(requires_grad)
