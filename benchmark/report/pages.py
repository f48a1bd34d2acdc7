"""The markdown pages of the report, written by `write_report` from the ranked records
(`benchmark.report.leaderboard`), with the published figures (`published`), the tests of
significance (`stats`) and the figures (`core.plots`); see the package's docstring for the files."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from benchmark.report import cards, cross, framing, general, published, robustness
from benchmark.report.leaderboard import (
    Entry,
    best_by_kind,
    correct_count,
    history,
    lead_test,
    load_records,
    macs,
    pooled_test,
    size,
    split_boards,
)
from benchmark.report.output import (
    GENERATED,
    Output,
    link,
    pct,
    pm,
    relative,
    test_text,
)
from benchmark.report.stats import wilson_interval
from core import plots
from core.errors import ConfigError
from core.labels import CLASS_NAMES

PROTOCOL_NOTES = {
    "kfold": "Stratified random folds. On data sets with subject ids (JAFFE, CK+) the same person is in "
    "training and test, which inflates accuracy: compare subject_kfold or loso.",
    "subject_kfold": "Folds grouped by subject: no person is in both training and test.",
    "loso": "Leave one subject out: one fold per subject, no person in both training and test.",
    "official": "FER2013's official split: fit on Training, model selection on PublicTest, reported on "
    "PrivateTest. FER2013 has no subject ids, so whether people recur across its splits is unknown.",
}
#: data sets that are not benchmarks: never in the project README's headline
SMOKE_TESTS = ("synthetic",)
#: what a reader must know of a data set, said on its boards
DATASET_NOTES = {
    "merged": "**merged**: several data sets as one (dataset=merged); a fold of loso holds one whole data set out "
    "(leave-one-data-set-out), tested on the classes the others share.",
    "synthetic": "**synthetic is a smoke test, not a benchmark**: its numbers mean nothing about real faces.",
}
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def write_report(
    results_dir: str | Path,
    report_dir: str | Path,
    readme: str | Path | None = None,
    models_dir: str | Path | None = None,
) -> list[tuple[str, Path]]:
    """Generate every report file from the records in `results_dir`; returns ("new" | "changed" |
    "removed", path) of every file whose content it changed (a file written again with the same
    content is not one).

    `readme`: a markdown file (the project README) whose results block gets the headline table
    (without the smoke-test data set, `synthetic`); None leaves every file outside report_dir alone.
    `models_dir`: the committed models (`<data set>__<name>/` folders and shipped.yaml), each given a
    model card under report_dir/cards/ (`benchmark.report.cards`); None: no cards.

    No records is an error, not an empty report: a mistyped results_dir must not wipe the leaderboards.
    """
    records, not_records = load_records(results_dir)
    if not records:
        raise ConfigError(f"no run records in {results_dir} (set results_dir=...; runs write them there)")
    _check_targets(Path(report_dir), None if readme is None else Path(readme))
    ranked, studied = split_boards(
        [(p, r) for p, r in records if "perturbations" not in r and r["protocol"] != "cross"]
    )
    robust = robustness.boards([(p, r) for p, r in records if "perturbations" in r])
    out = Output(Path(report_dir))
    board_files = {key: out.path(f"leaderboards/{key[0]}__{key[1]}.md") for key in ranked}
    study_files = {key: out.path(f"studies/{key[0]}__{key[1]}.md") for key in studied}
    for (dataset, protocol), entries in ranked.items():
        out.text(
            f"leaderboards/{dataset}__{protocol}.md",
            _board(dataset, protocol, entries, out, study_files.get((dataset, protocol))),
        )
    for (dataset, protocol), entries in studied.items():
        out.text(
            f"studies/{dataset}__{protocol}.md",
            _study(dataset, protocol, entries, board_files.get((dataset, protocol)), out),
        )
    out.text("leaderboards/classical_vs_deep.md", _classical_vs_deep(ranked, board_files, out))
    out.text("leaderboards/published.md", _published(ranked, board_files, out))
    robust_files = robustness.write(out, robust)
    cross_file = cross.write(
        out, [(p, r) for p, r in records if r["protocol"] == "cross" and "perturbations" not in r], ranked
    )

    card_files = cards.write(out, records, Path(models_dir)) if models_dir is not None else {}
    framing.write(out, _shipped_margin())
    general.write(out, records)
    out.text(
        "README.md",
        _index(
            ranked,
            board_files,
            Path(results_dir),
            len(records),
            not_records,
            out,
            robust_files,
            cross_file,
            study_files,
            card_files,
        ),
    )
    out.remove_stale()
    changed = out.changed()
    if readme is not None:
        real = {key: entries for key, entries in ranked.items() if key[0] not in SMOKE_TESTS}
        if _update_readme(Path(readme), _headline(real, board_files, Path(readme).parent)):
            changed.append(("changed", Path(readme)))
    return changed


# -- one leaderboard -------------------------------------------------------------------------------


def _board(dataset: str, protocol: str, entries: list[Entry], out: Output, study: Path | None) -> str:
    here = out.path("leaderboards")
    notes = [n for n in (DATASET_NOTES.get(dataset), PROTOCOL_NOTES.get(protocol)) if n]
    more = (
        f"Variants (other configs of these methods) and committed models scored again: "
        f"{link('their page', study, here)}."
        if study
        else ""
    )
    parts = [
        f"# {dataset} | {protocol}",
        GENERATED,
        *notes,
        "## Leaderboard",
        _ranking(entries, here),
        _ranking_legend(entries),
        *([more] if more else []),
        "**Is #1 ahead of #2?** " + _lead_text(entries),
        "## Per-class F1 (%)",
        _per_class(entries),
        "## Published figures",
        _published_here(dataset, protocol, entries, here),
        "## Plots",
        _plots(dataset, protocol, entries, out, here),
    ]
    return "\n\n".join(parts) + "\n"


def _ranking(entries: list[Entry], here: Path, experiments: bool = False) -> str:
    """The ranked table of `entries`; `experiments`: a column with the named experiment of each row's run."""
    with_model = any(e.row_key[2] for e in entries)
    holdout = all(e.holdout for e in entries)
    test_set = entries[0].record["test_set"]
    others = sorted(s for s in entries[0].record["metrics_by_split"] if s != test_set)
    with_variant = any(e.variant for e in entries)
    header = [
        "#",
        "method",
        "kind",
        "detector",
        *(["model"] if with_model else []),
        *(["config"] if with_variant else []),
        *(["experiment"] if experiments else []),
    ]
    if holdout:
        header += [f"{test_set} acc %", "95% CI (Wilson)", *[f"{s} acc %" for s in others], "macro-F1 %"]
    else:
        loso = entries[0].record["protocol"] == "loso"
        header += ["accuracy %", "macro-F1 % (pooled)" if loso else "macro-F1 %", "folds"]
    header += ["images", "fit s", "ms / image", "features / params", "MACs / image", "records", "run"]
    rows = []
    for rank, e in enumerate(entries, 1):
        r = e.record
        method, detector, model = e.row_key
        row = [rank, method, e.kind, detector, *([model] if with_model else []), *([e.variant] if with_variant else [])]
        row += [e.record["experiment"] or ""] if experiments else []
        seeds = e.seeds_text([run["metrics"]["accuracy"]["mean"] for run in e.runs])
        if holdout:
            lo, hi = wilson_interval(*correct_count(r, test_set))
            row += [
                seeds or pct(e.accuracy),
                "" if seeds else f"{pct(lo)}–{pct(hi)}",
                *[
                    pct(sum(run["metrics_by_split"][s]["accuracy"]["mean"] for run in e.runs) / len(e.runs))
                    if s in r["metrics_by_split"]
                    else ""
                    for s in others
                ],
                pct(e.macro_f1),
            ]
        else:
            row += [
                seeds or pm(r["metrics"]["accuracy"]),
                pct(e.macro_f1) if loso or seeds else pm(r["metrics"]["macro_f1"]),
                r["n_folds"],
            ]
        t = r["timings"]
        row += [
            r["n_images"],
            f"{t['fit_s']:.1f}",
            f"{t['inference_ms_per_image']:.3f}",
            size(r),
            macs(r),
            e.n_records,
            _runs(e, here),
        ]
        rows.append(row)
    return tabulate(rows, headers=header, tablefmt="github", disable_numparse=True)


