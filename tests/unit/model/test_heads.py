"""The heads' small contracts, checked directly and fast (no encoder): attributes, default dropout,
the linear and classification heads' forward/loss/loss_weight against hand computations, the CRF's
loss on single sentences and empty rows, the BiLSTM's padding, constraint buffers, Viterbi's edge
cases, and the linear head's fast path (Viterbi only for rows whose argmax breaks a constraint).
Written from what mutation testing (scripts/mutation.sh) found unpinned; see docs/mutation_survivors.md."""
import itertools
import math

import pytest
import torch

from entitune.model.heads import FORBIDDEN, ClassificationHead, CRFHead, LinearHead, constraint_tensors, viterbi
from entitune.model.heads import linear as linear_module
from entitune.tags import allowed_transitions, is_valid_sequence

IOB2 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
CONSTRAINT_BUFFERS = ("start_constraint", "trans_constraint", "end_constraint")


def brute_force_nll(crf, emissions, gold):
    """-log P(gold) for one sentence, by enumerating every path (no constraints, as in training)."""
    start, trans, end = crf.start_transitions, crf.transitions, crf.end_transitions

    def score(path):
        s = start[path[0]] + emissions[0, path[0]] + end[path[-1]]
        for t in range(1, len(path)):
            s = s + trans[path[t - 1], path[t]] + emissions[t, path[t]]
        return s

    c = emissions.shape[1]
    log_z = torch.logsumexp(torch.stack([score(p) for p in itertools.product(range(c), repeat=len(gold))]), 0)
    return (log_z - score(gold)).item()


def random_crf(c=3, constraints=None, lstm=None, seed=0):
    torch.manual_seed(seed)
    crf = CRFHead(4, c, dropout=0.0, constraints=constraints, lstm_hidden=lstm)
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.normal_()
    return crf


# --- attributes -------------------------------------------------------------------------------

def test_head_attributes_and_default_dropout():
    constraints = constraint_tensors(*allowed_transitions(IOB2))
    crf = CRFHead(4, 5)
    assert (crf.kind, crf.num_labels, crf.constrained, crf.dropout.p) == ("crf", 5, False, 0.1)
    assert CRFHead(4, 5, constraints=constraints).constrained is True
    assert CRFHead(4, 5, lstm_hidden=3).kind == "bilstm-crf"
    linear = LinearHead(4, 5)
    assert (linear.kind, linear.num_labels, linear.constrained, linear.dropout.p) == ("linear", 5, False, 0.1)
    assert LinearHead(4, 5, constraints=constraints).constrained is True


@pytest.mark.parametrize("head", [LinearHead, CRFHead])
@pytest.mark.parametrize("constrained", [False, True])
def test_constraint_buffers_have_their_shapes_and_are_not_saved(head, constrained):
    constraints = constraint_tensors(*allowed_transitions(IOB2)) if constrained else None
    h = head(4, len(IOB2), constraints=constraints)
    c = len(IOB2)
    assert [tuple(getattr(h, n).shape) for n in CONSTRAINT_BUFFERS] == [(c,), (c, c), (c,)]
    assert all(getattr(h, n).dtype == torch.float32 for n in CONSTRAINT_BUFFERS)
    if not constrained:
        assert all(not getattr(h, n).any() for n in CONSTRAINT_BUFFERS)
    assert not set(CONSTRAINT_BUFFERS) & set(h.state_dict())  # rebuilt from the labels on load


def test_constraint_tensors_are_zero_where_allowed_and_forbidden_elsewhere():
    start, trans, end = allowed_transitions(BIOES)
    s, t, e = constraint_tensors(start, trans, end)

    def expected(allowed):
        return torch.tensor([0.0 if a else FORBIDDEN for a in allowed])

    torch.testing.assert_close(s, expected(start), rtol=0, atol=0)
    torch.testing.assert_close(e, expected(end), rtol=0, atol=0)
    torch.testing.assert_close(t, torch.stack([expected(row) for row in trans]), rtol=0, atol=0)
    assert s.dtype == t.dtype == e.dtype == torch.float32


