"""``fit_masked_lm``: masked-LM pretraining on the one training loop. What it contributes: texts ->
windows of whole words with no overlap (a long text gives several; nothing is cut), masked anew each
epoch and reproducibly (``encode.masking``: one generator per window, seeded by seed, epoch and the
window's index), and the dev evaluation: masked-token accuracy and perplexity on dev windows masked
once, with a fixed seed, so epochs compare on the same masks. The best epoch is the one with the
lowest dev masked-token loss (or the last, without dev text).

The word embedding trains densely (``used_ids`` None): the tied decoder scores every vocabulary row,
so every row gets a gradient and the compact table (``compact``) would not be exact.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..encode import MaskingRule, Window, collate, example_seed, length_grouped_batches, mask_window, maskable_units
from ..model.masked_lm import MaskedLM
from .config import CheckpointOptions, TrainConfig
from .distributed import all_sum, current, shard
from .loop import DevEvaluation, train_loop
from .optim import DEFAULT_HEAD_LR
from .progress import TrainListener, TrainResult

#: masking streams: the training windows (one mask per epoch) and the dev windows (one fixed mask)
TRAIN_STREAM, DEV_STREAM = 0, 1


class MaskedWindowData:
    """Windows of texts as ``TrainData``, masked by ``rule`` when collated: window ``i`` of epoch
    ``e`` always gets the mask drawn from ``example_seed(seed, stream, e, i)`` (``set_epoch`` says
    which epoch the loop is in)."""

    def __init__(self, windows: Sequence[Window], pad_id: int, rule: MaskingRule, n_prefix: int, n_suffix: int,
                 seed: int, stream: int = TRAIN_STREAM) -> None:
        self.windows = windows
        self.pad_id = pad_id
        self.rule = rule
        self.seed = seed
        self.stream = stream
        self.units = [maskable_units(w, n_prefix, n_suffix, rule.special_ids, rule.whole_word) for w in windows]
        self.lengths = [len(w.input_ids) for w in windows]
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def masked(self, i: int, epoch: int) -> Window:
        """Window ``i`` as masked in ``epoch``."""
        generator = torch.Generator().manual_seed(example_seed(self.seed, self.stream, epoch, i))
        return mask_window(self.windows[i], self.units[i], self.rule, generator)

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """The batch of these windows with this epoch's masks: ``input_ids`` masked, ``labels`` (batch,
        seq) the original ids at the masked positions, -100 elsewhere."""
        return collate([self.masked(i, self.epoch) for i in indices], self.pad_id)


def masked_windows(model: MaskedLM, texts: Sequence[Sequence[str]], rule: MaskingRule, seed: int,
                   stream: int = TRAIN_STREAM) -> MaskedWindowData:
    """The windows of ``texts`` (word sequences) for ``model``: each text's sub-tokens cut into
    windows of whole words, no overlap, a word longer than a window split rather than cut."""
    encoder = model.word_encoder
    windows = encoder.encode_pieces(encoder.unbroken_word_pieces([list(t) for t in texts if t]))
    return MaskedWindowData(windows, model.pad_id, rule, len(encoder.prefix), len(encoder.suffix), seed, stream)


def masked_lm_evaluation(model: MaskedLM, dev: MaskedWindowData, batch_size: int) -> DevEvaluation:
    """Masked-token loss, accuracy and perplexity on ``dev`` with the weights of the moment, on one
    fixed mask (epoch 0 of the dev stream); selects the epoch with the lowest loss. In a distributed
    run each rank scores every size-th window and the sums are added up."""
    fixed = [dev.masked(i, 0) for i in range(len(dev.windows))]

    def run() -> dict:
        device = next(model.parameters()).device
        world = current()
        mine = shard(list(range(len(fixed))), world)
        model.eval()
        loss = correct = count = 0.0
        for idx in length_grouped_batches([dev.lengths[i] for i in mine], batch_size, seed=0, shuffle=False):
            batch = {k: v.to(device) for k, v in collate([fixed[mine[i]] for i in idx], dev.pad_id).items()}
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


def fit_masked_lm(
    model: MaskedLM,
    train: Sequence[Sequence[str]],
    dev: Sequence[Sequence[str]] | None,
    config: TrainConfig,
    rule: MaskingRule,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
    before: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Pretrain ``model`` on ``train`` (each text a sequence of words) with masks drawn by ``rule``;
    keep the weights of the epoch with the lowest dev masked-token loss (the last without ``dev``).
    With ``dev``, the starting weights are scored first (``TrainResult.dev_before``; ``before``
    hears that report before training starts). See ``loop.train_loop``."""
    data = masked_windows(model, train, rule, config.seed, TRAIN_STREAM)
    evaluation, start = None, None
    if dev:
        evaluation = masked_lm_evaluation(model, masked_windows(model, dev, rule, config.seed, DEV_STREAM),
                                          config.eval_batch_size)
        start = evaluation.run()
        if before is not None:
            before(start)
    result = train_loop(model, data, config, mlm_head_lr(model, config), evaluation, listener, checkpoints, used_ids=None)
    result.dev_before = start
    return result
