"""Recipes over a trained model (a tagger or a classifier): ``evaluate_file``, ``predict_lines``,
``export_model`` and ``serve``, one per CLI verb, each callable from Python with the same result."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from ..backends import backend_name, load_scorer, predictor_for
from ..data import write_conll
from ..errors import ConfigError, check_choice
from ..evaluate import evaluate, evaluate_classifier, format_classification_report, format_report
from ..export import export_and_rescore
from ..model import model_dir
from .common import load_data, read_labelled_texts, set_threads
from .console import Console

OUTPUTS = ("jsonl", "conll")


def evaluate_file(model: str | Path, data: str | Path, json_out: str | Path | None = None, *, batch_size: int = 64,
                  format: str = "auto", threads: int | None = None, backend: str = "auto",
                  text_columns: str | None = None, label_column: str | None = None,
                  console: Console | None = None) -> dict:
    """Score a model (or an export) on an annotated file of its task; print the report, write ``json_out``."""
    console = console or Console()
    set_threads(threads)
    scorer = load_scorer(model, backend, threads)
    if scorer.settings.task == "classify":
        examples = read_labelled_texts(data, format, text_columns, label_column).examples
        report = evaluate_classifier(scorer, examples, batch_size, str(data))
        console.result(format_classification_report(report))
    else:
        report = evaluate(scorer, load_data(data, format, console).sentences, batch_size)
        console.result(format_report(report))
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


def predict_lines(model: str | Path, input: str | Path | None = None, *, output: str = "jsonl", batch_size: int = 32,
                  threads: int | None = None, backend: str = "auto", all_scores: bool = False,
                  stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Tag (or classify) one input per line of ``input`` (default: stdin), writing JSONL (or CoNLL,
    for a tagger) to ``stdout``; ``all_scores`` adds a classifier's whole distribution. Returns how
    many inputs were answered."""
    check_choice("output", output, OUTPUTS)
    set_threads(threads)
    if input is not None:
        try:
            text = Path(input).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{input}: cannot read ({exc})") from None
    else:
        text = (stdin or sys.stdin).read()
    lines = [line for line in text.splitlines() if line.strip()]
    predictor = predictor_for(load_scorer(model, backend, threads), batch_size)
    classify = predictor.scorer.settings.task == "classify"
    if classify and output == "conll":
        raise ConfigError("output conll is for taggers; a classifier writes jsonl")
    results = predictor.predict([line if classify else parse_input_line(line) for line in lines])
    out = stdout or sys.stdout
    if output == "conll":
        out.write(write_conll((r.words, r.tags) for r in results))
    else:
        for r in results:
            answer = r.to_dict(all_scores) if classify else r.to_dict()
            out.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return len(results)


def export_model(model: str | Path, onnx: str | Path, *, quantize: str = "none", eval_file: str | Path | None = None,
                 max_drop: float = 0.5, accept_drop: bool = False, format: str = "auto", threads: int | None = None,
                 text_columns: str | None = None, label_column: str | None = None,
                 console: Console | None = None) -> dict:
    """Export ``model`` to ONNX (``quantize`` int8 or none), re-scored on ``eval_file`` and refused
    if its score (entity F1, or accuracy for a classifier) drops more than ``max_drop`` points;
    returns the report (``export.json``)."""
    console = console or Console()
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
