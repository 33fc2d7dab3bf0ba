"""``export_and_rescore``: export a saved model, score the export beside the PyTorch model on an
annotated file, and keep it only if its entity F1 is within the allowed drop."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..backends import OnnxScorer
from ..errors import ConfigError, ExportError
from ..evaluate import evaluate
from ..model import model_dir
from ..model.tagger import Tagger
from ..types import Sentence
from .onnx import export_onnx


def export_and_rescore(
    model_path: str | Path,
    out_dir: str | Path,
    sentences: Sequence[Sentence] | None,
    quantize: str = "none",
    max_drop: float = 0.5,
    accept_drop: bool = False,
    batch_size: int = 64,
) -> dict:
    """Export a saved model, score both on ``sentences`` and keep the export only if its entity F1
    is at most ``max_drop`` points (of 100) below the PyTorch model's, or ``accept_drop``.

    The report (both F1s, the drop, sizes, times) is returned and written to ``export.json`` in
    the export. An export that fails the check is deleted and ``ExportError`` says why.
    """
    tagger = Tagger.load(model_path)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not model_dir.is_onnx_export(out):
        raise ConfigError(f"{out}: exists and is not an entitune ONNX export; choose an empty or new directory")
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        export_onnx(tagger, staging, quantize)
        report: dict = {"model": str(model_path), "quantize": quantize, "export_seconds": round(time.perf_counter() - t0, 2),
                        "onnx_bytes": (staging / model_dir.ONNX_FILE).stat().st_size, "max_drop_points": max_drop}
        if sentences:
            exported = OnnxScorer.load(staging)
            torch_report = evaluate(tagger, sentences, batch_size)
            onnx_report = evaluate(exported, sentences, batch_size)
            drop = 100 * (torch_report["entity"]["f1"] - onnx_report["entity"]["f1"])
            report.update({
                "eval_sentences": len(sentences),
                "torch_entity_f1": torch_report["entity"]["f1"], "onnx_entity_f1": onnx_report["entity"]["f1"],
                "drop_points": drop, "torch_token_micro_f1": torch_report["token_micro_f1"],
                "onnx_token_micro_f1": onnx_report["token_micro_f1"],
                "onnx_invalid_sequences": onnx_report["invalid_sequences"],
                "onnx_words_untagged": onnx_report["words_untagged"],
            })
            report["accepted"] = drop <= max_drop or accept_drop
            if not report["accepted"]:
                raise ExportError(
                    f"{out}: export refused: entity F1 {onnx_report['entity']['f1']:.4f} ({quantize}) vs "
                    f"{torch_report['entity']['f1']:.4f} (PyTorch), a drop of {drop:.2f} points > {max_drop}; "
                    "nothing written (--accept-drop keeps it anyway)")
        else:
            report["accepted"] = True
            report["note"] = "not re-scored: no --eval file given"
        (staging / model_dir.EXPORT_REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        return report
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
