"""The report page: one self-contained HTML file (inline CSS and script, figures as PNG data URIs,
nothing fetched) with a run's summary, its training and dev curves, per-type (per-class) scores,
the confusion matrix and, for a tagger evaluated with ``--errors``, a browsable gold-vs-predicted
view of every sentence with an error.

Entity types get their colours from ``palette.PALETTE`` by their place in the sorted list of the run's
types, so colours are clearly distinct and the same in the legend, the charts, the sentences and
the service's page (which takes the same palette through ``/info``).
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..palette import PALETTE, label_colours, shade, tint
from . import plots
from .runlog import RunLog

ERROR_NAMES = {"missed": "missed", "spurious": "spurious", "wrong_type": "wrong type",
               "wrong_boundary": "wrong boundary", "both": "both wrong"}
#: sentences shown in the error view; a note says how many more the evaluation found
MAX_SENTENCES = 2000
NONE = "none"

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #222; max-width: 78rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2.2rem; }
nav a { margin-right: 1rem; } .muted { color: #666; font-size: .9rem; }
table.kv td, table.kv th { padding: .15rem .8rem .15rem 0; text-align: left; }
table.kv td.num { font-variant-numeric: tabular-nums; }
img.figure { max-width: 100%; border: 1px solid #eee; }
mark.ent { background: var(--t); border-bottom: 3px solid var(--c); color: #222;
           padding: 0 .15rem; border-radius: .2rem; }
mark.ent.cycle { outline: 1px dashed var(--c); }
mark.ent .lab { font-size: .65rem; font-weight: 700; color: var(--d); margin-left: .2rem; vertical-align: super; }
mark.ent.wrong { box-shadow: 0 0 0 2px #b00020; }
.legend span.swatch { display: inline-block; margin: 0 .6rem .3rem 0; }
.filters { position: sticky; top: 0; background: #fafafa; padding: .5rem; border: 1px solid #ddd; z-index: 1; }
.filters label { margin-right: 1rem; }
article.sent { border: 1px solid #e4e4e4; border-radius: .3rem; margin: .6rem 0; padding: .4rem .7rem; }
article.sent header { font-size: .85rem; color: #555; }
.badge { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem; margin-left: .3rem;
         background: #eee; }
.badge.missed { background: #fde0e0; } .badge.spurious { background: #fff1c2; }
.badge.wrong_type { background: #e3dcf5; } .badge.wrong_boundary { background: #d9ecf7; }
.badge.both { background: #f5d6eb; }
.row { margin: .15rem 0; } .side { display: inline-block; width: 3.2rem; color: #888; font-size: .8rem; }
ul.errs { margin: .2rem 0 .2rem 3.2rem; padding-left: 1rem; font-size: .9rem; }
"""

SCRIPT = """
(function () {
  var kind = document.getElementById("kind-filter"), type = document.getElementById("type-filter"),
      text = document.getElementById("text-filter"), shown = document.getElementById("shown-count");
  if (!kind) return;
  function apply() {
    var n = 0, q = text.value.trim().toLowerCase();
    document.querySelectorAll("article.sent").forEach(function (a) {
      var ok = (!kind.value || a.dataset.kinds.split(" ").indexOf(kind.value) >= 0)
            && (!type.value || a.dataset.types.split(" ").indexOf(type.value) >= 0)
            && (!q || a.dataset.text.indexOf(q) >= 0);
      a.hidden = !ok; if (ok) n++;
    });
    shown.textContent = n;
  }
  [kind, type].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  apply();
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _f(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@dataclass(frozen=True)
class Palette:
    """A colour per type, by the type's place in ``types`` (sorted)."""

    types: tuple[str, ...]

    def colour(self, label: str) -> str:
        i = self.types.index(label) if label in self.types else len(self.types)
        return PALETTE[i % len(PALETTE)]

    def cycled(self, label: str) -> bool:
        return label in self.types and self.types.index(label) >= len(PALETTE)

    def colours(self) -> dict[str, str]:
        return {t: self.colour(t) for t in self.types}

    def text_colours(self) -> dict[str, str]:
        """Darker shades of the colours, readable as text on white."""
        return {t: shade(c) for t, c in self.colours().items()}

    def mark(self, label: str, inner: str, wrong: bool = False) -> str:
        classes = "ent" + (" cycle" if self.cycled(label) else "") + (" wrong" if wrong else "")
        colour = self.colour(label)
        return (f'<mark class="{classes}" data-label="{_e(label)}" '
                f'style="--c: {colour}; --t: {tint(colour)}; --d: {shade(colour)}">'
                f'{inner}<span class="lab">{_e(label)}</span></mark>')


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><th>{_e(k)}</th><td class='num'>{v}</td></tr>" for k, v in rows) + "</table>"


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>\n'


