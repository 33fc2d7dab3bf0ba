"""Encoders by Hugging Face Hub name (``artifact.hub``), resolved from a Hugging Face cache laid out
in a temporary folder, offline: what a name, a branch and a commit resolve to, which names never go
to the Hub, the one line for each way a name fails, and what a model records of where its encoder
came from.

``huggingface_hub`` reads ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` from the environment when it is
imported, which in this process has happened already; the ``cache`` fixture sets its two constants
as that environment would have. The CLI under the real variables, and downloads from a stand-in Hub,
are tested in ``tests/e2e/test_hub.py``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from entitune.artifact import hub
from entitune.artifact.card import model_card
from entitune.artifact.hub import convert_command, resolve_encoder
from entitune.errors import ConfigError
from tests.helpers.hub import commit_of, files_of, populate_cache

REPO = "org/tiny-bert"
COMMIT = commit_of("tiny-bert")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in ``tmp_path``, offline, and no resolution remembered."""
    from huggingface_hub import constants

    folder = tmp_path / "hf-cache"
    folder.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub._snapshot.cache_clear()
    yield folder
    hub._snapshot.cache_clear()


@pytest.fixture
def cached_bert(cache, tiny_bert):
    """The tiny BERT in the cache as ``org/tiny-bert`` at ``COMMIT`` (``refs/main`` and tag ``v1``)."""
    return populate_cache(cache, REPO, files_of(tiny_bert), COMMIT, refs=("main", "v1"))


def test_a_name_a_branch_a_tag_and_a_commit_resolve_to_the_cached_snapshot(cached_bert):
    """``ORG/NAME``, ``@main``, ``@v1`` and ``@COMMIT`` all give the snapshot of that commit, with
    the repository, the revision as asked and the commit recorded."""
    for asked, revision in ((REPO, None), (f"{REPO}@main", "main"), (f"{REPO}@v1", "v1"),
                            (f"{REPO}@{COMMIT}", COMMIT)):
        encoder = resolve_encoder(asked)
        assert encoder.directory == cached_bert, asked
        assert encoder.record() == {"repo": REPO, "revision": revision, "commit": COMMIT}, asked
        assert encoder.asked == asked


def test_offline_a_name_or_revision_not_in_the_cache_is_one_line_naming_that_case(cached_bert):
    for asked in ("org/absent", f"{REPO}@v2", f"{REPO}@{commit_of('other')}"):
        with pytest.raises(ConfigError) as info:
            resolve_encoder(asked)
        message = str(info.value)
        assert message.startswith(f"{asked}: not in the Hugging Face cache, and offline (HF_HUB_OFFLINE is set)")
        assert "\n" not in message


def test_a_local_directory_wins_over_a_hub_name_and_paths_never_go_to_the_hub(cached_bert, tiny_bert, tmp_path,
                                                                              monkeypatch):
    """A directory that exists is read as it is, even when its path reads as ``ORG/NAME``; a path
    (``./``, absolute) that does not exist is 'no such directory', never a Hub look-up."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_bert, tmp_path / "org" / "tiny-bert")
    local = resolve_encoder(REPO)
    assert not local.from_hub and local.record() is None and local.directory == Path(REPO)
    for path in ("./org/absent", str(tmp_path / "absent")):
        with pytest.raises(ConfigError, match="no such directory$"):
            resolve_encoder(path)
    with pytest.raises(ConfigError, match="not a Hugging Face Hub name"):
        resolve_encoder("a/b/c")
    with pytest.raises(ConfigError, match="not a Hugging Face Hub name"):
        resolve_encoder(f"{REPO}@")


def test_an_encoder_passes_through_and_a_name_is_resolved_once_per_process(cached_bert, monkeypatch):
    """A run resolves once and hands the ``Encoder`` on; a second look-up of the same name (a tune
    trial) does not ask the client again."""
    first = resolve_encoder(REPO)
    assert resolve_encoder(first) is first
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError("snapshot_download called again")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    assert resolve_encoder(REPO) == first


def test_only_pickle_weights_in_the_cache_are_refused_with_a_way_to_convert_them(cache, tiny_bert):
    files = {k: v for k, v in files_of(tiny_bert).items() if k != "model.safetensors"}
    populate_cache(cache, "org/old", {**files, "pytorch_model.bin": b"\x80\x04not read"}, commit_of("old"))
    with pytest.raises(ConfigError) as info:
        resolve_encoder("org/old")
    message = str(info.value)
    assert message.startswith("org/old: only pickle weights (pytorch_model.bin): entitune loads safetensors only; "
                              "convert it with https://huggingface.co/spaces/safetensors/convert")
    assert "this runs the pickle" in message and convert_command("org/old", "old-safetensors") in message
    assert "\n" not in message


def test_sharded_weights_are_named_as_such(cache, tiny_bert):
    files = {k: v for k, v in files_of(tiny_bert).items() if k != "model.safetensors"}
    populate_cache(cache, "org/big", {**files, "model-00001-of-00002.safetensors": b"x",
                                      "model.safetensors.index.json": b"{}"}, commit_of("big"))
    with pytest.raises(ConfigError, match=r"^org/big: its safetensors weights are sharded"):
        resolve_encoder("org/big")


def test_the_tokenizer_verbs_need_no_weights(cache, tiny_bert):
    """doctor and vocab plan read the tokenizer and config: a cached repository without safetensors
    weights serves them (``weights=False``); training from it is refused."""
    files = {k: v for k, v in files_of(tiny_bert).items() if k != "model.safetensors"}
    snapshot = populate_cache(cache, "org/old", files, commit_of("old"))
    assert resolve_encoder("org/old", weights=False).directory == snapshot
    with pytest.raises(ConfigError, match="no model.safetensors in the repository"):
        resolve_encoder("org/old")


def test_a_hub_checkpoint_that_needs_its_own_code_is_refused_like_a_local_one(cache, tiny_bert):
    """The rules for local checkpoints hold on the resolved snapshot: a config whose model type
    needs the repository's own code (``auto_map``) is refused, and no Python file is ever taken."""
    from entitune import Tagger

    files = files_of(tiny_bert)
    config = json.loads(files["config.json"])
    config.update(model_type="mystery-bert", auto_map={"AutoModel": "modeling_mystery.MysteryModel"})
    populate_cache(cache, "org/custom", {**files, "config.json": json.dumps(config).encode()}, commit_of("custom"))
    with pytest.raises(ConfigError, match="needs the folder's own code"):
        Tagger.from_encoder("org/custom", ["O", "B-X", "I-X"])
    assert "*.py" not in hub.HUB_FILES and not any(p.endswith(".py") or p == "*" for p in hub.HUB_FILES)


