"""``collate`` on windows of different lengths, checked entry by entry: right padding with the pad
id, -100 labels and 0 word starts, masks True exactly on real entries, a zero-word window still one
column wide. Found unpinned by mutation testing (scripts/mutation.sh): the other tests collate
windows of one length only."""
import torch

from entitune.encode import IGNORE, Window, collate

PAD = 9


def _window(ids, starts, labels):
    return Window(0, 0, tuple(ids), tuple(starts), tuple(0 for _ in starts), None if labels is None else tuple(labels))


def test_windows_of_different_lengths_are_padded_exactly():
    windows = [
        _window([2, 11, 12, 13, 3], [1, 2], [IGNORE, 1, 2, IGNORE, IGNORE]),
        _window([2, 14, 3], [1], [IGNORE, 0, IGNORE]),
        _window([2, 3], [], [IGNORE, IGNORE]),
    ]
    batch = collate(windows, PAD)
    assert batch["input_ids"].tolist() == [[2, 11, 12, 13, 3], [2, 14, 3, PAD, PAD], [2, 3, PAD, PAD, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    assert batch["attention_mask"].dtype == torch.long
    assert batch["token_type_ids"].tolist() == [[0] * 5] * 3
    assert batch["labels"].tolist() == [[IGNORE, 1, 2, IGNORE, IGNORE], [IGNORE, 0, IGNORE, IGNORE, IGNORE],
                                        [IGNORE] * 5]
    assert batch["word_starts"].tolist() == [[1, 2], [1, 0], [0, 0]]
    assert batch["word_mask"].tolist() == [[True, True], [True, False], [False, False]]
    assert batch["word_labels"].tolist() == [[1, 2], [0, IGNORE], [IGNORE, IGNORE]]
    assert all(t.dtype == torch.long for k, t in batch.items() if k != "word_mask")


def test_a_batch_of_zero_word_windows_keeps_one_word_column():
    batch = collate([_window([2, 3], [], None), _window([2, 3], [], None)], PAD)
    assert batch["word_starts"].shape == (2, 1) and not batch["word_mask"].any()
    assert "labels" not in batch and "word_labels" not in batch
