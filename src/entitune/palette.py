"""Label colours, one palette for every page that shows labels (the report, the service's page).

A label's colour comes from its place in the model's sorted labels (entity types, or classes), not
from its name, so neighbours never nearly collide (as hashed hues did: PER and ORG) and the report
and the page of one model agree. Past the twelfth label the colours repeat; pages mark those.
"""
from __future__ import annotations

from collections.abc import Iterable

#: clearly distinct colours (Tableau 10, then two more)
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
           "#17becf", "#bcbd22", "#8c8c8c")


def tint(colour: str, share: float = 0.3) -> str:
    """``colour`` (``#rrggbb``) mixed with white, ``share`` of the colour: a highlight's background.

    >>> tint("#4e79a7")
    '#cad7e5'
    """
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in rgb)


def shade(colour: str, share: float = 0.7) -> str:
    """``colour`` (``#rrggbb``) darkened to ``share`` of each channel: its label text, readable on
    its tint and on white.

    >>> shade("#edc948")
    '#a68d32'
    """
    return "#" + "".join(f"{round(int(colour[i:i + 2], 16) * share):02x}" for i in (1, 3, 5))


def label_colours(labels: Iterable[str]) -> dict[str, str]:
    """The colour of each label, by its place in the sorted labels.

    >>> label_colours(["PER", "LOC"])
    {'LOC': '#4e79a7', 'PER': '#f28e2b'}
    """
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def label_styles(labels: Iterable[str]) -> dict[str, dict[str, str | bool]]:
    """Each label's colour, its tint (a highlight's background) and shade (its name as text), and
    whether the palette has come round again for it (``repeat``, from the thirteenth label on).

    >>> label_styles(["PER"])
    {'PER': {'colour': '#4e79a7', 'tint': '#cad7e5', 'shade': '#375575', 'repeat': False}}
    """
    return {label: {"colour": c, "tint": tint(c), "shade": shade(c), "repeat": i >= len(PALETTE)}
            for i, (label, c) in enumerate(label_colours(labels).items())}
