"""Document context (FLERT): each sentence's window also reads sub-words of its document's
neighbouring sentences; only the sentence's own words are labelled and scored."""
import pytest
import torch

from entitune.encode import IGNORE, WordEncoder, merge_windows
from entitune.errors import ConfigError
from entitune.train.tagging import ContextDropoutData, context_dropped, documents_of
from entitune.types import Sentence

DOC = [["show", "me", "films"], ["with", "drew", "barrymore"], ["from", "the", "1980s"],
       ["what", "movies", "star"], ["bruce", "willis"]]


@pytest.fixture
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert))


def flat(enc, words):
    return [i for p in enc.word_pieces([words])[0] for i in p]


def test_context_on_both_sides_within_budget_and_only_sentence_words_labelled(tokenizer):
    enc = WordEncoder(tokenizer, max_length=64, stride=8, context=4)
    tags = [[1] * len(s) for s in DOC]
    windows = enc.encode(DOC, tags, documents=[0] * len(DOC))
    assert len(windows) == len(DOC)
    all_ids = [flat(enc, s) for s in DOC]
    for s, w in enumerate(windows):
        body = list(w.input_ids)[len(enc.prefix) : len(w.input_ids) - len(enc.suffix)]
        start = w.word_starts[0]
        left = list(w.input_ids)[len(enc.prefix) : start]
        own = all_ids[s]
        assert list(w.input_ids)[start : start + len(own)] == own
        right = body[len(left) + len(own) :]
        before = [i for k in range(s) for i in all_ids[k]]
        after = [i for k in range(s + 1, len(DOC)) for i in all_ids[k]]
        assert left == before[max(0, len(before) - 4) :]  # the nearest sub-words, at most 4
        assert right == after[:4]
        assert (len(left) > 0) == (s > 0) and (len(right) > 0) == (s < len(DOC) - 1)
        # labels: exactly one per sentence word, at the word starts; context is -100
        assert sum(lab != IGNORE for lab in w.labels) == len(DOC[s])
        assert [w.labels[p] for p in w.word_starts] == [1] * len(DOC[s])
        assert all(lab == IGNORE for lab in w.labels[: start])
        assert len(w.word_starts) == len(DOC[s]) and len(w.input_ids) <= 64


def test_context_never_crosses_a_document_boundary(tokenizer):
    enc = WordEncoder(tokenizer, max_length=64, stride=8, context=16)
    documents = ["a", "a", "b", "b", "c"]  # runs of equal ids; the last sentence is alone
    windows = enc.encode(DOC, documents=documents)
    plain = enc.encode(DOC)
    ids = [flat(enc, s) for s in DOC]
    assert windows[0].input_ids == tuple(enc.prefix) + tuple(ids[0] + ids[1]) + tuple(enc.suffix)
    assert windows[1].input_ids == tuple(enc.prefix) + tuple(ids[0] + ids[1]) + tuple(enc.suffix)
    assert windows[2].input_ids == tuple(enc.prefix) + tuple(ids[2] + ids[3]) + tuple(enc.suffix)
    assert windows[4] == plain[4]  # a one-sentence document has no context
    # the same id again after another document is a new document (runs, not sets)
    again = enc.encode(DOC[:3], documents=[0, 1, 0])
    assert again == enc.encode(DOC[:3])


def test_context_zero_or_no_documents_gives_the_windows_of_today(tokenizer):
    long = [f"w{i % 10}" for i in range(60)]
    sentences = [*DOC, long]
    tags = [[1] * len(s) for s in sentences]
    base = WordEncoder(tokenizer, max_length=16, stride=4).encode(sentences, tags)
    assert WordEncoder(tokenizer, max_length=16, stride=4, context=0).encode(sentences, tags, [0] * 6) == base
    assert WordEncoder(tokenizer, max_length=16, stride=4, context=8).encode(sentences, tags) == base


