"""The last layer computed only at the rows a head reads (``model.bert.last_layer_at``) gives what
the full layer gives there: the same vectors in inference, the same gradients in training (dropout
off, so both draw nothing), for tagging (word starts, with padding) and classification ([CLS])."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from entitune import Classifier, Tagger
from entitune.encode import collate, text_windows
from entitune.tags import label_set
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, WORDS


def _models(tiny_bert):
    labels = label_set([t for _, ts in TINY_SENTENCES for t in ts])
    tagger = Tagger.from_encoder(tiny_bert, labels, max_length=16, stride=4)
    batch = collate(tagger.word_encoder.encode([WORDS[:3], ["barrymore", "1980s"] + WORDS[:6], ["x"]]), tagger.pad_id)
    classifier = Classifier.from_encoder(tiny_bert, ["a", "b", "c"], max_length=16, stride=4)
    texts = collate(text_windows(classifier.word_encoder, [t for t, _ in TINY_TEXTS[:5]], "cls"), classifier.pad_id)
    return [(tagger, batch), (classifier, texts)]


def _vectors(model, batch):
    return model.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"], batch["token_type_ids"])


@pytest.mark.parametrize("which", [0, 1], ids=["tagger-word-starts", "classifier-cls"])
def test_partial_last_layer_equals_the_full_layer(tiny_bert, which):
    """Breaking it (e.g. no key mask, or queries from the wrong rows) shows as different vectors."""
    model, batch = _models(tiny_bert)[which]
    assert model._bert_shaped and batch["word_starts"].shape[1] < batch["input_ids"].shape[1]
    model.eval()
    with torch.no_grad():
        partial = _vectors(model, batch)
        model.partial_last_layer = False
        full = _vectors(model, batch)
    real = batch["word_mask"]
    assert torch.allclose(partial[real], full[real], atol=1e-5), (partial[real] - full[real]).abs().max()


@pytest.mark.parametrize("which", [0, 1], ids=["tagger-word-starts", "classifier-cls"])
def test_partial_last_layer_trains_like_the_full_layer(tiny_bert, which):
    model, batch = _models(tiny_bert)[which]
    for module in model.modules():  # no dropout: both paths then compute the same function
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    model.encoder.config.attention_probs_dropout_prob = 0.0
    model.train()
    grads = []
    for partial in (True, False):
        model.partial_last_layer = partial
        model.zero_grad()
        _vectors(model, batch)[batch["word_mask"]].pow(2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.encoder.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    # float32 rounding in the backward pass scales with the largest gradients (a LayerNorm's, about 60
    # here), so gradients near zero (the token-type embedding's, about 1e-5) differ by that much too
    scale = max(g.abs().max().item() for g in grads[1].values())
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6 * scale, rtol=1e-4, msg=name)


def test_the_full_layer_list_is_restored(tiny_bert):
    model, batch = _models(tiny_bert)[1]
    layers = model.encoder.encoder.layer
    _vectors(model, batch)
    assert model.encoder.encoder.layer is layers and len(layers) == model.encoder.config.num_hidden_layers
