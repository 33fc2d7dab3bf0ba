"""Exact window layout of a long sentence (each window as full as the budget allows, neighbours
sharing at most ``stride`` sub-tokens, but always moving on), and sub-token lookup that keeps one
entry per sentence however many sentences (the tokenizer is called in chunks of 1024). Found
unpinned by mutation testing (scripts/mutation.sh)."""
import pytest

from entitune.encode import WordEncoder


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert))


def test_windows_fill_the_budget_and_overlap_by_at_most_stride(tokenizer):
    enc = WordEncoder(tokenizer, max_length=8, stride=2)  # budget 6 after [CLS] and [SEP]
    assert enc.budget == 6
    ones = [[7]] * 12
    assert enc.windows(ones) == [(0, 6), (4, 10), (8, 12)]
    # the overlap is whole words of at most 2 sub-tokens in all: one word of 1 (not 1 + 2)
    mixed = [[7] * n for n in (1, 2, 2, 1, 1, 3, 1)]
    assert enc.windows(mixed) == [(0, 4), (3, 7)]
    # a last word longer than the stride is not repeated
    assert enc.windows([[7] * n for n in (2, 1, 3, 1, 2, 2, 1)]) == [(0, 3), (3, 7)]
    assert enc.windows([[7]] * 6) == [(0, 6)]
    assert enc.windows([]) == [(0, 0)]


def test_windows_always_move_on_when_the_overlap_would_repeat_a_window(tokenizer):
    enc = WordEncoder(tokenizer, max_length=8, stride=4)  # budget 6
    # two words of 3 sub-tokens fill a window; a stride of 4 could hold the whole second word,
    # but the next window must start after the current one's first word
    assert enc.windows([[7] * 3, [7] * 3, [7] * 3]) == [(0, 2), (1, 3)]
    # a window cut short by a next word that fills a window alone: its one word is not repeated
    assert enc.windows([[7], [7] * 6, [7]]) == [(0, 1), (1, 2), (2, 3)]
    zero = WordEncoder(tokenizer, max_length=8, stride=0)
    assert zero.windows([[7]] * 8) == [(0, 6), (6, 8)]


def test_word_pieces_keep_one_entry_per_sentence_past_the_tokenizer_chunk(tokenizer):
    enc = WordEncoder(tokenizer, max_length=16, stride=4)
    sentences = [["show", "me"], [], ["films"]] * 350  # 1050 sentences: two tokenizer calls
    pieces = enc.raw_word_pieces(sentences)
    assert len(pieces) == len(sentences)
    assert [len(p) for p in pieces] == [len(s) for s in sentences]
    assert pieces[1026] == enc.raw_word_pieces([["show", "me"]])[0]  # 1026 % 3 == 0
    assert pieces[1] == [] and pieces[2] == enc.raw_word_pieces([["films"]])[0]
    # no special tokens among a word's pieces
    assert not {tokenizer.cls_token_id, tokenizer.sep_token_id} & {i for p in pieces[:3] for w in p for i in w}
