"""Contract: an entity's score is the mean of its words' tag probabilities. Checked by
``tests/mutations/inject.py``."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from entitune import Predictor
from entitune.types import Tagged

TAGS = ("O", "B-ACTOR", "I-ACTOR", "I-ACTOR", "O", "B-YEAR")
SCORES = (0.9, 0.2, 0.5, 0.8, 0.7, 0.6)


class _FixedTags(Predictor):
    """A predictor whose model 'says' TAGS with SCORES for every input."""

    def _run(self, chunks):
        for chunk in chunks:
            for words in chunk:
                yield Tagged(tuple(words), TAGS[: len(words)], SCORES[: len(words)])


def test_entity_score_is_the_mean_of_its_words_probabilities():
    """A three-word entity with word probabilities 0.2, 0.5, 0.8 scores 0.5; a one-word entity its
    word's probability.

    Broken (only the first word's probability), the three-word entity scores 0.2."""
    scorer = SimpleNamespace(settings=None, word_encoder=None, streams=1, labels=(), pad_id=0,
                             score_windows=lambda batch: None, decode=lambda scores, mask: None)
    predictor = _FixedTags(scorer)
    for item in ("with drew bruce barrymore in 1980s", ["with", "drew", "bruce", "barrymore", "in", "1980s"]):
        [prediction] = predictor.predict([item])
        actor, year = prediction.entities
        assert (actor.label, actor.text) == ("ACTOR", "drew bruce barrymore")
        assert actor.score == pytest.approx((0.2 + 0.5 + 0.8) / 3)
        assert (year.label, year.score) == ("YEAR", pytest.approx(0.6))
