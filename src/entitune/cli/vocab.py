"""``entitune vocab plan`` and ``vocab extend``: flags -> ``VocabPlanConfig`` / ``VocabExtendConfig``
-> ``recipes.vocab_plan`` / ``recipes.vocab_extend``."""
from __future__ import annotations

from ..errors import require_training
from ..options import VocabExtendConfig, VocabPlanConfig


def plan(config: VocabPlanConfig) -> None:
    """Print the share of words the tokenizer maps to [UNK] and the sub-words per word, now and after
    adding the best --max-new candidates, and the candidates ranked by the sub-words they save."""
    require_training("vocab plan")
    from ..recipes.vocab import vocab_plan

    vocab_plan(config)


def extend(config: VocabExtendConfig) -> None:
    """Add the best tokens of the data to the vocabulary as real WordPiece entries (tokenizer.json and
    vocab.txt) and write the checkpoint with their embedding rows, ready for 'entitune train --model OUT'."""
    require_training("vocab extend")
    from ..recipes.vocab import vocab_extend

    vocab_extend(config)
