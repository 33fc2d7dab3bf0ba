"""The CRF against brute force over all tag sequences (as pytorch-crf tests itself)."""
import itertools
import math

import pytest
import torch

from entitune.model.heads import CRFHead, constraint_tensors
from entitune.tags import allowed_transitions, is_valid_sequence

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def random_crf(seed, c=3, constraints=None, lstm=None):
    torch.manual_seed(seed)
    crf = CRFHead(4, c, dropout=0.0, constraints=constraints, lstm_hidden=lstm)
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start_transitions.normal_()
        crf.end_transitions.normal_()
    return crf


def path_score(crf, em, path, with_constraints=False):
    if with_constraints:
        start, trans, end = crf._transitions()
    else:
        start, trans, end = crf.start_transitions, crf.transitions, crf.end_transitions
    s = start[path[0]] + em[0, path[0]] + end[path[-1]]
    for t in range(1, len(path)):
        s = s + trans[path[t - 1], path[t]] + em[t, path[t]]
    return s


@pytest.mark.parametrize("seed", range(4))
def test_nll_equals_brute_force_with_padding(seed):
    crf = random_crf(seed)
    lengths = [3, 1, 4]
    em = torch.randn(3, 4, 3)
    labels = torch.full((3, 4), -100)
    gold = [[0, 2, 1], [2], [1, 1, 0, 2]]
    for b, g in enumerate(gold):
        labels[b, : len(g)] = torch.tensor(g)
    expected = []
    for b, n in enumerate(lengths):
        log_z = torch.logsumexp(torch.stack([path_score(crf, em[b, :n], p)
                                             for p in itertools.product(range(3), repeat=n)]), 0)
        expected.append(log_z - path_score(crf, em[b, :n], gold[b]))
    assert crf.loss(em, labels).item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_viterbi_and_marginals_equal_brute_force(seed):
    crf = random_crf(seed)
    lengths = [4, 2, 1]
    em = torch.randn(3, 4, 3)
    mask = torch.tensor([[i < n for i in range(4)] for n in lengths])
    tags, probs = crf.decode(em, mask)
    marg = crf.marginals(em, mask)
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(3), repeat=n))
        scores = torch.stack([path_score(crf, em[b, :n], p, True) for p in paths])
        assert tags[b, :n].tolist() == list(paths[scores.argmax()])
        weights = (scores - torch.logsumexp(scores, 0)).exp()
        for t in range(n):
            for c in range(3):
                expected = sum(w for w, p in zip(weights, paths) if p[t] == c)
                assert marg[b, t, c].item() == pytest.approx(expected.item(), abs=1e-5)
        assert probs[b, :n].tolist() == pytest.approx([marg[b, t, tags[b, t]].item() for t in range(n)], abs=1e-6)


def test_constrained_crf_decodes_valid_sequences_batched_like_single():
    constraints = constraint_tensors(*allowed_transitions(LABELS))
    crf = random_crf(0, c=len(LABELS), constraints=constraints, lstm=3)
    crf.eval()
    em = torch.randn(5, 8, len(LABELS)) * 4
    lengths = [8, 3, 1, 6, 5]
    mask = torch.tensor([[i < n for i in range(8)] for n in lengths])
    tags, _ = crf.decode(em, mask)
    for b, n in enumerate(lengths):
        assert is_valid_sequence([LABELS[t] for t in tags[b, :n]], LABELS)
        single, _ = crf.decode(em[b : b + 1, :n], mask[b : b + 1, :n])
        assert single[0].tolist() == tags[b, :n].tolist()


def test_loss_ignores_start_constraint_for_windows_starting_inside_an_entity():
    constraints = constraint_tensors(*allowed_transitions(LABELS))
    crf = CRFHead(4, len(LABELS), dropout=0.0, constraints=constraints)
    em = torch.zeros(1, 2, len(LABELS))
    labels = torch.tensor([[2, 2]])  # I-PER I-PER: a window cut inside an entity
    loss = crf.loss(em, labels).item()
    assert math.isfinite(loss) and loss < 10


def test_bilstm_respects_padding():
    crf = random_crf(1, c=3, lstm=5)
    crf.eval()
    words = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 3 + [False] * 3, [True] * 6])
    short = crf(words[:1, :3], mask[:1, :3])
    padded = crf(words, mask)[:1, :3]
    torch.testing.assert_close(short, padded)