def test_context_shrinks_to_the_room_left_and_a_long_sentence_gets_none(tokenizer):
    long = [f"w{i % 10}" for i in range(60)]
    sentences = [DOC[0], DOC[1], long, DOC[2]]
    tags = [[1] * len(s) for s in sentences]
    enc = WordEncoder(tokenizer, max_length=12, stride=2, context=100)
    windows = enc.encode(sentences, tags, documents=[0] * 4)
    plain = enc.encode(sentences, tags)
    assert all(len(w.input_ids) <= 12 for w in windows)
    short = [w for w in windows if w.sentence != 2]
    assert all(len(w.input_ids) == 12 for w in short)  # a sentence that fits fills the window
    assert [w for w in windows if w.sentence == 2] == [w for w in plain if w.sentence == 2]
    # every word is scored exactly once after the merge
    scores = [torch.arange(w.n_words, dtype=torch.float32).unsqueeze(1) + w.first_word for w in windows]
    merged = merge_windows(windows, scores, [len(s) for s in sentences])
    for s, m in zip(sentences, merged):
        assert m.squeeze(1).tolist() == list(range(len(s)))
    for s in range(4):
        assert sum(sum(lab != IGNORE for lab in w.labels) for w in windows if w.sentence == s) >= len(sentences[s])


def test_a_negative_context_is_refused(tokenizer):
    with pytest.raises(ConfigError, match="context must be >= 0"):
        WordEncoder(tokenizer, max_length=16, stride=4, context=-1)
    with pytest.raises(ValueError, match="2 sentences but 1 document ids"):
        WordEncoder(tokenizer, max_length=16, stride=4, context=2).encode(DOC[:2], documents=[0])


def test_context_dropout_is_deterministic_per_seed_and_epoch(tokenizer):
    a = context_dropped(1000, 0.5, seed=7, epoch=2)
    assert a == context_dropped(1000, 0.5, seed=7, epoch=2)
    assert a != context_dropped(1000, 0.5, seed=7, epoch=3) and a != context_dropped(1000, 0.5, seed=8, epoch=2)
    assert 400 < sum(a) < 600 and not any(context_dropped(50, 0.0, 7, 1))
    enc = WordEncoder(tokenizer, max_length=64, stride=8, context=8)
    tags = [[1] * len(s) for s in DOC]
    with_context, plain = enc.encode(DOC, tags, [0] * 5), enc.encode(DOC, tags)
    data = ContextDropoutData(with_context, plain, 0.5, 7, tokenizer.pad_token_id)
    data.set_epoch(2)
    drop = context_dropped(5, 0.5, 7, 2)
    assert data.windows == [p if d else w for w, p, d in zip(with_context, plain, drop)]
    first = data.collate(range(5))
    data.set_epoch(3)
    data.set_epoch(2)
    assert all(torch.equal(first[k], v) for k, v in data.collate(range(5)).items())


def test_documents_of_groups_runs_of_equal_doc():
    s = [Sentence(("a",), doc=d) for d in (0, 0, 1, 0)]
    assert [len(d) for d in documents_of(s)] == [2, 1, 1]


def test_readers_number_documents(tmp_path):
    from entitune.data import read_conll
    from entitune.data.jsonl import read_jsonl

    (tmp_path / "a.conll").write_text("-DOCSTART- O\n\nx O\n\ny O\n\n-DOCSTART- O\n\nz O\n")
    assert [s.doc for s in read_conll(tmp_path / "a.conll")] == [0, 0, 1]
    (tmp_path / "b.conll").write_text("x O\n\ny O\n")  # no -DOCSTART-: the file is one document
    assert [s.doc for s in read_conll(tmp_path / "b.conll")] == [0, 0]
    (tmp_path / "c.jsonl").write_text(
        '{"tokens": ["x"], "tags": ["O"], "doc": "q"}\n{"text": "y", "entities": [], "doc": "q"}\n'
        '{"tokens": ["z"], "tags": ["O"], "doc": 7}\n{"tokens": ["w"], "tags": ["O"]}\n')
    assert [s.doc for s in read_jsonl(tmp_path / "c.jsonl")] == [1, 1, 2, 0]
