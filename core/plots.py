"""Figures of metrics (never of images): confusion matrices, learning curves, accuracy vs speed.

Figures are drawn on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so no
global backend or state is touched and nothing needs a display. PNGs are written without the
"Software" metadata entry (the matplotlib version) and with fixed size and dpi: the same numbers
give the same bytes, so regenerated reports only change where the results did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 100
#: iterations of adjustText's label placement (an iteration count, not its default time limit:
#: the same points must give the same bytes on any machine)
LABEL_ITERATIONS = 300
PNG_METADATA = {"Software": None}


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI, metadata=PNG_METADATA)
    return path


def confusion(matrix, labels: list[str], title: str, path: Path) -> Path:
    """The confusion matrix normalised by true class (rows sum to 1: per-class recall on the diagonal)."""
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig, (ax,) = _figure(6.4, 5.6)
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, j in np.ndindex(rates.shape):
        ax.text(
            j,
            i,
            f"{100 * rates[i, j]:.0f}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if rates[i, j] > 0.5 else "black",
        )
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def per_epoch(history) -> dict[str, list[float]]:
    """{metric: [value per epoch]} of a training history, given as a list of per-epoch dicts or a
    dict of per-epoch lists; the epoch number and metrics with a missing value (validation scores
    of a run without validation data) are left out."""
    if isinstance(history, list) and history:
        history = {k: [epoch.get(k) for epoch in history] for k in history[0]}
    if not isinstance(history, dict):
        return {}
    return {
        k: v
        for k, v in history.items()
        if k != "epoch" and isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
    }


def learning_curves(folds: list[dict[str, list[float]]], title: str, path: Path) -> Path:
    """Per-epoch metrics of every training run (a fold, or a member of an ensemble): losses on the
    left, accuracies (and F1) on the right; the rest of a history (learning rate, timings) has other
    scales and is left out."""
    fig, (loss_ax, score_ax) = _figure(10.0, 4.0, ncols=2)
    axis = {
        name: loss_ax if "loss" in name else score_ax
        for fold in folds
        for name in fold
        if "loss" in name or "acc" in name or "f1" in name
    }
    colors = {name: f"C{i % 10}" for i, name in enumerate(sorted(axis))}
    alpha = 1.0 if len(folds) == 1 else max(0.15, 1.0 / len(folds) ** 0.5)
    for n, fold in enumerate(folds):
        for name in sorted(set(fold) & set(axis)):
            ax = axis[name]
            epochs = np.arange(1, len(fold[name]) + 1)
            ax.plot(epochs, fold[name], color=colors[name], alpha=alpha, label=name if n == 0 else None)
    for ax, what in ((loss_ax, "loss"), (score_ax, "score")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{title} ({len(folds)} training run{'s' if len(folds) != 1 else ''})", fontsize=9)
    return _save(fig, path)


def accuracy_vs_time(points: list[tuple[str, float, float, str]], title: str, path: Path) -> Path:
    """One point per leaderboard row: (label, inference ms per image, accuracy %, kind). Keep labels
    short (the report uses the row's rank, #n): a board holds dozens of points.

    Labels are moved apart by adjustText (a fixed number of iterations and its own fixed seed, so
    the same points give the same picture), each joined to its point by a thin line.
    """
    from adjustText import adjust_text

    fig, (ax,) = _figure(8.0, 5.6)
    for kind, marker in (("classical", "o"), ("deep", "s")):
        mine = [p for p in points if p[3] == kind]
        if mine:
            ax.scatter([p[1] for p in mine], [p[2] for p in mine], marker=marker, label=kind, zorder=3)
    if all(p[1] > 0 for p in points):
        ax.set_xscale("log")
    ax.margins(x=0.25, y=0.15)  # room for the labels
    ax.set_xlabel("inference, ms per image")
    ax.set_ylabel("accuracy, %")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=9)
    texts = [ax.text(ms, acc, label, fontsize=7) for label, ms, acc, _ in points]
    fig.tight_layout()  # adjustText works in display coordinates: lay the axes out first
    adjust_text(
        texts,
        x=[p[1] for p in points],
        y=[p[2] for p in points],
        ax=ax,
        iter_lim=LABEL_ITERATIONS,
        expand=(1.1, 1.4),
        arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5},
    )
    return _save(fig, path)


def robustness_curves(curves: dict[str, dict[str, list[float]]], names: list[str], title: str, path: Path) -> Path:
    """Accuracy (%) against severity (0 = clean) for every perturbation `names` (one panel each) and
    method (`curves`: {label: {perturbation: [accuracy at severity 0, 1, ...]}}, fractions)."""
    ncols = 4
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.6), dpi=DPI)
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for j, (label, by_name) in enumerate(curves.items()):
            values = 100 * np.asarray(by_name[name])
            ax.plot(np.arange(len(values)), values, marker="o", markersize=3, color=f"C{j % 10}", label=label)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(0, min(100, 5 + 100 * max(max(by_name[name]) for by_name in curves.values())))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        if i % ncols == 0:
            ax.set_ylabel("accuracy, %", fontsize=7)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7)
    fig.suptitle(f"{title}: accuracy against severity (0 = clean)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 4), 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata=PNG_METADATA)
    return path
