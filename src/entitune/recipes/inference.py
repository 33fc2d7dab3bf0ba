"""Recipes over a trained model (a tagger or a classifier): ``evaluate_file``, ``predict_lines``,
``export_model`` and ``serve``, one per CLI verb, each callable from Python with the same result."""
from __future__ import annotations

import json
import sys
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

from ..backends import backend_name, load_scorer, predictor_for
from ..data import write_conll
from ..data._lines import check_input_file, iter_lines, iter_stream_lines
from ..errors import ConfigError, check_choice
from ..evaluate import evaluate, evaluate_classifier, format_classification_report, format_errors, format_report
from ..export import export_and_rescore
from ..files import atomic_write_text
from ..model import model_dir
from .common import load_data, read_labelled_texts, set_threads
from .console import Console

OUTPUTS = ("jsonl", "conll")


def evaluate_file(model: str | Path, data: str | Path, json_out: str | Path | None = None, *, batch_size: int = 64,
                  format: str = "auto", threads: int | None = None, backend: str = "auto",
                  text_columns: str | None = None, label_column: str | None = None,
                  errors_out: str | Path | None = None, console: Console | None = None) -> dict:
    """Score a model (or an export) on an annotated file of its task; print the report, write ``json_out``.

    ``errors_out`` (taggers): analyse the errors (``evaluate.errors``), print their counts, write one
    JSON line per sentence with an error there, and the whole analysis under ``errors`` in the report."""
    console = console or Console()
    check_input_file(data)  # before the model loads: a FIFO or a device fails at once
    if errors_out is not None and model_dir.read_settings(model)[0].task == "classify":
        raise ConfigError("--errors is for taggers; a classifier's confusion matrix is in its report (--json)")
    set_threads(threads)
    scorer = load_scorer(model, backend, threads)
    if scorer.settings.task == "classify":
        examples = read_labelled_texts(data, format, text_columns, label_column).examples
        report = evaluate_classifier(scorer, examples, batch_size, str(data))
        console.result(format_classification_report(report))
    else:
        report = evaluate(scorer, load_data(data, format, console).sentences, batch_size, errors=errors_out is not None)
        console.result(format_report(report))
        if errors_out is not None:
            console.result(format_errors(report["errors"]))
            atomic_write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in report["errors"]["sentences"]),
                              errors_out)
    if json_out is not None:
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")
    return report


def parse_input_line(line: str) -> str | list[str]:
    """A JSON list of strings is pre-split words; anything else is raw text.

    >>> parse_input_line('["drew", "barrymore"]'), parse_input_line("drew barrymore")
    (['drew', 'barrymore'], 'drew barrymore')
    """
    stripped = line.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return line
        if isinstance(value, list) and all(isinstance(w, str) for w in value):
            return value
    return line


#: inputs read, predicted and written at a time by ``predict_lines``: memory stays flat on any input
PREDICT_CHUNK = 1024


