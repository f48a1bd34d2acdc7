"""Robustness leaderboards, from the records of runs with test-time perturbations (`+perturb=...`).

One board per (data set, protocol, perturbation mode); a row per method and config, as on the other
boards (`leaderboard.rows`), showing its most recent record (a config's seeds are not averaged here).
For every perturbation: the accuracy at each severity beside the clean one; the normalised area
under the accuracy-severity curve (trapezoids over severities 0 = clean to 4, divided by 4 x the
clean accuracy: 100 % means no loss at any severity); the relative drop at the
worst severity; and the first severity at which the method keeps half of its clean accuracy or less.
The best classical and the best deep row (by mean normalised area) are compared at each severity
with the boards' paired tests on the same perturbed images. A plot of accuracy against severity per
perturbation goes with each board.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.report import stats
from benchmark.report.leaderboard import Entry, rows
from benchmark.report.output import GENERATED, Output, link, pct, relative, test_text
from core import plots


def boards(records: list[tuple[Path, dict]]) -> dict[tuple[str, str, str], list[Entry]]:
    """{(data set, protocol, mode): entries ranked by mean perturbed accuracy, best first}."""
    by_board = rows(records, lambda r: (r["dataset"], r["protocol"], r["perturbations"]["mode"]))
    return {
        key: sorted(by_board[key], key=lambda e: (-mean_accuracy(e.record), e.row_key, e.variant))
        for key in sorted(by_board)
    }


def curve(record: dict, name: str) -> list[float]:
    """Accuracy at severities 0 (clean) to 4 of perturbation `name` (mean over folds), on the scored images."""
    results = record["perturbations"]["results"][name]
    clean = record["perturbations"]["clean"]["accuracy"]["mean"]
    return [clean] + [results[s]["accuracy"]["mean"] for s in sorted(results, key=int)]


def area(record: dict, name: str) -> float:
    """The normalised area under the accuracy-severity curve (1 = no loss)."""
    accuracy = np.asarray(curve(record, name))
    return float(np.trapezoid(accuracy) / ((len(accuracy) - 1) * accuracy[0])) if accuracy[0] > 0 else 0.0


def mean_accuracy(record: dict) -> float:
    """Accuracy averaged over every perturbation and severity (clean excluded)."""
    return float(np.mean([a for name in record["perturbations"]["results"] for a in curve(record, name)[1:]]))


def mean_area(record: dict) -> float:
    """The mean, over a record's perturbations, of the normalised area under its accuracy curve."""
    return float(np.mean([area(record, name) for name in record["perturbations"]["results"]]))


def half_severity(record: dict, name: str) -> str:
    """The first severity at which accuracy is at most half the clean one, or '>4'."""
    accuracy = curve(record, name)
    return next((str(s) for s in range(1, len(accuracy)) if accuracy[s] <= accuracy[0] / 2), f">{len(accuracy) - 1}")


def write(out: Output, ranked: dict) -> dict:
    """The board pages and plots; returns {board key: page path}."""
    files = {}
    for key, entries in ranked.items():
        dataset, protocol, mode = key
        name = f"leaderboards/robustness__{dataset}__{protocol}__{mode}.md"
        files[key] = out.path(name)
        out.text(name, _page(key, entries, out))
    return files


