"""Recipes over a trained model (a tagger or a classifier) or its ONNX export: ``evaluate``,
``predict`` and ``serve``, one per CLI verb, each taking its config object (``entitune.options``)
and callable from Python with the same result; ``evaluate_file`` and ``predict_lines`` take the same
options as keywords. (``export`` is ``recipes.exporting``'s.)

Nothing here imports torch: on an export these verbs run with numpy, tokenizers and onnxruntime
alone; a PyTorch model directory brings in the torch backend when it is loaded
(``backends.load_scorer``). pyproject.toml's import-linter contract "serving an export never imports
torch" checks it."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from itertools import chain, repeat
from pathlib import Path
from typing import TextIO

from ..backends import backend_name, load_scorer, predictor_for
from ..data import write_conll
from ..data._lines import iter_lines, iter_stream_lines, json_line
from ..errors import ConfigError, DataFormatError
from ..evaluate import evaluate as evaluate_tagger
from ..evaluate import evaluate_classifier, format_classification_report, format_errors, format_report
from ..files import atomic_write_text, check_input_file
from ..artifact.archive import model_directory
from ..artifact.layout import read_settings
from ..options import EvaluateConfig, PredictConfig, ServeConfig, parse_shard
from ..terminal import Console
from .common import load_data, read_labelled_texts
from .streaming import paced_chunks


def evaluate_file(model: str | Path, data: str | Path, json_out: str | Path | None = None, *,
                  console: Console | None = None, **options) -> dict:
    """``evaluate`` with the options as keywords (``EvaluateConfig``'s fields)."""
    json_out = None if json_out is None else str(json_out)
    return evaluate(EvaluateConfig(model=str(model), data=str(data), json_out=json_out, **options), console)


def evaluate(config: EvaluateConfig, console: Console | None = None) -> dict:
    """Score a model (or an export) on an annotated file of its task; print the report, write
    ``config.json_out``. ``device``: auto, cpu or cuda (``backends.resolve_device``); ``precision``:
    auto, fp32 or bf16 for a PyTorch model (``backends.choose_precision``).

    ``errors_out`` (taggers): analyse the errors (``evaluate.errors``), print their counts, write one
    JSON line per sentence with an error there, and the whole analysis under ``errors`` in the report."""
    model, data, errors_out = config.model, config.data, config.errors_out
    console = console or Console()
    check_input_file(data)  # before the model loads: a FIFO or a device fails at once
    if errors_out is not None and read_settings(model_directory(model))[0].task == "classify":
        raise ConfigError("--errors is for taggers; a classifier's confusion matrix is in its report (--json)")
    scorer = load_scorer(model, config.backend, config.threads, config.device, config.precision)
    _say_precision(scorer, config.precision, console)
    if scorer.settings.task == "classify":
        examples = read_labelled_texts(data, config.format, config.text_columns, config.label_column,
                                       scorer.settings.label_names).examples
        report = evaluate_classifier(scorer, examples, config.batch_size, str(data))
        console.result(format_classification_report(report))
    else:
        sentences = load_data(data, config.format, console).sentences
        report = evaluate_tagger(scorer, sentences, config.batch_size, errors=errors_out is not None)
        console.result(format_report(report))
        if errors_out is not None:
            console.result(format_errors(report["errors"]))
            atomic_write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in report["errors"]["sentences"]),
                              errors_out)
    if config.json_out is not None:
        Path(config.json_out).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _say_precision(scorer, requested: str, console: Console) -> None:
    """One note when ``--precision auto`` chose bf16 for a PyTorch model, and why (fp32, the usual
    choice, goes unsaid: it is what a model always ran in)."""
    choice = getattr(scorer, "choice", None)
    if choice is not None and requested == "auto" and choice.precision != "fp32":
        console.note(f"precision {choice.precision}: {choice.reason}")


def parse_input_line(line: str, where: str = "<input>", number: int | None = None) -> str | list[str]:
    """A JSON list of strings is pre-split words; anything else is raw text. A word with a lone
    surrogate (a JSON ``\\ud800`` escape) is a ``DataFormatError`` at ``where:number``.

    >>> parse_input_line('["drew", "barrymore"]'), parse_input_line("drew barrymore")
    (['drew', 'barrymore'], 'drew barrymore')
    """
    stripped = line.strip()
    if stripped.startswith("["):
        try:
            value = json_line(stripped, where, number)
        except json.JSONDecodeError:
            return line
        if isinstance(value, list) and all(isinstance(w, str) for w in value):
            return value
    return line