# --- CRF --------------------------------------------------------------------------------------

@pytest.mark.parametrize("gold", [[2, 0, 1], [1], [0, 2]])
def test_crf_nll_of_a_single_sentence_equals_brute_force(gold):
    crf = random_crf()
    emissions = torch.randn(1, len(gold), 3)
    loss = crf.loss(emissions, torch.tensor([gold])).item()
    assert loss == pytest.approx(brute_force_nll(crf, emissions[0], gold), rel=1e-5)


def test_crf_loss_averages_over_sentences_with_words_only():
    crf = random_crf()
    emissions = torch.randn(3, 3, 3)
    labels = torch.tensor([[2, 0, 1], [-100, -100, -100], [1, 1, -100]])
    expected = (brute_force_nll(crf, emissions[0], [2, 0, 1]) + brute_force_nll(crf, emissions[2, :2], [1, 1])) / 2
    loss = crf.loss(emissions, labels).item()
    assert math.isfinite(loss) and loss == pytest.approx(expected, rel=1e-5)


def test_loss_weights_count_what_each_loss_averages_over():
    labels = torch.tensor([[1, 2, -100], [-100, -100, -100], [0, -100, -100]])
    assert CRFHead.loss_weight(labels) == 2  # sentences with words
    assert LinearHead.loss_weight(labels) == 3  # labelled words
    for empty in (torch.empty(0, 4, dtype=torch.long), torch.empty(2, 0, dtype=torch.long)):
        assert CRFHead.loss_weight(empty) == 0
        assert LinearHead.loss_weight(empty) == 0


def test_bilstm_reads_a_one_word_sentence_alone():
    crf = random_crf(lstm=5, seed=1)
    crf.eval()
    words = torch.randn(2, 4, 4)
    mask = torch.tensor([[True, False, False, False], [True] * 4])
    torch.testing.assert_close(crf(words, mask)[:1, :1], crf(words[:1, :1], mask[:1, :1]))


def test_bilstm_scores_every_position_when_every_row_is_padded():
    crf = random_crf(lstm=5, seed=1)
    crf.eval()
    words = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 2 + [False] * 4, [True] * 3 + [False] * 3])
    out = crf(words, mask)
    assert out.shape == (2, 6, 3)
    torch.testing.assert_close(out[:1, :2], crf(words[:1, :2], mask[:1, :2]))


def test_constrained_crf_never_ends_inside_a_bioes_entity():
    constraints = constraint_tensors(*allowed_transitions(BIOES))
    crf = random_crf(c=len(BIOES), constraints=constraints, seed=2)
    emissions = torch.randn(16, 4, len(BIOES))
    emissions[:, -1, BIOES.index("B-PER")] += 20  # the unconstrained best path ends on B-PER
    mask = torch.ones(16, 4, dtype=torch.bool)
    tags, probs = crf.decode(emissions, mask)
    for row in tags.tolist():
        assert is_valid_sequence([BIOES[t] for t in row], BIOES)
    assert ((probs > 0) & (probs <= 1 + 1e-6)).all()


# --- Viterbi ----------------------------------------------------------------------------------

def test_viterbi_mask_shape_message_names_both_shapes():
    with pytest.raises(ValueError, match=r"^mask shape \(1, 2\) does not match emissions \(1, 3\)$"):
        viterbi(torch.zeros(1, 3, 4), torch.ones(1, 2, dtype=torch.bool), torch.zeros(4), torch.zeros(4, 4),
                torch.zeros(4))


@pytest.mark.parametrize("words", [0, 3])
def test_viterbi_returns_long_paths_on_the_emissions_device(words):
    # the meta device stands in for an accelerator: the result must not fall back to the CPU
    emissions = torch.zeros(2, words, 4, device="meta")
    mask = torch.ones(2, words, dtype=torch.bool, device="meta")
    z = torch.zeros(4, device="meta")
    path = viterbi(emissions, mask, z, torch.zeros(4, 4, device="meta"), z)
    assert (path.shape, path.dtype, path.device.type) == ((2, words), torch.long, "meta")


