"""Masked-LM pretraining at corpus scale: windows read from a token store and masked exactly as the
window-by-window reference (``mask_window`` over ``maskable_units``) masks them; the ``corpus``
softmax (the full scores at the ids the text uses; the compact embedding it allows trains exactly as
dense training under the same softmax, and leaves every other row as it was); ``max_steps``, which
stops a run mid-epoch and is the length the learning rate decays over; and freed memory handed back
after a step."""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from entitune.encode import MaskingRule, example_seed, mask_window, maskable_units
from entitune.model.masked_lm import MaskedLM
from entitune.train import TrainConfig, fit_masked_lm
from entitune.train.pretraining import TRAIN_STREAM, masked_windows, softmax_ids
from tests.helpers.data import WORDS

LONG_WORDS = ("xylophones", "quizzical", "jukeboxes", "zephyr42")
#: words that become special ids inside a window: [UNK] (a character the tiny vocabulary lacks), [SEP], [MASK]
SPECIAL_WORDS = ("北", "[SEP]", "[MASK]")


def _texts(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    g = np.random.default_rng(seed)
    pool = [*WORDS, *LONG_WORDS, *SPECIAL_WORDS]
    return [tuple(pool[i] for i in g.integers(len(pool), size=3 + k % 12)) for k in range(n)]


def _rule(model: MaskedLM, whole_word: bool = False, probability: float = 0.2) -> MaskingRule:
    return MaskingRule.for_tokenizer(model.tokenizer, model.vocab_size, probability, whole_word)


@pytest.fixture(scope="module")
def mlm(tiny_bert) -> MaskedLM:
    return MaskedLM.from_encoder(tiny_bert, max_length=16, seed=0)


@pytest.fixture(scope="module")
def nodrop(tiny_bert, tmp_path_factory):
    """The tiny BERT without dropout, so two runs differ only in what the test changes."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("nodrop")
    shutil.copytree(tiny_bert, path, dirs_exist_ok=True)
    config = BertConfig.from_pretrained(str(tiny_bert))
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(str(tiny_bert), config=config).save_pretrained(str(path))
    return path


@pytest.mark.parametrize("whole_word", [False, True])
def test_store_windows_are_masked_as_the_window_reference_masks_them(mlm, whole_word):
    """For every window and two epochs, the store's masking (arrays, one generator per window) gives
    the ids and labels of ``mask_window`` over ``maskable_units`` with the same generator seed: the
    masks of a resumed, a distributed and a corpus-scale run are the ones the rule defines. Broken:
    units off by one, special ids maskable, another seed per window."""
    rule = _rule(mlm, whole_word)
    data = masked_windows(mlm, _texts(120), rule, seed=5)
    encoder = mlm.word_encoder
    for epoch in (1, 2):
        for i in range(len(data)):
            window = data.store.window(i)
            units = maskable_units(window, len(encoder.prefix), len(encoder.suffix), rule.special_ids, whole_word)
            generator = torch.Generator().manual_seed(example_seed(5, TRAIN_STREAM, epoch, i))
            expected = mask_window(window, units, rule, generator)
            got = data.masked(i, epoch)
            assert (got.input_ids, got.labels) == (expected.input_ids, expected.labels), (epoch, i)
    batch = data.collate(list(range(len(data))))
    assert torch.equal(batch["attention_mask"].sum(1), torch.as_tensor(np.asarray(data.lengths)))


def test_the_corpus_softmax_gives_the_full_scores_at_the_texts_ids(mlm):
    """Within ``softmax_over(ids)`` the scores are the full vocabulary's scores at ``ids`` (the
    decoder reads just those rows) and the labels are places in ``ids``; outside it, nothing changed."""
    rule = _rule(mlm, probability=0.4)
    data = masked_windows(mlm, _texts(40), rule, seed=2)
    ids = softmax_ids(mlm, rule, data.store)
    assert rule.mask_id in ids.tolist() and mlm.pad_id not in ids.tolist()
    batch = data.collate(list(range(len(data))))
    mlm.eval()
    with torch.no_grad():
        full, labels = mlm.masked_logits(batch)
        with mlm.softmax_over(ids):
            restricted, places = mlm.masked_logits(batch)
        again, _ = mlm.masked_logits(batch)
    torch.testing.assert_close(restricted, full[:, ids], atol=1e-6, rtol=1e-6)
    assert torch.equal(ids[places], labels) and torch.equal(again, full)
    assert restricted.shape[1] == len(ids) < mlm.vocab_size


def test_compact_training_under_the_corpus_softmax_equals_dense_training(nodrop):
    """Two epochs with the ``corpus`` softmax: the compact word embedding (only the text's rows
    train) ends where dense training of the whole table ends, and the rows of ids the text never
    uses, in the embedding and in the decoder's bias, are exactly as they started. Broken: a decoder
    that reads the frozen full table instead of the trained rows, or random replacements drawn from
    ids outside the text."""
    texts = _texts(48)
    states, start = [], None
    for compact in (True, False):
        model = MaskedLM.from_encoder(nodrop, max_length=16, seed=0)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        config = TrainConfig(epochs=2, lr=3e-3, head_lr=3e-3, batch_size=8, warmup=0.0, seed=4,
                             compact_embeddings=compact)
        fit_masked_lm(model, texts, None, config, _rule(model), softmax="corpus")
        states.append(model.state_dict())
        ids = softmax_ids(model, _rule(model), masked_windows(model, texts, _rule(model), 4).store)
    for name, value in states[1].items():
        torch.testing.assert_close(states[0][name], value, atol=2e-6, rtol=1e-5, msg=name)
    unused = torch.ones(len(start["encoder.embeddings.word_embeddings.weight"]), dtype=torch.bool)
    unused[ids] = False
    assert unused.any()
    for state in states:
        emb = state["encoder.embeddings.word_embeddings.weight"]
        assert torch.equal(emb[unused], start["encoder.embeddings.word_embeddings.weight"][unused])
        assert not torch.equal(emb[~unused], start["encoder.embeddings.word_embeddings.weight"][~unused])
        bias = state["head.cls.predictions.bias"]
        assert torch.equal(bias[unused], start["head.cls.predictions.bias"][unused])


def test_max_steps_stops_mid_epoch_and_is_the_schedules_length(tiny_bert):
    """``max_steps`` 5 with 4 steps an epoch and 3 epochs: 5 steps (the second epoch cut after its
    first), the learning rate decaying over 5 steps (its last step at a fifth of the peak),
    ``stopped`` saying why, and dev scored where it stopped. Broken: a cap that waits for the
    epoch's end, or a schedule still 12 steps long."""
    lrs = []

    class Lrs:
        def on_start(self, *a, **k): pass
        def on_step(self, step, loss, speed, lr): lrs.append(lr)
        def on_epoch(self, r): pass

    model = MaskedLM.from_encoder(tiny_bert, max_length=16, seed=0)
    texts = [tuple(WORDS[(k + j) % len(WORDS)] for j in range(4)) for k in range(32)]  # 32 windows: 4 steps an epoch
    config = TrainConfig(epochs=3, lr=1e-3, head_lr=1e-3, batch_size=8, warmup=0.0, seed=1, max_steps=5)
    result = fit_masked_lm(model, texts, texts[:8], config, _rule(model), listener=Lrs())
    assert len(lrs) == 5 and result.stopped == {"reason": "max_steps", "step": 5, "epoch": 2, "max_steps": 5}
    assert lrs[-1] == pytest.approx(1e-3 / 5) and lrs[0] == pytest.approx(1e-3)
    assert [e.step for e in result.evaluations] == [4, 5]
    exact = TrainConfig(epochs=3, lr=1e-3, batch_size=8, warmup=0.0, seed=1, max_steps=4)
    result = fit_masked_lm(model, texts, None, exact, _rule(model))
    assert result.stopped["reason"] == "max_steps" and result.stopped["step"] == 4 and len(result.epochs) == 1


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_freed_memory_goes_back_to_the_system():
    """Blocks freed below a live one stay resident in glibc's heap (as a training step's activations
    do); ``release_freed_memory`` hands them back. In a fresh process: how much of a long test
    session's heap is free already depends on the tests before. Broken: a release that does nothing."""
    code = """
import numpy as np
from entitune.memory import release_freed_memory

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096

big = np.ones(30 * 2**20 // 8)  # freed once, it raises glibc's mmap threshold: later blocks come from the heap
del big
blocks = [np.ones(24 * 2**20 // 8) for _ in range(8)]  # 192 MiB on the heap
keep = np.ones(2**20 // 8)  # a live block above them, from the heap's top: the top cannot shrink past it
del blocks
before = rss()
assert release_freed_memory()
after = rss()
print(before - after)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 100 * 2**20, r.stdout
