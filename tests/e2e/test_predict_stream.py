"""``predict`` as a batch job: one answer per input line, blank lines included, so rows line up; and
streaming: answers are written chunk by chunk while the input is still being read."""
from __future__ import annotations

import io
import json

from entitune.recipes import inference
from entitune.recipes.inference import predict_lines


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
    """With chunks of 3 lines, the answers to the first 3 lines are out before line 7 is read, and a
    chunk never holds more than 3 inputs. Broken: all input was read into memory before the first
    answer (memory grew with the input, nothing came out until the end)."""
    monkeypatch.setattr(inference, "PREDICT_CHUNK", 3)
    out = io.StringIO()
    stdin = _Recording("".join(f"films {i}\n" for i in range(8)), out)
    assert predict_lines(tiny_tagger_dir, None, stdin=stdin, stdout=out) == 8
    assert [json.loads(x)["text"] for x in out.getvalue().splitlines()] == [f"films {i}" for i in range(8)]
    # readline calls: 1-3 before the model (nothing written), 4-6 after the first chunk was written (3)
    assert stdin.seen[:3] == [0, 0, 0] and stdin.seen[3] == 3 and stdin.seen[6] == 6