def _runs(entry: Entry, here: Path) -> str:
    """A link to the row's record, and where its config has several, to each of them (oldest first)."""
    shown = link("record", entry.path, here)
    if len(entry.paths) < 2:
        return shown
    return shown + " (all: " + " ".join(link(str(n), p, here) for n, p in enumerate(entry.paths, 1)) + ")"


def _ranking_legend(entries: list[Entry]) -> str:
    spread = (
        "95% CI: Wilson score interval of the test accuracy"
        if all(e.holdout for e in entries)
        else "accuracy and macro-F1: mean ± std over folds (population std)"
    )
    if entries[0].record["protocol"] == "loso":
        spread += (
            "; macro-F1 from the predictions pooled over all folds, since a fold holds one subject's "
            "one to three classes, where a per-fold macro-F1 means little"
        )
        untested = {
            f["name"].removeprefix("subject_"): f["untested"]
            for e in entries
            for f in e.record["folds"]
            if f.get("untested")
        }
        if untested:
            spread += (
                "; not tested: held-out images of a class no other subject has ("
                + "; ".join(
                    f"{subject}: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
                    for subject, counts in sorted(untested.items())
                )
                + ")"
            )
    seeds = (
        "A row run with several seeds (the same config otherwise) shows its accuracy as mean ± std over its "
        "seeds, how many, and the best; its other accuracies and its macro-F1 are means over its seeds; its fit "
        "time, time per image, per-class F1, plots and #1-vs-#2 test are one run's (the test names its seed). "
        if any(e.seeds for e in entries)
        else ""
    )
    variants = (
        "config: how a row's config differs from the config its method has on the board (conf/ as it is, or "
        "conf/boards.yaml's choice), or, for a method with no board row, from its config with the most seeds, "
        "then the most records, then the most recent, whose row has it empty; unset: a setting its config lacks. "
        if any(e.variant for e in entries)
        else ""
    )
    return (
        f"{spread}. {seeds}{variants}fit s: training time summed over folds; ms / image: prediction time "
        "per test image; records: runs of this row's config, a seed run again included (the row counts only "
        "its most recent run of each seed). Ranked by accuracy, then macro-F1."
    )


