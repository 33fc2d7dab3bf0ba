"""The model card (README.md) a run writes: generated from the run's log and the saved files, it
names files and the encoder without paths, carries the run's numbers, and says how to load the
model, with transformers only where transformers computes the same."""
import json

from huggingface_hub import ModelCard
import shutil

import pytest

from entitune.artifact.card import model_card, write_model_card


def _log(task: str, tmp_path, test: dict | None) -> dict:
    return {
        "config": {"train": str(tmp_path / "secret" / "train.bio"), "dev": None,
                   "test": str(tmp_path / "secret" / "test.bio") if test else None, "epochs": 2, "lr": 5e-5,
                   "head_lr": None, "batch_size": 16, "batch_tokens": None, "accumulate": 2, "warmup": 0.1,
                   "weight_decay": 0.01, "precision": "bf16", "seed": 7, "class_weights": "none"},
        "task": task,
        "data": {"train": 1234, "dev": 137, "test": 456 if test else 0},
        "train": {"best_epoch": 2, "train_seconds": 61.5, "epochs": [
            {"epoch": 1, "train_loss": 0.91, "dev": {}, "is_best": False, "metric": "entity_f1", "score": 0.6111},
            {"epoch": 2, "train_loss": 0.42, "dev": {}, "is_best": True, "metric": "entity_f1", "score": 0.7222}]},
        **({"test": test} if test else {}),
    }


NER_TEST = {"entity": {"precision": 0.8123, "recall": 0.7456, "f1": 0.7789},
            "per_type": {"ACTOR": {"precision": 0.9001, "recall": 0.8002, "f1": 0.8472, "support": 321}},
            "token_micro_f1": 0.9333}


@pytest.fixture
def tagger_dir(tiny_tagger_dir, tmp_path):
    copy = tmp_path / "movie"
    shutil.copytree(tiny_tagger_dir, copy)
    return copy


def test_tagger_card_from_the_log(tagger_dir, tmp_path):
    card = model_card(tagger_dir, _log("ner", tmp_path, NER_TEST))
    settings = json.loads((tagger_dir / "entitune.json").read_text())
    data = ModelCard(card).data  # the front matter, as the Hub reads it
    assert (data.library_name, data.pipeline_tag, data.datasets) == ("transformers", "token-classification", ["train.bio"])
    assert data.license == "apache-2.0"  # the bundled MiniLM's card says so
    assert "# movie" in card
    for t in ("ACTOR", "DIRECTOR", "PLOT", "YEAR"):
        assert f"`{t}`" in card
    # the encoder by name and hash, the data by file name and count, never a path
    assert settings["encoder"].startswith("tiny-bert")  # the encoder fixture's directory name
    assert settings["encoder"] in card and settings["encoder_sha256"] in card
    assert "| train | train.bio | 1,234 |" in card and "| test | test.bio | 456 |" in card
    assert str(tmp_path) not in card and "secret" not in card
    # the recipe and the scores as logged
    assert "2 (best: 2)" in card and "bf16, 7" in card and "16 x 2 accumulated" in card
    assert "| 2 (kept) | 0.4200 | 0.7222 |" in card
    assert "| entities (micro, exact spans) | 0.8123 | 0.7456 | 0.7789 |" in card
    assert "| ACTOR | 0.9001 | 0.8002 | 0.8472 | 321 |" in card and "0.9333" in card
    # how to load it: entitune always, transformers where it computes the same
    assert 'entitune.load("movie")' in card and "entitune predict movie" in card
    assert 'pipeline("token-classification", model="movie"' in card
    assert "## Intended use and limits" in card


def test_card_without_a_test_file_says_so(tagger_dir, tmp_path):
    card = model_card(tagger_dir, _log("ner", tmp_path, None))
    assert "No test file was given" in card and "| test | none | - |" in card


def test_card_of_a_model_transformers_refuses(tiny_bert, tmp_path):
    from entitune import Tagger

    tagger = Tagger.from_encoder(tiny_bert, ["O", "B-PER", "I-PER"], head="crf", max_length=16, stride=4)
    tagger.save(tmp_path / "crf")
    path = write_model_card(tmp_path / "crf", _log("ner", tmp_path, NER_TEST))
    card = path.read_text()
    assert path.name == "README.md"
    data = ModelCard(card).data  # transformers cannot compute a CRF: the Hub is told it is entitune's
    assert data.library_name == "entitune" and data.pipeline_tag == "token-classification"
    assert "refuses this model on purpose" in card and "CRF head" in card
    assert "from transformers import pipeline" not in card


def test_classifier_card(tiny_classifier_dir, tmp_path):
    copy = tmp_path / "topics"
    shutil.copytree(tiny_classifier_dir, copy)
    test = {"accuracy": 0.8765, "macro_f1": 0.8432, "micro_f1": 0.8765, "texts": 99,
            "per_class": {"actor": {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 33}}}
    card = model_card(copy, _log("classify", tmp_path, test))
    assert "pipeline_tag: text-classification" in card and "text classifier over 3 classes" in card
    assert "Accuracy 0.8765, macro F1 0.8432" in card and "| actor | 0.5000 | 0.2500 | 0.3333 | 33 |" in card
    assert "| split | file | texts |" in card and "| train | train.bio | 1,234 |" in card


def test_the_front_matter_holds_the_test_scores_as_the_hub_reads_them(tagger_dir, tmp_path):
    """``model-index``: each test metric of the log, under the test file's name, parsed back by
    huggingface_hub's own ModelCard (the Hub's reader) to the same values."""
    log = _log("ner", tmp_path, NER_TEST)
    results = ModelCard(model_card(tagger_dir, log)).data.eval_results
    got = {(r.metric_name, r.metric_value) for r in results}
    entity = log["test"]["entity"]
    assert got == {("entity F1 (strict, micro)", round(entity["f1"], 4)), ("entity precision", round(entity["precision"], 4)),
                   ("entity recall", round(entity["recall"], 4)), ("token micro F1", round(log["test"]["token_micro_f1"], 4))}
    assert {r.task_type for r in results} == {"token-classification"} and {r.dataset_split for r in results} == {"test"}
    del log["test"]
    assert ModelCard(model_card(tagger_dir, log)).data.eval_results is None  # no test file, no scores
