"""Config files for ``entitune train --config``: TOML, YAML, JSON and a run's ``train_log.json`` give
the same ``FinetuneConfig``; unknown names and wrong types are one clear line."""
from __future__ import annotations

import json

import pytest

from entitune.options import build_config, merged, read_config_file
from entitune.errors import ConfigError
from entitune.recipes import FinetuneConfig

EXPECTED = FinetuneConfig(train="t.bio", out="runs/x", epochs=2, lr=5e-5, head="crf", resume=True, head_lr=None)


@pytest.mark.parametrize("name, text", [
    ("run.toml", 'train = "t.bio"\nout = "runs/x"\nepochs = 2\nlr = 5e-5\nhead = "crf"\nresume = true\n'),
    ("run.yaml", "train: t.bio\nout: runs/x\nepochs: 2\nlr: 5.0e-5\nhead: crf\nresume: true\n"),
    ("run.json", json.dumps({"train": "t.bio", "out": "runs/x", "epochs": 2, "lr": 5e-5, "head": "crf", "resume": True})),
])
def test_every_format_gives_the_same_config(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert build_config(FinetuneConfig, read_config_file(tmp_path / name)) == EXPECTED


def test_a_train_log_is_read_from_its_config_table(tmp_path):
    log = {"config": {**EXPECTED.__dict__}, "train": {"best_epoch": 1}}
    (tmp_path / "train_log.json").write_text(json.dumps(log))
    assert build_config(FinetuneConfig, read_config_file(tmp_path / "train_log.json")) == EXPECTED


def test_flags_override_the_file_and_none_means_not_given():
    values = merged({"train": "a.bio", "out": "o", "epochs": 5}, {"epochs": 1, "lr": None})
    assert values == {"train": "a.bio", "out": "o", "epochs": 1}


@pytest.mark.parametrize("values, message", [
    ({"train": "t", "out": "o", "epoch": 3}, "unknown option 'epoch' (did you mean 'epochs'?)"),
    ({"train": "t", "out": "o", "epochs": "three"}, "epochs must be a whole number or 'auto', got 'three'"),
    ({"train": "t", "out": "o", "epochs": 2.5}, "epochs must be a whole number or 'auto', got 2.5"),
    ({"train": "t", "out": "o", "lr": "fast"}, "lr takes a float, got 'fast'"),
    ({"train": "t", "out": "o", "resume": "yes"}, "resume takes a bool, got 'yes'"),
    ({"train": "t", "out": "o", "head": "softmax"}, "head must be one of linear, crf, bilstm-crf"),
    ({"train": "t", "out": "o", "precision": "fp8"}, "precision must be one of auto, fp32, bf16, fp16"),
])
def test_bad_options_are_one_line(values, message):
    with pytest.raises(ConfigError) as err:
        build_config(FinetuneConfig, values, "run.toml")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name, text, message", [
    ("run.toml", "epochs = [", "not valid TOML"),
    ("run.yaml", "- a\n- b\n", "expected a table of options"),
    ("run.ini", "x=1", "a config file ends in"),
])
def test_unreadable_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config_file(tmp_path / name)
