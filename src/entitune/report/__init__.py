"""The run report: one self-contained HTML page (``build_report``) with a training run's curves
(``log.jsonl``, read by ``read_run_log``), its scores per type or class, the confusion matrix and
the errors of an evaluation, drawn with matplotlib (the optional ``report`` extra). Reads JSON and
writes HTML only: no torch, no model.
"""
from .page import PALETTE, build_report, palette_for, report_task, scores_source
from .plots import require_matplotlib
from .runlog import RunLog, parse_run_log, read_run_log

__all__ = ["PALETTE", "RunLog", "build_report", "palette_for", "parse_run_log", "read_run_log", "report_task",
           "require_matplotlib", "scores_source"]
