"""Driving ``export.export_and_rescore`` with known scores: saved tiny models, one real export that
stands in for every export (copied where the recipe stages it, so a case costs no export), and a
stand-in for ``evaluate`` / ``evaluate_classifier`` that answers chosen reports and records what it
was asked."""

from __future__ import annotations

import shutil
from pathlib import Path

LABELS = ("O", "B-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR")
#: what a stand-in evaluation records when the caller passes no batch size
NO_BATCH_SIZE = "no batch size given"


def save_models(tiny_bert: Path, root: Path) -> Path:
    """Untrained tiny models under ``root`` (``tagger``, ``classifier``, ``multi``: multi-label) and
    one real fp32 export of the tagger (``export``)."""
    from entitune import Classifier, Tagger
    from entitune.export import export_onnx

    Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4).save(
        root / "tagger"
    )
    Classifier.from_encoder(tiny_bert, ["a", "b"], max_length=16, stride=4).save(
        root / "classifier"
    )
    Classifier.from_encoder(
        tiny_bert, ["a", "b"], multi_label=True, max_length=16, stride=4
    ).save(root / "multi")
    export_onnx(Tagger.load(root / "tagger"), root / "export")
    return root


def copy_export(prepared: Path, seen: list[Path] | None = None):
    """A stand-in for ``rescore.export_onnx`` that copies the ``prepared`` export to where it is
    asked to write (noting that place in ``seen``)."""

    def export(model, out, quantize="none"):
        if seen is not None:
            seen.append(Path(out))
        shutil.copytree(prepared, out, dirs_exist_ok=True)

    return export


class KnownScores:
    """Stands in for ``evaluate``/``evaluate_classifier`` inside ``rescore``: ``torch`` is the
    PyTorch model's report, ``onnx`` the export's (an ``OnnxScorer``). ``asked`` records each call
    as (which, examples, batch_size)."""

    def __init__(self, torch: dict, onnx: dict) -> None:
        self.torch, self.onnx = torch, onnx
        self.asked: list[tuple[str, object, object]] = []

    def __call__(self, model, examples, batch_size=NO_BATCH_SIZE, *rest):
        from entitune import OnnxScorer

        which = "onnx" if isinstance(model, OnnxScorer) else "torch"
        self.asked.append((which, examples, batch_size))
        return getattr(self, which)
