"""The table a run prints when it ends: per-fold and mean scores (fit time: the sum over folds in the mean
row), the images skipped, and a note where the protocol lets one person be in training and test."""

from __future__ import annotations

from tabulate import tabulate


def format_run(record: dict) -> str:
    """The table a run prints: per-fold and mean scores, skipped images, notes."""
    test = record["test_set"]
    splits = list(record["metrics_by_split"])
    header = (
        ["fold", "n_train"]
        + [f"{s} n" for s in splits]
        + [f"{s} acc" for s in splits]
        + [f"{s} macro-F1" for s in splits]
        + ["fit s" if len(record["folds"]) == 1 else "fit s (mean row: sum)"]
    )
    rows = [
        [
            f["name"],
            f["n_train"],
            *[f[s]["n"] for s in splits],
            *[_pct(f[s]["accuracy"]) for s in splits],
            *[_pct(f[s]["macro_f1"]) for s in splits],
            f"{f['fit_s']:.2f}",
        ]
        for f in record["folds"]
    ]
    if len(rows) > 1:
        m = record["metrics_by_split"]
        rows.append(
            [
                "mean ± std",
                "",
                *["" for _ in splits],
                *[_pm(m[s]["accuracy"]) for s in splits],
                *[_pm(m[s]["macro_f1"]) for s in splits],
                f"{record['timings']['fit_s']:.2f}",
            ]
        )
    title = (
        f"{record['dataset']} | {record['protocol']} | {record['method']} | detector={record['detector']} | "
        f"{record['n_images']} images, {record['n_folds']} fold(s), reported on {test}"
    )
    skipped = record["skipped"]["count"]
    notes = []
    if len(record["folds"]) > 1:
        pooled = record["metrics"]["pooled"]
        notes.append(
            f"pooled over folds (each {test} image once): accuracy {_pct(pooled['accuracy'])}, "
            f"macro-F1 {_pct(pooled['macro_f1'])}"
        )
    notes.append(f"skipped images: {skipped} {record['skipped']['by_reason']}" if skipped else "skipped images: 0")
    if record.get("excluded"):
        notes.append(f"excluded by config: {record['excluded']}")
    if record["faces"].get("detection_rate") is not None:
        notes.append(f"face detection rate: {record['faces']['detection_rate']:.1%}")
    if record["protocol"] == "kfold" and record.get("n_subjects") and record["method"] != "pretrained":
        notes.append(
            f"note: protocol=kfold puts the same person ({record['n_subjects']} subjects) in training and "
            "test folds, which inflates accuracy; protocol=subject_kfold or protocol=loso keep them apart"
        )
    return "\n".join([title, tabulate(rows, headers=header, tablefmt="github", disable_numparse=True), *notes])


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _pm(d: dict) -> str:
    return f"{100 * d['mean']:.2f} ± {100 * d['std']:.2f}"
