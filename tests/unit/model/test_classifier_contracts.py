"""Contracts of the classification head and the ``Classifier`` around it: what each pooling reads
(mean pooling ignores padding exactly; [CLS] reads position 0 only), what ``score`` applies, the
losses and their weights computed by hand (class-weighted cross-entropy as a weighted mean,
multi-label binary cross-entropy as a mean over every decision), the probabilities, and what a new
or saved classifier keeps: the label order as given (never re-sorted), the checkpoint's pooler, the
seed's initialisation, ``problem_type``, the threshold."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from entitune import Classifier
from entitune.encode import collate, text_windows
from entitune.errors import ConfigError
from entitune.model.classifier import pretrained_pooler
from entitune.model.heads.classify import ClassificationHead


def _head(pooling="cls", pooler=False, multi_label=False, class_weights=None, num_labels=3, hidden=4):
    torch.manual_seed(0)
    return ClassificationHead(hidden, num_labels, pooling, dropout=0.5, pooler=pooler, multi_label=multi_label,
                              class_weights=class_weights).eval()


# ---------------------------------------------------------------- pooling


def test_mean_pooling_is_the_mean_over_the_mask_only():
    """Mean pooling: the average of the masked-in vectors, by hand; vectors under padding (here huge)
    change nothing, and a padded row pools exactly as the same row unpadded."""
    head = _head("mean")
    vectors = torch.tensor([[[1.0, 2, 3, 4], [3.0, 0, -3, 8], [5.0, 1, 0, 0], [1e6, -1e6, 7, 7]]])
    mask = torch.tensor([[True, True, True, False]])
    expected = torch.tensor([[3.0, 1.0, 0.0, 4.0]])
    assert torch.equal(head.pool(vectors, mask), expected)
    assert torch.equal(head.pool(vectors[:, :3], mask[:, :3]), expected)
    # two rows of different lengths in one batch: each is its own mean
    batch = torch.cat([vectors, torch.tensor([[[2.0, 2, 2, 2], [4.0, 4, 4, 4], [9.0, 9, 9, 9], [9.0, 9, 9, 9]]])])
    both = head.pool(batch, torch.tensor([[True, True, True, False], [True, True, False, False]]))
    assert torch.equal(both, torch.tensor([[3.0, 1.0, 0.0, 4.0], [3.0, 3.0, 3.0, 3.0]]))


def test_mean_pooling_of_a_row_with_no_position_is_zero_not_nan():
    head = _head("mean")
    pooled = head.pool(torch.ones(1, 3, 4), torch.zeros(1, 3, dtype=torch.bool))
    assert torch.equal(pooled, torch.zeros(1, 4))


def test_cls_pooling_reads_position_0_only():
    head = _head("cls")
    vectors = torch.tensor([[[1.0, 2, 3, 4], [100.0, 100, 100, 100]], [[5.0, 6, 7, 8], [-1.0, -1, -1, -1]]])
    assert torch.equal(head.pool(vectors, torch.ones(2, 2, dtype=torch.bool)), torch.tensor([[1.0, 2, 3, 4], [5.0, 6, 7, 8]]))


def test_score_is_the_pooler_with_tanh_then_the_linear_layer_and_dropout_only_in_training():
    head = _head(pooler=True)
    pooled = torch.tensor([[0.5, -1.0, 2.0, 0.25]])
    with torch.no_grad():
        expected = head.classifier(torch.tanh(head.pooler(pooled)))
        assert torch.allclose(head.score(pooled), expected, atol=1e-6)
        plain = _head(pooler=False)
        assert plain.pooler is None and torch.allclose(plain.score(pooled), plain.classifier(pooled), atol=1e-6)
        head.train()  # dropout 0.5: in training the scores move
        torch.manual_seed(1)
        assert not torch.allclose(head.score(pooled.repeat(8, 1)), expected.repeat(8, 1), atol=1e-3)


def test_mean_pooling_classifier_scores_a_padded_window_as_the_window_alone(tiny_bert):
    """Through the encoder: a short window batched with a long one (so padded) gets the logits it
    gets alone, for mean and [CLS] pooling alike."""
    for pooling in ("mean", "cls"):
        model = _loud(Classifier.from_encoder(tiny_bert, ["a", "b", "c"], pooling=pooling, max_length=16, stride=4))
        windows = text_windows(model.word_encoder, ["show me films", "drew barrymore movies of the 1980s in paris"], pooling)
        assert len(windows) == 2 and len(windows[0].input_ids) < len(windows[1].input_ids)
        with torch.no_grad():
            both = model(**_inputs(collate(windows, model.pad_id)))
            alone = torch.cat([model(**_inputs(collate([w], model.pad_id))) for w in windows])
        torch.testing.assert_close(both, alone, atol=1e-5, rtol=1e-5)
        assert (alone[0] - alone[1]).abs().max() > 1e-3  # 100 times the tolerance: the texts really differ


def _loud(model: Classifier) -> Classifier:
    """The model in eval mode with a classifier layer of unit-scale weights (a new one's are drawn
    with std 0.02, so texts differ by 1e-4 in logits): differences between texts, or between a
    right and a wrong pooling, are then far above the tolerances."""
    with torch.no_grad():
        model.head.classifier.weight.normal_(std=1.0, generator=torch.Generator().manual_seed(0))
    return model.eval()


def _inputs(batch):
    return {k: batch[k] for k in ("input_ids", "attention_mask", "word_starts", "word_mask", "token_type_ids")}


# ---------------------------------------------------------------- losses


def test_class_weighted_cross_entropy_is_the_weighted_mean_by_hand():
    """loss = sum_i w[y_i] * -log p_i(y_i) / sum_i w[y_i]; ``loss_weight`` = sum_i w[y_i]; unweighted,
    the plain mean and the count."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 3.0], [0.2, 0.1, 0.0]])
    targets = torch.tensor([0, 1, 1, 2])
    weights = (0.5, 3.0, 1.25)

    def nll(row, y):
        return -(row[y] - math.log(sum(math.exp(v) for v in row)))

    rows = logits.tolist()
    losses = [nll(r, y) for r, y in zip(rows, targets.tolist())]
    w = [weights[y] for y in targets.tolist()]
    head = _head(class_weights=weights)
    assert head.loss(logits, targets).item() == pytest.approx(sum(a * b for a, b in zip(w, losses)) / sum(w), rel=1e-6)
    assert head.loss_weight(targets) == pytest.approx(0.5 + 3.0 + 3.0 + 1.25)
    plain = _head()
    assert plain.loss(logits, targets).item() == pytest.approx(sum(losses) / 4, rel=1e-6)
    assert plain.loss_weight(targets) == 4.0


