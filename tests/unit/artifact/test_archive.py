"""``entitune package``: a model directory as one .tar.gz that ``entitune.load`` reads like the
directory, after being moved anywhere; hostile archives are refused before anything is written
outside the cache."""
import io
import json
import shutil
import tarfile

import pytest

import entitune
from entitune import ConfigError
from entitune.artifact.archive import MANIFEST, model_directory, pack_model, unpack_model
from tests.helpers.data import TINY_SENTENCES

WORDS = [w for w, _ in TINY_SENTENCES]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTITUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def run_dir(tiny_tagger_dir, tmp_path):
    """A model directory as a run leaves it: logs and checkpoints beside the model."""
    run = tmp_path / "runs" / "movie"
    shutil.copytree(tiny_tagger_dir, run)
    (run / "log.jsonl").write_text('{"event": "start"}\n')
    (run / "train_log.json").write_text("{}\n")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "step-00000001.pt").write_bytes(b"state")
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "events.out").write_bytes(b"events")
    (run / ".entitune.lock").write_text("")
    return run


def _names(path):
    with tarfile.open(path) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_package_moves_and_predicts_the_same(run_dir, tmp_path):
    from entitune.recipes import PackageConfig, package

    written = package(PackageConfig(model=str(run_dir), out=str(tmp_path / "movie.tar.gz")))  # what 'entitune package' runs
    names = _names(tmp_path / "movie.tar.gz")
    assert all(n.startswith("movie/") for n in names) and f"movie/{MANIFEST}" in names
    assert "movie/model.safetensors" in names and "movie/entitune.json" in names
    assert not [n for n in names if "checkpoints" in n or "tensorboard" in n or n.endswith(("log.jsonl", "train_log.json", ".lock"))]
    assert set(written["left_out"]) == {"checkpoints/", "tensorboard/", "log.jsonl", "train_log.json"}
    before = [p.to_dict() for p in entitune.load(str(run_dir)).predict(WORDS)]
    assert sum(len(p["entities"]) for p in before) == 7  # the gold spans of TINY_SENTENCES: real answers
    # moved to another place and loaded from the archive alone, the directory gone
    moved = tmp_path / "elsewhere" / "shipped.tar.gz"
    moved.parent.mkdir()
    shutil.move(tmp_path / "movie.tar.gz", moved)
    shutil.rmtree(run_dir.parent)
    assert [p.to_dict() for p in entitune.load(str(moved)).predict(WORDS)] == before


def test_the_manifest_checks_with_sha256sum_and_the_archive_is_reproducible(run_dir, tmp_path, cache):
    a = pack_model(run_dir, tmp_path / "a.tar.gz")
    b = pack_model(run_dir, tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes() and a["sha256"] == b["sha256"]
    folder = model_directory(tmp_path / "a.tar.gz")
    assert folder.parent.parent == cache / "models" and folder.name == "movie"
    assert model_directory(tmp_path / "b.tar.gz") == folder  # same bytes, same cache folder, unpacked once
    lines = (folder / MANIFEST).read_text().splitlines()
    assert {line.split("  ", 1)[1] for line in lines} == set(a["files"])
    import hashlib

    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_with_logs_packs_the_logs_but_never_checkpoints(run_dir, tmp_path):
    pack_model(run_dir, tmp_path / "m.tar.gz", with_logs=True)
    names = _names(tmp_path / "m.tar.gz")
    assert {"movie/log.jsonl", "movie/train_log.json", "movie/tensorboard/events.out"} <= set(names)
    assert not [n for n in names if "checkpoints" in n]


def test_package_refuses_what_is_not_a_model(tmp_path, tiny_bert):
    with pytest.raises(ConfigError, match="not an entitune model"):
        pack_model(tiny_bert, tmp_path / "x.tar.gz")
    with pytest.raises(ConfigError, match="no such model archive"):
        model_directory(tmp_path / "missing.tar.gz")


def _archive(path, members):
    """A .tar.gz of ``members``: (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    return tarfile.TarInfo(name), data


def _special(name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("member,why", [
    (_file("/etc/evil"), "outside its folder"),
    (_file("movie/../../evil"), "outside its folder"),
    (_special("movie/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
    (_special("movie/hard", tarfile.LNKTYPE, "movie/entitune.json"), "is a link"),
    (_special("movie/dev", tarfile.CHRTYPE), "device or special file"),
    (_special("movie/fifo", tarfile.FIFOTYPE), "device or special file"),
    (_file("loose.txt"), "outside one model folder"),
])
def test_hostile_members_are_refused(tmp_path, member, why):
    archive = _archive(tmp_path / "bad.tar.gz", [_file("movie/entitune.json", b"{}"), member])
    with pytest.raises(ConfigError, match=why):
        unpack_model(archive, tmp_path / "cache" / "out")
    assert not (tmp_path / "cache" / "out").exists() and not (tmp_path / "evil").exists()
    assert not list((tmp_path / "cache").glob(".unpack-*"))


def test_altered_files_are_refused(run_dir, tmp_path):
    pack_model(run_dir, tmp_path / "m.tar.gz")
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    altered = [(m, json.dumps({"labels": ["O"]}).encode() if m.name == "movie/entitune.json" else data) for m, data in members]
    _archive(tmp_path / "altered.tar.gz", altered)
    with pytest.raises(ConfigError, match="entitune.json does not match its SHA-256"):
        model_directory(tmp_path / "altered.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="not a readable model archive"):
        model_directory(tmp_path / "junk.tar.gz")
