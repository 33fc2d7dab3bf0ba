import pytest
import torch

from entitune.encode import IGNORE, WordEncoder, collate, length_grouped_batches, merge_windows


@pytest.fixture
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert))


def test_first_subtoken_carries_label(tokenizer):
    enc = WordEncoder(tokenizer, max_length=64, stride=8)
    [w] = enc.encode([["show", "xyz", "me"]], [[1, 2, 3]])
    # "xyz" is not in the vocab: x ##y ##z
    assert w.input_ids[0] == tokenizer.cls_token_id and w.input_ids[-1] == tokenizer.sep_token_id
    assert w.word_starts == (1, 2, 5)
    assert w.labels == (IGNORE, 1, 2, IGNORE, IGNORE, 3, IGNORE)
    batch = collate([w], tokenizer.pad_token_id)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "word_starts", "word_mask", "word_labels"}
    assert batch["word_labels"].tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\x00", "\ufeff", " "])
def test_words_without_subtokens_become_unk_and_labels_do_not_shift(tokenizer, invisible):
    enc = WordEncoder(tokenizer, max_length=64, stride=8)
    [w] = enc.encode([["show", invisible, "me"]], [[1, 2, 3]])
    assert len(w.word_starts) == 3
    assert w.input_ids[w.word_starts[1]] == tokenizer.unk_token_id
    assert [w.labels[p] for p in w.word_starts] == [1, 2, 3]


def test_long_sentence_windows_cover_every_word_with_overlap(tokenizer):
    enc = WordEncoder(tokenizer, max_length=16, stride=4)
    words = [f"w{i % 10}" for i in range(100)]
    windows = enc.encode([words])
    assert len(windows) > 1
    assert all(len(w.input_ids) <= 16 for w in windows)
    covered = set()
    for a, b in zip(windows, windows[1:]):
        assert b.first_word < a.first_word + a.n_words  # neighbours overlap
    for w in windows:
        covered.update(range(w.first_word, w.first_word + w.n_words))
    assert covered == set(range(100))


def test_merge_takes_the_window_with_most_context(tokenizer):
    enc = WordEncoder(tokenizer, max_length=12, stride=4)
    words = ["a"] * 30
    windows = enc.encode([words])
    scores = [torch.full((w.n_words, 1), float(k)) for k, w in enumerate(windows)]
    [merged] = merge_windows(windows, scores, [30])
    for word in range(30):
        holders = [(w.context[word - w.first_word], k) for k, w in enumerate(windows)
                   if w.first_word <= word < w.first_word + w.n_words]
        best = max(holders, key=lambda h: (h[0], -h[1]))[1]
        assert merged[word, 0].item() == best


def test_a_single_huge_word_fits(tokenizer):
    enc = WordEncoder(tokenizer, max_length=10, stride=2)
    windows = enc.encode([["a", "z" * 500, "b"]])
    assert sum(w.n_words for w in windows) >= 3 and all(len(w.input_ids) <= 10 for w in windows)


def test_bad_stride_and_length_are_config_errors(tokenizer):
    from entitune.errors import ConfigError

    with pytest.raises(ConfigError, match="stride must be in"):
        WordEncoder(tokenizer, max_length=10, stride=8)
    with pytest.raises(ConfigError, match="max_length 3 leaves no room"):
        WordEncoder(tokenizer, max_length=3, stride=0)


def test_length_grouped_batches_cover_all_and_group_lengths():
    lengths = [(i * 37) % 100 + 1 for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded / sum(lengths) - 1 < 0.10
    assert batches == length_grouped_batches(lengths, 16, seed=1)
    assert batches != length_grouped_batches(lengths, 16, seed=2)
