"""``HeadScorer``, the part every backend's ``Scorer`` shares: the padding id (the tokenizer's, 0
when it has none) and a classifier's refusal to decode tags, with a message naming its task."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from entitune.predict import HeadScorer


def _scorer(pad_token_id) -> HeadScorer:
    scorer = HeadScorer()
    scorer.settings = SimpleNamespace(task="classification", labels=("a", "b"))
    scorer.tokenizer = SimpleNamespace(pad_token_id=pad_token_id)
    scorer.decoder = None
    return scorer


def test_pad_id_is_the_tokenizers_or_zero():
    assert _scorer(3).pad_id == 3 and _scorer(None).pad_id == 0
    assert _scorer(None).labels == ("a", "b")


def test_a_model_without_a_tag_decoder_says_so_and_names_its_task():
    with pytest.raises(TypeError, match=r"^a classification model has no tag decoder; ClassPredictor reads its scores$"):
        _scorer(0).decode(None, None)
