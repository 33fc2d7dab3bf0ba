"""``export``: the recipe of ``entitune export`` (a model -> an ONNX export, re-scored), taking its
config object; ``export_model`` takes the same options as keywords. Apart from ``inference``, whose
verbs run on an export without torch: exporting needs torch, transformers and onnx."""
from __future__ import annotations

from pathlib import Path

from ..artifact import model_dir
from ..artifact.archive import model_directory
from ..export import export_and_rescore
from ..files import check_input_file
from ..options import ExportConfig
from ..terminal import Console
from .common import load_data, read_labelled_texts, set_threads


def export_model(model: str | Path, onnx: str | Path, *, console: Console | None = None, **options) -> dict:
    """``export`` with the options as keywords (``ExportConfig``'s fields)."""
    if options.get("eval_file") is not None:
        options["eval_file"] = str(options["eval_file"])
    return export(ExportConfig(model=str(model), onnx=str(onnx), **options), console)


def export(config: ExportConfig, console: Console | None = None) -> dict:
    """Export ``config.model`` to ONNX (``quantize`` int8 or none), re-scored on ``eval_file`` and
    refused if its score (entity F1, or accuracy for a classifier) drops more than ``max_drop``
    points; returns the report (``export.json``)."""
    onnx, eval_file, quantize, max_drop = config.onnx, config.eval_file, config.quantize, config.max_drop
    console = console or Console()
    if eval_file is not None:
        check_input_file(eval_file)  # before the model loads
    set_threads(config.threads)
    model = model_directory(config.model)  # an 'entitune package' archive: its unpacked folder
    settings = model_dir.read_settings(model)[0]
    task = settings.task
    examples = None
    if eval_file is not None:
        examples = (read_labelled_texts(eval_file, config.format, config.text_columns, config.label_column,
                                        settings.label_names).examples
                    if task == "classify" else load_data(eval_file, config.format, console).sentences)
    else:
        console.note("notice: no --eval file: the export is not re-scored")
    report = export_and_rescore(model, onnx, examples, quantize, max_drop, config.accept_drop)
    if examples is not None:
        metric = report["metric"]
        console.result(f"{metric}: PyTorch {report['torch_score']:.4f} | ONNX ({quantize}) "
                       f"{report['onnx_score']:.4f} | drop {report['drop_points']:.2f} points (max {max_drop})")
    console.result(f"wrote {onnx} ({report['onnx_bytes'] / 1e6:.1f} MB model.onnx; report in {Path(onnx) / 'export.json'})")
    return report
