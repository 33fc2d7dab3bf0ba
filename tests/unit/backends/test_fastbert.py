"""The lean inference forward (``backends.fastbert``) computes what ``transformers`` computes;
``TorchScorer`` uses it where it applies, reads the weights of the moment it is made, and the model
itself holds no speed-path state."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from entitune import Predictor, Tagger, TorchScorer
from entitune.backends.fastbert import BertFastPath, bert_layers
from entitune.encode import collate
from tests.helpers.data import TINY_SENTENCES, WORDS, entity_spans, gold_entities

SENTENCES = [w for w, _ in TINY_SENTENCES] + [WORDS, ["films"], WORDS[:9]]


def _batch(tagger: Tagger):
    return collate(tagger.word_encoder.encode(SENTENCES), tagger.pad_id)


def test_fast_forward_matches_transformers(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    assert BertFastPath.supports(tagger.encoder) and bert_layers(tagger.encoder) is not None
    batch = _batch(tagger)
    batch["token_type_ids"][0, :3] = 1  # token types are read, not assumed zero
    fast = BertFastPath(tagger.encoder)
    with torch.inference_mode():
        for rows in (slice(0, 1), slice(None)):  # unpadded single row, and a padded batch
            ids, mask, types = batch["input_ids"][rows], batch["attention_mask"][rows], batch["token_type_ids"][rows]
            ref = tagger.encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            got = fast(ids, mask, types)
            real = mask.bool()
            assert torch.allclose(got[real], ref[real], atol=1e-5), (got[real] - ref[real]).abs().max()


def test_scores_equal_with_and_without_fast_path(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    batch = _batch(tagger)
    fast = TorchScorer(tagger)
    plain = TorchScorer(tagger, fast=False)
    assert fast.fast is not None and plain.fast is None  # it was used, and can be turned off
    assert np.allclose(fast.score_windows(batch), plain.score_windows(batch), atol=1e-5)


def test_a_scorer_made_after_a_weight_update_sees_it(tiny_tagger_dir):
    """The fast path copies weights when the scorer is made: the training loop makes a new scorer for
    each evaluation. Breaking this (e.g. caching one scorer across epochs) shows as stale scores."""
    tagger = Tagger.load(tiny_tagger_dir)
    batch = _batch(tagger)
    before = TorchScorer(tagger).score_windows(batch)
    with torch.no_grad():
        tagger.encoder.encoder.layer[0].intermediate.dense.weight.mul_(-1.5)  # an in-place update, as an optimizer's
    after = TorchScorer(tagger).score_windows(batch)
    reference = TorchScorer(tagger, fast=False).score_windows(batch)
    assert not np.allclose(before, after, atol=1e-3)
    assert np.allclose(after, reference, atol=1e-5)


def test_the_model_holds_no_speed_path(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    TorchScorer(tagger)
    assert not any(isinstance(v, BertFastPath) for v in vars(tagger).values())
    batch = _batch(tagger)
    out = tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"])
    assert out.requires_grad  # the model's own forward: gradients flow, as training needs


def test_frozen_features_do_not_use_the_fast_path(tiny_bert):
    tagger = Tagger.from_encoder(tiny_bert, ["O", "B-A", "I-A"], features="frozen-sum4", max_length=16, stride=4)
    assert TorchScorer(tagger).fast is None


@pytest.mark.parametrize("batch_size", [1, 3])
def test_predictions_same_with_fast_path(tiny_tagger_dir, batch_size):
    tagger = Tagger.load(tiny_tagger_dir)
    texts = [" ".join(s) for s in SENTENCES]
    fast = Predictor(TorchScorer(tagger), batch_size=batch_size).predict(texts)
    slow = Predictor(TorchScorer(tagger, fast=False), batch_size=batch_size).predict(texts)
    assert [p.tags for p in fast] == [p.tags for p in slow]
    assert [entity_spans(p) for p in fast] == [entity_spans(p) for p in slow] == [gold_entities(t) for t in texts]
    assert sum(len(p.entities) for p in fast) == 14  # real spans: 7 in TINY_SENTENCES, 5 in WORDS, 2 in WORDS[:9]
    for a, b in zip(fast, slow):
        assert [e.score for e in a.entities] == pytest.approx([e.score for e in b.entities], abs=1e-5)
