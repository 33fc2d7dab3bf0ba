"""The lean inference forward (``fastbert``) computes what ``transformers`` computes, follows weight
changes, and stays out of training, gradients and export."""
from __future__ import annotations

import pytest
import torch

from entitune import Predictor, Tagger
from entitune.encode import collate
from entitune.fastbert import BertFastPath

from .conftest import TINY_SENTENCES, WORDS

SENTENCES = [w for w, _ in TINY_SENTENCES] + [WORDS, ["films"], WORDS[:9]]


def _batch(tagger: Tagger):
    return collate(tagger.word_encoder.encode(SENTENCES), tagger.pad_id)


def test_fast_forward_matches_transformers(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    assert BertFastPath.supports(tagger.encoder)
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
    with_fast = tagger.score_windows(batch)
    assert tagger._fast is not None  # it was used
    tagger.fast_inference = False
    without = tagger.score_windows(batch)
    assert torch.allclose(with_fast, without, atol=1e-5)


def test_fast_path_follows_weight_updates(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    batch = _batch(tagger)
    before = tagger.score_windows(batch)
    with torch.no_grad():
        tagger.encoder.encoder.layer[0].intermediate.dense.weight.mul_(-1.5)  # an in-place update, as an optimizer's
    after = tagger.score_windows(batch)
    tagger.fast_inference = False
    reference = tagger.score_windows(batch)
    assert not torch.allclose(before, after, atol=1e-3)
    assert torch.allclose(after, reference, atol=1e-5)


def test_fast_path_not_used_for_training_or_gradients(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    batch = _batch(tagger)
    tagger.train()
    tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"])
    assert tagger._fast is None
    tagger.eval()
    out = tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"])
    assert out.requires_grad and tagger._fast is None  # gradients on: the transformers forward


@pytest.mark.parametrize("batch_size", [1, 3])
def test_predictions_same_with_fast_path(tiny_tagger_dir, batch_size):
    tagger = Tagger.load(tiny_tagger_dir)
    texts = [" ".join(s) for s in SENTENCES]
    fast = Predictor(tagger, batch_size=batch_size).predict(texts)
    tagger.fast_inference = False
    slow = Predictor(tagger, batch_size=batch_size).predict(texts)
    assert [p.tags for p in fast] == [p.tags for p in slow]
    for a, b in zip(fast, slow):
        assert [e.score for e in a.entities] == pytest.approx([e.score for e in b.entities], abs=1e-5)
