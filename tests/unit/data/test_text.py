from hypothesis import given
from hypothesis import strategies as st

from entitune.data.text import join_words, split_words


@given(st.text(max_size=200))
def test_offsets_index_the_text(text):
    for word, start, end in split_words(text):
        assert text[start:end] == word and word.strip() == word and word


def test_cjk_characters_are_words():
    assert [w for w, _, _ in split_words("我爱北京 ok")] == ["我", "爱", "北", "京", "ok"]


def test_join_words_offsets():
    text, offsets = join_words(["a", "bc"])
    assert text == "a bc" and offsets == [(0, 1), (2, 4)]