def predict_lines(model: str | Path, input: str | Path | None = None, *, output: str = "jsonl", batch_size: int = 32,
                  threads: int | None = None, backend: str = "auto", all_scores: bool = False,
                  stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Tag (or classify) one input per line of ``input`` (default, or ``-``: stdin), writing JSONL (or
    CoNLL, for a tagger) to ``stdout``; ``all_scores`` adds a classifier's whole distribution. Returns
    how many lines were answered.

    Streams: ``PREDICT_CHUNK`` lines are read, predicted and written (and flushed) at a time, so
    memory stays flat however long the input, and output follows input as it comes. Every line
    gets one answer, in order: a blank line an empty one (no words; for a classifier no label), so
    output rows line up with input rows. The input is read as data files are (a regular file, UTF-8,
    bounded in size and line length: ``data._lines``); its first chunk is read before the model
    loads, so a bad file fails at once. An input with no line at all: one note on stderr, no output."""
    check_choice("output", output, OUTPUTS)
    set_threads(threads)
    if input is not None and str(input) != "-":
        name, numbered = str(input), iter_lines(input)
    else:
        name, numbered = "standard input", iter_stream_lines(stdin or sys.stdin, "<stdin>")
    lines = (line for _, line in numbered)
    first = list(islice(lines, PREDICT_CHUNK))
    predictor = predictor_for(load_scorer(model, backend, threads), batch_size)
    classify = predictor.scorer.settings.task == "classify"
    if classify and output == "conll":
        raise ConfigError("output conll is for taggers; a classifier writes jsonl")
    if not first:  # nothing to answer is not an error (an empty batch in a pipeline); say so, write nothing
        Console().note(f"no input lines in {name}")
        return 0
    out = stdout or sys.stdout
    answered = 0
    for chunk in chain([first], iter(lambda: list(islice(lines, PREDICT_CHUNK)), [])):
        filled = [i for i, line in enumerate(chunk) if line.strip()]
        results = predictor.predict([chunk[i] if classify else parse_input_line(chunk[i]) for i in filled])
        by_line = dict(zip(filled, results))
        if output == "conll":
            out.write(write_conll((r.words, r.tags) if (r := by_line.get(i)) else ((), ()) for i in range(len(chunk))))
        else:
            for i, line in enumerate(chunk):
                r = by_line.get(i)
                if r is None:
                    answer = {"text": line, "label": None, "score": None} if classify else \
                        {"text": line, "words": [], "tags": [], "entities": []}
                else:
                    answer = r.to_dict(all_scores) if classify else r.to_dict()
                out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
        answered += len(chunk)
    return answered


def export_model(model: str | Path, onnx: str | Path, *, quantize: str = "none", eval_file: str | Path | None = None,
                 max_drop: float = 0.5, accept_drop: bool = False, format: str = "auto", threads: int | None = None,
                 text_columns: str | None = None, label_column: str | None = None,
                 console: Console | None = None) -> dict:
    """Export ``model`` to ONNX (``quantize`` int8 or none), re-scored on ``eval_file`` and refused
    if its score (entity F1, or accuracy for a classifier) drops more than ``max_drop`` points;
    returns the report (``export.json``)."""
    console = console or Console()
    if eval_file is not None:
        check_input_file(eval_file)  # before the model loads
    set_threads(threads)
    task = model_dir.read_settings(model)[0].task
    examples = None
    if eval_file is not None:
        examples = (read_labelled_texts(eval_file, format, text_columns, label_column).examples if task == "classify"
                    else load_data(eval_file, format, console).sentences)
    else:
        console.note("notice: no --eval file: the export is not re-scored")
    report = export_and_rescore(model, onnx, examples, quantize, max_drop, accept_drop)
    if examples is not None:
        metric = report["metric"]
        console.result(f"{metric}: PyTorch {report['torch_score']:.4f} | ONNX ({quantize}) "
                       f"{report['onnx_score']:.4f} | drop {report['drop_points']:.2f} points (max {max_drop})")
    console.result(f"wrote {onnx} ({report['onnx_bytes'] / 1e6:.1f} MB model.onnx; report in {Path(onnx) / 'export.json'})")
    return report


def serve(model: str | Path, *, host: str = "127.0.0.1", port: int = 8000, batch_size: int = 32,
          threads: int | None = None, backend: str = "auto", console: Console | None = None,
          **limit_values) -> None:
    """Serve ``model`` over HTTP until interrupted (see ``serve.create_app``); ``limit_values`` are
    ``serve.ServeLimits`` fields (``max_texts``, ``max_batch_wait_ms``, ``workers``...)."""
    from ..serve import ServeLimits, model_info, run  # FastAPI loads only for this verb

    console = console or Console()
    server_limits = ServeLimits(**limit_values)
    set_threads(threads)
    scorer = load_scorer(model, backend, threads)
    info = model_info(scorer, str(model), backend_name(scorer))
    console.note(f"serving {model} on http://{host}:{port} (page at /, API docs at /docs)")
    run(predictor_for(scorer, batch_size), info=info, limits=server_limits, host=host, port=port, threads=threads)
