from hypothesis import given
from hypothesis import strategies as st

from entitune.text import join_words, split_words


@given(st.text(max_size=200))
def test_offsets_index_the_text(text):
    for word, start, end in split_words(text):
        assert text[start:end] == word and word.strip() == word and word


def test_cjk_characters_are_words():
    assert [w for w, _, _ in split_words("我爱北京 ok")] == ["我", "爱", "北", "京", "ok"]


def test_join_words_offsets():
    text, offsets = join_words(["a", "bc"])
    assert text == "a bc" and offsets == [(0, 1), (2, 4)]


def test_mixed_language_text_keeps_offsets_in_prediction(tiny_tagger_dir):
    from entitune import Tagger

    text = "张三 visited 서울 in 2020年 with drew barrymore 😀, then 東京!"
    words = split_words(text)
    assert ("서울", 11, 13) in words and ("年", 21, 22) in words and ("😀", 43, 44) in words
    result = Tagger.load(tiny_tagger_dir).predict([text])[0]
    assert [text[s:e] for _, s, e in words] == result["words"]
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