def _lead_text(entries: list[Entry]) -> str:
    if len(entries) < 2:
        return "only one row: nothing to compare."
    return f"#1 {entries[0].label} vs #2 {entries[1].label}: " + test_text(lead_test(entries[0], entries[1]))


def _per_class(entries: list[Entry]) -> str:
    present = {c for e in entries for c in e.record["per_class"]}
    classes = [c for c in CLASS_NAMES if c in present]
    rows = [[rank, e.label, *[_f1(e.record["per_class"].get(c)) for c in classes]] for rank, e in enumerate(entries, 1)]
    table = tabulate(rows, headers=["#", "method", *classes], tablefmt="github", disable_numparse=True)
    support = ", ".join(f"{c} {s['support']}" for c, s in entries[0].record["per_class"].items())
    where = "over folds" if entries[0].record["n_folds"] > 1 else "of the test split"
    return f"{table}\n\nF1 from the predictions {where}. Test images per class (#1's run): {support}."


def _published_here(dataset: str, protocol: str, entries: list[Entry], here: Path) -> str:
    mine = [a for a in published.for_dataset(dataset) if protocol in a.protocols]
    if not mine:
        return (
            "No published figure is set beside this data set and protocol; all of them: "
            + link("published.md", here / "published.md", here)
            + "."
        )
    rows = [
        [
            a.method,
            a.published_protocol,
            a.accuracy,
            _independent(a),
            a.grade,
            a.source,
            _ours(a, entries),
            published.notes(a),
        ]
        for a in mine
    ]
    table = tabulate(
        rows,
        headers=[
            "published method",
            "their protocol",
            "accuracy %",
            "subject-independent",
            "grade",
            "source",
            "ours, same family",
            "note",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    return f"{table}\n\n{_grades()}"


def _plots(dataset: str, protocol: str, entries: list[Entry], out: Output, here: Path) -> str:
    title = f"{dataset} | {protocol}"
    scatter = out.keep(
        plots.accuracy_vs_time(
            [
                (f"#{n}", e.record["timings"]["inference_ms_per_image"], 100 * e.accuracy, e.kind)
                for n, e in enumerate(entries, 1)
            ],
            f"{title}: accuracy vs inference time",
            out.path(f"plots/scatter/{dataset}__{protocol}.png"),
        )
    )
    lines = [
        f"![accuracy vs inference time]({relative(scatter, here)})",
        "Each point is a leaderboard row, labelled by its # above.",
    ]
    cms, curves = [], []
    for n, e in enumerate(entries, 1):
        cm = e.record["confusion_matrix"]
        path = out.keep(
            plots.confusion(
                cm["matrix"], cm["labels"], f"{title} | {e.label}", out.path(f"plots/confusion/{e.path.stem}.png")
            )
        )
        cms.append(link(f"#{n} {e.label}", path, here))
        folds = history(e.record, e.path)
        if folds:
            path = out.keep(
                plots.learning_curves(folds, f"{title} | {e.label}", out.path(f"plots/learning/{e.path.stem}.png"))
            )
            curves.append(link(f"#{n} {e.label}", path, here))
    lines.append("Confusion matrices, normalised by true class: " + " · ".join(cms))
    if curves:
        lines.append("Learning curves: " + " · ".join(curves))
    return "\n\n".join(lines)


def _study(dataset: str, protocol: str, entries: list[Entry], board: Path | None, out: Output) -> str:
    """The rows a board leaves out: its methods' other configs and the committed models scored again."""
    here = out.path("studies")
    intro = (
        "Each row is a config of a method other than its config on the board (the config column says how it "
        "differs), or a model fitted elsewhere scored again (method=pretrained: a committed checkpoint, or an "
        "average of several, named by their folders in results/models/ with the seeds and starting models of the "
        "experiments that trained them; logit-adjusted where its probabilities were divided by its training "
        "classes' frequencies), scored over all its test images. The experiment column names the experiment "
        "(conf/experiment/) of the row's run, where one made it."
    )
    parts = [
        f"# {dataset} | {protocol}: variants and re-scorings",
        GENERATED,
        intro,
        *([f"The board: {link(f'{dataset} | {protocol}', board, here)}."] if board else []),
        _ranking(entries, here, experiments=True),
        _ranking_legend(entries),
    ]
    return "\n\n".join(parts) + "\n"


# -- across leaderboards ---------------------------------------------------------------------------


def _classical_vs_deep(ranked, board_files, out: Output) -> str:
    here = out.path("leaderboards")
    rows = []
    for key, entries in ranked.items():
        best = best_by_kind(entries)
        c, d = best.get("classical"), best.get("deep")
        pair = sorted((c, d), key=lambda e: -e.accuracy) if c and d else None
        folds = "" if pair is None else "one test split: as pooled" if c.holdout else test_text(lead_test(*pair))
        rows.append(
            [
                *key,
                *_best_cells(c),
                *_best_cells(d),
                _learned(d, c),
                f"{100 * (d.accuracy - c.accuracy):+.2f}" if pair else "",
                test_text(pooled_test(*pair)) if pair else "",
                folds,
                link("leaderboard", board_files[key], here),
            ]
        )
    table = tabulate(
        rows,
        headers=[
            "data set",
            "protocol",
            "best classical",
            "acc %",
            "ms / image",
            "best deep",
            "acc %",
            "ms / image",
            "what deep had that classical did not",
            "deep − classical (points)",
            "on the images (pooled predictions)",
            "over folds",
            "details",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    return (
        "\n\n".join(
            [
                "# Classical vs deep",
                GENERATED,
                "The best row of each kind (the family its estimator states in the record) on each leaderboard "
                "(accuracy: PrivateTest for FER2013 official, the mean over folds otherwise), with two tests of "
                "whether the better of the two (#1 in the tests' counts) is ahead, each answering its own question. "
                "Where the deep row learned from more than the board's training data (a model pretrained on "
                "another data set, other labels of the same images), a column says so: its lead is then that "
                "of the method with that data.",
                "- **On the images**: exact McNemar on the two runs' test predictions, pooled over folds (under "
                "cross-validation each image is tested once, by the fold that held it out). It uses every test "
                "image; it treats the images as independent and the runs' fitted models as given, so it says whether "
                "these two runs differ, not whether the methods would with other training data.",
                "- **Over folds**: an exact sign-flip permutation test on the paired per-fold accuracies. It speaks "
                "to the methods over training sets, assuming only that each fold's difference is as likely to favour "
                "either, and its smallest possible p is 2 / 2^k with k folds (0.0625 at 5): no 5-fold lead can reach "
                "5 %. A repeated cross-validation (protocol.repeats: the folds again with the next seeds) is "
                "compared over its r x k folds by the corrected repeated cross-validation t-test (Nadeau & "
                "Bengio 2003), which can; its images are tested once per repeat, so they are not pooled. FER2013 "
                "and FER+ have one official test split, where the two tests are one.",
                table,
            ]
        )
        + "\n"
    )


def _learned(deep: Entry | None, classical: Entry | None) -> str:
    """What the deep row learned from besides its board's training data, where it did: the data sets its
    starting model learned (a fine-tune: `benchmark.cross_dataset.learned_from`) and training labels other
    than the classical row's (FER+'s vote distributions)."""
    if deep is None or classical is None:
        return ""
    from benchmark.cross_dataset import learned_from

    extra = [
        f"a model pretrained on {', '.join(sorted(found))}"
        for found in [learned_from(deep.record["config"]["method"]) - {deep.record["dataset"]}]
        if found
    ]
    labels = deep.record["config"]["dataset"].get("train_labels")
    if labels and labels != classical.record["config"]["dataset"].get("train_labels"):
        extra.append(
            f"training labels {labels} (classical: {classical.record['config']['dataset'].get('train_labels')})"
        )
    return "; ".join(extra) or "—"


def _best_cells(entry: Entry | None) -> list[str]:
    if entry is None:
        return ["—", "", ""]
    return [entry.label, pct(entry.accuracy), f"{entry.record['timings']['inference_ms_per_image']:.3f}"]


def _published(ranked, board_files, out: Output) -> str:
    here = out.path("leaderboards")
    parts = [
        "# Published figures beside ours",
        GENERATED,
        "Transcribed in `benchmark/report/published.py` with source and grade. A published figure is set beside "
        "our leaderboard of the same data set and protocol; one whose protocol was not "
        "subject-independent is marked, as it is not comparable with a subject-independent result.",
        _grades(),
    ]
    datasets = list(dict.fromkeys(a.dataset for a in published.FIGURES))
    for dataset in datasets:
        rows = []
        for a in published.for_dataset(dataset):
            beside = [
                link(p, board_files[(dataset, p)], here) if (dataset, p) in board_files else p for p in a.protocols
            ]
            ours = [_ours(a, ranked.get((dataset, p), [])) for p in a.protocols]
            rows.append(
                [
                    a.method,
                    a.published_protocol,
                    a.accuracy,
                    _independent(a),
                    a.grade,
                    a.source,
                    ", ".join(beside) or "—",
                    "; ".join(ours) or "—",
                    published.notes(a),
                ]
            )
        parts += [
            f"## {dataset}",
            tabulate(
                rows,
                headers=[
                    "published method",
                    "their protocol",
                    "accuracy %",
                    "subject-independent",
                    "grade",
                    "source",
                    "our protocol",
                    "ours, same family",
                    "note",
                ],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    return "\n\n".join(parts) + "\n"


def _headline(ranked, board_files, here: Path) -> str:
    """The best classical and the best deep row of every leaderboard, side by side, with links relative
    to `here`."""
    rows = []
    for (dataset, protocol), entries in ranked.items():
        best = best_by_kind(entries)
        cells = [
            [best[k].label, pct(best[k].accuracy) + (f" ({len(best[k].runs)} seeds)" if best[k].seeds else "")]
            if k in best
            else ["—", ""]
            for k in ("classical", "deep")
        ]
        rows.append(
            [
                dataset,
                protocol,
                *cells[0],
                *cells[1],
                len(entries),
                link("leaderboard", board_files[(dataset, protocol)], here),
            ]
        )
    return tabulate(
        rows,
        headers=[
            "data set",
            "protocol",
            "best classical",
            "accuracy %",
            "best deep",
            "accuracy %",
            "rows",
            "details",
        ],
        tablefmt="github",
        disable_numparse=True,
    )


def _check_targets(report_dir: Path, readme: Path | None) -> None:
    """Before anything is written: the README.md under `report_dir` must be one the report wrote (its
    second paragraph is `GENERATED`) or absent, so a report_dir that is a project's own folder is refused
    instead of overwritten; `readme` must be there with its results block."""
    index = report_dir / "README.md"
    if index.is_file() and GENERATED not in index.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise ConfigError(
            f"{report_dir} holds a README.md the report did not write ({index}); it is not replaced: "
            "choose another report_dir",
            "report_dir",
        )
    if readme is not None:
        if not readme.is_file():
            raise ConfigError(f"{readme} is not there: name the markdown file whose headline table to update", "readme")
        text = readme.read_text(encoding="utf-8")
        if text.find(README_START) < 0 or text.find(README_END) < text.find(README_START):
            raise ConfigError(f"{readme} has no '{README_START}' ... '{README_END}' block for the headline table")


def _update_readme(path: Path, table: str) -> bool:
    """Replace what stands between the results markers of `path`; a file without them is an error.
    Returns whether its content changed (an unchanged file is not written)."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ConfigError(f"{path} has no '{README_START}' ... '{README_END}' block for the headline table")
    block = f"{README_START}\n{GENERATED}\n\n{table}\n"
    new = text[:start] + block + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def _index(
    ranked,
    board_files,
    results_dir: Path,
    n_records: int,
    not_records: list[Path],
    out: Output,
    robust_files: dict,
    cross_file: Path | None,
    study_files: dict,
    card_files: dict,
) -> str:
    table = _headline(ranked, board_files, out.root)
    parts = [
        "# Results",
        f"{GENERATED} Records: {link(results_dir.name + '/', results_dir, out.root)} ({n_records} read).",
        table,
        link("Classical vs deep", out.path("leaderboards/classical_vs_deep.md"), out.root)
        + " · "
        + link("Published figures beside ours", out.path("leaderboards/published.md"), out.root),
    ]
    if study_files:
        parts.append(
            "Variants and re-scorings: "
            + " · ".join(link(" | ".join(key), path, out.root) for key, path in study_files.items())
        )
    if cross_file is not None:
        parts.append(link("Cross-data-set accuracy", cross_file, out.root))
    if robust_files:
        parts.append(
            "Robustness to perturbations: "
            + " · ".join(link(" | ".join(key), path, out.root) for key, path in robust_files.items())
        )
    if card_files:
        parts.append(
            link("Model cards", out.path("cards/index.md"), out.root)
            + ": "
            + " · ".join(link(name, path, out.root) for name, path in card_files.items())
        )
    if not_records:
        parts.append("Ignored, not run records: " + ", ".join(f"`{p.name}`" for p in not_records))
    return "\n\n".join(parts) + "\n"


# -- formatting ------------------------------------------------------------------------------------


def _f1(per_class: dict | None) -> str:
    return "" if per_class is None else f"{100 * per_class['f1']:.1f}"


def _independent(figure: published.PublishedFigure) -> str:
    return {True: "yes", False: "**no**", None: "unknown"}[figure.subject_independent]


def _ours(figure: published.PublishedFigure, entries: list[Entry]) -> str:
    """Our best row of the figure's method family on this leaderboard, or '—'."""
    same = [e for e in entries if e.row_key[0] in figure.ours]
    return f"{same[0].label}: {pct(same[0].accuracy)}" if same else "—"


def _grades() -> str:
    return "Grades: " + "; ".join(f"**{g}** {text}" for g, text in published.GRADES.items()) + "."


def _shipped_margin() -> float | None:
    """The shipped model's face-stage margin (results/models/shipped.yaml), for the framing page."""
    from benchmark.config import shipped_setting

    margin = shipped_setting("face_stage.margin")
    return None if margin is None else float(margin)
