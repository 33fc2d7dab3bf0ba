"""Every option of every verb, as a hostile user types it: NaN, infinities, negatives, zero, huge
numbers, words for numbers, empty strings. Each value is one line and exit 2 (before any data or
model loads), or a config the verb runs with, every value inside its declaration. And an option is
declared in one place: one added there reaches the flags, config files, the docs reference and
``train_log.json``.

The property test runs the real command line (``entitune.cli.main``) with each verb's recipe
replaced by a recorder (found by reading the verb's own import of it), so it checks the one gate
every flag passes; ``test_accepted_boundaries_run`` and ``test_hostile_values_of_a_real_run`` run
real trainings on the tiny BERT.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import math
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entitune.cli.app import VERBS
from entitune.options import declared
from entitune.options.declare import check_value, coerce
from tests.helpers.cli import run_main
from tests.helpers.data import REPO, TINY_SENTENCES, write_bio

#: what a hostile user types for a value
HOSTILE = ["nan", "NaN", "inf", "-inf", "-1", "0", "-0.5", "0.5", "1.5", "1e18", "99999999999999999999999", "",
           " ", "abc", "auto", "1/0", "0/0", "-"]


def recipe_of(run) -> tuple[str, str]:
    """The recipe a CLI verb calls: the module and name of its one ``from ..recipes.X import Y``."""
    tree = ast.parse(Path(importlib.import_module(run.__module__).__file__).read_text())
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == run.__name__)
    node = next(n for n in ast.walk(function) if isinstance(n, ast.ImportFrom))
    return "entitune." + node.module, node.names[0].name


def options_of(cls: type):
    """(field, spec, flag) of every option the command line takes, flags only (not arguments)."""
    return [(f, s, s.flag_name(f.name)) for f, s in declared(cls) if s.cli and not s.positional]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    data = write_bio(d / "data.bio", TINY_SENTENCES)
    return {"file": str(data), "dir": str(d)}


def base_args(name: str, cls: type, how: dict, files: dict, skip: str) -> list[str]:
    """The verb and its required arguments and options, with real files where a file is read."""
    args = name.split()
    for field, spec in declared(cls):
        if field.default is not dataclasses.MISSING or field.name == skip or not spec.cli:
            continue
        value = files["file"] if spec.input_file else str(Path(files["dir"]) / f"out-{field.name}")
        args += [value] if spec.positional else [spec.flag_name(field.name), value]
    if how.get("into"):  # tune: a training file goes to the trials' options
        args += ["--train", files["file"]]
    return args


CASES = [(name, cls, run, how, field.name) for name, cls, run, how in VERBS for field, _, _ in options_of(cls)]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(CASES), text=st.sampled_from(HOSTILE))
def test_every_hostile_value_of_every_option_is_one_line_or_a_valid_config(case, text, files, monkeypatch):
    name, cls, run, how, option = case
    field, spec, flag = next(o for o in options_of(cls) if o[0].name == option)
    hint = typing.get_type_hints(cls)[option]
    if hint is bool or typing.get_origin(hint) is None and hint is bool:
        return  # a switch takes no value
    module, attr = recipe_of(run)
    seen = []
    monkeypatch.setattr(importlib.import_module(module), attr, lambda config, *a, **k: seen.append(config))
    code, out, err = run_main(base_args(name, cls, how, files, option) + [flag, text])
    if code == 0:
        (config,) = seen
        value = getattr(config, option)
        assert value == coerce(option, value, hint)
        check_value(option, value, spec)  # inside the declaration: raises if not
        if isinstance(value, float):
            assert math.isfinite(value)
    else:
        assert code == 2, (code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
        assert not seen


def test_every_option_has_a_declared_kind_and_the_numbers_a_range():
    """A number without a range is how ``--dropout 1.5`` got through: every numeric option declares
    the values it takes: a range bounded both ways (a huge number is refused, not run)."""
    unbounded = []
    for name, cls, _, _ in VERBS:
        for field, spec in declared(cls):
            hint = typing.get_type_hints(cls)[field.name]
            kinds = set(typing.get_args(hint)) or {hint}
            if kinds & {int, float} and (spec.low is None or spec.high is None):
                unbounded.append(f"{name} {field.name}")
    assert not unbounded, unbounded


@pytest.mark.parametrize("flag, value, words", [
    ("--dropout", "1.5", "--dropout must be in [0, 1), got 1.5"),
    ("--lr", "nan", "--lr must be a finite number, got nan"),
    ("--lr", "inf", "--lr must be a finite number, got inf"),
    ("--lr", "0", "--lr must be in (0, 1], got 0"),
    ("--batch-size", "abc", "'--batch-size'"),
    ("--epochs", "0", "--epochs must be"),
    ("--warmup", "-0.1", "--warmup must be in [0, 1), got -0.1"),
])
def test_named_hostile_training_values_are_refused_before_anything_loads(files, flag, value, words):
    code, out, err = run_main(["train", "--train", files["file"], "--out", str(Path(files["dir"]) / "x"), flag, value])
    assert code == 2 and err.strip().count("\n") == 0 and words in err, err
    assert not (Path(files["dir"]) / "x").exists()


def test_max_length_beyond_the_encoders_positions_is_refused_before_the_data_loads(tiny_bert, tmp_path):
    """The encoder has a fixed number of positions (512 for BERT; the tiny BERT's own here): a longer
    window used to be accepted and crash on the first long text."""
    positions = json.loads((Path(tiny_bert) / "config.json").read_text())["max_position_embeddings"]
    data = write_bio(tmp_path / "d.bio", TINY_SENTENCES)
    code, out, err = run_main(["train", "--train", str(data), "--out", str(tmp_path / "o"), "--model", str(tiny_bert),
                               "--max-length", str(positions + 1)])
    assert code == 2 and err.strip().count("\n") == 0, err
    assert f"max_length {positions + 1} is more than the {positions} positions" in err
    assert "data:" not in err  # refused before the data was read


def test_a_diverging_run_stops_with_one_line_and_saves_no_model(tiny_bert, tmp_path, monkeypatch):
    """A learning rate too high for the data makes the loss NaN; the run used to print ``loss nan``,
    exit 0 and save a model that tags everything O. Here the loss turns NaN at the third step."""
    from entitune.model.tagger import Tagger

    real, calls = Tagger.batch_loss, []

    def diverging(self, batch):
        calls.append(1)
        loss = real(self, batch)
        return loss * float("nan") if len(calls) >= 3 else loss

    monkeypatch.setattr(Tagger, "batch_loss", diverging)
    data = write_bio(tmp_path / "d.bio", TINY_SENTENCES * 4)
    code, out, err = run_main(["train", "--train", str(data), "--out", str(tmp_path / "o"), "--model", str(tiny_bert),
                               "--epochs", "2", "--dev-fraction", "0.25", "--max-length", "16", "--batch-size", "2",
                               "--precision", "fp32"])
    assert code == 2, err
    assert err.strip().splitlines()[-1] == ("error: training diverged at step 3: the loss is not finite (nan); lower "
                                            "--lr or --head-lr, or train in fp32")
    assert "Traceback" not in err and not (tmp_path / "o" / "model.safetensors").exists()


# ------------------------------------------------------------------ one declaration per option

DUMMY = ('    dummy_knob: int = option(7, "a dummy option added by a test", group="training", low=0, high=100)\n')


def test_an_option_declared_in_one_place_reaches_flags_files_docs_and_the_log(tiny_bert, tmp_path):
    """One line added to ``FinetuneConfig`` is enough for ``--dummy-knob`` in ``train --help``, the
    ``dummy_knob`` key of a config file, the generated docs reference, the gate's range check, and
    ``train_log.json``'s ``config``."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    training = src / "entitune" / "options" / "training.py"
    text = training.read_text()
    anchor = '    dropout: float = option('
    assert text.count(anchor) == 1
    training.write_text(text.replace(anchor, DUMMY + anchor))
    env = {"PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200",
           "PATH": "/usr/bin:/bin"}

    def entitune(*args):
        return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=600)

    assert "--dummy-knob" in entitune("train", "--help").stdout
    docs = subprocess.run([sys.executable, "-c", "from entitune.cli.reference import markdown; "
                           "print(markdown('cli')); print(markdown('config'))"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert "`--dummy-knob`" in docs.stdout and "`dummy_knob`" in docs.stdout, docs.stderr
    data = write_bio(tmp_path / "d.bio", TINY_SENTENCES)
    refused = entitune("train", "--train", data, "--out", tmp_path / "bad", "--dummy-knob", "101")
    assert refused.returncode == 2 and refused.stderr.strip() == "error: --dummy-knob must be in [0, 100], got 101"
    config = tmp_path / "run.toml"
    config.write_text(f'train = "{data}"\nout = "{tmp_path / "o"}"\nmodel = "{tiny_bert}"\ndummy_knob = 9\n'
                      'epochs = 1\nmax_length = 16\nstride = 4\n')
    r = entitune("train", "--config", config)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "o" / "train_log.json").read_text())["config"]["dummy_knob"] == 9