def test_multi_label_loss_is_binary_cross_entropy_averaged_over_every_label_of_every_window():
    logits = torch.tensor([[2.0, -1.0, 0.0], [0.5, 3.0, -2.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

    def bce(x, t):
        p = 1 / (1 + math.exp(-x))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    expected = sum(bce(x, t) for xr, tr in zip(logits.tolist(), targets.tolist()) for x, t in zip(xr, tr)) / 6
    head = _head(multi_label=True)
    assert head.loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    assert head.loss_weight(targets) == 6.0


def test_probabilities_are_a_softmax_per_row_or_a_sigmoid_per_label():
    logits = torch.tensor([[0.0, math.log(3.0)], [2.0, 2.0]])
    assert torch.allclose(_head(num_labels=2).probabilities(logits), torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    assert torch.allclose(_head(num_labels=2, multi_label=True).probabilities(logits),
                          torch.tensor([[0.5, 0.75], [1 / (1 + math.exp(-2))] * 2]))


@pytest.mark.parametrize("n, ok", [(2, False), (3, True), (4, False)])
def test_class_weights_need_one_value_per_label(tiny_bert, n, ok):
    weights = [1.0 + i for i in range(n)]
    if ok:
        model = Classifier.from_encoder(tiny_bert, ["a", "b", "c"], class_weights=weights)
        assert model.head.class_weights.tolist() == weights
    else:
        with pytest.raises(ConfigError, match=f"class_weights has {n} values for 3 labels"):
            Classifier.from_encoder(tiny_bert, ["a", "b", "c"], class_weights=weights)


def test_batch_loss_of_padded_windows_is_the_mean_of_their_losses_alone(tiny_bert):
    """``batch_loss`` over a padded batch (mean pooling, eval mode) equals the mean of each window's
    loss computed alone; a multi-label batch likewise with 0/1 targets."""
    texts = ["show me films", "drew barrymore movies of the 1980s in paris", "what movies star bruce willis"]
    for multi in (False, True):
        model = _loud(Classifier.from_encoder(tiny_bert, ["a", "b", "c"], pooling="mean", multi_label=multi,
                                              max_length=16, stride=4))
        windows = text_windows(model.word_encoder, texts, "mean")
        targets = torch.tensor([[1.0, 0, 1], [0.0, 1, 0], [1.0, 1, 1]]) if multi else torch.tensor([2, 0, 1])
        with torch.no_grad():
            batch = {**collate(windows, model.pad_id), "labels": targets}
            alone = [model.batch_loss({**collate([w], model.pad_id), "labels": targets[i : i + 1]}) for i, w in enumerate(windows)]
            assert model.batch_loss(batch).item() == pytest.approx(sum(alone).item() / 3, rel=1e-5)


# ---------------------------------------------------------------- construction, saving


def test_cls_pooling_starts_from_the_checkpoints_pooler_and_mean_pooling_has_none(tiny_bert):
    pooler = pretrained_pooler(tiny_bert)
    assert set(pooler) == {"weight", "bias"}
    model = Classifier.from_encoder(tiny_bert, ["a", "b"])
    assert model.settings.pooler and torch.equal(model.head.pooler.weight, pooler["weight"])
    assert torch.equal(model.head.pooler.bias, pooler["bias"])
    assert model.hf_architecture() == "BertForSequenceClassification"
    mean = Classifier.from_encoder(tiny_bert, ["a", "b"], pooling="mean")
    assert mean.head.pooler is None and not mean.settings.pooler and mean.hf_architecture() is None


def test_a_checkpoint_without_a_pooler_gives_cls_pooling_without_one(tiny_bert, tmp_path):
    from transformers import BertConfig, BertModel

    directory = tmp_path / "no-pooler"
    shutil.copytree(tiny_bert, directory)
    (directory / "model.safetensors").unlink()
    BertModel(BertConfig.from_pretrained(str(tiny_bert)), add_pooling_layer=False).save_pretrained(str(directory))
    assert pretrained_pooler(directory) is None
    model = Classifier.from_encoder(directory, ["a", "b"])
    assert model.head.pooler is None and not model.settings.pooler and model.hf_architecture() is None
    assert "without a pooler" in model.hf_difference()


def test_the_seed_draws_the_classifier_layer_and_its_bias_starts_at_zero(tiny_bert):
    a, b, c = (Classifier.from_encoder(tiny_bert, ["a", "b"], seed=s).head.classifier for s in (3, 3, 4))
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    assert torch.equal(a.bias, torch.zeros(2))


def test_saved_labels_keep_the_order_given_not_sorted(tiny_bert, tmp_path):
    """Labels given as zeta, alpha, mid (neither sorted nor reverse-sorted) are id 0, 1, 2 in
    ``config.json`` and after loading, and each logit column still belongs to its label."""
    labels = ["zeta", "alpha", "mid"]
    model = Classifier.from_encoder(tiny_bert, labels, multi_label=True, max_length=16, stride=4)
    with torch.no_grad():
        model.head.classifier.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    model.with_threshold(0.35).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["id2label"] == {"0": "zeta", "1": "alpha", "2": "mid"}
    assert config["label2id"] == {"zeta": 0, "alpha": 1, "mid": 2}
    assert config["problem_type"] == "multi_label_classification"
    loaded = Classifier.load(tmp_path / "m")
    assert loaded.labels == tuple(labels) and loaded.settings.threshold == 0.35 and loaded.settings.multi_label
    batch = collate(text_windows(model.word_encoder, ["show me films"], "cls"), model.pad_id)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**_inputs(batch)), model.eval()(**_inputs(batch)), atol=1e-6, rtol=1e-6)


def test_single_label_checkpoints_say_single_label(tiny_bert):
    assert Classifier.from_encoder(tiny_bert, ["a", "b"]).hf_config_extra() == {"problem_type": "single_label_classification"}


def test_with_threshold_changes_only_the_threshold():
    from entitune.artifact.settings import ClassifierSettings

    class Bare:  # with_threshold reads and writes nothing but settings
        settings = ClassifierSettings(labels=("a", "b"), multi_label=True, pooling="mean", stride=7)

    bare = Bare()
    assert Classifier.with_threshold(bare, 0.7) is bare
    assert bare.settings == ClassifierSettings(labels=("a", "b"), multi_label=True, pooling="mean", stride=7, threshold=0.7)


def test_head_state_from_file_splits_encoder_pooler_and_classifier():
    """The file's names (``bert.*`` encoder, ``bert.pooler.dense.*`` the head's pooler,
    ``classifier.*``) become the encoder's state without its prefix and the head's state."""
    t = {name: torch.tensor([float(i)]) for i, name in enumerate([
        "bert.embeddings.word_embeddings.weight", "bert.pooler.dense.weight", "bert.pooler.dense.bias",
        "classifier.weight", "classifier.bias"])}
    encoder, head = Classifier.head_state_from_file(t, "bert.")
    assert set(encoder) == {"embeddings.word_embeddings.weight"}
    assert {k: v.item() for k, v in head.items()} == {"pooler.weight": 1.0, "pooler.bias": 2.0,
                                                     "classifier.weight": 3.0, "classifier.bias": 4.0}
