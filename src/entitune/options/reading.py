"""How a labelled file is read (``ReadOptions``): declared once for every verb that reads one
(``train``, ``evaluate``, ``export``, ``doctor``)."""
from __future__ import annotations

from dataclasses import dataclass

from ..data import FORMATS, TEXT_FORMATS
from .declare import Options, option

#: every format a labelled file is read in: annotated sentences and labelled texts
READ_FORMATS = tuple(dict.fromkeys([*FORMATS, *TEXT_FORMATS]))
READ_FORMAT_HELP = ("conll (word ... TAG) | bio (TAG<TAB>word) | jsonl (tokens+tags, text+entities, or text+label(s)) | "
                    "gmb (Sentence #,Word,POS,Tag CSV) | weibo (char+digit<TAB>tag) | klue | kmou | labelstudio (Label "
                    "Studio's JSON export) | doccano (doccano's JSONL) | csv | tsv (label and text); auto: from the "
                    "first lines")



@dataclass(frozen=True, kw_only=True)
class ReadOptions(Options):
    """How a labelled file is read: its format, and for CSV/TSV texts which columns hold the text and
    the label."""

    format: str = option("auto", READ_FORMAT_HELP, group="data", choices=READ_FORMATS,
                         searchable=False)
    text_columns: str | None = option(None, "CSV/TSV: the text column(s), by index or header name, comma-separated",
                                      group="data", tasks=frozenset({"classify"}), searchable=False,
                                      default_help="'text', else every column but the label")
    label_column: str | None = option(None, "CSV/TSV: the label column, by index or header name", group="data",
                                      tasks=frozenset({"classify"}), default_help="'label', else the first",
                                      searchable=False)
