"""``fit``: the NER task on the one training loop. What NER contributes: sentences -> labelled
windows (first sub-token carries the word's label), frozen features computed once, the token ids
the windows use (for compact embeddings), and the dev evaluation (entity F1 through the one decode
path, the dev set shared out over the processes of a distributed run)."""
from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from itertools import groupby

import torch
from torch.nn.utils.rnn import pad_sequence

from ..backends import TorchScorer
from ..encode import Window, collate, length_grouped_batches
from ..errors import ConfigError
from ..evaluate import tagging_report
from ..model.tagger import Tagger
from ..predict import Predictor
from ..types import Sentence
from .config import CheckpointOptions, TrainConfig
from .distributed import current, map_sharded
from .loop import DevEvaluation, train_loop
from .optim import head_lr_for
from .progress import TrainListener, TrainResult


class WindowData:
    """Labelled windows as ``TrainData``: ``collate`` pads them (``encode.collate``) and adds the
    precomputed frozen word vectors (batch, words, hidden') when there are any."""

    def __init__(self, windows: Sequence[Window], pad_id: int, features: Sequence[torch.Tensor] | None = None) -> None:
        self.windows = windows
        self.pad_id = pad_id
        self.features = features
        self.lengths = [len(w.input_ids) for w in windows]

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = collate([self.windows[i] for i in indices], self.pad_id)
        if self.features is not None:
            batch["word_vectors"] = pad_sequence([self.features[i] for i in indices], batch_first=True)
        return batch


@torch.no_grad()  # not inference_mode: the head's backward must be able to save these tensors
def frozen_word_vectors(tagger: Tagger, windows: Sequence[Window], batch_size: int = 64) -> list[torch.Tensor]:
    """Word vectors of every window from a frozen encoder, computed once: (n_words, hidden') each."""
    device = next(tagger.parameters()).device
    tagger.eval()
    out: list[torch.Tensor | None] = [None] * len(windows)
    for idx in length_grouped_batches([len(w.input_ids) for w in windows], batch_size, seed=0, shuffle=False):
        batch = {k: v.to(device) for k, v in collate([windows[i] for i in idx], tagger.pad_id).items()}
        vectors = tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                      batch["token_type_ids"])
        for row, i in enumerate(idx):
            out[i] = vectors[row, : windows[i].n_words].clone()
    return out  # type: ignore[return-value]


def dev_evaluation(tagger: Tagger, dev: Sequence[Sentence], batch_size: int) -> DevEvaluation:
    """Entity F1 on ``dev`` with the weights of the moment (a new scorer each time). In a
    distributed run each rank tags every size-th sentence and the pieces are gathered, so every
    rank scores all of them."""

    def run() -> dict:
        predictor = Predictor(TorchScorer(tagger), batch_size=batch_size)
        if not tagger.settings.context:
            tagged = map_sharded(predictor.tag, [s.words for s in dev], current())
        else:  # shared out by whole documents, so that every sentence reads its neighbours
            tagged = [t for doc in map_sharded(partial(_tag_documents, predictor), documents_of(dev), current())
                      for t in doc]
        return tagging_report(dev, tagged, tagger.labels)

    return DevEvaluation(run, lambda report: report["entity"]["f1"], "entity_f1")


def documents_of(sentences: Sequence[Sentence]) -> list[list[Sentence]]:
    """Sentences grouped into their documents: runs of consecutive sentences with equal ``doc``."""
    return [list(run) for _, run in groupby(sentences, key=lambda s: s.doc)]


def _tag_documents(predictor: Predictor, documents: Sequence[Sequence[Sentence]]) -> list[list]:
    """The tags of every sentence of ``documents``, per document, read with their document context."""
    sentences = [s for doc in documents for s in doc]
    tagged = iter(predictor.tag([s.words for s in sentences], documents=[d for d, doc in enumerate(documents) for _ in doc]))
    return [[next(tagged) for _ in doc] for doc in documents]


