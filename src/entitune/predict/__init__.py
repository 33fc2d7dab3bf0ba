"""Prediction: the ``Scorer`` protocol every backend implements, and ``Predictor``, the one decode
path (words or raw text -> windows -> scores -> merged -> decoded -> tags and entities)."""
from ..types import Prediction, Tagged
from .predictor import Predictor
from .scorer import HeadScorer, Scorer

__all__ = ["HeadScorer", "Prediction", "Predictor", "Scorer", "Tagged"]
