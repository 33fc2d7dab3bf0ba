"""Every encoder family a local checkpoint may hold, not only BERT: DistilBERT (no token types),
RoBERTa (byte-level BPE, prefix space), XLM-RoBERTa, ALBERT and DeBERTa-v2 (SentencePiece-style
Unigram), ELECTRA. For each, on a tiny random checkpoint built offline (``tests/helpers/families``):
words align to their first sub-token, a tagger trains, saves, reloads and predicts the same batched
and one by one, ``transformers.pipeline`` gives its tags, the ONNX export tags like PyTorch, and a
classifier trains, saves and reloads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import entitune
from entitune import Classifier, ConfigError, Tagger, TorchScorer, TrainConfig, fit
from entitune.encode import WordEncoder
from entitune.artifact import model_dir
from entitune.model.bert import BERT_LAYOUTS, bert_layers, last_layer_at
from entitune.predict import ClassPredictor, Predictor
from entitune.tags import label_set
from entitune.train import fit_classifier
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, WORDS, tiny_sentences, tiny_texts, write_bio
from tests.helpers.families import FAMILIES, ODD_SENTENCES, build_checkpoint

SENTENCES = tiny_sentences()
LABELS = label_set([t for s in SENTENCES for t in s.tags])
#: odd words, the training sentences, and one sentence longer than a window
INPUTS = [*ODD_SENTENCES, *(words for words, _ in TINY_SENTENCES), WORDS * 2]
TEXTS = [t for t, _ in TINY_TEXTS] + ["films " * 40]
FAST = TrainConfig(epochs=3, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread; on a busy 2-core machine its waits cost
    seconds a step (measured: 0.15 s for a classifier's training with one thread, up to 20 s with two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def checkpoint(family, tmp_path_factory) -> Path:
    return build_checkpoint(family, tmp_path_factory.mktemp(f"tiny-{family}"))


@pytest.fixture(scope="module")
def trained(checkpoint, tmp_path_factory):
    """(saved tagger directory, the training result, the trained tagger's predictions before saving)."""
    # unconstrained: the linear head decodes by argmax, as transformers' pipeline does
    tagger = Tagger.from_encoder(checkpoint, LABELS, max_length=24, stride=6, constrained=False, seed=0)
    result = fit(tagger, SENTENCES * 2, None, FAST)
    before = Predictor(TorchScorer(tagger, fast=False)).tag(INPUTS)
    out = tmp_path_factory.mktemp("tagger")
    tagger.save(out)
    return out, result, before


def _first_tokens(tokenizer, words: list[str]) -> tuple[list[int], list[int]]:
    """The text of ``words`` joined by spaces, tokenized as raw text: its ids (special tokens
    included) and, per word, the position of the first token inside the word's characters (a token
    belongs to the first word ending after the token starts, so a lone word-start marker goes with
    the word it precedes). Independent of ``word_ids``."""
    spans, pos = [], 0
    for word in words:
        spans.append((pos, pos + len(word)))
        pos += len(word) + 1
    enc = tokenizer(" ".join(words), return_offsets_mapping=True, return_special_tokens_mask=True)
    firsts: dict[int, int] = {}
    for i, ((start, end), special) in enumerate(zip(enc["offset_mapping"], enc["special_tokens_mask"])):
        if special:
            continue
        owner = next(k for k, (_, word_end) in enumerate(spans) if word_end > start)
        assert end <= spans[owner][1], f"token {i} runs over two words of {words}"
        firsts.setdefault(owner, i)
    assert sorted(firsts) == list(range(len(words))), f"a word of {words} has no token"
    return enc["input_ids"], [firsts[k] for k in range(len(words))]


def test_words_align_to_their_first_subtoken(family, checkpoint):
    config = model_dir.load_hf_config(checkpoint)
    tokenizer = model_dir.load_tokenizer(checkpoint, config.model_type)
    encoder = WordEncoder(tokenizer, max_length=128, stride=8)
    marker = FAMILIES[family].marker
    several = 0
    for words in [*ODD_SENTENCES, *(w for w, _ in TINY_SENTENCES)]:
        (window,) = encoder.encode([words])
        ids, firsts = _first_tokens(tokenizer, words)
        # pre-split words give the tokens the raw text gives (the prefix space included)
        assert list(window.input_ids) == ids, tokenizer.convert_ids_to_tokens(window.input_ids)
        assert list(window.word_starts) == firsts
        tokens = tokenizer.convert_ids_to_tokens(list(window.input_ids))
        ends = [*firsts[1:], len(window.input_ids) - len(encoder.suffix)]
        for first, end in zip(firsts, ends):
            pieces = tokens[first:end]
            several += len(pieces) > 1
            if marker is not None:  # the word starts a word in the tokenizer's eyes too
                assert pieces[0].startswith(marker), (words, pieces)
            else:  # WordPiece: no word starts with a continuation
                assert not pieces[0].startswith("##"), (words, pieces)
    assert several >= 3  # the odd words did split


def test_tagger_trains_saves_and_reloads(trained):
    out, result, before = trained
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    settings = json.loads((out / "entitune.json").read_text())
    assert settings["task"] == "ner" and not list(out.glob("*.bin"))
    after = Predictor(TorchScorer(Tagger.load(out))).tag(INPUTS)
    assert [t.tags for t in after] == [t.tags for t in before]
    for a, b in zip(after, before):
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_batched_equals_one_by_one(trained):
    out, _, _ = trained
    batched = entitune.load(str(out), batch_size=8).predict(INPUTS)
    alone = entitune.load(str(out), batch_size=1)
    for item, together in zip(INPUTS, batched):
        (single,) = alone.predict([item])
        assert single.tags == together.tags
        spans = [[(e.start, e.end, e.label) for e in p.entities] for p in (single, together)]
        assert spans[0] == spans[1]
    # the lean forward, where it applies, equals the model's own
    tagger = Tagger.load(out)
    fast, plain = (Predictor(TorchScorer(tagger, fast=f)).tag(INPUTS) for f in (True, False))
    for a, b in zip(fast, plain):
        assert a.tags == b.tags and a.scores == pytest.approx(b.scores, abs=1e-5)


def test_transformers_pipeline_gives_the_same_tags(family, trained):
    from transformers import pipeline
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

    out, _, before = trained
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES[family]]
    pipe = pipeline("token-classification", model=str(out), device="cpu", ignore_labels=[])
    tagger = Tagger.load(out)
    for words, ours in zip(INPUTS[:-1], before):
        by_index = {token["index"]: token["entity"] for token in pipe(" ".join(words))}
        (window,) = tagger.word_encoder.encode([words])
        assert [by_index[i] for i in window.word_starts] == list(ours.tags), words


