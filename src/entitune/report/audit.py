"""The audit page: the issues ``entitune audit`` found, one self-contained HTML file in the run
report's style (its CSS, its label colours and marks; inline script; nothing fetched), to review
them: filters by class, by type, flagged by cleanlab or not, and by words; each issue shows its
sentence twice, with the file's annotation and with the model's, the spans in question outlined.
Reads the issues as ``audit`` writes them to ``issues.jsonl``; no torch, no model.
"""
from __future__ import annotations

from collections.abc import Sequence

from .page import CSS, Palette, _e, _kv, _note, _words_with_spans

CLASS_NAMES = {"wrong_type": "wrong type", "wrong_boundary": "wrong boundary",
               "type_and_boundary": "wrong type and boundary", "missing_entity": "missing entity",
               "spurious_entity": "spurious entity", "wrong_label": "wrong label"}
#: issues shown on the page, the best ranked first; a note says how many more the JSONL holds
MAX_ISSUES = 3000

AUDIT_CSS = """
.badge.wrong_type { background: #e3dcf5; } .badge.wrong_boundary { background: #d9ecf7; }
.badge.type_and_boundary { background: #f5d6eb; } .badge.missing_entity { background: #fde0e0; }
.badge.spurious_entity { background: #fff1c2; } .badge.wrong_label { background: #e3dcf5; }
.badge.flagged { background: #b00020; color: #fff; }
.side { width: 5.5rem; }
"""

SCRIPT = """
(function () {
  var kind = document.getElementById("kind-filter"), type = document.getElementById("type-filter"),
      flagged = document.getElementById("flagged-filter"), text = document.getElementById("text-filter"),
      shown = document.getElementById("shown-count");
  if (!kind) return;
  function apply() {
    var n = 0, q = text.value.trim().toLowerCase();
    document.querySelectorAll("article.issue").forEach(function (a) {
      var ok = (!kind.value || a.dataset.kind === kind.value)
            && (!type.value || a.dataset.types.split(" ").indexOf(type.value) >= 0)
            && (!flagged.checked || a.dataset.flagged === "yes")
            && (!q || a.dataset.text.indexOf(q) >= 0);
      a.hidden = !ok; if (ok) n++;
    });
    shown.textContent = n;
  }
  [kind, type, flagged].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  apply();
})();
"""


def _key(span: dict | None) -> tuple | None:
    return None if span is None else (span["start"], span["end"], span["label"])


def _entity_issue(issue: dict, palette: Palette) -> str:
    words = issue["words"]
    given, suggested = issue.get("given"), issue.get("suggested")
    rows = (f'<div class="row given"><span class="side">annotation</span>'
            f'{_words_with_spans(words, issue["given_spans"], palette, {_key(given)} - {None})}</div>'
            f'<div class="row suggested"><span class="side">model</span>'
            f'{_words_with_spans(words, issue["suggested_spans"], palette, {_key(suggested)} - {None})}</div>')

    def said(span: dict | None) -> str:
        return "nothing" if span is None else f'{_e(span["label"])} &ldquo;{_e(span["text"])}&rdquo;'

    change = f'<ul class="errs"><li>{said(given)} &rarr; {said(suggested)}</li></ul>'
    return rows + change


def _text_issue(issue: dict, palette: Palette) -> str:
    p = issue.get("probabilities") or {}
    return (f'<div class="row"><span class="side">text</span>{_e(issue["text"])}</div>'
            f'<ul class="errs"><li>label {palette.mark(issue["given"], "")} ({p.get(issue["given"], 0):.3f}) &rarr; '
            f'{palette.mark(issue["suggested"], "")} ({p.get(issue["suggested"], 0):.3f})</li></ul>')


def _issue(issue: dict, palette: Palette) -> str:
    kind = issue["kind"]
    text = " ".join(issue["words"]) if "words" in issue else issue.get("text", "")
    badges = f'<span class="badge {_e(kind)}">{_e(CLASS_NAMES.get(kind, kind))}</span>'
    if issue.get("flagged"):
        badges += '<span class="badge flagged">flagged</span>'
    where = f'#{issue.get("id", "")} {issue.get("file", "")}:{issue.get("line", "")} &middot; score {issue["score"]:.4f}'
    body = _entity_issue(issue, palette) if "words" in issue else _text_issue(issue, palette)
    return (f'<article class="sent issue" data-kind="{_e(kind)}" data-types="{_e(" ".join(issue.get("types", [])))}" '
            f'data-flagged="{"yes" if issue.get("flagged") else "no"}" data-text="{_e(text.lower())}" '
            f'data-id="{_e(issue.get("id", ""))}"><header>{where} {badges}</header>{body}</article>')


def build_audit_page(*, title: str, task: str, issues: Sequence[dict], summary: dict, classes: Sequence[str],
                     how: str) -> str:
    """The whole page for ``issues`` (ranked, as ``issues.jsonl`` holds them), their ``summary``
    (``curate.audit.summary``), the classes of the task (``classes``) and ``how`` the probabilities
    were made (cross-prediction, or which model)."""
    types = sorted({t for x in issues for t in x.get("types", [])} | set(summary.get("by_type", {})))
    palette = Palette(tuple(types))
    shown = list(issues[:MAX_ISSUES])
    by_class, flagged = summary.get("by_class", {}), summary.get("flagged_by_class", {})
    counts = _kv([(CLASS_NAMES.get(c, c), f"{by_class.get(c, 0)} ({flagged.get(c, 0)} flagged)") for c in classes])
    kind_options = "".join(f'<option value="{_e(c)}">{_e(CLASS_NAMES.get(c, c))} ({by_class.get(c, 0)})</option>'
                           for c in classes if by_class.get(c))
    type_options = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in types)
    more = (f" (the best ranked {len(shown)} of {len(issues)}; all are in issues.jsonl)"
            if len(issues) > len(shown) else "")
    filters = (
        f'<div class="filters"><label>class <select id="kind-filter"><option value="">all</option>{kind_options}'
        f'</select></label><label>type <select id="type-filter"><option value="">all</option>{type_options}</select>'
        '</label><label><input id="flagged-filter" type="checkbox"> flagged only</label>'
        '<label>words <input id="text-filter" type="search" placeholder="filter by words"></label>'
        f'<span class="muted">showing <span id="shown-count">{len(shown)}</span> of {len(shown)} issues{more}</span></div>')
    intro = _note(
        f"{_e(how)}. Issues are ranked by cleanlab's label quality of the annotation (lowest first); "
        "<em>flagged</em>: cleanlab's confident learning finds the annotated label unlikely. Review them in "
        "issues.jsonl (set <code>\"review\": \"accept\"</code> or <code>\"reject\"</code>), then "
        "<code>entitune audit DATA --out DIR --fix-from reviewed.jsonl</code> writes the corrected copy.")
    legend = ('<div class="legend muted">outlined in red: the annotated span in question (annotation row) and the '
              "model's suggestion (model row)</div>" if task == "ner" else "")
    body = (f"<section id=\"summary\"><h2>Summary</h2>{intro}{counts}</section>\n"
            f"<section id=\"issues\"><h2>Issues</h2>{filters}{legend}<div id=\"issue-list\">"
            + "\n".join(_issue(x, palette) for x in shown) + "</div></section>\n")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}: entitune audit</title><style>{CSS}{AUDIT_CSS}</style></head>\n"
            f"<body><h1>{_e(title)}</h1><p class=\"muted\">entitune audit</p>\n{body}<script>{SCRIPT}</script>"
            "</body></html>\n")
