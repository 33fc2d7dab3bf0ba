"""Contracts of ``TagDecoder.decode`` and of reading ``decoder.json`` (``TagDecoder.from_dict``):

- the mask is a truth mask whatever its type: 0/1 integers (an attention mask's form) decode as
  the same booleans, so a constrained softmax decoder still answers a valid path with them;
- a batch of no words decodes to (batch, 0) tags and probabilities, int64 and float32, for every
  decoder (constrained or not, softmax or CRF);
- scores with another number of labels than the decoder's tables are refused with a message that
  names both counts;
- ``from_dict`` refuses, each with a message that says what is wrong: a file without labels (shown
  as None) or with other labels (shown beside the model's), a file without a kind (shown as ''),
  tables of another size than the model's labels;
- each entry of ``allowed`` counts by its own truth value: a JSON ``false`` forbids its transition
  whatever the types of the entries around it.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from entitune.decoding import FORBIDDEN, TagDecoder, Transitions, constraint_tables

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
O, B_PER, I_PER, B_LOC, I_LOC = range(len(LABELS))


def _decoders() -> dict[str, TagDecoder]:
    rng = np.random.default_rng(0)
    c = len(LABELS)
    learned = Transitions.of(
        rng.normal(size=c), rng.normal(size=(c, c)), rng.normal(size=c)
    )
    constraints = constraint_tables(LABELS)
    return {
        "softmax": TagDecoder("softmax"),
        "softmax+constraints": TagDecoder("softmax", constraints),
        "crf": TagDecoder("crf", learned=learned),
        "crf+constraints": TagDecoder("crf", constraints, learned),
    }


def _scores(*path: int) -> np.ndarray:
    """(1, len(path), labels) scores whose argmax is ``path``."""
    scores = np.full((1, len(path), len(LABELS)), -4.0, dtype=np.float32)
    scores[0, np.arange(len(path)), list(path)] = 4.0
    return scores


def _valid(path) -> bool:
    tables = constraint_tables(LABELS)
    return (
        tables.start[path[0]] == 0
        and all(tables.trans[a, b] == 0 for a, b in itertools.pairwise(path))
        and tables.end[path[-1]] == 0
    )


@pytest.mark.parametrize(
    "as_mask", [lambda m: m.astype(np.int64), lambda m: m.astype(np.int8).tolist()]
)
def test_a_mask_of_zeros_and_ones_decodes_as_the_boolean_mask(as_mask):
    """B-PER then I-LOC breaks IOB2 inside the sentence (not at its start or end): the constrained
    decoder must notice it with an integer mask as with a boolean one."""
    scores = np.concatenate([_scores(O, B_PER, I_LOC, O), _scores(O, B_PER, I_LOC, O)])
    mask = np.array([[True] * 4, [True, True, True, False]])
    for name, decoder in _decoders().items():
        want_tags, want_probs = decoder.decode(scores, mask)
        tags, probs = decoder.decode(scores, as_mask(mask))
        np.testing.assert_array_equal(tags, want_tags, err_msg=name)
        np.testing.assert_array_equal(probs, want_probs, err_msg=name)
    tags, _ = _decoders()["softmax+constraints"].decode(scores, as_mask(mask))
    assert _valid(tags[0].tolist()) and _valid(tags[1, :3].tolist())


@pytest.mark.parametrize(
    "name", ["softmax", "softmax+constraints", "crf", "crf+constraints"]
)
def test_a_batch_of_no_words_decodes_to_empty_rows(name):
    decoder = _decoders()[name]
    tags, probs = decoder.decode(
        np.zeros((3, 0, len(LABELS)), np.float32), np.zeros((3, 0), bool)
    )
    assert tags.shape == probs.shape == (3, 0)
    assert tags.dtype == np.int64 and probs.dtype == np.float32


def test_scores_of_another_label_count_are_refused_naming_both_counts():
    """The scores have 3 words and 4 labels; the decoder has 5 labels."""
    decoder = _decoders()["softmax+constraints"]
    with pytest.raises(ValueError, match=r"^scores have 4 labels, the decoder 5$"):
        decoder.decode(np.zeros((2, 3, 4), np.float32), np.ones((2, 3), bool))


def _raw(name: str = "crf+constraints") -> dict:
    return _decoders()[name].to_dict(LABELS)


def test_a_file_without_labels_is_refused_as_having_none():
    raw = _raw()
    del raw["labels"]
    expected = f"its labels None differ from the model's {list(LABELS)}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        TagDecoder.from_dict(raw, LABELS)


def test_a_file_of_other_labels_is_refused_showing_both_label_lists():
    raw = _raw()
    expected = f"its labels {list(LABELS)} differ from the model's {list(LABELS[:3])}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        TagDecoder.from_dict(raw, LABELS[:3])


def test_a_file_without_a_kind_is_refused_as_having_an_empty_kind():
    raw = _raw("softmax+constraints")
    del raw["kind"]
    with pytest.raises(
        ValueError, match=r"^decoder kind must be one of softmax, crf, got ''$"
    ):
        TagDecoder.from_dict(raw, LABELS)


def test_tables_of_another_size_than_the_labels_are_refused_naming_both_sizes():
    raw = TagDecoder("softmax", constraint_tables(LABELS[:3])).to_dict(LABELS[:3])
    raw["labels"] = list(LABELS)
    with pytest.raises(ValueError, match=r"^its tables have 3 labels, the model 5$"):
        TagDecoder.from_dict(raw, LABELS)


def test_each_allowed_entry_counts_by_its_own_truth_value():
    """A hand-edited file may hold other JSON values than booleans beside them: ``false`` (and 0,
    null, "") forbid, anything true allows, entry by entry."""
    raw = _raw("softmax+constraints")
    raw["allowed"]["start"] = [True, "yes", False, 1, None]
    raw["allowed"]["end"] = [False, True, "", 1.5, True]
    decoder = TagDecoder.from_dict(raw, LABELS)
    assert decoder.constraints.start.tolist() == [0, 0, FORBIDDEN, 0, FORBIDDEN]
    assert decoder.constraints.end.tolist() == [FORBIDDEN, 0, FORBIDDEN, 0, 0]
    np.testing.assert_array_equal(
        decoder.constraints.trans, constraint_tables(LABELS).trans
    )
