"""``extend_checkpoint``'s output and refusals: the record's and model card's words for each route
and init, ``config.json`` and ``vocab_extension.json`` as written (sorted, indented, UTF-8 under
any locale), the directory written beside ``--out`` as a hidden temporary and renamed with the
user's permissions, a failure reported for the file that failed with nothing left behind, the
defaults (seed 0, ``initializer_range`` 0.02), a tied decoder wherever it comes among the
token-indexed tensors, and the fallback's covariance from the sample covariance (n - 1)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from entitune.errors import ConfigError, OutputError
from entitune.vocab import extend
from entitune.vocab.extend import (
    FALLBACK_COVARIANCE,
    RECORD_FILE,
    extend_checkpoint,
    init_rows,
)
from entitune.vocab.wordpiece import WordPiece, _toy_state
from tests.helpers.locale import ascii_locale
from tests.helpers.vocab import build_mlm_checkpoint

EMB = "bert.embeddings.word_embeddings.weight"
BIAS = "cls.predictions.bias"
DEC = "cls.predictions.decoder.weight"
DEC_BIAS = "cls.predictions.decoder.bias"
#: a piece-initialised token and one with no known piece (the fallback)
TOKENS = ["zqx", "北"]


@pytest.fixture(scope="module")
def mlm(tmp_path_factory) -> Path:
    return build_mlm_checkpoint(tmp_path_factory.mktemp("mlm") / "base", tied=False)


def _copy(src: Path, dst: Path, edit_state=None, edit_config=None) -> Path:
    shutil.copytree(src, dst)
    if edit_state is not None:
        state = load_file(str(dst / "model.safetensors"))
        edit_state(state)
        save_file(state, str(dst / "model.safetensors"), metadata={"format": "pt"})
    if edit_config is not None:
        config = json.loads((dst / "config.json").read_text(encoding="utf-8"))
        config = edit_config(config)
        (dst / "config.json").write_text(
            json.dumps(config, ensure_ascii=False), encoding="utf-8"
        )
    return dst


def _weights(directory: Path) -> dict:
    return load_file(str(directory / "model.safetensors"))


# ---------------------------------------------------------------------------------- record and card


@pytest.mark.parametrize(
    "init, fallback",
    [
        ("mean", "mean of all rows + N(0, 1e-5 x their covariance)"),
        ("random", "none (random)"),
    ],
)
def test_the_record_names_the_fallback_of_each_init(mlm, tmp_path, init, fallback):
    record = extend_checkpoint(WordPiece.read(mlm), TOKENS, tmp_path / "out", init=init)
    assert (record["init"], record["fallback"]) == (init, fallback)
    assert (
        json.loads((tmp_path / "out" / RECORD_FILE).read_text(encoding="utf-8"))[
            "fallback"
        ]
        == fallback
    )


def test_the_card_of_an_appended_mean_extension(mlm, tmp_path):
    base = WordPiece.read(mlm)
    record = extend_checkpoint(base, TOKENS, tmp_path / "out", base_name="tiny/base")
    sha, n = record["base"]["sha256"], base.size
    assert len(sha) == 64
    assert (tmp_path / "out" / "README.md").read_text(encoding="utf-8") == (
        "# tiny/base with 2 added tokens\n\n"
        f"tiny/base (SHA-256 of its weights {sha[:12]}...) with 2 WordPiece tokens appended (the embedding "
        "matrix grew to match); each new embedding row starts as the mean of the embeddings of the pieces the "
        "base split it into (else the mean of all rows, slightly perturbed). "
        f"vocab_size {n:,} -> {n + 2:,}. Written by `entitune vocab extend`; the tokens and their "
        f"initialisation are in {RECORD_FILE}.\n"
    )


def test_the_card_of_a_random_extension_over_unused_slots(mlm, tmp_path):
    base = WordPiece.read(mlm)
    extend_checkpoint(
        base,
        TOKENS,
        tmp_path / "out",
        init="random",
        use_unused=True,
        base_name="tiny/base",
    )
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert (
        "with 2 WordPiece tokens written over [unusedN] placeholders; each new embedding row starts as "
        f"random normal values. vocab_size {base.size:,} -> {base.size:,}." in card
    )


# ---------------------------------------------------------------------------------- files as written


def test_config_json_is_written_with_sorted_keys_indented(mlm, tmp_path):
    src = _copy(
        mlm, tmp_path / "base", edit_config=lambda c: dict(reversed(list(c.items())))
    )
    assert list(json.loads((src / "config.json").read_text())) != sorted(
        json.loads((src / "config.json").read_text())
    )
    extend_checkpoint(WordPiece.read(src), TOKENS, tmp_path / "out")
    text = (tmp_path / "out" / "config.json").read_text(encoding="utf-8")
    config = json.loads(text)
    assert list(config) == sorted(config)
    assert text == json.dumps(config, indent=2, sort_keys=True) + "\n"


def test_the_record_is_indented_with_its_tokens_as_they_are(mlm, tmp_path):
    extend_checkpoint(WordPiece.read(mlm), TOKENS, tmp_path / "out")
    raw = (tmp_path / "out" / RECORD_FILE).read_bytes()
    assert '"token": "北"'.encode() in raw and b"\\u" not in raw
    lines = raw.decode("utf-8").splitlines()
    assert (
        lines[0] == "{"
        and lines[1].startswith('  "')
        and not lines[1].startswith("   ")
    )


def test_every_file_is_read_and_written_as_utf8_under_an_ascii_locale(mlm, tmp_path):
    """A config with non-ASCII text, a non-ASCII token and base name: nothing depends on the locale."""
    src = _copy(
        mlm, tmp_path / "base", edit_config=lambda c: {**c, "note": "한국어 모델"}
    )
    base = WordPiece.read(src)
    with ascii_locale():
        record = extend_checkpoint(
            base, TOKENS, tmp_path / "out", base_name="모델/베이스"
        )
    out = tmp_path / "out"
    assert (
        json.loads((out / "config.json").read_text(encoding="utf-8"))["note"]
        == "한국어 모델"
    )
    assert json.loads((out / RECORD_FILE).read_text(encoding="utf-8")) == record
    assert (
        (out / "README.md")
        .read_text(encoding="utf-8")
        .startswith("# 모델/베이스 with 2 added tokens\n")
    )


# ---------------------------------------------------------------------------------- the directory


def test_the_output_is_written_beside_out_as_a_hidden_temporary_then_renamed(
    mlm, tmp_path, monkeypatch
):
    renames = []
    real = os.replace

    def replace(src, dst):
        renames.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(extend.os, "replace", replace)
    out = tmp_path / "new" / "deeper" / "out"  # parents made
    extend_checkpoint(WordPiece.read(mlm), TOKENS, out)
    (tmp,) = [
        src for src, dst in renames if dst == out
    ]  # (os.replace is also each file's atomic write)
    assert tmp.parent == out.parent and tmp.name.startswith(".out.")
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_output_directory_gets_the_users_permissions(mlm, tmp_path, umask):
    old = os.umask(umask)
    try:
        extend_checkpoint(WordPiece.read(mlm), TOKENS, tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o7777 == 0o777 & ~umask


def _failing_save(monkeypatch, exc: BaseException, remove_first: bool):
    """``save_safetensors`` that fails with ``exc``, after removing the temporary directory itself
    when ``remove_first`` (cleanup must not hide the failure then either)."""

    def save(state, path):
        if remove_first:
            shutil.rmtree(Path(path).parent)
        raise exc

    monkeypatch.setattr(extend.model_dir, "save_safetensors", save)


@pytest.mark.parametrize("remove_first", [False, True])
def test_a_write_failure_names_the_file_and_leaves_nothing(
    mlm, tmp_path, monkeypatch, remove_first
):
    base = WordPiece.read(mlm)
    out = tmp_path / "out"
    exc = OSError(
        errno.ENOSPC,
        "No space left on device",
        str(tmp_path / "x" / "model.safetensors"),
    )
    _failing_save(monkeypatch, exc, remove_first)
    with pytest.raises(OutputError) as err:
        extend_checkpoint(base, TOKENS, out)
    assert (
        str(err.value)
        == f"{tmp_path / 'x' / 'model.safetensors'}: cannot write (no space left on device)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_write_failure_without_a_file_name_names_the_output(
    mlm, tmp_path, monkeypatch
):
    _failing_save(
        monkeypatch, OSError(errno.EIO, "Input/output error"), remove_first=False
    )
    with pytest.raises(OutputError) as err:
        extend_checkpoint(WordPiece.read(mlm), TOKENS, tmp_path / "out")
    assert str(err.value) == f"{tmp_path / 'out'}: cannot write (input/output error)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("remove_first", [False, True])
def test_any_other_failure_propagates_and_leaves_nothing(
    mlm, tmp_path, monkeypatch, remove_first
):
    _failing_save(monkeypatch, KeyboardInterrupt(), remove_first)
    with pytest.raises(KeyboardInterrupt):
        extend_checkpoint(WordPiece.read(mlm), TOKENS, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- refusals and defaults


def test_refusals_are_exact(mlm, tmp_path):
    with pytest.raises(ValueError) as err:
        extend_checkpoint(
            WordPiece.from_state(_toy_state(["[UNK]", "a"])), ["b"], tmp_path / "o"
        )
    assert (
        str(err.value)
        == "the base WordPiece tokenizer was not read from a checkpoint directory"
    )
    with pytest.raises(ConfigError) as err:
        extend_checkpoint(WordPiece.read(mlm), [], tmp_path / "o")
    assert str(err.value) == "no tokens to add"
    assert not (tmp_path / "o").exists()


def test_the_default_seed_is_zero(mlm, tmp_path):
    base = WordPiece.read(mlm)
    extend_checkpoint(base, TOKENS, tmp_path / "default")
    extend_checkpoint(base, TOKENS, tmp_path / "zero", seed=0)
    extend_checkpoint(base, TOKENS, tmp_path / "one", seed=1)
    default, zero, one = (
        _weights(tmp_path / d)[EMB] for d in ("default", "zero", "one")
    )
    assert torch.equal(default, zero) and not torch.equal(default, one)


def test_random_rows_default_to_an_initializer_range_of_0_02(mlm, tmp_path):
    def drop(config):
        config.pop("initializer_range")
        return config

    src = _copy(mlm, tmp_path / "base", edit_config=drop)
    base = WordPiece.read(src)
    extend_checkpoint(
        base, [f"tok{i}" for i in range(40)], tmp_path / "out", init="random"
    )
    rows = _weights(tmp_path / "out")[EMB][base.size :]  # shape: (40, 32)
    assert 0.02 * 0.9 < rows.std().item() < 0.02 * 1.1


def test_a_tied_tensor_right_after_the_embeddings_is_written_as_their_copy(
    mlm, tmp_path
):
    """``a.lm_head.weight`` (a copy of the embeddings) sorts first after them, ahead of the untied
    decoder and biases: it is written as a copy of the extended embeddings, and the tensors after it
    still grow and get their rows."""
    src = _copy(
        mlm,
        tmp_path / "base",
        edit_state=lambda s: s.update({"a.lm_head.weight": s[EMB].clone()}),
    )
    base = WordPiece.read(src)
    record = extend_checkpoint(base, TOKENS, tmp_path / "out")
    assert record["reinitialised"][:2] == [EMB, "a.lm_head.weight"]
    after = _weights(tmp_path / "out")
    assert torch.equal(after["a.lm_head.weight"], after[EMB])
    n = base.size
    for name in (BIAS, DEC_BIAS, DEC):
        assert after[name].shape[0] == n + 2, name
    assert not torch.equal(
        after[DEC][n + 1], after[EMB][n + 1]
    )  # the untied decoder drew its own


# ---------------------------------------------------------------------------------- the fallback's covariance


@pytest.mark.parametrize("kept", [2, 3])
def test_the_fallback_perturbation_uses_the_sample_covariance(kept):
    """Rows spread along x only (-1 .. 1, sample variance 2 / (n - 1)) and a replaced row of
    garbage: the new row is their mean (0) plus sqrt(1e-5 x variance) x a standard normal along x,
    the normal being the one the seeded generator draws for that axis."""
    xs = torch.linspace(-1, 1, kept)
    table = torch.cat(
        [torch.stack([xs, torch.zeros(kept)], 1), torch.tensor([[9.0, 9.0]])]
    )
    variance = (xs**2).sum().item() / (kept - 1)
    rows, how = init_rows(
        table, [kept], [[]], "mean", 0.02, torch.Generator().manual_seed(7)
    )
    z = torch.randn((1, 2), generator=torch.Generator().manual_seed(7))
    assert how == ["fallback"]
    assert abs(rows[0, 1].item()) < 1e-9
    assert abs(rows[0, 0].item()) == pytest.approx(
        (FALLBACK_COVARIANCE * variance) ** 0.5 * abs(z[0, 1].item())
    )
