"""``predict`` as a batch job: one answer per input line, blank lines included, so rows line up; and
streaming: answers are written chunk by chunk while the input is still being read."""
from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from entitune.recipes import inference
from entitune.recipes.inference import predict_lines
from entitune.recipes.streaming import paced_chunks
from tests.helpers.data import REPO


def test_every_line_gets_an_answer_in_order(tmp_path, tiny_tagger_dir, tiny_classifier_dir):
    """Broken: blank lines were dropped (4 input lines, 2 blank, gave 2 answers), so answers could
    not be matched to input rows."""
    path = tmp_path / "in.txt"
    path.write_text("drew barrymore\n\nfilms\n   \n")
    out = io.StringIO()
    assert predict_lines(tiny_tagger_dir, path, stdout=out) == 4
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["text"] for r in rows] == ["drew barrymore", "", "films", "   "]
    assert rows[1] == {"text": "", "words": [], "tags": [], "entities": []} and rows[0]["words"] == ["drew", "barrymore"]
    out = io.StringIO()
    assert predict_lines(tiny_classifier_dir, path, stdout=out) == 4
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["label"] is None for r in rows] == [False, True, False, True]


class _Recording(io.StringIO):
    """stdin that notes how many answers were already written each time a line is read."""

    def __init__(self, text: str, out: io.StringIO) -> None:
        super().__init__(text)
        self.out, self.seen = out, []

    def readline(self, *args):  # type: ignore[override]
        self.seen.append(self.out.getvalue().count("\n"))
        return super().readline(*args)


def test_answers_stream_out_while_input_is_read(tiny_tagger_dir, monkeypatch):
    """With chunks of 3 lines, input is read at most a bounded distance ahead of the answers (the
    chunk being answered and the reader's queue of two chunks), and every chunk holds at most 3
    inputs. Broken: all input was read into memory before the first answer (memory grew with the
    input, nothing came out until the end)."""
    monkeypatch.setattr(inference, "PREDICT_CHUNK", 3)
    out = io.StringIO()
    stdin = _Recording("".join(f"films {i}\n" for i in range(40)), out)
    assert predict_lines(tiny_tagger_dir, None, stdin=stdin, stdout=out) == 40
    assert [json.loads(x)["text"] for x in out.getvalue().splitlines()] == [f"films {i}" for i in range(40)]
    ahead = [read - written for read, written in enumerate(stdin.seen)]
    assert max(ahead) <= 3 * 3 + 2, ahead  # a chunk in hand, 6 queued, one in the reader's hand, one read
    assert stdin.seen[-1] >= 40 - 3 * 3 - 2


def _slow_lines(n: int, pause: float):
    for i in range(n):
        time.sleep(pause)
        yield f"films {i}"


def test_a_stalling_input_is_answered_line_by_line():
    """``paced_chunks``: items that arrive together are batched (full chunks), items that arrive
    apart are answered alone, in order; a document chunk only ends where it may. Broken: a chunk
    waited for ``size`` items or the end of the input (nothing came out of a slow pipe)."""
    assert [len(c) for c in paced_chunks(iter(range(10)), 4)] == [4, 4, 2]
    assert list(paced_chunks(_slow_lines(3, 0.3), 4, wait=0.05)) == [["films 0"], ["films 1"], ["films 2"]]
    # a stall ends a chunk only after a blank item when documents may not be split
    blank_ends = lambda chunk, item: chunk[-1] == ""  # noqa: E731
    items = ["a", "b", "", "c"]

    def slow():
        for x in items:
            time.sleep(0.3)
            yield x

    assert list(paced_chunks(slow(), 10, wait=0.05, may_end=blank_ends)) == [["a", "b", ""], ["c"]]


def test_a_reading_error_is_raised_without_its_chunk():
    def broken():
        yield "a"
        raise ValueError("line 2: bad")

    chunks = paced_chunks(broken(), 4)
    with pytest.raises(ValueError, match="line 2"):
        next(chunks)


def test_predict_answers_a_slow_pipe_line_by_line(tiny_tagger_dir):
    """``entitune predict`` fed by a pipe that writes one line and waits: the first answer arrives
    before the second line is written. Broken: output waited for a full chunk of lines or the end
    of input (the first answer only came after the pipe closed)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "entitune", "predict", str(tiny_tagger_dir)], env=env, cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [answers.put(line) for line in proc.stdout], daemon=True).start()
    try:
        proc.stdin.write("show me films with drew barrymore\n")
        proc.stdin.flush()
        first = json.loads(answers.get(timeout=120))  # the model loads first: generous
        assert first["text"] == "show me films with drew barrymore"
        assert [e["text"] for e in first["entities"]] == ["drew barrymore"]
        proc.stdin.write("movies from the 1980s\n")
        proc.stdin.flush()
        second = json.loads(answers.get(timeout=60))
        assert second["text"] == "movies from the 1980s"
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        assert answers.empty()
    finally:
        proc.kill()


def test_predictors_take_any_iterable_and_stream_lazily(tiny_tagger_dir, tiny_classifier_dir):
    """``predict`` takes a generator; ``stream`` yields the same answers in order, having drawn at
    most a chunk of inputs ahead of what it yielded. Broken: a generator failed (``len()``), or
    ``stream`` read everything before the first answer."""
    import entitune

    texts = [f"films with drew barrymore {i}" for i in range(7)]
    for model in (tiny_tagger_dir, tiny_classifier_dir):
        predictor = entitune.load(model)
        predictor.chunk_size = 2
        whole = predictor.predict(texts)
        assert predictor.predict(t for t in texts) == whole
        drawn = []

        def source():
            for t in texts:
                drawn.append(t)
                yield t

        lazy = predictor.stream(source())
        got = [next(lazy)]
        assert len(drawn) <= 2
        got += list(lazy)
        _same(got, whole)  # chunks of 2 are batched otherwise: padding may move the last digits
    tagger = entitune.load(tiny_tagger_dir)
    tagger.chunk_size = 2
    docs = [0, 0, 0, 1, 1, 2, 2]
    _same(list(tagger.stream(iter(texts), documents=iter(docs))), tagger.predict(texts, docs))


def _same(got: list, want: list) -> None:
    """Equal answers: every field but the scores exact, the scores to 1e-5."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        gd, wd = g.to_dict(), w.to_dict()
        scores = lambda d: [e.pop("score") for e in d.get("entities", [])] + [d.pop("score", 0)] + list(  # noqa: E731
            (d.pop("scores", None) or {}).values())
        assert scores(gd) == pytest.approx(scores(wd), abs=1e-5)
        assert gd == wd