def _img(uri: str, alt: str) -> str:
    return f'<img class="figure" src="{uri}" alt="{_e(alt)}">'


def _note(text: str) -> str:
    return f'<p class="muted">{text}</p>'


def scores_source(eval_report: dict | None, eval_name: str | None, train_log: dict | None,
                  log: RunLog | None) -> tuple[dict | None, str]:
    """The report the scores come from and where it came from: ``--eval``, else the run's test
    report (``train_log.json``), else the best epoch's dev report (``log.jsonl``)."""
    if eval_report is not None:
        return eval_report, f"evaluation {eval_name or ''}".strip()
    if train_log and train_log.get("test"):
        return train_log["test"], "test set (train_log.json)"
    best = log.best if log is not None else None
    if best is not None and best.get("dev"):
        return best["dev"], f"dev set, best epoch {best['epoch']} (log.jsonl)"
    return None, ""


def report_task(eval_report: dict | None, train_log: dict | None, settings_task: str | None) -> str:
    """``classify`` or ``ner``: the model's settings, else the run's log, else the report's shape."""
    task = settings_task or (train_log or {}).get("task")
    if task:
        return "classify" if task == "classify" else "ner"
    return "classify" if eval_report is not None and "accuracy" in eval_report else "ner"


def _types(report: dict | None) -> tuple[str, ...]:
    if not report:
        return ()
    found = set(report.get("per_type") or {})
    errors = report.get("errors") or {}
    found.update(label for label in (errors.get("confusion") or {}).get("labels", []) if label != NONE)
    for s in errors.get("sentences", []):
        found.update(span["label"] for span in (*s.get("gold", []), *s.get("pred", [])))
    return tuple(sorted(found))


def _run_rows(log: RunLog | None, train_log: dict | None) -> list[tuple[str, str]]:
    rows = []
    if log is not None:
        rows.append(("epochs logged", str(len(log.epochs))))
        rows.append(("optimizer steps logged", str(len(log.steps))))
        if log.starts > 1:
            rows.append(("resumed", f"{log.starts - 1} time(s)"))
        best = log.best
        if best is not None:
            rows.append(("best epoch", f"{best['epoch']} ({_e(log.metric)} {_f(best.get('score'))})"))
    train = (train_log or {}).get("train") or {}
    if train.get("train_seconds"):
        rows.append(("training time", f"{train['train_seconds']:.1f} s"))
    data = (train_log or {}).get("data") or {}
    if data:
        rows.append(("data", ", ".join(f"{k} {v}" for k, v in data.items())))
    return rows


def _score_rows(task: str, report: dict) -> list[tuple[str, str]]:
    if task == "classify":
        rows = [("accuracy", _f(report.get("accuracy"))), ("macro F1", _f(report.get("macro_f1"))),
                ("micro F1", _f(report.get("micro_f1")))]
        return rows + [("texts", str(report.get("texts", "-")))]
    e = report.get("entity") or {}
    rows = [("entity precision (strict)", _f(e.get("precision"))), ("entity recall (strict)", _f(e.get("recall"))),
            ("entity F1 (strict)", _f(e.get("f1")))]
    if "entity_conlleval" in report:
        rows.append(("entity F1 (conlleval)", _f(report["entity_conlleval"]["f1"])))
    if "token_micro_f1" in report:
        rows.append(("token micro F1 (word accuracy)", _f(report["token_micro_f1"])))
    if "sentences" in report and "words" in report:
        rows.append(("sentences / words", f"{report['sentences']} / {report['words']}"))
    return rows


def _words_with_spans(words: Sequence[str], spans: Sequence[dict], palette: Palette, wrong: set) -> str:
    starts = {s["start"]: s for s in spans}
    out, i = [], 0
    while i < len(words):
        span = starts.get(i)
        if span is not None and span["end"] > i:
            inner = " ".join(_e(w) for w in words[i:span["end"]])
            out.append(palette.mark(span["label"], inner, (span["start"], span["end"], span["label"]) in wrong))
            i = span["end"]
        else:
            out.append(_e(words[i]))
            i += 1
    return " ".join(out)


