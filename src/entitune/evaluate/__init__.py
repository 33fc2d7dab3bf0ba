"""Evaluation: tagging metrics (entity P/R/F1 strict and conlleval-style, token micro F1) and
``evaluate`` over the one decode path; classification metrics and ``evaluate_classifier``; and
``doctor``'s report on data before training."""
from .classification import (
    check_labels, classification_report, classification_scores, evaluate_classifier, format_classification_report,
)
from .doctor import diagnose, diagnose_texts, format_doctor, format_text_doctor, word_encoder_for
from .evaluation import evaluate, tagging_report
from .metrics import entity_scores, format_report, token_micro_f1

__all__ = ["check_labels", "classification_report", "classification_scores", "diagnose", "diagnose_texts",
           "entity_scores", "evaluate", "format_text_doctor",
           "evaluate_classifier", "format_classification_report", "format_doctor", "format_report", "tagging_report",
           "token_micro_f1", "word_encoder_for"]
