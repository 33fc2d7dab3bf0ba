"""``PaddedBiLSTM``: what LSTM it is built from, and where it computes.

It rebuilds a trained BiLSTM as two one-direction LSTMs; it is only right for the LSTM the
BiLSTM-CRF head makes (one layer, ``batch_first``, bidirectional), so any other is refused with one
message naming all three conditions. It runs on its inputs' device (the reading order it computes
is an index tensor that must live beside them): the ``meta`` device stands in for a GPU here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entitune.export import PaddedBiLSTM

REFUSAL = "PaddedBiLSTM takes a one-layer, batch_first, bidirectional LSTM"


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "bidirectional": False,
            "batch_first": True,
            "num_layers": 1,
        },  # one direction only
        {
            "bidirectional": True,
            "batch_first": False,
            "num_layers": 1,
        },  # (seq, batch) inputs
        {
            "bidirectional": True,
            "batch_first": True,
            "num_layers": 2,
        },  # a second layer would be dropped
        {"bidirectional": False, "batch_first": False, "num_layers": 2},
    ],
)
def test_only_a_one_layer_batch_first_bidirectional_lstm_is_taken(kwargs):
    """Each condition on its own refuses the LSTM, with the exact message. Broken: the conditions
    joined with ``or`` (a one-direction LSTM, or a two-layer one, taken and silently mis-exported)."""
    with pytest.raises(ValueError) as refused:
        PaddedBiLSTM(nn.LSTM(4, 3, **kwargs))
    assert str(refused.value) == REFUSAL


def test_the_head_lstm_is_taken():
    lstm = nn.LSTM(4, 3, batch_first=True, bidirectional=True)
    assert PaddedBiLSTM(lstm).hidden == 3


def test_it_computes_on_its_inputs_device():
    """Module and inputs on another device (``meta``: shapes only) give a result there, of the
    documented shape. Broken: the positions made on the default device (CPU), which cannot meet a
    mask on a GPU."""
    torch.manual_seed(0)
    padded = PaddedBiLSTM(nn.LSTM(4, 3, batch_first=True, bidirectional=True)).to(
        "meta"
    )
    x = torch.randn(2, 5, 4, device="meta")
    mask = torch.ones(2, 5, dtype=torch.bool, device="meta")
    out = padded(x, mask)
    assert out.device.type == "meta" and out.shape == (2, 5, 6)