def _span_text(span: dict | None, palette: Palette) -> str:
    if span is None:
        return "nothing"
    text = f" &ldquo;{_e(span['text'])}&rdquo;" if "text" in span else ""
    return palette.mark(span["label"], f"[{span['start']}, {span['end']})") + text


def _error_line(error: dict, palette: Palette) -> str:
    kind = error["kind"]
    return (f'<li><span class="badge {_e(kind)}">{_e(ERROR_NAMES.get(kind, kind))}</span> gold '
            f'{_span_text(error.get("gold"), palette)} &rarr; predicted {_span_text(error.get("pred"), palette)}</li>')


def _sentence(entry: dict, palette: Palette) -> str:
    words = entry.get("words") or []
    key = lambda s: (s["start"], s["end"], s["label"])  # noqa: E731
    wrong_gold = {key(e["gold"]) for e in entry["errors"] if e.get("gold")}
    correct = {key(s) for s in entry["gold"]}
    wrong_pred = {key(s) for s in entry["pred"] if key(s) not in correct}
    kinds = sorted({e["kind"] for e in entry["errors"]})
    types = sorted({s["label"] for e in entry["errors"] for s in (e.get("gold"), e.get("pred")) if s})
    where = f"sentence {entry['sentence'] + 1}" + (f", line {entry['line']}" if entry.get("line") else "")
    badges = "".join(f'<span class="badge {_e(k)}">{_e(ERROR_NAMES.get(k, k))}</span>' for k in kinds)
    return (f'<article class="sent" data-kinds="{_e(" ".join(kinds))}" data-types="{_e(" ".join(types))}" '
            f'data-text="{_e(" ".join(words).lower())}"><header>{_e(where)} {badges}</header>'
            f'<div class="row gold"><span class="side">gold</span>{_words_with_spans(words, entry["gold"], palette, wrong_gold)}</div>'
            f'<div class="row pred"><span class="side">pred</span>{_words_with_spans(words, entry["pred"], palette, wrong_pred)}</div>'
            f'<ul class="errs">{"".join(_error_line(e, palette) for e in entry["errors"])}</ul></article>')


def _errors_section(errors: dict | None, palette: Palette) -> str:
    if not errors:
        return _note("No error analysis in this report: evaluate with <code>entitune evaluate MODEL DATA "
                     "--errors errors.jsonl --json eval.json</code> and pass <code>--eval eval.json</code>.")
    c = errors["counts"]
    rows = [(ERROR_NAMES[k], str(c[k])) for k in ERROR_NAMES if k in c]
    body = [_kv(rows), _note(
        f"gold spans {c['gold']} = correct {c['correct']} + missed {c['missed']} + wrong type {c['wrong_type']} + "
        f"wrong boundary {c['wrong_boundary']} + both {c['both']}; predicted spans {c['pred']} = correct "
        f"{c['correct']} + spurious {c['spurious']} + overlapping a gold span {c['overlapping']}")]
    top = errors.get("top_confusions") or []
    if top:
        body.append("<h3>Most frequent confusions (gold &rarr; predicted)</h3><ol id='top-confusions'>" + "".join(
            f"<li>{_e(x['gold'])} &rarr; {_e(x['pred'])}: {x['count']}</li>" for x in top) + "</ol>")
    sentences = errors.get("sentences") or []
    shown = sentences[:MAX_SENTENCES]
    kinds = [k for k in ERROR_NAMES if c.get(k)]
    kind_options = "".join(f'<option value="{k}">{_e(ERROR_NAMES[k])} ({c[k]})</option>' for k in kinds)
    type_options = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in palette.types)
    body.append(
        "<h3>Sentences with errors</h3>"
        f'<div class="filters"><label>error <select id="kind-filter"><option value="">all</option>{kind_options}'
        f'</select></label><label>type <select id="type-filter"><option value="">all</option>{type_options}</select>'
        '</label><label>words <input id="text-filter" type="search" placeholder="filter by words"></label>'
        f'<span class="muted">showing <span id="shown-count">{len(shown)}</span> of {len(shown)} sentences'
        + (f" (the first {len(shown)} of {len(sentences)}; all are in the evaluation JSON)" if len(sentences) > len(shown) else "")
        + "</span></div>"
        + '<div class="legend muted">marks outlined in red are wrong: a gold span not predicted exactly, or a predicted span that matches no gold span</div>'
        + '<div id="sentences">' + "\n".join(_sentence(s, palette) for s in shown) + "</div>")
    return "\n".join(body)


