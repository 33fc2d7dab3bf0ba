"""Evaluation: metrics (entity P/R/F1 strict and conlleval-style, token micro F1), ``evaluate`` over
the one decode path, and ``doctor``'s report on data before training."""
from .doctor import diagnose, format_doctor, word_encoder_for
from .evaluation import evaluate, tagging_report
from .metrics import entity_scores, format_report, token_micro_f1

__all__ = ["diagnose", "entity_scores", "evaluate", "format_doctor", "format_report", "tagging_report",
           "token_micro_f1", "word_encoder_for"]
