"""Where ``export_and_rescore`` writes: the destination's missing parent folders are made; a folder
that holds something other than an entitune ONNX export is refused with one exact message and left
as it was; the export is built in a hidden ``.export-*`` folder beside its destination (same file
system: the final move is a rename; hidden: a listing of the parent does not offer it as an export),
which is gone afterwards, kept or refused."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from entitune.errors import ConfigError, ExportError
from entitune.export import rescore
from entitune.types import Sentence
from tests.helpers.data import TINY_SENTENCES
from tests.helpers.rescore import KnownScores, copy_export, save_models

SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]


def _report(f1: float) -> dict:
    return {
        "entity": {"f1": f1},
        "token_micro_f1": f1,
        "invalid_sequences": 0,
        "words_untagged": 0,
    }


@pytest.fixture(scope="module")
def models(tiny_bert, tmp_path_factory):
    return save_models(tiny_bert, tmp_path_factory.mktemp("destination"))


@pytest.fixture
def staged_in(monkeypatch, models) -> list:
    """The places ``export_onnx`` was asked to write to (the prepared export is copied there)."""
    seen: list = []
    monkeypatch.setattr(rescore, "export_onnx", copy_export(models / "export", seen))
    return seen


def test_missing_parent_folders_are_made(staged_in, models, tmp_path):
    """Broken: only the last level made (``mkdir`` without ``parents``)."""
    out = tmp_path / "a" / "b" / "onnx"
    rescore.export_and_rescore(models / "tagger", out, None)
    assert (out / "model.onnx").is_file() and (out / "export.json").is_file()


def test_a_folder_that_is_not_an_export_is_refused_and_left_alone(
    staged_in, models, tmp_path
):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me\n")
    with pytest.raises(ConfigError) as refused:
        rescore.export_and_rescore(models / "tagger", out, None)
    assert str(refused.value) == (
        f"{out}: exists and is not an entitune ONNX export; choose an empty or new directory"
    )
    assert [p.name for p in out.iterdir()] == ["todo.txt"]
    assert (out / "todo.txt").read_text() == "keep me\n"
    assert staged_in == []  # refused before anything is exported


@pytest.mark.parametrize("kept", [True, False])
def test_the_export_is_staged_hidden_beside_its_destination(
    staged_in, monkeypatch, models, tmp_path, kept
):
    """Broken: staged in the system's temporary folder (another file system, possibly: the final
    move is then a copy that a crash can leave half done), or under a name that is not hidden
    (``tmpXXXX``, ``XX.export-...``, ``.EXPORT-...``)."""
    monkeypatch.setattr(
        rescore, "evaluate", KnownScores(_report(0.75), _report(0.75 if kept else 0.5))
    )
    out = tmp_path / "dest" / "onnx"
    if kept:
        rescore.export_and_rescore(models / "tagger", out, SENTENCES)
    else:
        with pytest.raises(ExportError):
            rescore.export_and_rescore(models / "tagger", out, SENTENCES)
    [staging] = staged_in
    assert staging.parent == out.parent and staging.name.startswith(".export-")
    assert not staging.exists()
    assert [p.name for p in out.parent.iterdir()] == (["onnx"] if kept else [])
