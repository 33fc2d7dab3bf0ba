"""Evaluate a tagger on annotated sentences through the same decode path as prediction."""
from __future__ import annotations

from collections.abc import Sequence

from .distributed import World, gather
from .metrics import entity_scores, token_micro_f1
from .model import Tagger
from .predict import Predictor
from .tags import is_valid_sequence
from .types import Sentence


def evaluate(tagger: Tagger, sentences: Sequence[Sentence], batch_size: int = 64, world: World | None = None) -> dict:
    """Score predictions against gold tags (IOB2) for every word of every sentence.

    Returns the report written by ``entitune evaluate --json``: ``entity`` (strict spans),
    ``per_type``, ``entity_conlleval``, ``token_micro_f1``, ``words``, ``words_untagged`` and
    ``invalid_sequences`` (predicted sequences that break the scheme's transitions). In a
    distributed ``world`` the sentences are shared out and the predictions gathered.
    """
    predictor = Predictor(tagger, batch_size=batch_size)
    if world is not None and world.distributed:
        # each rank tags every size-th sentence; the pieces are gathered so every rank scores all
        mine = list(range(world.rank, len(sentences), world.size))
        pieces = gather(list(zip(mine, predictor.tag([sentences[i].words for i in mine]))), world)
        tagged = [t for _, t in sorted((pair for piece in pieces for pair in piece), key=lambda p: p[0])]
    else:
        tagged = predictor.tag([s.words for s in sentences])
    gold = [list(s.tags or ()) for s in sentences]
    pred = [list(t.tags) for t in tagged]
    untagged = sum(max(0, len(g) - len(p)) for g, p in zip(gold, pred))
    strict = entity_scores(gold, pred, "strict")
    return {
        "entity": strict["entity"],
        "per_type": strict["per_type"],
        "entity_conlleval": entity_scores(gold, pred, "conlleval")["entity"],
        "token_micro_f1": token_micro_f1(gold, pred),
        "words": sum(len(g) for g in gold),
        "words_untagged": untagged,
        "invalid_sequences": sum(not is_valid_sequence(t.native, tagger.labels) for t in tagged),
        "sentences": len(sentences),
    }
