"""Evaluation: tagging metrics (entity P/R/F1 strict and conlleval-style, token micro F1) and
``evaluate`` over the one decode path; classification metrics and ``evaluate_classifier``; and
``doctor``'s report on data before training; ``errors``: every wrong entity span classified, and
the type confusion matrix."""
from .classification import (
    check_labels, classification_report, classification_scores, evaluate_classifier, format_classification_report,
)
from .doctor import diagnose, diagnose_texts, format_doctor, format_text_doctor, word_encoder_for
from .errors import ERROR_KINDS, compare_spans, error_analysis, format_errors
from .evaluation import evaluate, tagging_errors, tagging_report
from .metrics import entity_scores, format_report, token_micro_f1

__all__ = ["ERROR_KINDS", "check_labels", "classification_report", "classification_scores", "diagnose", "diagnose_texts",
           "entity_scores", "evaluate", "format_text_doctor",
           "evaluate_classifier", "format_classification_report", "format_doctor", "format_report", "tagging_report",
           "token_micro_f1", "word_encoder_for",
           "compare_spans", "error_analysis", "format_errors", "tagging_errors"]
