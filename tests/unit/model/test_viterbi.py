import itertools

import pytest
import torch

from entitune.model.heads import FORBIDDEN, LinearHead, constraint_tensors, viterbi
from entitune.tags import allowed_transitions, is_valid_sequence

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def brute_force(emissions, start, trans, end):
    n, c = emissions.shape
    best, best_path = None, None
    for path in itertools.product(range(c), repeat=n):
        s = start[path[0]] + emissions[0, path[0]] + end[path[-1]]
        s += sum(trans[a, b] + emissions[t + 1, b] for t, (a, b) in enumerate(zip(path, path[1:])))
        if best is None or s > best:
            best, best_path = s, list(path)
    return best_path


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_with_padding(seed):
    g = torch.Generator().manual_seed(seed)
    c = 4
    lengths = [4, 1, 3]
    emissions = torch.randn(3, 4, c, generator=g)
    start, trans, end = torch.randn(c, generator=g), torch.randn(c, c, generator=g), torch.randn(c, generator=g)
    mask = torch.tensor([[i < n for i in range(4)] for n in lengths])
    paths = viterbi(emissions, mask, start, trans, end)
    for b, n in enumerate(lengths):
        assert paths[b, :n].tolist() == brute_force(emissions[b, :n], start, trans, end)


def test_constraints_give_valid_sequences_and_batch_equals_single():
    g = torch.Generator().manual_seed(0)
    constraints = constraint_tensors(*allowed_transitions(LABELS))
    head = LinearHead(8, len(LABELS), constraints=constraints)
    scores = torch.randn(6, 9, len(LABELS), generator=g) * 5
    lengths = [9, 3, 1, 7, 5, 2]
    mask = torch.tensor([[i < n for i in range(9)] for n in lengths])
    tags, probs = head.decode(scores, mask)
    for b, n in enumerate(lengths):
        seq = [LABELS[t] for t in tags[b, :n].tolist()]
        assert is_valid_sequence(seq, LABELS)
        single, _ = head.decode(scores[b : b + 1, :n], mask[b : b + 1, :n])
        assert single[0].tolist() == tags[b, :n].tolist()
    assert ((probs > 0) & (probs <= 1)).all()


def test_unconstrained_head_is_argmax():
    head = LinearHead(8, len(LABELS), constraints=None)
    scores = torch.randn(2, 5, len(LABELS))
    tags, _ = head.decode(scores, torch.ones(2, 5, dtype=torch.bool))
    assert torch.equal(tags, scores.argmax(-1))


def test_constraint_fixes_i_after_o():
    constraints = constraint_tensors(*allowed_transitions(LABELS))
    head = LinearHead(8, len(LABELS), constraints=constraints)
    # argmax would say O, I-PER; the constrained path must not
    scores = torch.tensor([[[5.0, 0, 0, 0, 0], [0, 2.0, 4.0, 0, 0]]])
    tags, _ = head.decode(scores, torch.ones(1, 2, dtype=torch.bool))
    assert [LABELS[t] for t in tags[0]] in (["O", "B-PER"], ["B-PER", "I-PER"])
    assert constraints[1][0, 2] == FORBIDDEN


def test_shape_errors():
    with pytest.raises(ValueError, match="batch, words, labels"):
        viterbi(torch.zeros(3, 4), torch.ones(3, 4, dtype=torch.bool), torch.zeros(4), torch.zeros(4, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="mask shape"):
        viterbi(torch.zeros(1, 3, 4), torch.ones(1, 2, dtype=torch.bool), torch.zeros(4), torch.zeros(4, 4), torch.zeros(4))


BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


@pytest.mark.parametrize("labels", [LABELS, BIOES], ids=["IOB2", "BIOES"])
def test_linear_decode_equals_full_viterbi(labels):
    """The head runs Viterbi only where the argmax path breaks a constraint: same answers as always."""
    g = torch.Generator().manual_seed(1)
    constraints = constraint_tensors(*allowed_transitions(labels))
    head = LinearHead(8, len(labels), constraints=constraints)
    scores = torch.randn(64, 7, len(labels), generator=g) * 3
    scores[::2, :, 0] += 10  # every other row: all "O", an allowed argmax path
    lengths = torch.randint(0, 8, (64,), generator=g)
    # rows whose argmax breaks only the start or only the end: "I-PER I-PER", "O O B-PER"
    for row, path in ((1, ["I-PER", "I-PER"]), (3, ["O", "O", "B-PER"])):
        lengths[row] = len(path)
        for t, tag in enumerate(path):
            scores[row, t, labels.index(tag)] += 20
    mask = torch.arange(7) < lengths.unsqueeze(1)
    argmax_allowed = head._allowed(scores.argmax(-1), mask)
    assert argmax_allowed.any() and not argmax_allowed.all()  # both paths are exercised
    tags, probs = head.decode(scores, mask)
    log_probs = scores.log_softmax(-1)
    full = viterbi(log_probs, mask, head.start_constraint, head.trans_constraint, head.end_constraint)
    assert bool(((tags == full) | ~mask).all())
    assert torch.allclose(probs, log_probs.gather(2, tags.unsqueeze(2)).squeeze(2).exp())
    for row, n in zip(tags.tolist(), lengths.tolist()):
        assert is_valid_sequence([labels[t] for t in row[:n]], labels)
