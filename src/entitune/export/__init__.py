"""Export: a ``Tagger`` or ``Classifier`` as an ONNX graph that gives label scores, head included
(fused, optionally int8), with its tag decoder beside it (``onnx``), and the re-scoring recipe that
keeps an export only if it tags as well (``rescore``)."""
from .onnx import QUANTIZATIONS, ExportedHead, LastLayerAtWords, PaddedBiLSTM, ScoreGraph, export_onnx
from .rescore import export_and_rescore

__all__ = ["QUANTIZATIONS", "ExportedHead", "LastLayerAtWords", "PaddedBiLSTM", "ScoreGraph", "export_and_rescore",
           "export_onnx"]
