"""``predict`` as a production batch job: JSONL records whose other fields ride along, shards whose
outputs merge back into the unsharded one, a progress bar only on a terminal, and ``--device``."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from entitune.errors import ConfigError, DataFormatError
from entitune.recipes import inference
from entitune.recipes.inference import answer_lines, parse_input_record, parse_shard, predict_lines

#: every kind of line predict takes: raw text, blank, JSON words, JSON objects (text, tokens, blank text)
MIXED = [
    "show me films with drew barrymore",
    "",
    '["films", "directed", "by", "steven", "spielberg"]',
    '{"id": 7, "text": "what movies star bruce willis", "meta": {"split": "dev"}}',
    "   ",
    '{"id": 8, "tokens": ["movies", "from", "the", "1980s"]}',
    '{"id": 9, "text": ""}',
    "films in paris",
    '{"id": 10, "text": "drew barrymore movies", "tags": ["B-ACTOR", "I-ACTOR", "O"]}',
    "{not json, so text",
]


def _predict(model, path, **options) -> list[dict]:
    out = io.StringIO()
    predict_lines(model, path, stdout=out, device="cpu", **options)
    return [json.loads(x) for x in out.getvalue().splitlines()]


def _run(*args, stdin=None, **env):
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], input=stdin, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **env}, timeout=600)


# ---------------------------------------------------------------------------------------- JSONL records


def test_json_objects_are_predicted_and_their_fields_pass_through(tmp_path, tiny_tagger_dir):
    """A JSON object's ``text`` (or ``tokens``) is tagged exactly as the same text on a plain line
    (or the same words as a JSON list), and its other fields come back unchanged beside the answer;
    a field the answer also writes (``tags``) is kept as ``input_tags``. Broken: the object was tagged
    as raw text (words like ``{"id":``), ``id`` was lost so answers could not be joined back to
    records, or gold ``tags`` were silently overwritten by the predicted ones."""
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(MIXED) + "\n")
    rows = _predict(tiny_tagger_dir, path)
    assert len(rows) == len(MIXED)
    plain = tmp_path / "plain.txt"
    plain.write_text('what movies star bruce willis\n["movies", "from", "the", "1980s"]\ndrew barrymore movies\n')
    same_text, same_words, same_third = _predict(tiny_tagger_dir, plain)
    assert rows[3] == {"id": 7, "meta": {"split": "dev"}, **same_text}
    assert [e["text"] for e in same_text["entities"]] == ["bruce willis"]  # a real answer passed through
    assert rows[5] == {"id": 8, **same_words} and rows[5]["words"] == ["movies", "from", "the", "1980s"]
    assert rows[6] == {"id": 9, "text": "", "words": [], "tags": [], "entities": []}  # blank text: empty answer
    assert rows[8] == {"id": 10, "input_tags": ["B-ACTOR", "I-ACTOR", "O"], **same_third}
    assert rows[0]["words"][-2:] == ["drew", "barrymore"] and rows[1]["words"] == []
    assert rows[2]["words"] == ["films", "directed", "by", "steven", "spielberg"]
    assert rows[9]["words"][0] == "{"  # not JSON: text, as a broken word list always was


def test_classifier_records_keep_their_gold_label(tmp_path, tiny_classifier_dir):
    """A classifier predicts a record's text as it would the plain line and keeps the record's own
    ``label`` as ``input_label``. Broken: the gold label overwrote the predicted one (or the reverse)."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "films in paris", "label": "gold"}\nfilms in paris\n{"id": "b", "text": " "}\n')
    record, plain, blank = _predict(tiny_classifier_dir, path)
    assert record == {"id": "a", "input_label": "gold", **plain}
    assert blank == {"id": "b", "text": " ", "label": None, "score": None}


def test_a_json_object_without_text_is_one_error_line_with_its_place(tmp_path, tiny_tagger_dir):
    """``predict`` on a JSON object with neither ``text`` nor ``tokens`` exits 2 with one line naming
    the file and line and what was expected; nothing of the bad chunk is predicted. Broken: the
    object was tagged as text (garbage answers), or a KeyError traceback."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1, "text": "films"}\n\n{"id": 2, "body": "films"}\n')
    r = _run("predict", tiny_tagger_dir, "--input", path, "--device", "cpu")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f'error: {path}:3: a JSON object needs "text" (a string) or "tokens" (a list of words) to predict; '
        'its keys: "id", "body"']
    assert r.stdout == ""


@pytest.mark.parametrize(("line", "why"), [
    ('{"text": 7}', '"text" must be a string, got a number'),
    ('{"tokens": "drew barrymore"}', '"tokens" must be a list of strings (words), got a string'),
    ('{"tokens": ["drew", null]}', '"tokens" must be a list of strings (words), got a list'),
    ("{}", 'a JSON object needs "text" (a string) or "tokens" (a list of words) to predict; its keys: none'),
])
def test_bad_records_name_what_is_wrong(line, why):
    """Every refused record says which field is wrong and what it should be, at file:line. Broken:
    a non-string text reached the tokenizer (a TypeError traceback) or the message had no place."""
    with pytest.raises(DataFormatError) as err:
        parse_input_record(line, "in.jsonl", 4)
    assert str(err.value) == f"in.jsonl:4: {why}"


# ---------------------------------------------------------------------------------------- shards


def test_shards_merge_back_into_the_unsharded_output(tmp_path, tiny_tagger_dir):
    """Three shards answer disjoint lines that together cover the file, each in input order, each
    answer carrying its 1-based input line as ``line`` (blank lines included, answered empty as
    unsharded); sorted by ``line`` and without it, their union is exactly the unsharded output.
    Broken: a line answered by no shard or by two, blank lines skipped or renumbered, or answers
    that cannot be put back in order."""
    path = tmp_path / "in.jsonl"
    lines = MIXED * 3 + ['{"id": 99, "line": "theirs", "text": "films"}']
    path.write_text("\n".join(lines) + "\n")
    whole = _predict(tiny_tagger_dir, path)
    shards = [_predict(tiny_tagger_dir, path, shard=f"{i}/3") for i in range(3)]
    for i, rows in enumerate(shards):
        assert [r["line"] for r in rows] == list(range(i + 1, len(lines) + 1, 3))
    merged = sorted((r for rows in shards for r in rows), key=lambda r: r["line"])
    assert [r["line"] for r in merged] == list(range(1, len(lines) + 1))
    assert [{k: v for k, v in r.items() if k != "line"} for r in merged][:-1] == whole[:-1]
    assert merged[-1]["input_line"] == "theirs" and whole[-1]["line"] == "theirs"  # an input 'line' is kept


def test_shard_streams_and_counts_only_its_lines(tmp_path, tiny_tagger_dir, monkeypatch):
    """With chunks of 2, shard 1/2 of 7 lines answers lines 2, 4, 6 (3 answers, returned as the
    count); a shard with no line of a 1-line file writes nothing and says so. Broken: the shard
    read its lines before chunking (memory grew with the input) or counted the whole file."""
    monkeypatch.setattr(inference, "PREDICT_CHUNK", 2)
    path = tmp_path / "in.txt"
    path.write_text("".join(f"films {i}\n" for i in range(7)))
    out = io.StringIO()
    assert predict_lines(tiny_tagger_dir, path, stdout=out, shard="1/2", device="cpu") == 3
    assert [json.loads(x)["line"] for x in out.getvalue().splitlines()] == [2, 4, 6]
    one = tmp_path / "one.txt"
    one.write_text("films\n")
    out = io.StringIO()
    assert predict_lines(tiny_tagger_dir, one, stdout=out, shard="1/2", device="cpu") == 0 and out.getvalue() == ""


@pytest.mark.parametrize("bad", ["3/3", "-1/2", "1", "a/b", "0/0", "1/2/3"])
def test_bad_shards_are_refused(bad):
    """A shard outside 0 <= I < N, or not I/N, is one ConfigError naming the form. Broken: 3/3 ran
    and answered nothing, or int() raised a ValueError traceback."""
    with pytest.raises(ConfigError, match="shard must be I/N with 0 <= I < N"):
        parse_shard(bad)


def test_shard_with_conll_output_is_refused(tmp_path, tiny_tagger_dir):
    """CoNLL has no place for the line number that merges shards back: refused before the model
    loads. Broken: shards wrote CoNLL blocks that could not be put back in order."""
    path = tmp_path / "in.txt"
    path.write_text("films\n")
    with pytest.raises(ConfigError, match="shard needs output jsonl"):
        predict_lines(tiny_tagger_dir, path, output="conll", shard="0/2", stdout=io.StringIO())


def test_cli_shard_flag(tmp_path, tiny_tagger_dir):
    """``entitune predict --shard 1/2`` reaches the recipe: answers for lines 2 and 4 only. Broken:
    the flag was accepted and ignored (every shard answered every line)."""
    path = tmp_path / "in.txt"
    path.write_text("films\ndrew barrymore\n\nfilms in paris\n")
    r = _run("predict", tiny_tagger_dir, "--input", path, "--shard", "1/2", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["line"], x["text"]) for x in rows] == [(2, "drew barrymore"), (4, "films in paris")]


# ---------------------------------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(tmp_path, tiny_tagger_dir, monkeypatch):
    """On a terminal stderr, a bar counts lines and lines/s, and stdout holds only the answers; on a
    redirected stderr (a log file) nothing is drawn. Broken: the bar went to stdout (corrupting the
    JSONL), or escape codes filled log files."""
    monkeypatch.setenv("TERM", "xterm-256color")  # rich draws nothing on a dumb terminal, as it should
    monkeypatch.delenv("TTY_INTERACTIVE", raising=False)
    path = tmp_path / "in.txt"
    path.write_text("films\n\ndrew barrymore\n")
    for terminal in (True, False):
        err = _Terminal() if terminal else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        out = io.StringIO()
        assert predict_lines(tiny_tagger_dir, path, stdout=out, device="cpu") == 3
        assert [json.loads(x)["text"] for x in out.getvalue().splitlines()] == ["films", "", "drew barrymore"]
        shown = err.getvalue()
        assert ("3 lines" in shown and "lines/s" in shown) if terminal else shown == ""


# ---------------------------------------------------------------------------------------- device


def test_device_cpu_and_auto_answer_alike(tmp_path, tiny_tagger_dir):
    """``auto`` (the CPU here, a GPU where there is one) and ``cpu`` give the same answers. Broken:
    the device option changed what was predicted (a model left in train mode, another head)."""
    path = tmp_path / "in.txt"
    path.write_text("show me films with drew barrymore\nfilms in paris\n")
    cpu = _predict(tiny_tagger_dir, path)
    out = io.StringIO()
    predict_lines(tiny_tagger_dir, path, stdout=out, device="auto")
    auto = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["tags"] for r in auto] == [r["tags"] for r in cpu]
    spans = [[(e["text"], e["label"], e["start"], e["end"]) for e in r["entities"]] for r in auto]
    assert spans == [[(e["text"], e["label"], e["start"], e["end"]) for e in r["entities"]] for r in cpu]
    assert spans == [[("drew barrymore", "ACTOR", 19, 33)], [("paris", "PLOT", 9, 14)]]  # real spans
    for a, c in zip(auto, cpu):
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in c["entities"]], abs=1e-4)


@pytest.mark.parametrize("verb", ["predict", "evaluate", "serve"])
def test_device_cuda_without_a_gpu_is_one_error_line(verb, tmp_path, tiny_tagger_dir):
    """``--device cuda`` where torch sees no GPU (hidden by CUDA_VISIBLE_DEVICES, so this holds on a
    GPU machine too) exits 2 with one line saying why and what to use instead, for each verb that
    loads a model; serve never starts listening. Broken: a torch AssertionError traceback
    ("Torch not compiled with CUDA enabled"), or serve bound its port first."""
    data = tmp_path / "test.bio"
    data.write_text("O\tfilms\n\n")
    args = {"predict": ["--input", data], "evaluate": [data], "serve": ["--port", "0"]}[verb]
    r = _run(verb, tiny_tagger_dir, *args, "--device", "cuda", CUDA_VISIBLE_DEVICES="")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: device cuda: ") and "use --device cpu" in lines[0]
    assert "serving" not in r.stderr


def test_answer_lines_is_what_predict_lines_writes(tmp_path, tiny_tagger_dir):
    """``answer_lines`` (what an engine's workers call, examples/ray_predict.py) gives exactly the
    rows ``predict_lines`` writes for the same lines. Broken: the two paths drifted apart (a field
    passed through in one and not the other, blank lines answered differently)."""
    import entitune

    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(MIXED) + "\n")
    assert answer_lines(entitune.load(str(tiny_tagger_dir)), MIXED) == _predict(tiny_tagger_dir, path)


def test_a_binary_stream_is_split_as_files_are():
    """``iter_stream_lines`` over a file's bytes (``io.BytesIO``, as examples/ray_predict.py reads
    each file) gives the lines ``predict`` reads from the file: LF only, CRLF and a BOM stripped,
    U+2028 kept inside its line, blank lines kept. Broken: bytes were treated as text (a TypeError)
    or lines split at U+2028 as ``str.splitlines`` does, so numbers no longer matched the file's."""
    from entitune.data import iter_stream_lines

    data = "\ufeffdrew\r\n\nbarry\u2028more\nfilms".encode()
    assert list(iter_stream_lines(io.BytesIO(data), "a.txt")) == [
        (1, "drew"), (2, ""), (3, "barry\u2028more"), (4, "films")]
