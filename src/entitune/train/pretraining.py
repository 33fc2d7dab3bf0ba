"""``fit_masked_lm``: masked-LM pretraining on the one training loop. What it contributes: windows of
whole words with no overlap (a long text gives several; nothing is cut), read from a ``TokenStore``
(flat arrays of sub-token ids, memory-mapped for a corpus: ``encode.store``), masked anew each
epoch and reproducibly (``encode.masking``: one generator per window, seeded by seed, epoch and the
window's index), and the dev evaluation: masked-token accuracy and perplexity on dev windows masked
once, with a fixed seed, so epochs compare on the same masks. The best epoch is the one with the
lowest dev masked-token loss (or the last, without dev text).

The softmax (``softmax``): ``corpus`` scores each masked token against the token ids the training
and dev text use (``MaskedLM.softmax_over``; random replacements are drawn from them too), so the
tied decoder and its gradient cost those rows instead of the whole vocabulary and the word
embedding trains compactly (``compact``: exact, only the rows the text uses change); ``full`` is
BERT's objective over the whole vocabulary, where every row of the embedding gets a gradient and
trains densely. The dev perplexity is over the same ids as training.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from ..encode import (IGNORE, MaskingRule, TokenStore, TokenStoreWriter, Window, WordEncoder, example_seed,
                      length_grouped_batches)
from ..encode.masking import mask_ids
from ..errors import ConfigError
from ..model.masked_lm import MaskedLM
from ..options.training import SOFTMAXES
from .config import CheckpointOptions, TrainConfig
from .distributed import all_sum, current, shard
from .loop import DevEvaluation, train_loop
from .optim import DEFAULT_HEAD_LR
from .progress import TrainListener, TrainResult

#: masking streams: the training windows (one mask per epoch) and the dev windows (one fixed mask)
TRAIN_STREAM, DEV_STREAM = 0, 1


class MaskedWindowData:
    """The windows of a ``TokenStore`` as ``TrainData``, masked by ``rule`` when collated: window
    ``i`` of epoch ``e`` always gets the mask drawn from ``example_seed(seed, stream, e, i)``
    (``set_epoch`` says which epoch the loop is in). Holds nothing per window but the store."""

    def __init__(self, store: TokenStore, pad_id: int, rule: MaskingRule, seed: int, stream: int = TRAIN_STREAM) -> None:
        self.store = store
        self.pad_id = pad_id
        self.rule = rule
        self.seed = seed
        self.stream = stream
        self.lengths = store.lengths
        self.special = np.array(sorted(rule.special_ids), dtype=np.int64)
        self.epoch = 1

    def __len__(self) -> int:
        return len(self.store)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def windows(self) -> Sequence[Window]:
        """The windows as ``Window`` objects, made when asked for (unmasked, no labels)."""
        return _Lazy(len(self.store), self.store.window)

    @property
    def units(self) -> Sequence[list[int]]:
        """Each window's masking units (``units_of``), made when asked for."""
        return _Lazy(len(self.store), lambda i: self.units_of(i).tolist())

    def units_of(self, i: int) -> np.ndarray:
        """Window ``i``'s masking unit at each position, as ``encode.maskable_units`` gives them: -1
        on the special tokens; the word's index in the window (whole-word masking) or the position."""
        ids, starts = self.store.body(i)
        body = np.cumsum(starts, dtype=np.int64) - 1 if self.rule.whole_word else np.arange(len(ids), dtype=np.int64)
        if len(self.special):
            body[np.isin(ids, self.special)] = -1
        return np.concatenate([np.full(len(self.store.prefix), -1), body, np.full(len(self.store.suffix), -1)])

    def masked_ids(self, i: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window ``i`` as masked in ``epoch``: its input ids and labels, both (positions,) long."""
        ids, _ = self.store.body(i)
        full = torch.from_numpy(np.concatenate([self.store.prefix, ids, self.store.suffix]).astype(np.int64))
        generator = torch.Generator().manual_seed(example_seed(self.seed, self.stream, epoch, i))
        return mask_ids(full, torch.from_numpy(self.units_of(i)), self.rule, generator)

    def masked(self, i: int, epoch: int) -> Window:
        """Window ``i`` as masked in ``epoch``, as a ``Window`` with its labels."""
        ids, labels = self.masked_ids(i, epoch)
        return replace(self.store.window(i), input_ids=tuple(ids.tolist()), labels=tuple(labels.tolist()))

    def collate(self, indices: Sequence[int], epoch: int | None = None) -> dict[str, torch.Tensor]:
        """The batch of these windows with the masks of ``epoch`` (default: this epoch's):
        ``input_ids`` masked, ``labels`` the original ids at the masked positions (-100 elsewhere),
        ``attention_mask`` and ``token_type_ids``, all (batch, seq)."""
        rows = [self.masked_ids(int(i), self.epoch if epoch is None else epoch) for i in indices]
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for k, (ids, lab) in enumerate(rows):
            input_ids[k, : len(ids)] = ids
            labels[k, : len(ids)] = lab
            attention[k, : len(ids)] = 1
        return {"input_ids": input_ids, "token_type_ids": torch.zeros_like(input_ids), "attention_mask": attention,
                "labels": labels}


class _Lazy(Sequence):
    """A read-only sequence whose items are made when asked for."""

    def __init__(self, n: int, item) -> None:
        self.n, self.item = n, item

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.item(k) for k in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.item(i % self.n)


def text_store(model: MaskedLM, texts: Sequence[Sequence[str]]) -> TokenStore:
    """An in-memory ``TokenStore`` of ``texts`` (word sequences) for ``model``'s tokenizer and window
    length: each text's sub-tokens cut into windows of whole words, no overlap, a word longer than a
    window split rather than cut."""
    writer = TokenStoreWriter(pretraining_encoder(model))
    for text in texts:
        writer.add(list(text))
    return writer.finish()


def pretraining_encoder(model: MaskedLM) -> WordEncoder:
    """The ``WordEncoder`` of ``model``'s tokenizer and window length whose windows do not overlap."""
    return WordEncoder(model.tokenizer, model.settings.max_length, stride=0)


def masked_windows(model: MaskedLM, texts: Sequence[Sequence[str]] | TokenStore, rule: MaskingRule, seed: int,
                   stream: int = TRAIN_STREAM) -> MaskedWindowData:
    """The windows of ``texts`` (word sequences, or a ``TokenStore`` of them) for ``model``."""
    store = texts if isinstance(texts, TokenStore) else text_store(model, texts)
    return MaskedWindowData(store, model.pad_id, rule, seed, stream)


def masked_lm_evaluation(model: MaskedLM, dev: MaskedWindowData, batch_size: int) -> DevEvaluation:
    """Masked-token loss, accuracy and perplexity on ``dev`` with the weights of the moment, on one
    fixed mask (epoch 0 of the dev stream); selects the epoch with the lowest loss. In a distributed
    run each rank scores every size-th window and the sums are added up."""

    def run() -> dict:
        device = next(model.parameters()).device
        world = current()
        mine = shard(list(range(len(dev))), world)
        model.eval()
        loss = correct = count = 0.0
        for idx in length_grouped_batches([int(dev.lengths[i]) for i in mine], batch_size, seed=0, shuffle=False):
            batch = {k: v.to(device) for k, v in dev.collate([mine[i] for i in idx], epoch=0).items()}
            batch_loss, batch_correct, batch_count = model.masked_scores(batch)
            loss, correct, count = loss + batch_loss, correct + batch_correct, count + batch_count
        loss, correct, count = all_sum([loss, correct, count], world)
        return masked_lm_report(loss, int(correct), int(count))

    return DevEvaluation(run, lambda report: -report["masked_loss"], "neg_masked_loss")  # higher is better


def masked_lm_report(loss_sum: float, correct: int, count: int) -> dict:
    """The dev report from summed masked-token loss, correct predictions and masked tokens.

    >>> masked_lm_report(2 * math.log(4), 1, 2)["perplexity"]
    4.0
    """
    mean = loss_sum / count if count else float("nan")
    return {"masked_loss": mean, "masked_accuracy": correct / count if count else float("nan"),
            "perplexity": math.exp(min(mean, 700.0)) if count else float("nan"), "masked_tokens": count}


def mlm_head_lr(model: MaskedLM, config: TrainConfig) -> float:
    """The head's learning rate: ``config.head_lr`` if set; else the encoder's for the checkpoint's
    own (pretrained) head, and a new linear head's default (1e-3) for a new one."""
    if config.head_lr is not None:
        return config.head_lr
    return config.lr if model.settings.head == "pretrained" else DEFAULT_HEAD_LR["linear"]


def softmax_ids(model: MaskedLM, rule: MaskingRule, *stores: TokenStore | None) -> torch.Tensor:
    """The ids a ``corpus`` softmax runs over: every id the stores hold and the mask token, less
    the padding id (never an input the model reads, never a label), sorted."""
    present = np.zeros(model.vocab_size, dtype=bool)
    for store in stores:
        if store is not None and len(store):
            present[store.used_ids(model.vocab_size)] = True
    present[rule.mask_id] = True
    present[model.pad_id] = False
    return torch.from_numpy(np.flatnonzero(present).astype(np.int64))


def fit_masked_lm(
    model: MaskedLM,
    train: Sequence[Sequence[str]] | TokenStore,
    dev: Sequence[Sequence[str]] | TokenStore | None,
    config: TrainConfig,
    rule: MaskingRule,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
    before: Callable[[dict], None] | None = None,
    softmax: str = "corpus",
) -> TrainResult:
    """Pretrain ``model`` on ``train`` (word sequences, or a ``TokenStore`` of them) with masks drawn
    by ``rule``; keep the weights of the epoch with the lowest dev masked-token loss (the last
    without ``dev``). With ``dev``, the starting weights are scored first (``TrainResult.dev_before``;
    ``before`` hears that report before training starts). ``softmax``: ``corpus`` or ``full`` (see
    the module docstring; ``corpus`` falls back to ``full`` for a head it cannot restrict). See
    ``loop.train_loop``."""
    if softmax not in SOFTMAXES:
        raise ConfigError(f"softmax must be one of {', '.join(SOFTMAXES)}, got {softmax!r}")
    train_store = train if isinstance(train, TokenStore) else text_store(model, train)
    dev_store = dev if isinstance(dev, TokenStore) or dev is None else text_store(model, dev)
    if dev_store is not None and not len(dev_store):
        dev_store = None
    if not len(train_store):
        raise ConfigError("no text to pretrain on")
    restrict = softmax == "corpus" and model.can_restrict_softmax()
    ids = softmax_ids(model, rule, train_store, dev_store) if restrict else None
    if ids is not None:
        rule = rule.replacing_with(ids.tolist())
    data = MaskedWindowData(train_store, model.pad_id, rule, config.seed, TRAIN_STREAM)
    with model.softmax_over(ids) if ids is not None else contextlib.nullcontext():
        evaluation, start = None, None
        if dev_store is not None:
            evaluation = masked_lm_evaluation(model, MaskedWindowData(dev_store, model.pad_id, rule, config.seed,
                                                                      DEV_STREAM), config.eval_batch_size)
            start = evaluation.run()
            if before is not None:
                before(start)
        used = ids.tolist() if ids is not None and config.compact_embeddings else None
        result = train_loop(model, data, config, mlm_head_lr(model, config), evaluation, listener, checkpoints,
                            used_ids=used)
    result.dev_before = start
    return result