def parse_input_record(line: str, where: str = "<input>",
                       number: int | None = None) -> tuple[str | list[str], dict] | None:
    """A JSON object line of ``predict`` input as (what to predict, the fields passed through): its
    ``text`` (a string), else its ``tokens`` (a list of strings: pre-split words), and every other
    field; None for any other line (plain text, a JSON word list: ``parse_input_line``; a line that
    starts with a brace but is no JSON is text too). An object with neither, or with one of the
    wrong type, is a ``DataFormatError`` at ``where:number``.

    >>> parse_input_record('{"id": 7, "text": "drew barrymore"}')
    ('drew barrymore', {'id': 7})
    >>> parse_input_record('{"tokens": ["drew", "barrymore"], "split": "dev"}')
    (['drew', 'barrymore'], {'split': 'dev'})
    >>> parse_input_record("drew barrymore") is None
    True
    """
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        record = json_line(stripped, where, number)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    if "text" in record:
        text = record.pop("text")
        if not isinstance(text, str):
            raise DataFormatError(where, number, f'"text" must be a string, got {_json_type(text)}')
        return text, record
    if "tokens" in record:
        words = record.pop("tokens")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataFormatError(where, number, f'"tokens" must be a list of strings (words), got {_json_type(words)}')
        return words, record
    keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in list(record)[:6]) or "none"
    raise DataFormatError(where, number, 'a JSON object needs "text" (a string) or "tokens" (a list of words) '
                                         f"to predict; its keys: {keys}")


