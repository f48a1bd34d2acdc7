"""`ferbench verify [data_root=DIR] [folder=DIR ...] [subjects=true] [dataset.option=...]` (or
`python -m benchmark.verify`): is the data what we think it is?

For every real data set found under `data_root`, loads it with the same loader and config the
benchmark uses, prints the counts per split and class (per subject too with `subjects=true`), and
compares them with the published totals; it ends with a one-line verdict per data set. Exit status
0 when every data set found matches, 1 otherwise (or when none is found).
"""

from __future__ import annotations

import sys
from collections import Counter

from tabulate import tabulate

from benchmark import cli
from benchmark.cli import Option
from core.errors import FerbenchError

DATASETS = ("fer2013", "jaffe", "ckplus", "ferplus")

#: the published totals, for each data set's default settings
KNOWN = {
    "fer2013": {
        "n_images": 35887,
        "per_split": {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589},
        "per_class": {
            "angry": 4953,
            "disgust": 547,
            "fear": 5121,
            "happy": 8989,
            "sad": 6077,
            "surprise": 4002,
            "neutral": 6198,
        },
    },
    "jaffe": {
        "n_images": 213,
        "n_subjects": 10,
        "per_class": {"angry": 30, "disgust": 29, "fear": 32, "happy": 31, "sad": 31, "surprise": 30, "neutral": 30},
    },
    "ferplus": {
        "n_images": 31373,  # label.csv votes, official majority filter (3,513 + 388 + 436 excluded)
        "per_split": {"Training": 25045, "PublicTest": 3191, "PrivateTest": 3137},
        "per_class": {
            "angry": 2656,
            "disgust": 157,
            "fear": 682,
            "happy": 9038,
            "sad": 3752,
            "surprise": 3941,
            "neutral": 10996,
            "contempt": 151,
        },
    },
    "ckplus": {
        "n_images": 981,
        "n_subjects": 118,
        "per_class": {
            "angry": 135,
            "disgust": 177,
            "fear": 75,
            "happy": 207,
            "sad": 84,
            "surprise": 249,
            "contempt": 54,
        },
    },
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


OPTIONS = (
    Option(
        "data_root", None, "the folder holding fer2013/, jaffe/, ckplus/, ferplus/ (null: FERBENCH_DATA, else data)"
    ),
    Option(
        "folder",
        [],
        "a folder of one's own (class folders, or a labels file) to load and count; repeatable",
        repeat=True,
    ),
    Option("subjects", False, "also print the counts per subject and class", "flag"),
)
EXAMPLES = (
    "ferbench verify                                  # the data sets under $FERBENCH_DATA (or data/)",
    "ferbench verify data_root=~/fer-data subjects=true",
    "ferbench verify folder=~/my_faces                # a folder of one's own",
    "ferbench verify dataset.on_bad_image=skip        # a data set option, passed to every data set",
)


def report(dataset, subjects: bool = False) -> str:
    """Counts per split x class, and per subject x class where the data set has subjects (`subjects`)."""
    classes = dataset.class_names
    lines = []
    groups = [("split", dataset.splits), ("subject", dataset.subjects if subjects else None)]
    for title, values in groups:
        if values is None:
            continue
        table = Counter(zip(values.tolist(), dataset.labels.tolist()))
        rows = [
            [v, *[table.get((v, c), 0) for c in dataset.classes], sum(table.get((v, c), 0) for c in dataset.classes)]
            for v in sorted(set(values.tolist()))
        ]
        lines.append(tabulate(rows, headers=[title, *classes, "total"], tablefmt="github"))
    total = Counter(dataset.labels.tolist())
    lines.append(
        tabulate(
            [["all", *[total[c] for c in dataset.classes], len(dataset)]],
            headers=["", *classes, "total"],
            tablefmt="github",
        )
    )
    return "\n\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.verify") -> int:
    """`ferbench verify`; the exit status: 0 every data set found matches, 1 otherwise, 2 a bad option."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(
            cli.help_text(
                prog,
                "Load every data set found under data_root as the benchmark does and compare its "
                "counts with the published totals.",
                OPTIONS,
                EXAMPLES,
                notes="dataset.<key>=value words are passed to every data set's config.",
            )
        )
        return 0
    try:
        args, _, passed = cli.parse(argv, OPTIONS, passthrough="dataset.")
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = [f"data_root={args['data_root']}"] if args["data_root"] else []
    checks = [(name, [f"dataset={name}", *root]) for name in DATASETS]
    checks += [(f"folder {f}", ["dataset=folder", f"dataset.root={f}", *root]) for f in args["folder"]]
    try:
        checks = _with_options(checks, passed)
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verdicts = []
    for name, composed in checks:
        try:
            verdicts.append((name, *_check(name, composed, args["subjects"])))
        except FerbenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print("## verdict")
    for name, _, what in verdicts:
        print(f"{name}: {what}")
    found = [ok for _, ok, _ in verdicts if ok is not None]
    if not found:
        print(
            "No data set found: set data_root=DIR (or FERBENCH_DATA) to the folder holding fer2013/, jaffe/, ckplus/, "
            "ferplus/, or name a folder of your own with folder=DIR."
        )
    return 0 if found and all(found) else 1


def _with_options(checks: list[tuple[str, list[str]]], options: list[str]) -> list[tuple[str, list[str]]]:
    """Each check's overrides with the `dataset.<key>=value` options its data set has (data sets differ
    in their keys: a folder's subject_pattern is not FER2013's). An option no data set has is a
    ConfigError naming the closest keys."""
    from omegaconf import OmegaConf

    from benchmark.config import check_overrides, compose_config

    used, out = set(), []
    for name, overrides in checks:
        cfg = compose_config(overrides)
        own = [o for o in options if OmegaConf.select(cfg, o.lstrip("+~").split("=", 1)[0], default=used) is not used]
        used.update(own)
        out.append((name, check_overrides(overrides + own)))
    unused = [o for o in options if o not in used]
    if unused:
        check_overrides(checks[-1][1] + unused)  # raises the error that names the closest keys (a folder's, if any)
    return out


def _check(name: str, overrides: list[str], subjects: bool = False) -> tuple[bool | None, str]:
    """Load one data set and print its counts; (whether they match the published totals (a folder of
    one's own has none: loading it is enough), None when it is not there; the one-line verdict)."""
    from benchmark.config import compose_config, instantiate_group

    loader = instantiate_group(compose_config(overrides), "dataset")
    print(f"## {name}  ({loader.root})")
    if not loader.root.exists():
        print(f"not found: {loader.root} does not exist. {loader.source_hint}\n")
        return None, f"not found at {loader.root}"
    try:
        dataset = loader.load()
    except FerbenchError as exc:
        print(f"FAILED to load: {exc}\n")
        return False, f"FAILED to load ({str(exc).splitlines()[0][:160]})"
    print(report(dataset, subjects))
    counts = dataset.counts()
    if counts.get("skipped"):
        print(
            f"skipped files: {counts['skipped']}: "
            + "; ".join(f"{s['id']}: {s['reason']}" for s in dataset.skipped[:10])
        )
    if counts.get("excluded"):
        print(f"excluded by config: {counts['excluded']}")
    size = f"{counts['n_images']} images" + (f", {counts['n_subjects']} subjects" if "n_subjects" in counts else "")
    if name not in KNOWN:
        print(f"loaded: {counts['n_images']} images (no published totals to compare)\n")
        return True, f"loaded ({size}; no published totals to compare)"
    problems = compare(name, counts)
    if problems:
        print("MISMATCH with the published totals (for the default settings):\n  " + "\n  ".join(problems) + "\n")
        return False, f"MISMATCH with the published totals ({len(problems)} difference(s), above)"
    print(f"OK: matches the published totals ({size})\n")
    return True, f"OK ({size}, as published)"


if __name__ == "__main__":
    sys.exit(main())