def test_viterbi_of_zero_words_is_an_empty_long_tensor():
    path = viterbi(torch.zeros(3, 0, 4), torch.zeros(3, 0, dtype=torch.bool), torch.zeros(4), torch.zeros(4, 4),
                   torch.zeros(4))
    assert path.shape == (3, 0) and path.dtype == torch.long


# --- linear head ------------------------------------------------------------------------------

def test_linear_forward_is_dropout_then_one_linear_layer():
    torch.manual_seed(0)
    head = LinearHead(4, 3, dropout=0.5)
    words = torch.randn(2, 5, 4)
    head.eval()
    torch.testing.assert_close(head(words), words @ head.classifier.weight.T + head.classifier.bias)
    head.train()
    torch.manual_seed(1)
    dropped = torch.nn.functional.dropout(words, 0.5, training=True)
    torch.manual_seed(1)
    torch.testing.assert_close(head(words), head.classifier(dropped))


def test_linear_loss_is_mean_cross_entropy_over_labelled_words():
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 4)
    labels = torch.tensor([[1, -100, 3], [0, 2, -100]])
    log_probs = scores.log_softmax(-1)
    picked = [-log_probs[b, w, labels[b, w]] for b in range(2) for w in range(3) if labels[b, w] != -100]
    assert LinearHead(8, 4).loss(scores, labels).item() == pytest.approx(torch.stack(picked).mean().item(), rel=1e-6)


def test_allowed_marks_exactly_the_paths_that_break_no_constraint():
    head = LinearHead(4, len(BIOES), constraints=constraint_tensors(*allowed_transitions(BIOES)))
    ids = {t: i for i, t in enumerate(BIOES)}
    rows = [  # (path, length, allowed)
        (["O", "B-PER", "E-PER", "O"], 4, True),
        (["S-PER", "O", "O", "O"], 4, True),
        (["O", "I-PER", "E-PER", "O"], 4, False),  # I- after O
        (["I-PER", "E-PER", "O", "O"], 4, False),  # starts inside an entity
        (["O", "O", "O", "B-PER"], 4, False),  # ends inside an entity
        (["O", "B-PER", "E-PER", "I-PER"], 3, True),  # the bad step is in the padding
        (["B-PER", "O", "O", "O"], 1, False),  # a one-word row that ends inside an entity
        (["I-PER", "I-PER", "I-PER", "I-PER"], 0, True),  # an empty row breaks nothing
    ]
    tags = torch.tensor([[ids[t] for t in path] for path, _, _ in rows])
    mask = torch.arange(4) < torch.tensor([n for _, n, _ in rows]).unsqueeze(1)
    assert head._allowed(tags, mask).tolist() == [ok for *_, ok in rows]


def test_linear_decode_runs_viterbi_only_for_rows_whose_argmax_breaks_a_constraint(monkeypatch):
    head = LinearHead(4, len(IOB2), constraints=constraint_tensors(*allowed_transitions(IOB2)))
    calls = []

    def counting_viterbi(emissions, *args):
        calls.append(emissions.shape[0])
        return viterbi(emissions, *args)

    monkeypatch.setattr(linear_module, "viterbi", counting_viterbi)
    scores = torch.zeros(3, 3, len(IOB2))
    for row, path in enumerate([["B-PER", "I-PER", "O"], ["O", "B-LOC", "I-LOC"], ["O", "I-PER", "O"]]):
        for t, tag in enumerate(path):
            scores[row, t, IOB2.index(tag)] = 5.0
    mask = torch.ones(3, 3, dtype=torch.bool)
    tags, _ = head.decode(scores[:2], mask[:2])
    assert calls == [] and tags.tolist() == [[1, 2, 0], [0, 3, 4]]
    tags, _ = head.decode(scores, mask)
    assert calls == [1]  # only the "O I-PER O" row
    assert is_valid_sequence([IOB2[t] for t in tags[2].tolist()], IOB2)


# --- classification head ----------------------------------------------------------------------

