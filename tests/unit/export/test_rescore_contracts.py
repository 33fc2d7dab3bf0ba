"""``export_and_rescore``'s rule, driven with known scores: the real re-scoring function (``_scores``
and the decision) runs on a real export (copied in, so each case costs no export), while the
evaluation it calls returns chosen numbers for the PyTorch model and for the export.

The rule: drop = 100 x (PyTorch score - export score), in points; the export is kept when
drop <= ``max_drop`` (the boundary is kept), refused otherwise, unless ``accept_drop``. An export
that scores higher has a negative drop: never refused by a ``max_drop`` >= 0. The score is entity
F1 for a tagger, accuracy for a single-label classifier, micro F1 for a multi-label one. A refused
export leaves nothing behind (and an earlier export in place); a kept one is moved in whole with its
report. The real drop of a degraded export is in ``test_onnx.py``."""
from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("onnxruntime")

from entitune import Classifier, OnnxScorer, Tagger  # noqa: E402
from entitune.errors import ExportError  # noqa: E402
from entitune.export import export_onnx, rescore  # noqa: E402
from entitune.types import Sentence, TextExample  # noqa: E402
from tests.helpers.data import TINY_SENTENCES  # noqa: E402

LABELS = ("O", "B-ACTOR", "I-ACTOR", "B-YEAR", "I-YEAR")
SENTENCES = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
TEXTS = [TextExample("films in paris", ("a",), 1), TextExample("drew barrymore", ("b",), 2)]


@pytest.fixture(scope="module")
def models(tiny_bert, tmp_path_factory):
    """Untrained tiny models saved (tagger, classifier, multi-label classifier) and one real export
    of the tagger, which stands in for every export here."""
    root = tmp_path_factory.mktemp("rescore")
    Tagger.from_encoder(tiny_bert, LABELS, max_length=16, stride=4).save(root / "tagger")
    Classifier.from_encoder(tiny_bert, ["a", "b"], max_length=16, stride=4).save(root / "classifier")
    Classifier.from_encoder(tiny_bert, ["a", "b"], multi_label=True, max_length=16, stride=4).save(root / "multi")
    export_onnx(Tagger.load(root / "tagger"), root / "export")
    return root


class _Known:
    """Stands in for ``evaluate``/``evaluate_classifier`` inside ``rescore``: ``torch`` for the
    PyTorch model, ``onnx`` for the export (an ``OnnxScorer``); notes which it was asked for."""

    def __init__(self, torch: dict, onnx: dict) -> None:
        self.torch, self.onnx = torch, onnx
        self.asked: list[str] = []

    def __call__(self, model, examples, batch_size=64, *args):
        which = "onnx" if isinstance(model, OnnxScorer) else "torch"
        self.asked.append(which)
        return getattr(self, which)


def _tagger_report(f1: float) -> dict:
    # token micro F1 and the counts differ from the entity F1: the rule must read entity F1
    return {"entity": {"f1": f1}, "token_micro_f1": 1 - f1 / 3, "invalid_sequences": 3, "words_untagged": 0}


@pytest.fixture
def known(monkeypatch, models):
    """``known(torch, onnx)`` makes the tagger's re-scoring see these entity F1s; the export is
    the prepared one, copied where ``export_and_rescore`` stages it."""
    monkeypatch.setattr(rescore, "export_onnx",
                        lambda model, out, quantize="none": shutil.copytree(models / "export", out, dirs_exist_ok=True))

    def set_scores(torch: float, onnx: float) -> _Known:
        scores = _Known(_tagger_report(torch), _tagger_report(onnx))
        monkeypatch.setattr(rescore, "evaluate", scores)
        return scores

    return set_scores


def _leftovers(directory) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".export-")]


#: (PyTorch F1, export F1, max_drop, kept); the F1s are binary fractions, so each drop is exact
CASES = [
    (0.75, 0.625, 12.5, True),     # a drop of exactly max_drop is kept
    (0.75, 0.625, 12.499, False),  # just under it: refused
    (0.75, 0.625, 0.5, False),     # the default allowance
    (0.75, 0.74609375, 0.5, True),  # a drop of 0.390625 points, within 0.5
    (0.625, 0.625, 0.0, True),     # no drop, no allowance
    (0.5, 0.75, 0.0, True),        # the export scores higher: never refused
    (0.0, 1.0, 0.5, True),
    (1.0, 0.0, 99.99, False),
    (1.0, 0.0, 100.0, True),       # the largest possible drop, allowed in full
    (0.5, 0.75, -20.0, True),      # a negative allowance asks for a gain: 25 points is enough
    (0.5, 0.75, -30.0, False),     # and 25 is not 30
]


