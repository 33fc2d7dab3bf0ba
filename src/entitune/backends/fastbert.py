"""A lean inference forward for BERT encoders, used by ``TorchScorer`` when it applies. The BERT
pieces it shares with training and the export (layer-shape check, key mask, attention) are in
``model.bert``.

Why by hand: on a 2-core CPU, tagging one short sentence at a time spends more time in the Python
of ``transformers``' module tree (about 200 module calls, mask building, output objects) than in
arithmetic. This forward does the same arithmetic (embeddings, then per layer: fused Q/K/V
projection, softmax attention, output projection, residual + LayerNorm, GELU
feed-forward, residual + LayerNorm) with a dozen torch calls per layer. It copies the encoder's
weights when it is built (``BertFastPath(encoder)``, done by ``TorchScorer``), so a scorer reflects
the weights of the moment it was made; the training loop makes a new one for each evaluation.
Tests check it
against ``transformers`` to float tolerance; anything it does not cover (other model types,
relative positions, non-GELU activations, hidden states of several layers) falls back to the
``transformers`` forward.

On CPU, the weights are pre-packed for oneDNN once (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` uses on CPU, with the GELU fused into the first feed-forward matmul).
Measured on this project's 2-core machine, that runs the small matmuls of one short sentence
(14 x 384 by 384 x 1536) about 1.7x faster than ``F.linear``, and large batches about 1.15x
faster. Where those kernels are missing (a torch built without oneDNN, or a GPU) plain
``F.linear`` is used.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..model.bert import attend, bert_layers, key_mask


@functools.lru_cache(maxsize=None)
def _onednn_works(dtype: torch.dtype = torch.float32) -> bool:
    """Whether oneDNN's packed linear runs here in ``dtype`` (asked once per type: scorers are built
    at every evaluation)."""
    try:
        w = torch.ones(2, 2, dtype=dtype)
        y = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2, dtype=dtype), torch.ops.mkldnn._reorder_linear_weight(w),
                                               torch.zeros(2, dtype=dtype), "none", [], "")
        return bool(torch.allclose(y.float(), torch.full((1, 2), 2.0)))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def bucket_rows(rows: int) -> int:
    """``rows`` rounded up to one of 8 sizes per power of two (at most 12.5% more; up to 16 as is).

    oneDNN builds and keeps a kernel for every input shape it meets; the packed tokens of a batch
    come in any count, so without buckets a long stream of batches (``entitune predict`` on a
    million lines, a server) grows by a kernel per new count: measured, 540 MB after 10k lines,
    1.1 GB after 100k. With buckets, the shapes, and so memory, stop growing after warm-up.

    >>> [bucket_rows(n) for n in (1, 16, 17, 100, 1000, 4097)]
    [1, 16, 18, 104, 1024, 4608]
    """
    if rows <= 16:
        return rows
    step = 1 << (rows.bit_length() - 4)
    return -(-rows // step) * step


class _Linear:
    """``y = x W^T + b`` (optionally GELU(y)) with the weight packed for oneDNN on CPU when it can be;
    packed, the rows are padded to ``bucket_rows`` (zeros, cut off after) to bound the shapes.
    ``dtype``: the weights' and the product's type (the input is cast to it)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, gelu: bool, packed: bool,
                 dtype: torch.dtype = torch.float32) -> None:
        self.weight, self.bias, self.gelu = weight.detach().to(dtype), bias.detach().to(dtype), gelu
        self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight) if packed else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.weight.dtype)
        if self.packed is not None:
            # shape: (rows, in)
            flat = x.reshape(-1, x.shape[-1])
            rows = flat.shape[0]
            if (padded := bucket_rows(rows)) > rows:
                flat = torch.cat([flat, flat.new_zeros(padded - rows, flat.shape[1])])
            y = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "gelu" if self.gelu else "none",
                                                   [], "none" if self.gelu else "")
            return y[:rows].view(*x.shape[:-1], y.shape[-1])
        y = F.linear(x, self.weight, self.bias)
        return F.gelu(y) if self.gelu else y


