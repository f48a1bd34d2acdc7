"""The general model's page (studies/general_model.md): experiment `GENERAL` (the shipped model fine-tuned on
every labelled set, merged) measured on faces it never saw, beside the shipped model on the same faces.

Each lab set is held out by the experiment that trains without it (`HELD_OUT`); FER2013's PrivateTest, which
none of them fits on, is tested by every one. The shipped model's scores are its own records: its
cross-data-set record (the manifest's `logit_adjust.record`, experiment shipped_cross) for the lab sets, and
the FER2013 official record of method=pretrained with the manifest's settings for PrivateTest. Both models are
compared on the images both were tested on (the general model also knows contempt, which the shipped model
does not, so CK+'s contempt faces are left out), with the rule the applications' model is chosen by: better
on every held-out lab set, and within `PRIVATE_TEST_MARGIN` on PrivateTest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from tabulate import tabulate

from benchmark.report.output import GENERATED, Output, pct

#: the experiment trained on every set, and {lab set: the experiment leaving it out}
GENERAL = "general"
HELD_OUT = {"ckplus": "general_without_ckplus", "jaffe": "general_without_jaffe"}
#: how far below the shipped model's PrivateTest accuracy the general model may be, in accuracy (a point)
PRIVATE_TEST_MARGIN = 0.01
HEADERS = [
    "held out",
    "experiment",
    "faces",
    "shipped accuracy %",
    "shipped macro-F1 %",
    "general accuracy %",
    "general macro-F1 %",
    "accuracy change (points)",
]


def write(out: Output, records: list[tuple[Path, dict]]) -> Path | None:
    """Write studies/general_model.md; None (and no page) until the shipped model's two records and a
    record of `GENERAL` or one of `HELD_OUT`'s experiments are among `records`."""
    by_experiment = {r.get("experiment"): r for _, r in records if r["protocol"] == "cross"}
    shipped = _shipped_records(records)
    experiments = [*HELD_OUT.values(), GENERAL]
    made = {e: by_experiment[e] for e in experiments if e in by_experiment}
    if shipped is None or not made:
        return None
    tests = [(target, e) for target, e in HELD_OUT.items() if e in made] + [(None, e) for e in made]
    rows, passed, missing = [], [], [e for e in experiments if e not in made]
    for target, experiment in tests:
        acc_a, acc_b, row = _compare(shipped, made[experiment], target, experiment)
        rows.append(row)
        if target is not None:
            passed.append(acc_b > acc_a)
        elif experiment == GENERAL:
            passed.append(acc_b >= acc_a - PRIVATE_TEST_MARGIN)
    if not all(passed):
        verdict = "**not met**"
    elif missing:
        verdict = f"not decided, without records of {', '.join(missing)}"
    else:
        verdict = "**met**, the general model may replace the shipped one"
    lines = [
        "# The general model: every labelled set, measured on faces it never saw",
        "",
        GENERATED,
        "",
        "The shipped model fine-tuned on every labelled set, merged as 48x48 crops (experiment general: FER+'s "
        "vote distributions of FER2013's Training images, CK+48 and JAFFE), with each lab set left out in turn "
        "(the general_without_<set> experiments); "
        "FER2013's PrivateTest is fitted on by none of them. Beside each, the shipped model (results/models/"
        "shipped.yaml: its test-time views and logit adjustment) on the same faces: the images both were tested "
        "on, so CK+'s contempt faces, a class the shipped model does not have, are left out. Macro-F1 over the "
        "classes of those faces.",
        "",
        tabulate(rows, HEADERS, tablefmt="github", disable_numparse=True),
        "",
        "The rule for replacing the shipped model: better accuracy on every held-out lab set, and within "
        f"{100 * PRIVATE_TEST_MARGIN:g} point of it on FER2013's PrivateTest (the model trained on every set): "
        f"{verdict}.",
        "",
    ]
    return out.text("studies/general_model.md", "\n".join(lines))


def _compare(shipped: tuple[dict, dict], ours: dict, target: str | None, experiment: str):
    """(the shipped model's accuracy, ours, the table's row) on the faces of `target` (None: FER2013's
    PrivateTest) that both records tested. Raises ValueError where the two records label a face differently."""
    cross_record, private_record = shipped
    if target is None:
        theirs, name = _predictions(private_record, "PrivateTest"), "fer2013 PrivateTest"
        mine = {i.removeprefix("fer2013/"): v for i, v in _predictions(ours, "fer2013").items()}
    else:
        theirs, name, mine = _predictions(cross_record, target), target, _predictions(ours, target)
    both = sorted(set(theirs) & set(mine))
    if any(mine[i][0] != theirs[i][0] for i in both):
        raise ValueError(f"{experiment}: its {name} labels differ from the shipped model's record's")
    y_true = np.array([theirs[i][0] for i in both])
    a, b = (np.array([p[i][1] for i in both]) for p in (theirs, mine))
    acc_a, acc_b = float((a == y_true).mean()), float((b == y_true).mean())
    f1_a, f1_b = _macro_f1(y_true, a), _macro_f1(y_true, b)
    row = [name, experiment, len(both), pct(acc_a), pct(f1_a), pct(acc_b), pct(f1_b), f"{100 * (acc_b - acc_a):+.2f}"]
    return acc_a, acc_b, row


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes of `y_true`."""
    return float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro"))


def _predictions(record: dict, test: str) -> dict[str, tuple[int, int]]:
    """{image id: (true label, predicted label)} of a one-fold record's test `test`."""
    (fold,) = record["predictions"].values()
    p = fold[test]
    return {i: (t, y) for i, t, y in zip(p["ids"], p["y_true"], p["y_pred"])}


def _shipped_records(records: list[tuple[Path, dict]]) -> tuple[dict, dict] | None:
    """The shipped model's cross-data-set record and its FER2013 PrivateTest record, as the manifest
    (results/models/shipped.yaml) scores it; None when either is missing."""
    from benchmark.config import shipped_setting

    cross_name = Path(str(shipped_setting("logit_adjust.record") or "")).name
    settings = {
        "model": shipped_setting("model"),
        "tta": shipped_setting("tta"),
        "logit_adjust": shipped_setting("logit_adjust.tau"),
    }
    cross_record = next((r for p, r in records if p.name == cross_name), None)
    private = [
        r
        for _, r in records
        if (r["dataset"], r["protocol"], r["method"]) == ("fer2013", "official", "pretrained")
        and "perturbations" not in r
        and all(r["config"]["method"].get(k) == v for k, v in settings.items())
    ]
    return None if cross_record is None or not private else (cross_record, private[-1])
