"""The numpy decoder every backend runs at inference (``entitune.decoding``) against the torch
decoder of the heads (``model.heads.viterbi``, ``LinearHead.decode``, ``CRFHead.decode``) and against
brute force:

- ``viterbi`` picks the very path torch's does, on random emissions, transitions and masks (prefix
  masks of any length, empty ones included), ties included: emissions and transitions drawn from a
  few small integers tie often, and both must take the first best label at every step;
- that path is the best one by brute force over every path, and ``marginals`` are the brute-force
  marginals;
- a head's ``tag_decoder`` decodes as the head itself: the same tags and (to float32 rounding) the
  same probabilities, for the linear head with and without constraints and for the CRF;
- ``decoder.json`` (``to_dict`` / ``from_dict``) gives back the same tables bit for bit, and a file
  that does not fit the model is refused with a reason.
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from entitune.decoding import FORBIDDEN, TagDecoder, constraint_tables, marginals, viterbi
from entitune.model.heads import CRFHead, LinearHead, constraint_tensors
from entitune.model.heads import viterbi as torch_viterbi
from entitune.tags import allowed_transitions

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


@st.composite
def problems(draw, max_batch: int = 4, max_words: int = 6, max_labels: int = 5, ties: bool | None = None,
             min_words: int = 0, labels: int | None = None):
    """(emissions, mask, start, trans, end) as float32 numpy arrays: small integers (ties) or floats;
    ``labels``: exactly that many labels."""
    batch = draw(st.integers(1, max_batch))
    words = draw(st.integers(min_words, max_words))
    labels = labels or draw(st.integers(1, max_labels))
    seed = draw(st.integers(0, 2**31 - 1))
    tie = draw(st.booleans()) if ties is None else ties
    rng = np.random.default_rng(seed)

    def values(*shape):
        if tie:
            return rng.integers(-2, 3, size=shape).astype(np.float32)
        return rng.normal(size=shape).astype(np.float32) * 3

    lengths = rng.integers(0, words + 1, size=batch)
    mask = np.arange(words)[None, :] < lengths[:, None]
    return values(batch, words, labels), mask, values(labels), values(labels, labels), values(labels)


def _torch(*arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


@given(problems())
def test_numpy_viterbi_picks_torchs_path(problem):
    """Same path as the torch decoder, step for step, ties included (both take the first best)."""
    emissions, mask, start, trans, end = problem
    ours = viterbi(emissions, mask, start, trans, end)
    theirs = torch_viterbi(*_torch(emissions, mask, start, trans, end)).numpy()
    assert ours.dtype == np.int64 and ours.shape == mask.shape
    np.testing.assert_array_equal(ours, theirs)


def _path_score(emissions, start, trans, end, path) -> float:
    score = start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        score += trans[path[t - 1], path[t]] + emissions[t, path[t]]
    return float(score + end[path[-1]])


@given(problems(max_batch=3, max_words=4, max_labels=3, ties=False))
def test_the_viterbi_path_is_the_best_of_every_path(problem):
    """Within each row's length the path scores the most of all label sequences (by brute force,
    in float64); past it, the row repeats its last label."""
    emissions, mask, start, trans, end = problem
    paths = viterbi(emissions, mask, start, trans, end)
    e, s, tr, en = (a.astype(np.float64) for a in (emissions, start, trans, end))
    for row, n in enumerate(mask.sum(1)):
        if n == 0:
            continue
        best = max(_path_score(e[row], s, tr, en, p) for p in itertools.product(range(e.shape[2]), repeat=int(n)))
        assert _path_score(e[row], s, tr, en, paths[row, :n]) == pytest.approx(best, abs=1e-4)
        assert (paths[row, n:] == paths[row, n - 1]).all()


@given(problems(max_batch=2, max_words=4, max_labels=3, ties=False))
def test_marginals_are_the_brute_force_marginals(problem):
    emissions, mask, start, trans, end = problem
    got = marginals(emissions, mask, start, trans, end)
    e, s, tr, en = (a.astype(np.float64) for a in (emissions, start, trans, end))
    for row, n in enumerate(mask.sum(1)):
        n = int(n)
        if n == 0:
            continue
        labels = e.shape[2]
        paths = list(itertools.product(range(labels), repeat=n))
        weights = np.exp([_path_score(e[row], s, tr, en, p) for p in paths])
        expected = np.zeros((n, labels))
        for p, w in zip(paths, weights):
            expected[np.arange(n), p] += w
        np.testing.assert_allclose(got[row, :n], expected / weights.sum(), atol=1e-5)


def test_viterbi_refuses_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"\(batch, words, labels\)"):
        viterbi(np.zeros((2, 3)), np.ones((2, 3), bool), *[np.zeros(3)] * 3)
    with pytest.raises(ValueError, match="mask shape"):
        viterbi(np.zeros((2, 3, 4)), np.ones((2, 2), bool), np.zeros(4), np.zeros((4, 4)), np.zeros(4))


def test_constraint_tables_are_the_heads_constraints():
    """The numpy tables are the torch head's buffers: 0 where ``allowed_transitions`` allows,
    ``FORBIDDEN`` elsewhere, the same float32 numbers."""
    ours = constraint_tables(LABELS)
    theirs = constraint_tensors(*allowed_transitions(LABELS))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b.numpy())
    assert ours.start[LABELS.index("I-PER")] == FORBIDDEN and ours.trans[0, LABELS.index("I-LOC")] == FORBIDDEN


def _head(kind: str, constrained: bool, seed: int):
    torch.manual_seed(seed)
    constraints = constraint_tensors(*allowed_transitions(LABELS)) if constrained else None
    head = LinearHead(8, len(LABELS), constraints=constraints) if kind == "linear" else \
        CRFHead(8, len(LABELS), constraints=constraints)
    if kind == "crf":
        with torch.no_grad():
            for p in (head.start_transitions, head.transitions, head.end_transitions):
                p.normal_(0, 2)
    return head.eval()


@pytest.mark.parametrize("kind, constrained", [("linear", True), ("linear", False), ("crf", True), ("crf", False)])
@given(problem=problems(max_batch=6, max_words=7, labels=len(LABELS), ties=False, min_words=1))
def test_a_heads_decoder_decodes_as_the_head(kind, constrained, problem):
    """``head.tag_decoder().decode`` gives the head's own ``decode``: the same tags, and each tag's
    probability to float32 rounding. On random emissions the linear head's argmax path often breaks
    the constraints, so its Viterbi fallback runs too. (The torch heads take one word or
    more; the predictor never decodes a batch of empty sentences.)"""
    emissions, mask, *_ = problem  # continuous scores: two paths tie with probability 0
    head = _head(kind, constrained, seed=int(abs(emissions).sum() * 1000) % 1000)
    tags, probs = head.tag_decoder().decode(emissions, mask)
    with torch.no_grad():
        torch_tags, torch_probs = head.decode(*_torch(emissions, mask))
    real = mask
    np.testing.assert_array_equal(tags[real], torch_tags.numpy()[real])
    np.testing.assert_allclose(probs[real], torch_probs.numpy()[real], rtol=1e-5, atol=1e-6)
    assert tags.dtype == np.int64 and probs.dtype == np.float32


def test_constrained_softmax_never_answers_an_invalid_sequence():
    """Where the argmax path breaks the scheme (I-PER first, I-LOC after B-PER), the decoder answers
    the best valid path; unconstrained, it answers the argmax."""
    scores = np.full((1, 3, len(LABELS)), -5.0, dtype=np.float32)
    for t, label in enumerate(("I-PER", "B-PER", "I-LOC")):
        scores[0, t, LABELS.index(label)] = 5.0
    mask = np.ones((1, 3), bool)
    constrained = _head("linear", True, 0).tag_decoder().decode(scores, mask)[0]
    free = _head("linear", False, 0).tag_decoder().decode(scores, mask)[0]
    assert [LABELS[t] for t in free[0]] == ["I-PER", "B-PER", "I-LOC"]
    start, trans, end = allowed_transitions(LABELS)
    path = constrained[0].tolist()
    assert start[path[0]] and all(trans[a][b] for a, b in zip(path, path[1:])) and end[path[-1]]


@pytest.mark.parametrize("kind, constrained", [("linear", True), ("linear", False), ("crf", True), ("crf", False)])
def test_decoder_json_round_trips_bit_for_bit(kind, constrained):
    decoder = _head(kind, constrained, 3).tag_decoder()
    raw = json.loads(json.dumps(decoder.to_dict(LABELS)))  # as written to decoder.json and read back
    back = TagDecoder.from_dict(raw, LABELS)
    assert back.kind == decoder.kind
    for ours, theirs in ((back.constraints, decoder.constraints), (back.learned, decoder.learned)):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            for a, b in zip(ours, theirs):
                assert a.dtype == np.float32 and np.array_equal(a, b)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4, 6, len(LABELS))).astype(np.float32) * 4
    mask = np.arange(6)[None, :] < np.array([[6], [3], [1], [0]])
    for a, b in zip(back.decode(scores, mask), decoder.decode(scores, mask)):
        np.testing.assert_array_equal(a, b)


def test_a_decoder_file_that_does_not_fit_is_refused():
    raw = _head("crf", True, 0).tag_decoder().to_dict(LABELS)
    with pytest.raises(ValueError, match="differ from the model's"):
        TagDecoder.from_dict(raw, LABELS[:-1])
    with pytest.raises(ValueError, match="format"):
        TagDecoder.from_dict({**raw, "format": 99}, LABELS)
    with pytest.raises(ValueError, match="incomplete"):
        TagDecoder.from_dict({**raw, "learned": {"start": [0.0] * len(LABELS)}}, LABELS)
    short = {**raw, "learned": {"start": [0.0] * 3, "transitions": [[0.0] * 3] * 3, "end": [0.0] * 3}}
    with pytest.raises(ValueError, match="differ in size"):
        TagDecoder.from_dict(short, LABELS)
    with pytest.raises(ValueError, match="decoder kind"):
        TagDecoder.from_dict({**raw, "kind": "beam"}, LABELS)
