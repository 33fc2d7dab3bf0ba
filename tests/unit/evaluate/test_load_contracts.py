"""``evaluate.loaded.load`` (what ``entitune.load`` returns) and a loaded tagger's ``evaluate``:

- ``load`` without options is ``entitune.load`` with its defaults: the PyTorch backend, the CPU,
  fp32, 32 windows a batch; each option reaches the scorer or the predictor (``threads``: torch's
  intra-op threads, ``precision``, ``batch_size``);
- the predictor is a ``ClassifierPredictor`` for a classifier, a ``TaggerPredictor`` for a tagger;
- ``TaggerPredictor.evaluate`` sniffs a file's format unless told, and adds the error analysis
  only when asked.
"""

from __future__ import annotations

import inspect

import pytest
import torch

import entitune
from entitune.backends.precision import PrecisionChoice
from entitune.evaluate.loaded import ClassifierPredictor, TaggerPredictor, load
from entitune.types import Sentence
from tests.helpers.data import write_bio

SENTENCES = [
    (
        ["show", "me", "films", "with", "drew", "barrymore"],
        ["O", "O", "O", "O", "B-ACTOR", "I-ACTOR"],
    ),
    (["movies", "from", "the", "1980s"], ["O", "O", "O", "B-YEAR"]),
]


@pytest.fixture(scope="module")
def tagger_dir(tiny_bert, tmp_path_factory):
    """An untrained tiny tagger, saved (what it predicts does not matter here)."""
    from entitune import Tagger

    out = tmp_path_factory.mktemp("untrained-tagger")
    Tagger.from_encoder(
        tiny_bert,
        ["O", "B-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR"],
        max_length=16,
        stride=4,
    ).save(out)
    return out


@pytest.fixture(scope="module")
def classifier_dir(tiny_bert, tmp_path_factory):
    from entitune import Classifier

    out = tmp_path_factory.mktemp("untrained-classifier")
    Classifier.from_encoder(
        tiny_bert, ["actor", "director"], max_length=16, stride=4
    ).save(out)
    return out


def test_load_without_options_is_entitune_load_with_its_defaults(tagger_dir):
    """The same defaults as the public ``entitune.load``, and what they mean: the PyTorch scorer on
    the CPU in fp32 as asked, 32 windows a batch."""
    ours = {k: p.default for k, p in inspect.signature(load).parameters.items()}
    public = {
        k: p.default for k, p in inspect.signature(entitune.load).parameters.items()
    }
    assert ours == public
    predictor = load(tagger_dir)
    assert type(predictor) is TaggerPredictor and predictor.batch_size == 32
    assert (
        type(predictor.scorer).__name__ == "TorchScorer"
        and predictor.scorer.device.type == "cpu"
    )
    assert predictor.scorer.choice == PrecisionChoice("fp32", "asked for", "fp32")


def test_each_option_of_load_reaches_the_scorer_or_the_predictor(tagger_dir):
    assert load(tagger_dir, batch_size=5).batch_size == 5
    assert load(tagger_dir, precision="bf16").scorer.choice == PrecisionChoice(
        "bf16", "asked for", "bf16"
    )
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        load(tagger_dir, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_load_gives_a_classifier_predictor_for_a_classifier_only(
    tagger_dir, classifier_dir
):
    classifier = load(classifier_dir)
    assert type(classifier) is ClassifierPredictor and classifier.scorer.labels == (
        "actor",
        "director",
    )
    assert type(load(tagger_dir)) is TaggerPredictor


def test_a_loaded_tagger_sniffs_the_format_and_adds_errors_only_when_asked(
    tagger_dir, tmp_path
):
    predictor = load(tagger_dir)
    path = write_bio(tmp_path / "test.bio", SENTENCES)
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in SENTENCES]
    report = predictor.evaluate(path)  # no format: sniffed (CoNLL)
    assert (
        report == predictor.evaluate(sentences)
        and report["words"] == 10
        and report["sentences"] == 2
    )
    assert "errors" not in report
    with_errors = predictor.evaluate(sentences, errors=True)
    assert with_errors["errors"]["counts"]["gold"] == 2
    assert {k: v for k, v in with_errors.items() if k != "errors"} == report