def _json_type(value: object) -> str:
    """How JSON calls ``value``'s type: ``a list``, ``a number``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


#: inputs read, predicted and written at a time by ``predict_lines``: memory stays flat on any input
PREDICT_CHUNK = 1024


def predict_lines(model: str | Path, input: str | Path | None = None, *, stdin: TextIO | None = None,
                  stdout: TextIO | None = None, **options) -> int:
    """``predict`` with the options as keywords (``PredictConfig``'s fields)."""
    config = PredictConfig(model=str(model), input=None if input is None else str(input), **options)
    return predict(config, stdin=stdin, stdout=stdout)


def predict(config: PredictConfig, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Tag (or classify) one input per line of ``config.input`` (default, or ``-``: stdin), writing JSONL (or
    CoNLL, for a tagger) to ``stdout``; ``all_scores`` adds a classifier's whole distribution. Returns
    how many lines were answered.

    A line is raw text, a JSON list of words (taggers), or a JSON object whose ``text`` (or
    ``tokens``) is predicted and whose other fields (``id``...) are copied into its answer; a field
    the answer also writes (``tags``, ``label``...) is kept as ``input_<name>`` (``parse_input_record``).
    ``device``: auto, cpu or cuda (``backends.resolve_device``). ``shard`` ``"I/N"``: answer only the
    lines whose 0-based index is I modulo N (``parse_shard``); each answer then starts with ``line``,
    its 1-based input line number, so the N outputs merge back into the unsharded one.
    ``documents`` (taggers): consecutive lines are one document, a blank line ends it, and JSON
    objects with a ``doc`` field are grouped by it (consecutive lines with equal values, until a
    blank line); a model trained with document context (``settings.context``) then reads each
    line's neighbours.

    Streams: up to ``PREDICT_CHUNK`` lines are read, predicted and written (and flushed) at a time,
    so memory stays flat however long the input; when the input stalls (a slow pipe), the lines that
    have come are answered at once (``streaming.paced_chunks``), so output follows input as it comes. Every line
    gets one answer, in order: a blank line an empty one (no words; for a classifier no label), so
    output rows line up with input rows. The input is read as data files are (a regular file, UTF-8,
    bounded in size and line length: ``data._lines``); its first chunk is read before the model
    loads, so a bad file fails at once. An input with no line at all: one note on stderr, no output.
    On a terminal, a bar on stderr counts lines and lines/s."""
    model, input, output, documents = config.model, config.input, config.output, config.documents
    part = parse_shard(config.shard)
    if input is not None and str(input) != "-":
        name, where, numbered = str(input), str(input), iter_lines(input)
    else:
        name, where, numbered = "standard input", "<stdin>", iter_stream_lines(stdin or sys.stdin, "<stdin>")
    if part is not None:
        numbered = ((n, line) for n, line in numbered if (n - 1) % part[1] == part[0])
    items = ((n, line, parse_input_record(line, where, n)) for n, line in numbered)
    # a chunk is answered when full, at the end, or when the input stalls (a slow pipe: each line at once)
    chunks = paced_chunks(items, PREDICT_CHUNK, may_end=_document_may_end if documents else None)
    first = next(chunks, [])
    scorer = load_scorer(model, config.backend, config.threads, config.device, config.precision)
    predictor = predictor_for(scorer, config.batch_size)
    classify = predictor.scorer.settings.task == "classify"
    if classify and output == "conll":
        raise ConfigError("output conll is for taggers; a classifier writes jsonl")
    if classify and documents:
        raise ConfigError("documents is for taggers; a classifier reads each line alone")
    if not first:  # nothing to answer is not an error (an empty batch in a pipeline); say so, write nothing
        Console().note(f"no input lines in {name}" + (f" for shard {config.shard}" if part is not None else ""))
        return 0
    out = stdout or sys.stdout
    answered = 0
    with Console().line_progress() as progress:
        for chunk in chain([first], chunks):
            if output == "conll":
                _, by_index = _predict_items(predictor, chunk, documents, where)
                out.write(write_conll((r.words, r.tags) if (r := by_index.get(i)) else ((), ())
                                      for i in range(len(chunk))))
            else:
                out.write("".join(json.dumps(answer, ensure_ascii=False) + "\n"
                                  for answer in _answers(predictor, chunk, config.all_scores, with_line=part is not None,
                                                         documents=documents, where=where)))
            out.flush()
            progress.advance(len(chunk))
            answered += len(chunk)
    return answered


def answer_lines(predictor, lines: Sequence[str], *, all_scores: bool = False, where: str = "<input>",
                 numbers: Sequence[int] | None = None) -> list[dict]:
    """The JSON answers ``predict_lines`` writes for ``lines`` (one each, in order, blank lines
    answered empty), given a loaded predictor (``entitune.load``): what the workers of a distributed
    engine call on their batches (``examples/ray_predict.py``). ``where`` and ``numbers`` (the lines'
    numbers) name a bad JSON object's place in its ``DataFormatError``."""
    items = [(n, line, parse_input_record(line, where, n)) for n, line in zip(numbers or repeat(None), lines)]
    return _answers(predictor, items, all_scores, with_line=False, where=where)


def _document_key(line: str, record: tuple | None) -> str | None:
    """The ``doc`` field of an input object (as JSON text), or None."""
    if record is None or "doc" not in record[1]:
        return None
    return json.dumps(record[1]["doc"], sort_keys=True, ensure_ascii=False)


def _document_may_end(chunk: list, item) -> bool:
    """Whether a chunk of input items may end before ``item`` (None: the input stalled) with
    ``documents``: after a blank line, or before an item whose ``doc`` field differs from the one
    before."""
    last = chunk[-1]
    if not last[1].strip():
        return True
    if item is None:
        return False
    key = _document_key(item[1], item[2])
    return key is not None and key != _document_key(last[1], last[2])


def document_ids(items: list[tuple[int | None, str, tuple | None]]) -> list:
    """One document id per item: its ``doc`` field where it has one, else none, each with the number
    of blank lines before it (a blank line ends a document, one with a ``doc`` field too: as
    ``_document_may_end`` may end a chunk there, grouping across it would depend on the chunking)."""
    ids: list = []
    blanks = 0
    for _, line, record in items:
        key = _document_key(line, record)
        ids.append(("doc", key, blanks) if key is not None else ("lines", blanks))
        if record is None and not line.strip():
            blanks += 1
    return ids


def _predict_items(predictor, items: list[tuple[int | None, str, tuple | None]],
                   documents: bool = False, where: str = "<input>") -> tuple[list, dict]:
    """What each item of ``(line number, line, parse_input_record(line))`` asks to predict, and the
    predictions of those not blank, by index (blank texts are answered without the model); with
    ``documents``, each read in its document (``document_ids``)."""
    classify = predictor.scorer.settings.task == "classify"
    values = [(line if classify else parse_input_line(line, where, number)) if record is None else record[0]
              for number, line, record in items]
    filled = [i for i, value in enumerate(values) if not isinstance(value, str) or value.strip()]
    if documents:
        ids = document_ids(items)
        return values, dict(zip(filled, predictor.predict([values[i] for i in filled], [ids[i] for i in filled])))
    return values, dict(zip(filled, predictor.predict([values[i] for i in filled])))


def _answers(predictor, items: list[tuple[int | None, str, tuple | None]], all_scores: bool,
             with_line: bool, documents: bool = False, where: str = "<input>") -> list[dict]:
    """One JSON answer per item (see ``_predict_items``): the prediction, or an empty one for a blank
    text, after ``line`` (``with_line``) and an input object's other fields (``_with_fields``)."""
    classify = predictor.scorer.settings.task == "classify"
    values, by_index = _predict_items(predictor, items, documents, where)
    answers = []
    for i, (number, _, record) in enumerate(items):
        r = by_index.get(i)
        if r is None:
            answer = {"text": values[i], "label": None, "score": None} if classify else \
                {"text": values[i], "words": [], "tags": [], "entities": []}
        else:
            answer = r.to_dict(all_scores) if classify else r.to_dict()
        if record is not None or with_line:
            answer = _with_fields(answer, record[1] if record is not None else {}, number if with_line else None)
        answers.append(answer)
    return answers


def _with_fields(answer: dict, fields: dict, line: int | None) -> dict:
    """``answer`` after ``line`` (when given) and an input object's other ``fields``; a field named
    like a key of the answer (or ``line``) is kept as ``input_<name>``.

    >>> _with_fields({"text": "x", "label": "pos"}, {"id": 7, "label": "neg"}, 3)
    {'line': 3, 'id': 7, 'input_label': 'neg', 'text': 'x', 'label': 'pos'}
    """
    row: dict = {} if line is None else {"line": line}
    for key, value in fields.items():
        row[f"input_{key}" if key in answer or (line is not None and key == "line") else key] = value
    row.update(answer)
    return row


def serve(config: ServeConfig, console: Console | None = None) -> None:
    """Serve ``config.model`` over HTTP until interrupted (see ``serve.create_app``), within
    ``config``'s request limits (``ServeLimits``). ``device``: auto, cpu or cuda
    (``backends.resolve_device``). ``processes`` above 1: that many worker processes on the one
    port, each loading the model (``serve_worker``, ``serve.processes``), with ``threads`` each
    (default: the CPUs divided among them); stopped together by Ctrl-C or SIGTERM."""
    try:
        from ..serve import listen, run  # FastAPI loads only for this verb
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("fastapi", "fastapi_offline", "starlette", "pydantic", "uvicorn"):
            raise
        raise ConfigError(f"entitune serve needs {exc.name}, which this install lacks: pip install 'entitune[runtime]' "
                          "(an ONNX export) or 'entitune[train]' (a PyTorch model)") from None

    console = console or Console()
    sock = listen(config.host, config.port)  # first: a taken port fails before the model loads or anything is said
    try:
        if config.processes > 1:
            _serve_processes(config, sock, console)
            return
        predictor, info, backend, device = _load_for_serving(config, console)
        console.note(_serving_line(config, sock, backend, device))
        run(predictor, info=info, limits=config.limits(), threads=config.threads, host=config.host, sock=sock)
    finally:
        sock.close()


def _serving_line(config: ServeConfig, sock, backend: str, device: object, processes: str = "") -> str:
    """The one "serving on" line: the model, the address (the port ``sock`` got), how it runs."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    return (f"serving {config.model} on http://{host}:{sock.getsockname()[1]} (page at /, API docs at /docs; "
            f"{backend} on {device}{processes})")


def _serve_processes(config: ServeConfig, sock, console: Console) -> None:
    """``serve`` with ``config.processes`` workers on ``sock``: the parent loads no model; it says
    "serving on" (and the first worker's notes) once every worker is ready, and stops them all on
    Ctrl-C or SIGTERM (``serve.processes.supervise``)."""
    from ..serve import supervise, threads_per_process

    # before any worker starts: a directory that is not a model is one line here, not one per
    # worker, and an archive is unpacked once, not by each worker at the same time
    read_settings(model_directory(config.model))
    threads = config.threads or threads_per_process(config.processes)
    worker_config = replace(config, threads=threads)

    def on_ready(said: dict) -> None:
        for line in said["notes"]:
            console.note(line)
        console.note(_serving_line(config, sock, said["backend"], said["device"],
                                   f"; {config.processes} processes, {threads} thread{'s' if threads > 1 else ''} each"))

    supervise(serve_worker, (worker_config,), processes=config.processes, sock=sock, on_ready=on_ready,
              note=console.note)


class _Notes(Console):
    """A console that keeps its notes (a worker's, for its parent to say once)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def note(self, message: str) -> None:
        self.lines.append(message)


def serve_worker(sock, ready, config: ServeConfig) -> None:
    """One process of ``serve --processes``: load the model, serve on the inherited listening
    ``sock`` until SIGTERM, and ``ready({"backend", "device", "notes"})`` once it accepts
    connections. ``/info`` says how many processes serve and which one answered (``pid``)."""
    from ..serve import run

    notes = _Notes()
    predictor, info, backend, device = _load_for_serving(config, notes)
    said = {"backend": backend, "device": device, "notes": notes.lines}
    run(predictor, info=info, limits=config.limits(), threads=config.threads, host=config.host, sock=sock,
        on_started=lambda: ready(said))


def _load_for_serving(config: ServeConfig, console: Console) -> tuple:
    """What one server process serves: the predictor of ``config.model`` (its precision said on
    ``console``), ``/info``'s content (how many processes serve, and this one's ``pid``), and the
    backend and device the "serving on" line names."""
    from ..serve import model_info

    scorer = load_scorer(config.model, config.backend, config.threads, config.device, config.precision)
    _say_precision(scorer, config.precision, console)
    backend = backend_name(scorer)
    info = {**model_info(scorer, str(config.model), backend), "processes": config.processes, "pid": os.getpid()}
    return predictor_for(scorer, config.batch_size), info, backend, str(getattr(scorer, "device", "cpu"))
