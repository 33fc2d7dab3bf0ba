"""``export_and_rescore``: export a saved model, score the export beside the PyTorch model on an
annotated file of its task, and keep it only if its score (entity F1 for a tagger, accuracy for a
classifier, micro F1 for a multi-label one) is within the allowed drop."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..backends import OnnxScorer, load_model
from ..errors import ConfigError, ExportError
from ..evaluate import evaluate, evaluate_classifier
from ..artifact import model_dir
from ..types import Sentence, TextExample
from .onnx import export_onnx


def _scores(model, exported, examples, batch_size: int) -> tuple[str, float, float, dict]:
    """(metric name, PyTorch score, export score, details) on ``examples``."""
    if model.task == "classify":
        ours, theirs = (evaluate_classifier(m, examples, batch_size) for m in (model, exported))
        key = "micro_f1" if model.settings.multi_label else "accuracy"
        details = {"torch_macro_f1": ours["macro_f1"], "onnx_macro_f1": theirs["macro_f1"]}
        return key.replace("_", " "), ours[key], theirs[key], details
    ours, theirs = (evaluate(m, examples, batch_size) for m in (model, exported))
    details = {
        "torch_entity_f1": ours["entity"]["f1"], "onnx_entity_f1": theirs["entity"]["f1"],
        "torch_token_micro_f1": ours["token_micro_f1"], "onnx_token_micro_f1": theirs["token_micro_f1"],
        "onnx_invalid_sequences": theirs["invalid_sequences"], "onnx_words_untagged": theirs["words_untagged"],
    }
    return "entity F1", ours["entity"]["f1"], theirs["entity"]["f1"], details


def export_and_rescore(
    model_path: str | Path,
    out_dir: str | Path,
    examples: Sequence[Sentence] | Sequence[TextExample] | None,
    quantize: str = "none",
    max_drop: float = 0.5,
    accept_drop: bool = False,
    batch_size: int = 64,
) -> dict:
    """Export a saved model, score both on ``examples`` (sentences for a tagger, texts for a
    classifier) and keep the export only if its score is at most ``max_drop`` points (of 100) below
    the PyTorch model's, or ``accept_drop``.

    The report (both scores, the drop, sizes, times) is returned and written to ``export.json`` in
    the export. An export that fails the check is deleted and ``ExportError`` says why.
    """
    model = load_model(model_path)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not model_dir.is_onnx_export(out):
        raise ConfigError(f"{out}: exists and is not an entitune ONNX export; choose an empty or new directory")
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        export_onnx(model, staging, quantize)
        report: dict = {"model": str(model_path), "quantize": quantize, "export_seconds": round(time.perf_counter() - t0, 2),
                        "onnx_bytes": (staging / model_dir.ONNX_FILE).stat().st_size, "max_drop_points": max_drop}
        if examples:
            metric, ours, theirs, details = _scores(model, OnnxScorer.load(staging), examples, batch_size)
            drop = 100 * (ours - theirs)
            report.update({"eval_examples": len(examples), "metric": metric, "torch_score": ours, "onnx_score": theirs,
                           "drop_points": drop, **details})
            report["accepted"] = drop <= max_drop or accept_drop
            if not report["accepted"]:
                raise ExportError(
                    f"{out}: export refused: {metric} {theirs:.4f} ({quantize}) vs {ours:.4f} (PyTorch), a drop of "
                    f"{drop:.2f} points > {max_drop}; nothing written (accept_drop, --accept-drop, keeps it anyway)")
        else:
            report["accepted"] = True
            report["note"] = "not re-scored: no evaluation file given"
        (staging / model_dir.EXPORT_REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        return report
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
