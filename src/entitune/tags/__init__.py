"""Tags: one tag's shape, schemes and their conversion, tags <-> spans, allowed transitions, label
sets. Pure Python: importing this package never imports torch.

>>> spans_from_tags(["B-PER", "I-PER", "O", "B-LOC"])
[Span(start=0, end=2, label='PER'), Span(start=3, end=4, label='LOC')]
"""
from .labels import TRAIN_SCHEMES, entity_types, label_set
from .schemes import (
    bioes_to_iob2, detect_scheme, from_iob2, invalid_starts, iob1_to_iob2, iob2_to_bioes, to_iob2,
)
from .spans import SpanMode, spans_from_tags, tags_from_spans
from .tag import SCHEMES, TAG_PATTERN, Scheme, split_tag
from .transitions import allowed_transitions, first_invalid, is_valid_sequence

__all__ = [
    "SCHEMES", "TAG_PATTERN", "TRAIN_SCHEMES", "Scheme", "SpanMode", "allowed_transitions", "bioes_to_iob2",
    "detect_scheme", "entity_types", "first_invalid", "from_iob2", "invalid_starts", "iob1_to_iob2",
    "iob2_to_bioes", "is_valid_sequence", "label_set", "spans_from_tags", "split_tag", "tags_from_spans",
    "to_iob2",
]
