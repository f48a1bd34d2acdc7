"""The framing study's page (studies/framing.md): how wide a crop around a detected face a model trained on
ready-made crops wants, from the records under report_dir/studies/framing/ (one per data set, detector and
margin, made by the command the docs' framing page gives).

One row per margin; for each (data set, detector) the pooled accuracy over the data set's images (a committed
model scored as it is: every image once) and the detection rate; the mean accuracy over the pairs decides, as
it decided the shipped model's `face_stage` (results/models/shipped.yaml), which the page names.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from benchmark.report.leaderboard import load_records
from benchmark.report.output import GENERATED, Output, pct

#: where the study's records are, under report_dir
RECORDS = "studies/framing"


def write(out: Output, shipped_margin: float | None = None) -> Path | None:
    """Write studies/framing.md from the records in out's studies/framing/; None (and no page) without them.
    `shipped_margin`: the shipped model's face-stage margin, named under the table."""
    folder = out.path(RECORDS)
    records = load_records(folder)[0] if folder.is_dir() else []
    if not records:
        return None
    cells: dict = defaultdict(dict)  # margin -> {(dataset, detector): (accuracy, detection rate)}
    models = set()
    for _, record in records:
        margin = float(record["config"]["detector"]["margin"])
        cells[margin][(record["dataset"], record["detector"])] = (
            record["metrics"]["pooled"]["accuracy"],
            record["faces"]["detection_rate"],
        )
        models.add(str(record["config"]["method"].get("model")))
    pairs = sorted({pair for row in cells.values() for pair in row})
    rows, means = [], {}
    for margin in sorted(cells):
        row = cells[margin]
        if len(row) == len(pairs):
            means[margin] = sum(acc for acc, _ in row.values()) / len(row)
        rows.append(
            [f"{margin:g}"]
            + [f"{pct(row[p][0])} ({pct(row[p][1])})" if p in row else "" for p in pairs]
            + [pct(means[margin]) if margin in means else ""]
        )
    best = max(means, key=means.get) if means else None
    headers = ["margin", *(f"{dataset} {detector}" for dataset, detector in pairs), "mean accuracy"]
    lines = [
        "# Framing: the margin and detector for a model trained on ready-made crops",
        "",
        GENERATED,
        "",
        f"The committed model {', '.join(sorted(models))} scored as it is on every image of each data set, its "
        "faces found by each detector and cut with each margin (fraction of the face box added on every side). "
        "Each cell: pooled accuracy % (detection rate %). How the records were made: the docs' framing page.",
        "",
        tabulate(rows, headers, tablefmt="github", disable_numparse=True),
        "",
    ]
    if best is not None:
        lines.append(
            f"Best mean accuracy: margin {best:g}."
            + (f" The shipped model's face stage uses margin {shipped_margin:g}." if shipped_margin is not None else "")
        )
        lines.append("")
    return out.text("studies/framing.md", "\n".join(lines))
