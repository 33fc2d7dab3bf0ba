"""Prediction: the ``Scorer`` protocol every backend implements, the batching engine
(``engine.WindowScoring``), ``Predictor``, the one decode path for tagging (words or raw text ->
windows -> scores -> merged -> decoded -> tags and entities), and ``ClassPredictor`` for texts."""
from ..types import Classification, Prediction, Tagged
from .classify import ClassPredictor, combine
from .engine import WindowScoring
from .predictor import Predictor
from .scorer import HeadScorer, Scorer

__all__ = ["ClassPredictor", "Classification", "HeadScorer", "Prediction", "Predictor", "Scorer", "Tagged",
           "WindowScoring", "combine"]