def _page(key, entries: list[Entry], out: Output) -> str:
    dataset, protocol, mode = key
    here = out.path("leaderboards")
    first = entries[0].record["perturbations"]
    names = list(first["results"])
    title = f"{dataset} | {protocol} | perturbed {'photos, then detection' if mode == 'image' else 'face crops'}"
    plot = out.keep(
        plots.robustness_curves(
            {e.label: {n: curve(e.record, n) for n in names} for e in entries},
            names,
            title,
            out.path(f"plots/robustness/{dataset}__{protocol}__{mode}.png"),
        )
    )
    parts = [
        f"# Robustness: {title}",
        GENERATED,
        f"Each method fitted on clean images, its {first['test_set']} images"
        + (
            f" (a seeded, class-stratified sample of {first['n_images']} per fold, the same for every method; "
            "clean accuracy here is that sample's)"
            if first.get("n_images")
            else ""
        )
        + " scored clean and perturbed at "
        f"severities 1-{first['severities']} (`benchmark/perturbations.py`; seed {first['seed']}, the same "
        "perturbed images for every method). Mean perturbed acc: accuracy averaged over every perturbation and "
        "severity; rows are ranked by it. Area: the normalised area under the accuracy-severity curve "
        "(100 = no loss); drop: at the worst severity, relative to clean; half: the first severity that "
        "keeps at most half the clean accuracy.",
        "## Summary: mean accuracy under perturbation, normalised area % per perturbation",
        _summary(entries, names, here),
        f"![accuracy against severity]({relative(plot, here)})",
    ]
    best = _best_by_kind(entries)
    for name in names:
        parts += [
            f"## {name}",
            f"Severity scale: {first['scales'][name]['unit']}: {', '.join(map(str, first['scales'][name]['levels']))}.",
            _perturbation(entries, name),
            _comparison(best, name),
        ]
    return "\n\n".join(parts) + "\n"


def _summary(entries: list[Entry], names: list[str], here: Path) -> str:
    rows = [
        [
            n,
            e.label,
            e.kind,
            pct(e.record["perturbations"]["clean"]["accuracy"]["mean"]),
            pct(mean_accuracy(e.record)),
            pct(mean_area(e.record)),
            *[pct(area(e.record, name)) for name in names],
            link("record", e.path, here),
        ]
        for n, e in enumerate(entries, 1)
    ]
    return tabulate(
        rows,
        headers=["#", "method", "kind", "clean acc %", "mean perturbed acc %", "mean area %", *names, "run"],
        tablefmt="github",
        disable_numparse=True,
    )


def _perturbation(entries: list[Entry], name: str) -> str:
    rows = []
    for e in entries:
        accuracy = curve(e.record, name)
        detection = [
            e.record["perturbations"]["results"][name][s].get("detection_rate")
            for s in sorted(e.record["perturbations"]["results"][name], key=int)
        ]
        rows.append(
            [
                e.label,
                e.kind,
                *[pct(a) for a in accuracy],
                pct(area(e.record, name)),
                pct(1 - accuracy[-1] / accuracy[0]) if accuracy[0] else "",
                half_severity(e.record, name),
                " / ".join(pct(d) for d in detection) if detection[0] is not None else "",
            ]
        )
    return tabulate(
        rows,
        headers=["method", "kind", "clean", "1", "2", "3", "4", "area %", "drop %", "half", "faces found % (1-4)"],
        tablefmt="github",
        disable_numparse=True,
    )


def _best_by_kind(entries: list[Entry]) -> dict[str, Entry]:
    best: dict[str, Entry] = {}
    for entry in entries:  # ranked best first
        best.setdefault(entry.kind, entry)
    return best


def _comparison(best: dict[str, Entry], name: str) -> str:
    """The best classical against the best deep row at each severity, on the same perturbed images."""
    if len(best) < 2:
        return "Only one kind of method on this board: nothing to compare."
    a, b = best["classical"], best["deep"]
    lines = [f"Best classical ({a.label}) vs best deep ({b.label}):"]
    for severity in sorted(a.record["perturbations"]["results"][name], key=int):
        lines.append(f"- severity {severity}: " + test_text(_paired(a.record, b.record, name, severity)))
    return "\n".join(lines)


def _paired(rec_a: dict, rec_b: dict, name: str, severity: str) -> stats.TestResult | str:
    """McNemar on the perturbed predictions of the images both scored, pooled over folds."""
    try:
        return stats.lead_test_perturbed(rec_a, rec_b, name, severity)
    except stats.NotPaired as exc:
        return f"not tested: {exc}"