class ContextDropoutData(WindowData):
    """``WindowData`` with FLERT's context dropout: each epoch, each window is read without its
    document context with probability ``p``, a draw that depends only on the seed, the epoch and the
    window's index (so a resumed run draws the same). ``plain`` holds the windows without context,
    one per window of ``windows`` (a sentence with context always fits in one window, so both
    encodings give the same windows in the same order); ``lengths`` stay those with context."""

    def __init__(self, windows: Sequence[Window], plain: Sequence[Window], p: float, seed: int, pad_id: int,
                 features: Sequence[torch.Tensor] | None = None,
                 plain_features: Sequence[torch.Tensor] | None = None) -> None:
        super().__init__(windows, pad_id, features)
        if len(plain) != len(windows):
            raise ValueError(f"{len(windows)} windows with context but {len(plain)} without")
        self.with_context, self.plain = list(windows), list(plain)
        self.features_with, self.plain_features = features, plain_features
        self.p, self.seed = p, seed

    def set_epoch(self, epoch: int) -> None:
        drop = context_dropped(len(self.plain), self.p, self.seed, epoch)
        self.windows = [pw if d else w for w, pw, d in zip(self.with_context, self.plain, drop)]
        if self.features is not None:
            self.features = [pf if d else f for f, pf, d in zip(self.features_with, self.plain_features, drop)]


def context_dropped(n: int, p: float, seed: int, epoch: int) -> list[bool]:
    """Which of ``n`` windows read no context in ``epoch``: each with probability ``p``, drawn from
    ``seed`` and ``epoch`` alone (the same in a resumed run)."""
    rng = random.Random(f"context-dropout:{seed}:{epoch}")
    return [rng.random() < p for _ in range(n)]


def fit(
    tagger: Tagger,
    train: Sequence[Sentence],
    dev: Sequence[Sentence] | None,
    config: TrainConfig,
    listener: TrainListener | None = None,
    checkpoints: CheckpointOptions | None = None,
    context_dropout: float = 0.0,
) -> TrainResult:
    """Fine-tune ``tagger`` on ``train`` (tags in the tagger's scheme); keep the weights of the best
    dev epoch by entity F1 (or the last, without ``dev``). See ``loop.train_loop``. A tagger with
    document context (``settings.context``) reads each sentence with its neighbours in ``train``
    of the same ``Sentence.doc``, except, each epoch, a ``context_dropout`` share of sentences."""
    if not 0.0 <= context_dropout < 1.0:
        raise ConfigError(f"context_dropout must be in [0, 1), got {context_dropout}")
    label_ids = {label: i for i, label in enumerate(tagger.labels)}
    train = [s for s in train if s.words]
    words = [s.words for s in train]
    tag_ids = [[label_ids[t] for t in (s.tags or ())] for s in train]
    documents = [s.doc for s in train] if tagger.settings.context else None
    windows = tagger.word_encoder.encode(words, tag_ids, documents)
    plain = tagger.word_encoder.encode(words, tag_ids) if documents is not None and context_dropout else None
    trains_embeddings = config.compact_embeddings and not tagger.frozen
    used_ids = {i for w in windows for i in w.input_ids} if trains_embeddings else None
    # a frozen encoder gives the same vectors every epoch: compute them once
    features = frozen_word_vectors(tagger, windows, config.eval_batch_size) if tagger.frozen else None
    if plain is None:
        data = WindowData(windows, tagger.pad_id, features)
    else:
        plain_features = frozen_word_vectors(tagger, plain, config.eval_batch_size) if tagger.frozen else None
        data = ContextDropoutData(windows, plain, context_dropout, config.seed, tagger.pad_id, features, plain_features)
    evaluation = dev_evaluation(tagger, dev, config.eval_batch_size) if dev else None
    return train_loop(tagger, data, config, head_lr_for(tagger.settings.head, config), evaluation, listener,
                      checkpoints, used_ids)
