"""The report's figures, drawn with matplotlib (Agg, no display) and returned as PNG data URIs, so
the page embeds them and loads nothing.

matplotlib is an optional dependency (``pip install 'entitune[report]'``); ``require_matplotlib``
says so in one line before any work is done.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from .runlog import RunLog

#: precision, recall and F1 bars: the same three colours in every chart
METRIC_COLOURS = {"precision": "#4e79a7", "recall": "#f28e2b", "f1": "#59a14f"}


def require_matplotlib() -> None:
    """Import matplotlib with the Agg backend, or say how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("the report needs matplotlib: pip install 'entitune[report]'") from None
    matplotlib.use("Agg", force=True)


def _data_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float, columns: int = 1):
    require_matplotlib()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, columns, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def training_curves(log: RunLog) -> str:
    """Loss per step (with each epoch's mean loss), learning rate per step, and the dev scores per
    epoch (the selecting metric, token micro F1 where there is one; the best epoch marked)."""
    fig, (loss_ax, lr_ax, dev_ax) = _figure(13, 3.4, 3)
    steps = [s["step"] for s in log.steps]
    if steps:
        loss_ax.plot(steps, [s["loss"] for s in log.steps], color="#4e79a7", linewidth=0.8, alpha=0.7, label="step")
        lr_ax.plot(steps, [s.get("lr", 0.0) for s in log.steps], color="#b07aa1")
    if log.epochs and log.steps_per_epoch:
        ends = [e["epoch"] * log.steps_per_epoch for e in log.epochs]
        loss_ax.plot(ends, [e["train_loss"] for e in log.epochs], "o-", color="#e15759", label="epoch mean")
    loss_ax.set(title="training loss", xlabel="step")
    loss_ax.legend(loc="upper right", fontsize=8)
    lr_ax.set(title="learning rate", xlabel="step")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    scored = [e for e in log.epochs if e.get("score") is not None]
    if scored:
        epochs = [e["epoch"] for e in scored]
        dev_ax.plot(epochs, [e["score"] for e in scored], "o-", color="#59a14f", label=log.metric or "score")
        token = [(e["epoch"], e["dev"]["token_micro_f1"]) for e in scored if "token_micro_f1" in (e.get("dev") or {})]
        if token:
            dev_ax.plot(*zip(*token), "s--", color="#76b7b2", label="token micro F1")
        best = log.best
        if best is not None and best.get("score") is not None:
            dev_ax.plot([best["epoch"]], [best["score"]], "*", markersize=16, color="#edc948",
                        markeredgecolor="#333", label=f"best (epoch {best['epoch']})")
        dev_ax.legend(loc="lower right", fontsize=8)
        dev_ax.set_xticks(epochs)
    else:
        dev_ax.text(0.5, 0.5, "no dev scores", ha="center", va="center", transform=dev_ax.transAxes)
    dev_ax.set(title="dev", xlabel="epoch")
    for ax in (loss_ax, lr_ax, dev_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _data_uri(fig)


def score_bars(scores: Mapping[str, Mapping[str, float]], title: str, colours: Mapping[str, str] | None = None) -> str:
    """Precision, recall and F1 side by side for each type (or class) of ``scores`` (the
    ``per_type`` / ``per_class`` of a report), with its support under its name; ``colours`` colours
    the names as the rest of the page does."""
    names = list(scores)
    fig, (ax,) = _figure(max(6.0, 0.9 * len(names) + 2), 3.8)
    width = 0.27
    for k, metric in enumerate(("precision", "recall", "f1")):
        xs = [i + (k - 1) * width for i in range(len(names))]
        bars = ax.bar(xs, [scores[n][metric] for n in names], width, label=metric, color=METRIC_COLOURS[metric])
        if metric == "f1":
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{n}\n({scores[n].get('support', 0)})" for n in names],
                       rotation=30 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center", fontsize=8)
    for label, name in zip(ax.get_xticklabels(), names):
        if colours and name in colours:
            label.set_color(colours[name])
            label.set_fontweight("bold")
    ax.set_ylim(0, 1.1)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(names) <= 8 else -0.3), ncol=3, fontsize=8,
              frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _data_uri(fig)


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> str:
    """The confusion matrix as a heat map (rows gold, columns predicted), each cell's count written
    in it and its shade the share of its row, so rare types show their confusions too."""
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, (ax,) = _figure(size + 1, size)
    shares = [[n / sum(row) if sum(row) else 0.0 for n in row] for row in matrix]
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="gold", title=title)
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                        color="white" if shares[i][j] > 0.55 else "#222")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
    fig.tight_layout()
    return _data_uri(fig)