def test_classification_head_defaults():
    head = ClassificationHead(4, 3)
    assert (head.pooling, head.multi_label, head.dropout.p) == ("cls", False, 0.1)
    assert isinstance(head.pooler, torch.nn.Linear) and head.pooler.weight.shape == (4, 4)
    assert head.classifier.weight.shape == (3, 4)
    torch.testing.assert_close(head.class_weights, torch.ones(3))
    assert "class_weights" not in head.state_dict()  # rebuilt from the settings, never saved
    assert ClassificationHead(4, 3, pooler=False).pooler is None


def test_cls_pooling_takes_position_zero_through_the_pooler():
    torch.manual_seed(0)
    vectors, mask = torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)
    head = ClassificationHead(4, 3).eval()
    torch.testing.assert_close(head.pool(vectors, mask), vectors[:, 0])  # what the head reads from the encoder
    expected = head.classifier(torch.tanh(head.pooler(vectors[:, 0])))
    torch.testing.assert_close(head(vectors, mask), expected)
    torch.testing.assert_close(head.score(vectors[:, 0]), expected)
    plain = ClassificationHead(4, 3, pooler=False).eval()
    torch.testing.assert_close(plain(vectors, mask), plain.classifier(vectors[:, 0]))


def test_mean_pooling_averages_the_masked_positions():
    torch.manual_seed(0)
    vectors = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    head = ClassificationHead(4, 3, pooling="mean", pooler=False)
    pooled = head.pool(vectors, mask)
    torch.testing.assert_close(pooled[0], vectors[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], vectors[1, 0])
    torch.testing.assert_close(pooled[2], torch.zeros(4))  # no positions: zeros, not NaN
    with_pooler = ClassificationHead(4, 3, pooling="mean").eval()
    torch.testing.assert_close(with_pooler.pool(vectors, mask), pooled)  # the pooler comes after, in score
    torch.testing.assert_close(with_pooler(vectors, mask), with_pooler.classifier(torch.tanh(with_pooler.pooler(pooled))))


def test_classification_forward_is_pool_pooler_dropout_linear():
    torch.manual_seed(0)
    vectors, mask = torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    head = ClassificationHead(4, 3, pooling="mean", dropout=0.5)
    head.eval()
    pooled = torch.tanh(head.pooler(head.pool(vectors, mask)))
    torch.testing.assert_close(head(vectors, mask), head.classifier(pooled))
    head.train()
    torch.manual_seed(1)
    dropped = torch.nn.functional.dropout(pooled, 0.5, training=True)
    torch.manual_seed(1)
    torch.testing.assert_close(head(vectors, mask), head.classifier(dropped))


def test_single_label_loss_is_the_class_weighted_mean_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 3), torch.tensor([0, 2, 2, 1])
    weights = (1, 3, 2)  # integers are weights too
    head = ClassificationHead(4, 3, class_weights=weights)
    assert head.class_weights.dtype == torch.float32
    nll = -logits.log_softmax(-1)[torch.arange(4), targets]
    w = torch.tensor(weights, dtype=torch.float32)[targets]
    assert head.loss(logits, targets).item() == pytest.approx(((w * nll).sum() / w.sum()).item(), rel=1e-6)
    assert head.loss_weight(targets) == pytest.approx(float(w.sum()))
    plain = ClassificationHead(4, 3)
    assert plain.loss(logits, targets).item() == pytest.approx(nll.mean().item(), rel=1e-6)
    assert plain.loss_weight(targets) == 4.0


def test_multi_label_loss_is_the_mean_binary_cross_entropy_over_every_label():
    torch.manual_seed(0)
    logits = torch.randn(2, 3)
    targets = torch.tensor([[1, 0, 1], [0, 0, 1]])
    head = ClassificationHead(4, 3, multi_label=True)
    p = torch.sigmoid(logits)
    expected = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()
    assert head.loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-5)
    assert head.loss_weight(targets) == 6.0


def test_probabilities_softmax_over_labels_or_sigmoid_per_label():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    torch.testing.assert_close(ClassificationHead(4, 3).probabilities(logits), torch.softmax(logits, dim=1))
    torch.testing.assert_close(ClassificationHead(4, 3, multi_label=True).probabilities(logits), torch.sigmoid(logits))
