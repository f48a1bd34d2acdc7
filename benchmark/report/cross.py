"""The cross-data-set page: for every method, a matrix of accuracy with the data set it was trained on
in the rows and the one it was tested on in the columns, from the records of `protocol=cross` runs.

The diagonal is the method's within-data-set score from the other boards (FER2013 and FER+ official,
CK+ and JAFFE subject-independent 5-fold), so that what a method loses on faces it never saw stands
beside what it has on its own data set's. A model loaded by `method=pretrained` (a committed FER2013
or FER+ model) takes the diagonal of the `cnn` run of its model (results/models/<data set>__<model>/).
A model that also learned from other data sets (a fine-tuned CNN's starting model; the record's
fold lists `learned_from`) says so under its matrix. The published cross-data-set figures, labelled
with what each used, close the page.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from benchmark.inference.models import model_folder
from benchmark.report import published
from benchmark.report.leaderboard import Entry, family, model_name
from benchmark.report.output import GENERATED, Output, link, pct

#: the protocol whose score is a data set's own, on the diagonal
WITHIN = {"fer2013": "official", "ferplus": "official", "ckplus": "subject_kfold", "jaffe": "subject_kfold"}
ORDER = ("fer2013", "ferplus", "ckplus", "jaffe")


def method_of(record: dict, networks: dict[str, str] | None = None) -> tuple[str, str]:
    """(method, model) of a record; a pretrained model file is named by the run that trained it: the
    network `networks` gives for its folder (`<data set>__<name>`, see `networks`; else `<name>`), so
    the committed models of one network share its matrix and its diagonal. The fallback is by name: the
    seed-0 FER2013 fernet was trained in another folder and copied to fer2013__fernet, which its record
    cannot tell; so a folder named `<data set>__<network>` by a run of another config (ferplus__fernet)
    joins that network's matrix too, where each cell shows its most recent record. An average of several (or a
    model whose predictions were logit-adjusted) stays `pretrained` with the names of its members
    (`model_name`)."""
    method = record["config"]["method"]
    model = method.get("model")
    if (
        record["method"] == "pretrained"
        and isinstance(model, str)
        and not method.get("logit_adjust")
        and (folder := model_folder(model))
    ):
        return "cnn", (networks or {}).get("__".join(folder), folder[1])
    return record["method"], model_name(record) or ""


def networks(ranked: dict) -> dict[str, str]:
    """{committed model folder (`<data set>__<name>`, e.g. ferplus__fernet_lowreg): the network of the
    board run that wrote it (fernet)}, from the runs of every board row (`ranked`) of `method=cnn` in its
    main config (the board's row without a config text). A model trained otherwise (fine-tuned:
    fer2013__fernet_finetuned) is not that network's recipe: it keeps its folder's name and a matrix
    of its own (but see `method_of`'s fallback)."""
    found = {}
    for entries in ranked.values():
        for entry in entries:
            if entry.row_key[0] != "cnn" or entry.variant:
                continue
            for record in entry.runs:
                folder = model_folder(record["config"]["method"].get("run_dir") or "")
                if folder and entry.row_key[2]:
                    found["__".join(folder)] = entry.row_key[2]
    return found


def write(out: Output, records: list[tuple[Path, dict]], ranked: dict) -> Path | None:
    """The page, from the cross records and the other boards (`ranked`); None without cross records."""
    cells: dict = defaultdict(dict)  # (method, model) -> {(source, column): (record, path, target split)}
    kinds: dict = {}
    named = networks(ranked)
    for path, record in records:
        key = method_of(record, named)
        kinds[key] = family(record)
        for target in record["metrics_by_split"]:
            cell = (source_name(record), target_name(record, target))
            old = cells[key].get(cell)
            if old is None or (record["env"].get("time", ""), path.name) > (old[0]["env"].get("time", ""), old[1].name):
                cells[key][cell] = (record, path, target)
    if not cells:
        return None
    here = out.path("leaderboards")
    parts = [
        "# Cross-data-set accuracy",
        GENERATED,
        "Rows: the data set a method was trained on (its training part; selection on its own data only); "
        "columns: the data set it was tested on, every image of a class the method was trained on, without "
        "fine-tuning (`protocol=cross`). The diagonal (italics) is the method's own within-data-set score "
        f"({', '.join(f'{d} {p}' for d, p in WITHIN.items())}; its main config's (the board's row without a "
        "config text), with the best detector where it was run with several, and the mean of its seeds where "
        "it has several, while the other cells are the model file's that the cell's record names). "
        "Accuracy %, macro-F1 % in brackets. "
        "Between FER2013 and FER+ (the same images) only the official test split is tested on. A target "
        "whose faces were found by another detector than the protocol's default (conf/protocol/cross.yaml: "
        f"{', '.join(f'{t} {d}' for t, d in default_detectors().items())}) is a column of its own, "
        "e.g. jaffe (mtcnn).",
    ]
    for key in sorted(cells, key=lambda k: (kinds[k] != "deep", k)):
        parts += [f"## {'/'.join(p for p in key if p)} ({kinds[key]})", _matrix(key, cells[key], ranked)]
        starts = sorted(
            {
                d
                for record, *_ in cells[key].values()
                for d in record["folds"][0].get("learned_from", [])
                if d != record["dataset"] and d not in (record["config"]["dataset"].get("parts") or ())
            }
        )
        if starts:
            parts.append(
                f"Besides its row's data set, this model learned from {', '.join(starts)} (the model it was "
                "fine-tuned from, or a member of an average): a target among those (and FER+ for FER2013, "
                "FER2013 for FER+) is tested on its PrivateTest only, images none of it saw, but not a data "
                "set it never saw."
            )
        parts.append(
            "Records: " + ", ".join(link(f"{s} -> {t}", p, here) for (s, t), (_, p, _) in sorted(cells[key].items()))
        )
    rows = [
        [f.method, f.published_protocol, f.accuracy, f.source, f.grade, published.notes(f)]
        for f in published.for_dataset("cross")
    ]
    parts += [
        "## Published cross-data-set figures",
        tabulate(
            rows,
            headers=["train -> test", "what it used", "accuracy %", "source", "grade", "note"],
            tablefmt="github",
            disable_numparse=True,
        ),
    ]
    return out.text("leaderboards/cross_dataset.md", "\n\n".join(parts) + "\n")


def source_name(record: dict) -> str:
    """A record's row: its data set, a merged one with its parts ("merged (ferplus, jaffe)"), so that
    merges of other parts are other rows."""
    parts = record["config"]["dataset"].get("parts")
    return f"{record['dataset']} ({', '.join(parts)})" if parts else record["dataset"]


def target_name(record: dict, target: str) -> str:
    """A target's column: its name, with its detector where the record found its faces otherwise than
    `conf/protocol/cross.yaml` says by default (jaffe (mtcnn)), so the two are two cells, not one
    record hiding the other."""
    detector = (record["config"]["protocol"].get("detectors") or {}).get(target)
    return target if detector in (None, default_detectors().get(target)) else f"{target} ({detector})"


@functools.cache
def default_detectors() -> dict:
    """{target: detector} of `conf/protocol/cross.yaml`."""
    from omegaconf import OmegaConf

    from benchmark.config import CONF_DIR

    return dict(OmegaConf.load(CONF_DIR / "protocol" / "cross.yaml").get("detectors") or {})


def _matrix(key: tuple[str, str], cells: dict, ranked: dict) -> str:
    sets = [d for d in ORDER if any(d in cell for cell in cells)]
    sets += sorted({d for cell in cells for d in cell} - set(sets))
    detector_columns = {column for (_, column), (*_, split) in cells.items() if column != split}
    columns = [s for s in sets if s in WITHIN or any(s == column for _, column in cells)]  # not a merged source
    rows = []
    for source in (s for s in sets if s not in detector_columns):  # a target with another detector: a column only
        row = [f"**{source}**"]
        for target in columns:
            if source == target:
                row.append(_within(key, source, ranked))
            elif (source, target) in cells:
                record, _, split = cells[(source, target)]
                m = record["metrics_by_split"][split]
                row.append(f"{pct(m['accuracy']['mean'])} ({pct(m['pooled']['macro_f1'])})")
            else:
                row.append("")
        rows.append(row)
    return tabulate(rows, headers=["trained on ↓ / tested on →", *columns], tablefmt="github", disable_numparse=True)


def _within(key: tuple[str, str], dataset: str, ranked: dict) -> str:
    entries: list[Entry] = ranked.get((dataset, WITHIN.get(dataset, "")), [])
    same = [e for e in entries if (e.row_key[0], e.row_key[2]) == key and not e.variant]
    if not same:
        return ""
    e = same[0]  # ranked best first: the best detector's, of the method's main config (not its best config)
    return f"*{pct(e.accuracy)} ({pct(e.record['metrics']['macro_f1']['mean'])})*"