def _legend(palette: Palette) -> str:
    if not palette.types:
        return ""
    return '<div class="legend" id="legend">' + "".join(
        f'<span class="swatch">{palette.mark(t, "")}</span>' for t in palette.types) + "</div>"


def build_report(*, title: str, task: str, log: RunLog | None, train_log: dict | None = None,
                 eval_report: dict | None = None, eval_name: str | None = None) -> str:
    """The whole page. ``log`` is the run's ``log.jsonl`` (None: no curves), ``train_log`` its
    ``train_log.json``, ``eval_report`` what ``entitune evaluate --json`` wrote (with ``errors``
    for the error view); the scores come from ``scores_source``."""
    report, source = scores_source(eval_report, eval_name, train_log, log)
    palette = Palette(_types(report) if task != "classify" else tuple((report or {}).get("labels", ())))
    sections = []

    summary = [_kv([("task", "text classification" if task == "classify" else "named entity recognition"),
                    *_run_rows(log, train_log)])]
    if report is not None:
        summary += [f"<h3>Scores on the {_e(source)}</h3>", _kv(_score_rows(task, report))]
    else:
        summary.append(_note("No scores: the run has no test report or dev scores; pass --eval eval.json."))
    sections.append(_section("summary", "Summary", "\n".join(summary)))

    if log is not None and (log.steps or log.epochs):
        curves = _img(plots.training_curves(log), "training loss, learning rate and dev scores")
    else:
        curves = _note("No training log (log.jsonl) with steps in the run directory.")
    sections.append(_section("curves", "Training and dev curves", curves))

    per = (report or {}).get("per_class" if task == "classify" else "per_type") or {}
    kind = "class" if task == "classify" else "type"
    scores = (_img(plots.score_bars(per, f"precision, recall and F1 per {kind} ({source})", palette.text_colours()),
                   f"precision, recall and F1 per {kind}") + _legend(palette)) if per else _note(f"No per-{kind} scores.")
    sections.append(_section("scores", f"Scores per {kind}", scores))

    if task == "classify":
        matrix = (report or {}).get("confusion_matrix")
        labels = (report or {}).get("labels")
        confusion = (_img(plots.confusion_heatmap(labels, matrix, "classes: gold x predicted"), "confusion matrix")
                     if matrix and labels else _note("No confusion matrix (multi-label models have none)."))
    else:
        c = ((report or {}).get("errors") or {}).get("confusion")
        confusion = (_img(plots.confusion_heatmap(c["labels"], c["matrix"], "entity types: gold x predicted"),
                          "type confusion matrix")
                     + _note("Rows: gold type, columns: predicted type; a correct span or one with wrong boundaries "
                             "counts on the diagonal; <code>none</code>: a missed gold span (column) or a spurious "
                             "prediction (row).")) if c else _note(
            "No confusion matrix: it comes with the error analysis (<code>entitune evaluate --errors</code>).")
    sections.append(_section("confusion", "Confusion matrix", confusion))

    if task != "classify":
        sections.append(_section("errors", "Errors", _errors_section((report or {}).get("errors"), palette)))

    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in
                  [("summary", "summary"), ("curves", "curves"), ("scores", "scores"), ("confusion", "confusion"),
                   *([("errors", "errors")] if task != "classify" else [])])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}: entitune report</title><style>{CSS}</style></head>\n"
            f"<body><h1>{_e(title)}</h1><p class=\"muted\">entitune report</p><nav>{nav}</nav>\n"
            + "".join(sections) + f"<script>{SCRIPT}</script></body></html>\n")


def palette_for(types: Sequence[str]) -> Mapping[str, str]:
    """The colour of each of ``types`` as the page gives it.

    >>> palette_for(["PER", "LOC"])
    {'LOC': '#4e79a7', 'PER': '#f28e2b'}
    """
    return label_colours(types)