class BertFastPath:
    """Inference-only forward of a ``transformers`` ``BertModel`` (no pooler).

    Args:
        encoder: the ``BertModel``; its weights are copied (Q/K/V concatenated), so build this
            after training, as ``Predictor`` does.
        dtype: the matmuls' type. ``torch.bfloat16`` keeps the weights in bf16 and runs the six
            matmuls of each layer (and attention's two) in bf16, while the residual stream, the
            LayerNorms and the softmax stay float32: where the CPU multiplies bf16 natively
            (AVX512-BF16, AMX) the matmuls take about half the time, and the scores move only in
            their last digits (``TorchScorer(precision="bf16")``).
    """

    def __init__(self, encoder: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        config = encoder.config
        self.dtype = dtype
        emb = encoder.embeddings
        self.heads = config.num_attention_heads
        self.eps = config.layer_norm_eps
        self.word = emb.word_embeddings.weight.detach()
        self.position = emb.position_embeddings.weight.detach()
        self.token_type = emb.token_type_embeddings.weight.detach()
        self.emb_norm = (emb.LayerNorm.weight.detach(), emb.LayerNorm.bias.detach())
        packed = self.word.device.type == "cpu" and self.word.dtype == torch.float32 and _onednn_works(dtype)
        self.layers = []
        for layer in encoder.encoder.layer:
            att = layer.attention
            q, k, v = att.self.query, att.self.key, att.self.value
            self.layers.append((
                _Linear(torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias]), False, packed,
                        dtype),
                _Linear(att.output.dense.weight, att.output.dense.bias, False, packed, dtype),
                (att.output.LayerNorm.weight.detach(), att.output.LayerNorm.bias.detach()),
                _Linear(layer.intermediate.dense.weight, layer.intermediate.dense.bias, True, packed, dtype),
                _Linear(layer.output.dense.weight, layer.output.dense.bias, False, packed, dtype),
                (layer.output.LayerNorm.weight.detach(), layer.output.LayerNorm.bias.detach()),
            ))

    @staticmethod
    def supports(encoder: nn.Module) -> bool:
        """True for a plain float32 ``BertModel`` this forward reproduces exactly: BERT-shaped
        layers (``bert_layers``), the exact GELU, and BERT's embeddings."""
        return (
            bert_layers(encoder) is not None
            and type(encoder).__name__ == "BertModel"
            and encoder.config.model_type == "bert"
            and encoder.config.hidden_act == "gelu"
            and hasattr(encoder, "embeddings") and hasattr(encoder.embeddings, "token_type_embeddings")
            and next(encoder.parameters()).dtype == torch.float32
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq) ids and 0/1 mask -> last hidden states (batch, seq, hidden)."""
        batch, seq = input_ids.shape
        hidden = self.word.shape[1]
        # shape: (batch, seq, hidden)
        x = F.embedding(input_ids, self.word) + self.position[:seq]
        x = x + (self.token_type[0] if token_type_ids is None else F.embedding(token_type_ids, self.token_type))
        x = F.layer_norm(x, (hidden,), *self.emb_norm, self.eps)
        if bool(attention_mask.all()):  # nothing padded (batches are grouped by length, so often)
            return self._layers(x, None, None)
        # Padding removed for everything that works token by token (the matmuls, ~85% of the
        # work): the real tokens are packed into (tokens, hidden) and only attention, which
        # mixes tokens, sees the padded (batch, seq) layout. So a batch's cost does not depend
        # on how unequal its lengths are.
        # shape: (tokens,) flat positions of the real tokens
        keep = attention_mask.flatten().nonzero().squeeze(1)
        # shape: (batch, 1, 1, seq)
        mask = key_mask(attention_mask, x.dtype)
        packed = self._layers(x.reshape(batch * seq, hidden)[keep], mask, keep)
        return x.new_zeros(batch * seq, hidden).index_copy_(0, keep, packed).view(batch, seq, hidden)

    def _layers(self, x: torch.Tensor, mask: torch.Tensor | None, keep: torch.Tensor | None) -> torch.Tensor:
        """The transformer layers over ``x``: (batch, seq, hidden) when nothing is padded
        (``mask``, ``keep`` None), else the packed real tokens (tokens, hidden), with the additive
        key ``mask`` (batch, 1, 1, seq) and their flat positions ``keep`` (tokens,)."""
        hidden = self.word.shape[1]
        head_dim = hidden // self.heads
        scale = head_dim ** -0.5
        batch, seq = (x.shape[0], x.shape[1]) if mask is None else (mask.shape[0], mask.shape[-1])
        for qkv, out, norm1, up, down, norm2 in self.layers:
            # shape: (batch, seq, 3 * hidden)
            projected = qkv(x)
            if keep is not None:
                projected = projected.new_zeros(batch * seq, 3 * hidden).index_copy_(0, keep, projected)
            # shape: (3, batch, heads, seq, head_dim)
            q, k, v = projected.view(batch, seq, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            # the scores, mask and softmax in float32 whatever the matmuls' type
            att = attend(q, k, v, mask, scale, softmax_dtype=torch.float32).transpose(1, 2).reshape(batch * seq, hidden)
            att = att[keep] if keep is not None else att.view(batch, seq, hidden)
            x = F.layer_norm(out(att).float() + x, (hidden,), *norm1, self.eps)
            x = F.layer_norm(down(up(x)).float() + x, (hidden,), *norm2, self.eps)
        return x

