"""The training loop: it learns and is deterministic, compact embeddings equal dense training,
accumulation equals a larger batch, mixed precision, head learning rates, the logs."""
import json
import math

import pytest
import torch
from torch import nn

from entitune import Sentence, Tagger, TrainConfig, fit
from entitune.errors import ConfigError
from entitune.tags import label_set
from tests.helpers.data import TINY_SENTENCES

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
LABELS = label_set([t for s in SENTENCES for t in s.tags])


def _trained(tiny_bert, head, **config):
    tagger = Tagger.from_encoder(tiny_bert, LABELS, head=head, max_length=16, stride=4, dropout=0.0, seed=0)
    for module in tagger.modules():  # dropout would draw different masks for micro- and full batches
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    result = fit(tagger, SENTENCES * 4, None, TrainConfig(epochs=2, lr=1e-3, head_lr=1e-2, warmup=0.0, **config))
    return tagger, result


@pytest.mark.parametrize("head", ["linear", "crf", "bilstm-crf"])
def test_accumulation_equals_one_larger_batch(tiny_bert, head):
    big, big_result = _trained(tiny_bert, head, batch_size=8)
    acc, acc_result = _trained(tiny_bert, head, batch_size=2, accumulate=4)
    assert len(acc_result.epochs) == 2
    for (name, a), (_, b) in zip(big.state_dict().items(), acc.state_dict().items()):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)
    for e_big, e_acc in zip(big_result.epochs, acc_result.epochs):
        assert e_acc.train_loss == pytest.approx(e_big.train_loss, rel=1e-4)
        assert e_acc.subwords == e_big.subwords


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tiny_bert, precision):
    tagger, result = _trained(tiny_bert, "crf", batch_size=4, precision=precision)
    assert all(math.isfinite(e.train_loss) for e in result.epochs)
    assert all(p.dtype == torch.float32 for p in tagger.parameters())  # autocast: weights stay fp32
    fp32, _ = _trained(tiny_bert, "crf", batch_size=4)
    assert any(not torch.equal(a, b) for a, b in zip(tagger.state_dict().values(), fp32.state_dict().values()))


def test_bad_loop_options_are_config_errors():
    with pytest.raises(ConfigError, match="accumulate"):
        TrainConfig(accumulate=0)
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")


def test_jsonl_log_has_every_step_and_epoch(tmp_path, tiny_bert):
    from entitune.train import JsonlLog

    tagger = Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4)
    log = JsonlLog(tmp_path / "log.jsonl")
    result = fit(tagger, SENTENCES * 2, SENTENCES, TrainConfig(epochs=2, batch_size=4), log)
    log.close()
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert events[0]["event"] == "start" and len(steps) == events[0]["total_steps"] == 2 * math.ceil(12 / 4)
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1)) and all(s["lr"] > 0 for s in steps)
    assert len(epochs) == 2 and epochs[1]["dev"]["entity"]["f1"] == result.epochs[1].dev["entity"]["f1"]


def test_token_budget_batches_bound_padding_and_cover_everything():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from entitune.encode import token_budget_batches

    @settings(max_examples=200)
    @given(st.lists(st.integers(1, 128), max_size=300), st.integers(1, 1024), st.integers(0, 5))
    def check(lengths, budget, seed):
        batches = token_budget_batches(lengths, budget, seed)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:
            assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= budget

    check()


def test_batch_tokens_trains(tiny_bert):
    _, result = _trained(tiny_bert, "linear", batch_tokens=40)
    assert all(math.isfinite(e.train_loss) for e in result.epochs)
    assert result.epochs[0].positions <= result.epochs[0].subwords * 1.5


def test_tensorboard_log_writes_scalars(tmp_path, tiny_bert):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from entitune.train import TensorBoardLog

    tagger = Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4)
    log = TensorBoardLog(tmp_path / "tb")
    fit(tagger, SENTENCES * 2, SENTENCES, TrainConfig(epochs=2, batch_size=4), log)
    log.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert len(events.Scalars("train/loss")) == 6 and len(events.Scalars("dev/entity_f1")) == 2


def test_training_learns_and_is_deterministic(tiny_bert):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    labels = label_set([t for s in sentences for t in s.tags])
    config = TrainConfig(epochs=6, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0, seed=3)
    runs = []
    for _ in range(2):
        tagger = Tagger.from_encoder(tiny_bert, labels, max_length=16, stride=4)
        result = fit(tagger, sentences * 5, sentences, config)
        runs.append((tagger, result))
    (a, ra), (b, rb) = runs
    assert ra.epochs[-1].train_loss < ra.epochs[0].train_loss
    assert ra.epochs[ra.best_epoch - 1].dev["entity"]["f1"] > 0.5
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_compact_embedding_training_equals_dense(tiny_bert):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    labels = label_set([t for s in sentences for t in s.tags])
    states = []
    for compact in (True, False):
        tagger = Tagger.from_encoder(tiny_bert, labels, max_length=16, stride=4)
        config = TrainConfig(epochs=2, lr=1e-3, head_lr=1e-2, batch_size=4, seed=5, compact_embeddings=compact)
        fit(tagger, sentences * 2, None, config)
        states.append(tagger.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], atol=1e-6, rtol=1e-5, msg=k)
    emb = "encoder.embeddings.word_embeddings.weight"
    assert not torch.equal(states[0][emb], Tagger.from_encoder(tiny_bert, labels).state_dict()[emb])


@pytest.mark.parametrize("head, expected", [("linear", 1e-3), ("crf", 1e-2), ("bilstm-crf", 1e-2)])
def test_head_learning_rate_defaults_per_head_and_can_be_set(tiny_bert, head, expected):
    from entitune.train import build_optimizer, head_lr_for

    tagger = Tagger.from_encoder(tiny_bert, ["O", "B-A", "I-A"], head=head)
    n_head = sum(p.numel() for p in tagger.head.parameters())

    def head_lrs(config):
        opt = build_optimizer(tagger, config, head_lr_for(head, config))
        return {g["lr"] for g in opt.param_groups if sum(p.numel() for p in g["params"]) <= n_head and
                any(p is q for p in g["params"] for q in tagger.head.parameters())}
    assert head_lrs(TrainConfig()) == {expected}
    assert head_lrs(TrainConfig(head_lr=5e-3)) == {5e-3}
    optimizer = build_optimizer(tagger, TrainConfig(), head_lr_for(head, TrainConfig()))
    assert {g["lr"] for g in optimizer.param_groups} - {expected} == {TrainConfig().lr}
