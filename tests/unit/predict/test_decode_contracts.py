"""``Predictor``'s decode step and its results, with a stand-in scorer (no model): a BIOES model's
tags come back in IOB2 with its own tags kept, empty sentences decode to empty results wherever
they fall in the length groups, the head sees exactly each sentence's words, and entities carry
their word positions. Found unpinned by mutation testing (scripts/mutation.sh)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from entitune import Predictor
from entitune.types import Tagged

BIOES = ("O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC")


def _scorer(labels, scheme, masks):
    def decode(scores, mask):  # the predictor's numpy arrays
        scores, mask = torch.as_tensor(scores), torch.as_tensor(mask)
        masks.append(mask.clone())
        probs = scores.softmax(-1)
        tags = scores.argmax(-1)
        return tags.numpy(), probs.gather(2, tags.unsqueeze(2)).squeeze(2).numpy()

    return SimpleNamespace(settings=SimpleNamespace(scheme=scheme), word_encoder=None, streams=1, labels=labels,
                           pad_id=0, score_windows=lambda batch: None, decode=decode)


def _scores(labels, tags):
    out = torch.zeros(len(tags), len(labels))
    for i, t in enumerate(tags):
        out[i, labels.index(t)] = 5.0
    return out


def test_a_bioes_model_answers_in_iob2_and_keeps_its_own_tags():
    masks: list[torch.Tensor] = []
    predictor = Predictor(_scorer(BIOES, "BIOES", masks))
    native = ("B-PER", "E-PER", "S-LOC", "O")
    [tagged] = predictor._decode([["a", "b", "c", "d"]], [_scores(BIOES, native)])
    assert tagged.words == ("a", "b", "c", "d")
    assert tagged.tags == ("B-PER", "I-PER", "B-LOC", "O")
    assert tagged.native == native
    assert all(0.9 < p <= 1.0 for p in tagged.scores)


def test_an_iob2_model_keeps_its_tags_as_native_too():
    labels = ("O", "B-PER", "I-PER")
    predictor = Predictor(_scorer(labels, "IOB2", []))
    [tagged] = predictor._decode([["a", "b"]], [_scores(labels, ("B-PER", "I-PER"))])
    assert tagged.tags == tagged.native == ("B-PER", "I-PER")
    # unconstrained decoding may give invalid IOB2: an IOB2 model's tags are handed on as decoded
    [tagged] = predictor._decode([["a", "b"]], [_scores(labels, ("O", "I-PER"))])
    assert tagged.tags == tagged.native == ("O", "I-PER")


class _OnePerGroup(Predictor):
    decode_group = 1


def test_empty_sentences_decode_to_empty_results_in_any_group():
    masks: list[torch.Tensor] = []
    labels = ("O", "B-PER", "I-PER")
    for predictor in (Predictor(_scorer(labels, "IOB2", masks)), _OnePerGroup(_scorer(labels, "IOB2", masks), batch_size=1)):
        sentences = [[], ["a", "b", "c"], [], ["d"], []]
        merged = [torch.zeros(0, 3), _scores(labels, ("B-PER", "I-PER", "O")), torch.zeros(0, 3),
                  _scores(labels, ("B-PER",)), torch.zeros(0, 3)]
        out = predictor._decode(sentences, merged)
        assert out[0] == out[2] == out[4] == Tagged((), (), (), ())
        assert out[1].tags == ("B-PER", "I-PER", "O") and out[3].tags == ("B-PER",)


def test_the_head_sees_exactly_each_sentences_words():
    masks: list[torch.Tensor] = []
    labels = ("O", "B-PER", "I-PER")
    predictor = Predictor(_scorer(labels, "IOB2", masks))
    lengths = [3, 1, 2]
    predictor._decode([["w"] * n for n in lengths], [_scores(labels, ("O",) * n) for n in lengths])
    [mask] = masks
    assert sorted(mask.sum(1).tolist(), reverse=True) == sorted(lengths, reverse=True)
    assert mask.shape[1] == max(lengths)


class _FixedTags(Predictor):
    def _run(self, chunks):
        for chunk in chunks:
            for words in chunk:
                tags = ("O", "B-PER", "I-PER", "O", "B-LOC")[: len(words)]
                yield Tagged(tuple(words), tags, (1.0,) * len(words))


def test_entities_carry_word_positions_and_predictions_carry_offsets():
    predictor = _FixedTags(_scorer(("O",), "IOB2", []))
    [prediction] = predictor.predict(["met Ada Lovelace in London"])
    assert prediction.offsets == ((0, 3), (4, 7), (8, 16), (17, 19), (20, 26))
    per, loc = prediction.entities
    assert (per.text, per.start, per.end, per.word_start, per.word_end) == ("Ada Lovelace", 4, 16, 1, 3)
    assert (loc.text, loc.word_start, loc.word_end) == ("London", 4, 5)


def test_the_head_sees_float32_scores():
    """The merged scores reach the head's decoder as float32, the dtype every backend's decoder is
    written for (a float64 batch would give probabilities that differ in the last digits)."""
    labels = ("O", "B-PER", "I-PER")
    scorer = _scorer(labels, "IOB2", [])
    seen = []
    inner = scorer.decode

    def decode(scores, mask):
        seen.append(scores.dtype)
        return inner(scores, mask)

    scorer.decode = decode
    Predictor(scorer)._decode([["a", "b"], ["c"]], [_scores(labels, ("B-PER", "O")).numpy(),
                                                  _scores(labels, ("O",)).numpy()])
    assert seen == [np.float32]
