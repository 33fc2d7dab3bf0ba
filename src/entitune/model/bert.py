"""The BERT layer pieces written once and shared: the shape test (``bert_layers``), the additive key
mask, softmax attention (with the probabilities' dropout in training), and the last layer computed
only at the rows a head reads (``last_layer_at``).

Why a partial last layer: a head reads the encoder's last layer only at some positions (each word's
first sub-token for tagging, [CLS] for classification), and nothing else uses that layer's other
rows. Keys and values must still come from every sub-token, but the query, the attention output and
the feed-forward run only at the rows read. For [CLS] pooling that is about five sixths of the last
layer's work, in training (forward and backward) and inference alike. The arithmetic at those rows
is ``transformers``' own (``BertLayer``), dropout included in training; ``model.encoder_model``
uses it for training, ``export.onnx`` for exports, and tests compare both with the full layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: model types whose layers are ``BertLayer``'s arithmetic (post-LayerNorm, plain softmax attention
#: over absolute positions), checked against ``transformers`` in tests. Module names are not enough:
#: RoFormer (rotary), ConvBERT, MRA, Nystromformer, YOSO, CANINE, I-BERT, LiLT and LayoutLMv3 have
#: the same ``attention.self.query`` ... ``output.LayerNorm`` names and compute something else.
BERT_LAYOUTS = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra", "data2vec-text", "ernie",
                          "layoutlm", "rembert", "splinter", "markuplm", "roc_bert"})
_PARTS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.self.dropout",
          "attention.output.dense", "attention.output.dropout", "attention.output.LayerNorm", "intermediate.dense",
          "output.dense", "output.dropout", "output.LayerNorm")


def bert_layers(encoder: nn.Module) -> nn.ModuleList | None:
    """The layers of a BERT-shaped encoder (a model type of ``BERT_LAYOUTS`` whose layers have
    self-attention with query, key and value, output dense + LayerNorm, intermediate, output dense +
    LayerNorm; absolute positions; not a decoder), or None: then callers take ``transformers``' own
    forward. The one shape test behind the fast forward and the partial last layer."""
    config = getattr(encoder, "config", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if (config is None or getattr(config, "model_type", None) not in BERT_LAYOUTS
            or not isinstance(layers, nn.ModuleList) or not len(layers) or getattr(config, "is_decoder", False)
            or getattr(config, "position_embedding_type", "absolute") != "absolute"):
        return None
    for layer in layers:
        modules = dict(layer.named_modules())
        if not all(n in modules for n in _PARTS) or not hasattr(layer.attention.self, "attention_head_size"):
            return None
    return layers


def key_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, seq) 0/1 mask -> (batch, 1, 1, seq) additive attention mask: 0 where a key may be
    attended to, the most negative float where it is padding (as ``transformers``)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float,
           dropout: float = 0.0, softmax_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Softmax attention per head: q (batch, heads, queries, head_dim), k and v (batch, heads, keys,
    head_dim), additive ``key_mask`` or None, ``scale`` (head_dim ** -0.5), dropout on the attention
    probabilities (training only) -> (batch, heads, queries, head_dim). ``softmax_dtype``: the type
    the scores, mask and softmax are computed in (float32 under bf16 q, k, v: both matmuls stay in
    their type, the probabilities go back to it); None: the type the matmul gives."""
    # plain matmuls beat scaled_dot_product_attention on CPU for these short sequences (~1.6x)
    # shape: (batch, heads, queries, keys)
    scores = torch.matmul(q, k.transpose(-1, -2))
    if softmax_dtype is not None:
        scores = scores.to(softmax_dtype)
    scores = scores * scale
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(-1)
    if dropout:
        probs = F.dropout(probs, dropout, training=True)
    if softmax_dtype is not None:
        probs = probs.to(v.dtype)
    return torch.matmul(probs, v)


def last_layer_at(layer: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor,
                  positions: torch.Tensor) -> torch.Tensor:
    """A ``BertLayer`` computed only at ``positions``: (batch, seq, hidden) input of the layer,
    (batch, seq) 0/1 mask and (batch, positions) indices -> (batch, positions, hidden), the rows the
    full layer would give there. Dropout as the layer's own modules apply it (in training only)."""
    attention, heads = layer.attention, layer.attention.self
    batch, seq, size = hidden.shape
    head_dim = heads.attention_head_size
    # shape: (batch, positions, hidden)
    x = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, size))
    # shape: (batch, heads, positions or seq, head_dim)
    q = heads.query(x).view(batch, -1, size // head_dim, head_dim).transpose(1, 2)
    k = heads.key(hidden).view(batch, seq, -1, head_dim).transpose(1, 2)
    v = heads.value(hidden).view(batch, seq, -1, head_dim).transpose(1, 2)
    mask = key_mask(attention_mask, hidden.dtype)  # shape: (batch, 1, 1, seq)
    p = heads.dropout.p if heads.training else 0.0
    context = attend(q, k, v, mask, head_dim**-0.5, p).transpose(1, 2).reshape(batch, -1, size)
    x = attention.output.LayerNorm(attention.output.dropout(attention.output.dense(context)) + x)
    return layer.output.LayerNorm(layer.output.dropout(layer.output.dense(layer.intermediate(x))) + x)
