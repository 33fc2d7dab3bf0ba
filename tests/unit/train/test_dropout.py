"""``train.dropout``: the cheaper CPU dropout masks keep dropout's statistics and gradients, and the
training loop swaps them in only while it trains."""
import pytest
import torch
from torch import nn

from entitune import Sentence, Tagger, TrainConfig, fit
from entitune.tags import label_set
from entitune.train import dropout
from entitune.train.dropout import MaskDropout, fast_dropout, keep_mask
from tests.helpers.data import TINY_SENTENCES

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_masks_drop_with_probability_p_independently(p):
    mask = keep_mask(torch.Size([2000, 500]), p, torch.Generator().manual_seed(3))
    dropped = ~mask
    assert dropped.float().mean().item() == pytest.approx(p, abs=0.003)
    # neighbours (which share a 64-bit draw) are independent: both dropped with probability p^2
    pairs = (dropped[:, :-1] & dropped[:, 1:]).float().mean().item()
    assert pairs == pytest.approx(p * p, abs=0.003)
    # and the four quarters of one draw are each uniform (no position is favoured)
    for offset in range(4):
        assert dropped.flatten()[offset::4].float().mean().item() == pytest.approx(p, abs=0.005)


def test_masks_follow_the_torch_seed():
    torch.manual_seed(7)
    a = keep_mask(torch.Size([64, 33]), 0.1)
    torch.manual_seed(7)
    b = keep_mask(torch.Size([64, 33]), 0.1)
    assert torch.equal(a, b) and a.shape == (64, 33)


def test_training_forward_and_backward_scale_the_kept_elements():
    layer = MaskDropout(0.25).train()
    x = torch.randn(300, 40, requires_grad=True)
    torch.manual_seed(0)
    y = layer(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.75)
    assert 0.2 < 1 - kept.float().mean().item() < 0.3
    weights = torch.randn(300, 40)
    (y * weights).sum().backward()
    torch.testing.assert_close(x.grad, torch.where(kept, weights / 0.75, 0.0))


def test_eval_mode_zero_p_and_one_p_behave_as_nn_dropout():
    x = torch.randn(5, 7)
    assert torch.equal(MaskDropout(0.3).eval()(x), x)
    assert torch.equal(MaskDropout(0.0).train()(x), x)
    assert torch.equal(MaskDropout(1.0).train()(x), torch.zeros_like(x))


def test_fast_dropout_swaps_every_plain_dropout_and_puts_them_back():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.4), nn.ReLU()))
    model[2][0].eval()
    originals = [m for m in model.modules() if type(m) is nn.Dropout]
    with fast_dropout(model) as n:
        assert n == 2
        inside = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        assert [type(m) for m in inside] == [MaskDropout, MaskDropout]
        assert [m.p for m in inside] == [0.2, 0.4] and [m.training for m in inside] == [True, False]
        model.eval()  # a mode change during the block is kept on the originals
    assert [m for m in model.modules() if isinstance(m, nn.Dropout)] == originals
    assert not any(m.training for m in originals)
    with pytest.raises(RuntimeError), fast_dropout(model):
        raise RuntimeError("boom")
    assert [m for m in model.modules() if isinstance(m, nn.Dropout)] == originals


def test_the_training_loop_draws_its_masks_this_way_and_leaves_the_model_as_it_was(tiny_bert, monkeypatch):
    calls = []
    real = dropout.keep_mask

    def counting(shape, p, generator=None):
        calls.append(p)
        return real(shape, p, generator)

    monkeypatch.setattr(dropout, "keep_mask", counting)
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in SENTENCES for t in s.tags]), max_length=16,
                                 stride=4, dropout=0.3, seed=0)
    before = [type(m) for m in tagger.modules()]
    fit(tagger, SENTENCES, None, TrainConfig(epochs=1, lr=1e-3, warmup=0.0))
    assert calls and 0.3 in calls  # the head's dropout, and the encoder's
    assert [type(m) for m in tagger.modules()] == before and MaskDropout not in before
