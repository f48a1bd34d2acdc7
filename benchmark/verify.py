"""`python -m benchmark.verify [data_root=DIR] [folder=DIR ...] [dataset.option=...]`: is the data what we think it is?

For every real data set found under `data_root`, loads it with the same loader and config the
benchmark uses and prints the counts per split, class and subject, then compares them with the
published totals. Exit status 0 when every data set found matches, 1 otherwise (or when none is found).
"""

from __future__ import annotations

import sys
from collections import Counter

from tabulate import tabulate

from core.errors import FerbenchError

DATASETS = ("fer2013", "jaffe", "ckplus", "ferplus")

#: the published totals, for each data set's default settings
KNOWN = {
    "fer2013": {"n_images": 35887,
                "per_split": {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589},
                "per_class": {"angry": 4953, "disgust": 547, "fear": 5121, "happy": 8989, "sad": 6077,
                              "surprise": 4002, "neutral": 6198}},
    "jaffe": {"n_images": 213, "n_subjects": 10,
              "per_class": {"angry": 30, "disgust": 29, "fear": 32, "happy": 31, "sad": 31, "surprise": 30,
                            "neutral": 30}},
    "ferplus": {"n_images": 31373,  # label.csv votes, official majority filter (3,513 + 388 + 436 excluded)
                "per_split": {"Training": 25045, "PublicTest": 3191, "PrivateTest": 3137},
                "per_class": {"angry": 2656, "disgust": 157, "fear": 682, "happy": 9038, "sad": 3752,
                              "surprise": 3941, "neutral": 10996, "contempt": 151}},
    "ckplus": {"n_images": 981, "n_subjects": 118,
               "per_class": {"angry": 135, "disgust": 177, "fear": 75, "happy": 207, "sad": 84, "surprise": 249,
                             "contempt": 54}},
}


def compare(name: str, counts: dict) -> list[str]:
    """Differences between the counts of a loaded data set and the published totals (empty = match)."""
    known, problems = KNOWN[name], []
    for key in ("n_images", "n_subjects"):
        if key in known and counts.get(key) != known[key]:
            problems.append(f"{key}: found {counts.get(key)}, expected {known[key]}")
    if "per_split" in known:
        found = {s: v["n_images"] for s, v in counts.get("per_split", {}).items()}
        if found != known["per_split"]:
            problems.append(f"per split: found {found}, expected {known['per_split']}")
    if counts["per_class"] != known["per_class"]:
        problems.append(f"per class: found {counts['per_class']}, expected {known['per_class']}")
    return problems


def report(dataset) -> str:
    """Counts per split x class, and per subject x class where the data set has subjects."""
    classes = dataset.class_names
    lines = []
    groups = [("split", dataset.splits), ("subject", dataset.subjects)]
    for title, values in groups:
        if values is None:
            continue
        table = Counter(zip(values.tolist(), dataset.labels.tolist()))
        rows = [[v, *[table.get((v, c), 0) for c in dataset.classes], sum(table.get((v, c), 0) for c in dataset.classes)]
                for v in sorted(set(values.tolist()))]
        lines.append(tabulate(rows, headers=[title, *classes, "total"], tablefmt="github"))
    total = Counter(dataset.labels.tolist())
    lines.append(tabulate([["all", *[total[c] for c in dataset.classes], len(dataset)]],
                          headers=["", *classes, "total"], tablefmt="github"))
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folders = [a.split("=", 1)[1] for a in args if a.startswith("folder=")]
    overrides = [a for a in args if not a.startswith("folder=")]
    checks = [(name, [f"dataset={name}", *overrides]) for name in DATASETS]
    checks += [(f"folder {f}", ["dataset=folder", f"dataset.root={f}", *overrides]) for f in folders]
    results = []
    for name, composed in checks:
        try:
            results.append(_check(name, composed))
        except FerbenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    found = [r for r in results if r is not None]
    if not found:
        print("No data set found: set data_root=DIR (or FERBENCH_DATA) to the folder holding fer2013/, jaffe/, ckplus/, "
              "ferplus/, or name a folder of your own with folder=DIR.")
    return 0 if found and all(found) else 1


def _check(name: str, overrides: list[str]) -> bool | None:
    """Load one data set and print its counts; whether they match the published totals (a folder of
    one's own has none: loading it is enough), None when it is not there."""
    from benchmark.config import compose_config, instantiate_group

    loader = instantiate_group(compose_config(overrides), "dataset")
    print(f"## {name}  ({loader.root})")
    if not loader.root.exists():
        print(f"not found: {loader.root} does not exist. {loader.source_hint}\n")
        return None
    try:
        dataset = loader.load()
    except FerbenchError as exc:
        print(f"FAILED to load: {exc}\n")
        return False
    print(report(dataset))
    counts = dataset.counts()
    if counts.get("skipped"):
        print(f"skipped files: {counts['skipped']}: " + "; ".join(f"{s['id']}: {s['reason']}" for s in dataset.skipped[:10]))
    if counts.get("excluded"):
        print(f"excluded by config: {counts['excluded']}")
    if name not in KNOWN:
        print(f"loaded: {counts['n_images']} images (no published totals to compare)\n")
        return True
    problems = compare(name, counts)
    if problems:
        print("MISMATCH with the published totals (for the default settings):\n  " + "\n  ".join(problems) + "\n")
        return False
    print(f"OK: matches the published totals ({counts['n_images']} images"
          + (f", {counts['n_subjects']} subjects" if "n_subjects" in counts else "") + ")\n")
    return True


if __name__ == "__main__":
    sys.exit(main())