@pytest.mark.parametrize("kind", ["tagger", "classifier", "masked_lm"])
def test_each_constructor_takes_a_hub_name_and_records_the_repository(cached_bert, tiny_bert, kind):
    """``Tagger``, ``Classifier`` and ``MaskedLM.from_encoder`` take a Hub name; the model records
    the repository as its encoder's name (not the model card's title or the snapshot's hash), with
    the same weights hash as the local copy."""
    from entitune import Classifier, Tagger
    from entitune.artifact.model_dir import encoder_identity
    from entitune.model.masked_lm import MaskedLM

    make = {"tagger": lambda: Tagger.from_encoder(REPO, ["O", "B-X", "I-X"], max_length=16, stride=4),
            "classifier": lambda: Classifier.from_encoder(REPO, ["a", "b"], max_length=16, stride=4),
            "masked_lm": lambda: MaskedLM.from_encoder(REPO, max_length=16)}[kind]
    settings = make().settings
    assert settings.encoder == REPO
    assert settings.encoder_sha256 == encoder_identity(tiny_bert)[1]


def test_doctor_and_vocab_take_a_hub_name(cached_bert, tmp_path):
    """doctor (``--model`` and ``--compare``), vocab plan and vocab extend read a cached repository
    by name; reports name it as asked, and the extended checkpoint records its base repository."""
    from entitune.options import DoctorConfig, VocabExtendConfig, VocabPlanConfig
    from entitune.recipes import doctor, vocab_extend, vocab_plan
    from entitune.terminal import Console
    from tests.helpers.data import TINY_SENTENCES, write_bio

    quiet = Console(quiet=True)
    annotated = write_bio(tmp_path / "train.bio", TINY_SENTENCES)
    report = doctor(DoctorConfig(data=[str(annotated)], model=f"{REPO}@main", compare=REPO), quiet)
    assert report["model"] == f"{REPO}@main" and report["files"][0]["unk_words"]["compare"]["model"] == REPO
    text = tmp_path / "text.txt"
    text.write_text("show me tarantino films\ntarantino with kubrick\nkubrick and tarantino\n")
    plan = vocab_plan(VocabPlanConfig(data=[str(text)], model=REPO, min_count=2, format="text"), quiet)
    assert plan["model"] == REPO and plan["chosen"] >= 1
    record = vocab_extend(VocabExtendConfig(add_from=[str(text)], out=str(tmp_path / "ext"), model=f"{REPO}@{COMMIT}",
                                            min_count=2, format="text"), quiet)
    assert record["base"]["name"] == REPO
    assert record["base_model"] == {"repo": REPO, "revision": COMMIT, "commit": COMMIT}


def test_the_model_card_names_the_base_model_only_when_it_came_from_the_hub(tiny_tagger_dir):
    log = {"config": {"train": "train.bio"}, "task": "ner", "data": {}, "train": {}}
    hub_card = model_card(tiny_tagger_dir, {**log, "base_model": {"repo": REPO, "revision": None, "commit": COMMIT}})
    front = hub_card.split("---\n")[1]
    assert f"base_model: {REPO}\n" in front
    assert "base_model" not in model_card(tiny_tagger_dir, log)
    # the short card of a pretraining run too
    from entitune.recipes.pretraining import model_card as pretraining_card

    pretrain_log = {"config": {"text": ["a.txt"]}, "model": {}, "data": {"train": 3}, "train": {}}
    record = {"repo": REPO, "revision": None, "commit": COMMIT}
    assert f"base_model: {REPO}\n" in pretraining_card(tiny_tagger_dir, {**pretrain_log, "base_model": record})
    assert "base_model" not in pretraining_card(tiny_tagger_dir, pretrain_log)