@pytest.mark.parametrize("ours, theirs, max_drop, kept", CASES)
def test_the_export_is_kept_exactly_when_its_drop_is_at_most_max_drop(known, models, tmp_path, ours, theirs,
                                                                      max_drop, kept):
    """Broken: the drop measured the other way round (exports that gain refused, ones that lose
    kept), as a fraction instead of points (a 12.5-point drop read as 0.125), as its size (gains
    refused), or the boundary itself refused."""
    scores = known(ours, theirs)
    out = tmp_path / "onnx"
    drop = 100 * (ours - theirs)
    if kept:
        report = rescore.export_and_rescore(models / "tagger", out, SENTENCES, max_drop=max_drop)
        assert report["accepted"] is True
        assert (out / "model.onnx").is_file() and (out / "decoder.json").is_file()
        assert json.loads((out / "export.json").read_text()) == report
    else:
        with pytest.raises(ExportError) as refused:
            rescore.export_and_rescore(models / "tagger", out, SENTENCES, max_drop=max_drop)
        assert str(refused.value).startswith(
            f"{out}: export refused: entity F1 {theirs:.4f} (none) vs {ours:.4f} (PyTorch), a drop of {drop:.2f} "
            f"points > {max_drop}; nothing written")
        assert not out.exists()
    assert sorted(scores.asked) == ["onnx", "torch"]
    assert _leftovers(tmp_path) == []
    if kept:
        assert (report["metric"], report["torch_score"], report["onnx_score"]) == ("entity F1", ours, theirs)
        assert report["drop_points"] == pytest.approx(drop, abs=1e-9) and report["max_drop_points"] == max_drop
        assert (report["torch_entity_f1"], report["onnx_entity_f1"]) == (ours, theirs)
        assert report["eval_examples"] == len(SENTENCES) and report["onnx_invalid_sequences"] == 3


def test_accept_drop_keeps_a_refused_export_and_says_how_far_it_fell(known, models, tmp_path):
    """``accept_drop`` keeps an export the rule refuses, accepted, with its real drop in the report."""
    known(0.75, 0.5)
    report = rescore.export_and_rescore(models / "tagger", tmp_path / "onnx", SENTENCES, max_drop=0.5,
                                        accept_drop=True)
    assert report["accepted"] is True and report["drop_points"] == pytest.approx(25.0)
    assert OnnxScorer.load(tmp_path / "onnx").labels == LABELS


def test_a_refused_export_leaves_the_earlier_export_in_place(known, models, tmp_path):
    """Re-exporting over an earlier export: a refused one changes nothing there (the earlier export
    and its report stay whole); a kept one replaces it."""
    out = tmp_path / "onnx"
    known(0.75, 0.75)
    first = rescore.export_and_rescore(models / "tagger", out, SENTENCES)
    known(0.75, 0.5)
    with pytest.raises(ExportError, match="export refused"):
        rescore.export_and_rescore(models / "tagger", out, SENTENCES)
    assert json.loads((out / "export.json").read_text()) == first and (out / "model.onnx").is_file()
    known(0.75, 0.7475)
    second = rescore.export_and_rescore(models / "tagger", out, SENTENCES)
    assert json.loads((out / "export.json").read_text()) == second and second["onnx_score"] == 0.7475
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("examples", [None, []])
def test_without_examples_the_export_is_kept_unscored(known, models, tmp_path, examples):
    """No evaluation file: nothing is scored, the export is kept and its report says it was not
    re-scored."""
    scores = known(1.0, 0.0)
    report = rescore.export_and_rescore(models / "tagger", tmp_path / "onnx", examples, max_drop=0.0)
    assert report["accepted"] is True and "not re-scored" in report["note"] and "drop_points" not in report
    assert scores.asked == []


@pytest.mark.parametrize("model, metric, refused", [("classifier", "accuracy", True), ("multi", "micro f1", False)])
def test_a_classifier_is_judged_by_accuracy_or_by_micro_f1_when_multi_label(known, monkeypatch, models, tmp_path,
                                                                           model, metric, refused):
    """A single-label classifier's export is judged by accuracy, a multi-label one's by micro F1:
    with accuracy falling 20 points and micro F1 gaining 10, the first is refused and the second
    kept (macro F1, reported beside, decides nothing)."""
    known(0.0, 0.0)  # the prepared export, staged
    ours = {"accuracy": 0.75, "micro_f1": 0.5, "macro_f1": 0.9}
    theirs = {"accuracy": 0.55, "micro_f1": 0.6, "macro_f1": 0.1}
    monkeypatch.setattr(rescore, "evaluate_classifier", _Known(ours, theirs))
    key = metric.replace(" ", "_")
    if refused:
        with pytest.raises(ExportError, match=f"export refused: {metric} 0.5500 .* 0.7500 .*a drop of 20.00 points"):
            rescore.export_and_rescore(models / model, tmp_path / "onnx", TEXTS)
        return
    report = rescore.export_and_rescore(models / model, tmp_path / "onnx", TEXTS)
    assert report["metric"] == metric and report["accepted"] is True
    assert (report["torch_score"], report["onnx_score"]) == (ours[key], theirs[key])
    assert report["drop_points"] == pytest.approx(-10.0)
    assert (report["torch_macro_f1"], report["onnx_macro_f1"]) == (0.9, 0.1)