def test_onnx_export_tags_like_pytorch(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from entitune.backends import OnnxScorer
    from entitune.recipes import export_model

    out, _, before = trained
    test_file = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    report = export_model(out, tmp_path / "onnx", eval_file=test_file)  # what 'entitune export' runs
    assert report["accepted"] and report["drop_points"] == pytest.approx(0.0, abs=1e-9)
    exported = entitune.load(str(tmp_path / "onnx"), batch_size=4)
    assert isinstance(exported.scorer, OnnxScorer)
    for a, b in zip(exported.tag(INPUTS), before):
        assert a.tags == b.tags and a.scores == pytest.approx(b.scores, abs=1e-4)


def test_classifier_trains_saves_and_reloads(checkpoint, tmp_path):
    examples = tiny_texts()
    model = Classifier.from_encoder(checkpoint, sorted({e.labels[0] for e in examples}), max_length=24, stride=6)
    result = fit_classifier(model, examples * 2, None, FAST)
    assert all(torch.isfinite(torch.tensor(e.train_loss)) for e in result.epochs)
    before = ClassPredictor(TorchScorer(model, fast=False), batch_size=4).classify(TEXTS)
    model.save(tmp_path / "classifier")
    loaded = Classifier.load(tmp_path / "classifier")
    after = ClassPredictor(TorchScorer(loaded), batch_size=4).classify(TEXTS)
    alone = ClassPredictor(TorchScorer(loaded), batch_size=1)
    for text, a, b in zip(TEXTS, after, before):
        (single,) = alone.classify([text])
        assert a.label == b.label == single.label
        assert a.scores == pytest.approx(b.scores, abs=1e-5) and single.scores == pytest.approx(a.scores, abs=1e-5)
    architectures = json.loads((tmp_path / "classifier" / "config.json").read_text()).get("architectures")
    if architectures:  # marked as transformers' own sequence classifier: its pipeline gives the same scores
        from transformers import pipeline

        pipe = pipeline("text-classification", model=str(tmp_path / "classifier"), device="cpu", top_k=None)
        for text, ours in zip(TEXTS[:-1], after):
            assert {d["label"]: d["score"] for d in pipe([text])[0]} == pytest.approx(ours.scores, abs=1e-5)


def test_token_types_only_where_the_encoder_takes_them(family, trained):
    out, _, _ = trained
    assert Tagger.load(out)._token_types == FAMILIES[family].token_types


# ---------------------------------------------------------------------- the partial last layer
#: model types with BERT's module names whose layers compute something else (rotary positions,
#: convolutions, approximate attention, quantized or layout-aware layers)
LOOKALIKES = ["roformer", "convbert", "mra", "nystromformer", "yoso", "canine", "ibert", "lilt", "layoutlmv3"]


@pytest.mark.parametrize("model_type", sorted(BERT_LAYOUTS) + LOOKALIKES)
def test_partial_last_layer_only_where_the_layers_are_bert(model_type):
    """``bert_layers`` (the partial last layer in training and export) takes only layers that
    compute BERT's arithmetic; look-alikes take transformers' own forward."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.for_model(model_type, vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=64)
    except ValueError:
        pytest.skip(f"this transformers has no {model_type}")
    torch.manual_seed(0)
    encoder = AutoModel.from_config(config).eval()
    layers = bert_layers(encoder)
    if model_type in LOOKALIKES:
        assert layers is None
        return
    ids = torch.randint(5, 90, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    starts = torch.tensor([[1, 3, 5], [1, 2, 4]])
    with torch.no_grad():
        full = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        stack, kept = encoder.encoder, encoder.encoder.layer
        stack.layer = kept[:-1]
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        stack.layer = kept
        partial = last_layer_at(kept[-1], hidden, mask, starts)
    torch.testing.assert_close(partial, full.gather(1, starts.unsqueeze(-1).expand(-1, -1, 32)), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------- tokenizers
def test_any_byte_level_tokenizer_gets_its_prefix_space(tmp_path_factory):
    """A RoBERTa tokenizer under another model type, and as a plain ``tokenizers`` file (a class
    without ``add_prefix_space``), still tokenizes pre-split words as in running text."""
    import shutil

    roberta = build_checkpoint("roberta", tmp_path_factory.mktemp("bpe"))
    plain = tmp_path_factory.mktemp("bpe-plain")
    shutil.copy(roberta / "tokenizer.json", plain / "tokenizer.json")
    settings = json.loads((roberta / "tokenizer_config.json").read_text())
    (plain / "tokenizer_config.json").write_text(json.dumps({**settings, "tokenizer_class": "PreTrainedTokenizerFast"}))
    for directory, model_type in ((roberta, "data2vec-text"), (plain, "roberta")):
        tokenizer = model_dir.load_tokenizer(directory, model_type)
        ids = tokenizer(["drew", "barrymore"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        assert tokenizer.convert_ids_to_tokens(ids) == ["Ġdrew", "Ġbarrymore"]
        tokenizer.save_pretrained(str(tmp_path_factory.mktemp("saved")))


# ---------------------------------------------------------------------- pooler
def test_classifier_on_an_encoder_that_keeps_its_pooler_reloads(tmp_path):
    """LayoutLM's model has no ``add_pooling_layer``: its own (unused) pooler shares its name with
    the classifier's pretrained pooler."""
    checkpoint = build_checkpoint("layoutlm", tmp_path / "layoutlm")
    model = Classifier.from_encoder(checkpoint, ["a", "b"], max_length=24, stride=6)
    assert model.settings.pooler
    model.save(tmp_path / "classifier")
    loaded = Classifier.load(tmp_path / "classifier")
    torch.testing.assert_close(loaded.head.pooler.weight, model.head.pooler.weight)
    a, b = (ClassPredictor(TorchScorer(m)).classify(TEXTS[:3]) for m in (model, loaded))
    for x, y in zip(a, b):
        assert x.scores == pytest.approx(y.scores, abs=1e-5)


# ---------------------------------------------------------------------- refusals, each in one line
def _refusal(call, match: str) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_encoder_decoder_checkpoints_are_refused(tmp_path):
    checkpoint = build_checkpoint("t5", tmp_path / "t5")
    _refusal(lambda: Tagger.from_encoder(checkpoint, LABELS),
             "t5 is an encoder-decoder model; entitune fine-tunes encoders")
    _refusal(lambda: Classifier.from_encoder(checkpoint, ["a", "b"]), "encoder-decoder")


@pytest.mark.parametrize("spm_family", [name for name, f in FAMILIES.items() if f.marker == "▁"])
def test_a_sentencepiece_only_tokenizer_is_refused_without_sentencepiece(spm_family, tmp_path):
    """A checkpoint whose tokenizer is only ``spm.model`` (as DeBERTa-v3 on the hub) needs the
    sentencepiece package to be read; without it, one clear line (every ▁ family)."""
    import importlib.util
    import shutil

    checkpoint = build_checkpoint(spm_family, tmp_path / spm_family)
    if importlib.util.find_spec("sentencepiece") is not None:
        pytest.skip("sentencepiece is installed: transformers reads spm.model")
    copy = tmp_path / "spm-only"
    shutil.copytree(checkpoint, copy)
    (copy / "tokenizer.json").unlink()
    (copy / "spm.model").write_bytes(b"\n\x05\n\x01a\x15\x00\x00\x00\x00")  # the file is not read
    _refusal(lambda: Tagger.from_encoder(copy, LABELS), r"SentencePiece model \(spm.model\) without tokenizer.json; "
                                                        r"reading it needs the sentencepiece package")


def test_a_tokenizer_without_its_vocabulary_is_refused(checkpoint, tmp_path):
    """Tokenizer files missing: transformers would build the family's tokenizer with special tokens only."""
    import shutil

    copy = tmp_path / "no-vocab"
    shutil.copytree(checkpoint, copy)
    (copy / "tokenizer.json").unlink()
    _refusal(lambda: Tagger.from_encoder(copy, LABELS),
             "no vocabulary besides special tokens|cannot load its tokenizer")


def test_a_tokenizer_that_cannot_align_words_is_refused(tmp_path):
    """Text split so that a space joins the next word: no prefix space makes pre-split words match."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "a": 2, " a": 3}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_next")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.save_pretrained(str(tmp_path))
    _refusal(lambda: model_dir.load_tokenizer(tmp_path, "bert"), "other sub-tokens than running text")
