"""Export: a ``Tagger`` as an ONNX graph (fused, optionally int8) with its head beside it
(``onnx``), and the re-scoring recipe that keeps an export only if it tags as well (``rescore``)."""
from .onnx import QUANTIZATIONS, LastLayerAtWords, WordVectorGraph, export_onnx
from .rescore import export_and_rescore

__all__ = ["QUANTIZATIONS", "LastLayerAtWords", "WordVectorGraph", "export_and_rescore", "export_onnx"]
