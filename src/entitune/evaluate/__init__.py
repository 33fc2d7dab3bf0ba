"""Evaluation: tagging metrics (entity P/R/F1 strict and conlleval-style, token micro F1) and
``evaluate`` over the one decode path; classification metrics and ``evaluate_classifier``;
``errors``: every wrong entity span classified, and the type confusion matrix."""
from .classification import (
    check_labels, classification_report, classification_scores, evaluate_classifier, format_classification_report,
)
from .errors import ERROR_KINDS, compare_spans, error_analysis, format_errors
from .evaluation import evaluate, tagging_errors, tagging_report
from .metrics import entity_scores, format_report, token_micro_f1

__all__ = ["ERROR_KINDS", "check_labels", "classification_report", "classification_scores",
           "entity_scores", "evaluate",
           "evaluate_classifier", "format_classification_report", "format_report", "tagging_report",
           "token_micro_f1",
           "compare_spans", "error_analysis", "format_errors", "tagging_errors"]
