"""Model cards: one markdown page per committed model (`models_dir/<data set>__<name>/`, a folder holding a
model file), written by the report as `cards/<data set>__<name>.md`, with `cards/index.md` listing them.

A card says what the model is and where it comes from (the experiment that trains it, the training run's
record and settings, the model it was fine-tuned from, the file's SHA-256 and size), how it scored on every
data set a record scored it on, and its limits, each stated from the records. A score counts for the file
only when the record that made it names the file's SHA-256 (method=pretrained records do); the run that
trained it is tied to it by its experiment (`benchmark.experiments.models`), or, without one, by the
folder its run wrote to. Everything on a card comes from the records, conf/experiment/ and the files.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from benchmark.report.cross import source_name
from benchmark.report.output import GENERATED, Output, link, pct
from core.io import sha256

#: files that hold a model ferbench loads (`benchmark.inference.models.load_model`)
MODEL_SUFFIXES = (".pt", ".onnx", ".skops")
#: the data sets that are the same images under other labels (FER+ relabels FER2013)
SAME_IMAGES = {frozenset(("fer2013", "ferplus"))}
#: the data sets without subject ids, whose official splits may share people (`pages.PROTOCOL_NOTES`)
NO_SUBJECT_IDS = ("fer2013", "ferplus")
#: the order of data sets in a card's tables; others follow, sorted
ORDER = ("fer2013", "ferplus", "ckplus", "jaffe")
#: method settings a card leaves out of the recipe: where and how a run ran, not what it learned
NOT_RECIPE = ("_target_", "_convert_", "run_dir", "resume", "verbose", "n_jobs", "device", "compile")
#: the terms of the data sets' images, as their sources state them (the README's data-set licences)
TERMS = {
    "fer2013": "FER2013's images carry no open licence and are used for research only",
    "ferplus": "FER+'s labels are MIT-licensed; its images are FER2013's, which carry no open licence and are "
    "used for research only",
    "ckplus": "CK+ is released by its owners for research only, under an agreement that forbids redistribution",
    "jaffe": "JAFFE may be used for non-commercial scientific research only, under its owners' terms",
}


@dataclass
class Model:
    """One committed model: its folder's name (`<data set>__<name>`), its file, and the records about it."""

    name: str
    file: Path
    digest: str
    training: tuple[Path, dict] | None = None
    scores: list[tuple[Path, dict]] = field(default_factory=list)
    robustness: list[tuple[Path, dict]] = field(default_factory=list)
    averages: list[tuple[Path, dict]] = field(default_factory=list)
    fine_tunes: list[tuple[Path, dict]] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return self.name.split("__", 1)[0]


def write(out: Output, records: list[tuple[Path, dict]], models_dir: Path) -> dict[str, Path]:
    """The cards of every model under `models_dir` and their index; {model folder name: card path}. A score
    links to its record and to the report's page that shows it (`page_of`), written before the cards.
    No models: no cards, no index."""
    models = collect(records, models_dir)
    if not models:
        return {}
    shipped = _shipped(models_dir)
    cards = {m.name: out.path(f"cards/{m.name}.md") for m in models}
    for model in models:
        out.text(f"cards/{model.name}.md", _card(model, shipped, models_dir, cards, out))
    out.text("cards/index.md", _index(models, shipped, cards, out))
    return cards


def collect(records: list[tuple[Path, dict]], models_dir: Path) -> list[Model]:
    """Every model under `models_dir` (the first model file of each `<data set>__<name>/` folder, sorted),
    with the records that trained it (the run of the experiment that names the folder; without one, the run
    whose run_dir it is, or whose record the folder is named after, as save_model=true names it), scored it
    alone (its SHA-256 in the record), scored it in an average, or fine-tuned from it; a record naming its
    path with another SHA-256 (a file replaced since) is `stale`. Records set aside as superseded
    (`*.superseded*.json`) are not read."""
    from benchmark.experiments import models as experiments
    from benchmark.inference.models import model_folder

    models = []
    current = [(p, r) for p, r in sorted(records, key=_recency) if ".superseded" not in p.name]
    for folder in sorted(p for p in Path(models_dir).glob("*__*") if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix in MODEL_SUFFIXES and p.is_file())
        if not files:
            continue
        model = Model(folder.name, files[0], sha256(files[0]))
        made = experiments().get(folder.name, {})
        trained = [
            (p, r)
            for p, r in current
            if r["method"] != "pretrained"
            and (
                (made and r.get("experiment") == made["experiment"])
                or (not made and model_folder(_run_dir(r) or "") == tuple(folder.name.split("__", 1)))
                or p.stem == folder.name  # save_model=true: models_dir/<record name>/<fold>
            )
        ]
        model.training = trained[-1] if trained else None
        for path, record in current:
            details = record["folds"][0].get("fit_details", {})
            files_, digests = details.get("model_file"), details.get("sha256")
            if record["method"] == "pretrained" and files_ is not None:
                files_ = files_ if isinstance(files_, list) else [files_]
                digests = digests if isinstance(digests, list) else [digests]
                ours = [model_folder(f) == tuple(folder.name.split("__", 1)) for f in files_]
                if model.digest in digests:
                    alone = len(files_) == 1
                    if alone and "perturbations" in record:
                        model.robustness.append((path, record))
                    else:
                        (model.scores if alone else model.averages).append((path, record))
                elif any(ours):
                    model.stale.append(path)
            elif model_folder(_method(record).get("init_checkpoint") or "") == tuple(folder.name.split("__", 1)):
                model.fine_tunes.append((path, record))
        models.append(model)
    return models


# -- one card ----------------------------------------------------------------------------------------


def _card(model: Model, shipped: dict, models_dir: Path, cards: dict, out: Output) -> str:
    here = out.path("cards")
    parts = [f"# {model.name}", GENERATED]
    if shipped.get("file") == model.file.resolve():
        parts.append(
            "**The shipped model**: the one `ferbench predict` and `ferbench serve` use when no `model=` is named "
            f"({link('shipped.yaml', models_dir / 'shipped.yaml', here)}), used as: {_shipped_use(shipped)}."
        )
    parts += ["## What it is", _facts(model, cards, models_dir, here)]
    if model.training:
        parts += ["## How it was trained", _recipe(model.training[1])]
    parts += ["## Scores", _scores(model, out)]
    if model.robustness:
        parts += ["## Under perturbations", _robustness(model, out)]
    if model.averages:
        parts += ["## In averages of several models", _averages(model, out)]
    if model.fine_tunes:
        parts += ["## Fine-tuned from it", _fine_tunes(model, here)]
    parts += ["## Limits", _limits(model)]
    return "\n\n".join(parts) + "\n"


def _facts(model: Model, cards: dict, models_dir: Path, here: Path) -> str:
    from benchmark.experiments import models as experiments

    made = experiments().get(model.name, {})
    shown = _shown(model.file, models_dir)
    rows = [
        ["file", link(f"`{shown}`", model.file, here)],
        ["SHA-256", f"`{model.digest}`"],
        ["size", f"{model.file.stat().st_size:,} bytes"],
        ["use it", f"`ferbench predict photo.jpg model={shown}`"],
    ]
    if made:
        rows.append(
            [
                "experiment",
                f"`ferbench run +experiment={made['experiment']}` (conf/experiment/{made['experiment']}.yaml)",
            ]
        )
        rows.append(["seed", str(made["seed"])])
        if made.get("init_folder"):
            rows.append(["fine-tuned from", _card_link(made["init_folder"], cards, here)])
    else:
        rows.append(["experiment", "none names it (conf/experiment/): how it was made is its record's alone"])
    if model.training:
        path, record = model.training
        rows += [
            ["trained on", _trained_on(record)],
            ["network", _network(record)],
            ["classes", ", ".join(record["classes"])],
            ["training record", link(path.name, path, here)],
            ["file and record", _provenance(model, record)],
        ]
    else:
        rows.append(["training record", "none in the records read: nothing ties this file to a run"])
    size = next((r["folds"][0]["fit_details"].get("input_size") for _, r in model.scores), None)
    if size:
        rows.append(["input", f"grey face crops of {size}x{size} pixels (uint8)"])
    return tabulate(rows, headers=["", ""], tablefmt="github", disable_numparse=True)


def _shown(file: Path, models_dir: Path) -> str:
    """A model file's path as a user types it: relative to the working folder where it is under it
    (results/models/...), else from the folder above `models_dir`."""
    absolute = Path(os.path.abspath(file))
    if absolute.is_relative_to(Path.cwd()):
        return absolute.relative_to(Path.cwd()).as_posix()
    return absolute.relative_to(Path(os.path.abspath(models_dir)).parent).as_posix()


def _trained_on(record: dict) -> str:
    fold = record["folds"][0]
    labels = record["config"]["dataset"].get("train_labels")
    text = f"{source_name(record)}, protocol {record['protocol']}: {fold['n_train']:,} training images"
    if fold.get("n_val"):
        text += f", model selection on {fold['n_val']:,} validation images"
    return text + (f"; training labels: {labels}" if labels else "")


def _network(record: dict) -> str:
    from benchmark.report.leaderboard import model_name, size

    return ", ".join(t for t in (model_name(record), size(record)) if t)


def _provenance(model: Model, record: dict) -> str:
    """Whether the training record names this file: its `model_sha256` (records from the provenance fields
    on), else the folder its run wrote to."""
    written = record.get("model_sha256") or record["folds"][0].get("fit_details", {}).get("model_sha256")
    if written:
        return (
            "the record gives this file's SHA-256"
            if written == model.digest
            else f"**the record's model had SHA-256 `{written}`: this file is another**"
        )
    run_dir = _run_dir(record)
    where = f"its run wrote its model to `{run_dir}`" if run_dir else "its run saved no model folder"
    return f"the record gives no SHA-256 of the model it wrote (older records); {where}"


def _recipe(record: dict) -> str:
    method = _method(record)
    settings = ", ".join(
        f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in method.items() if k not in NOT_RECIPE
    )
    details = record["folds"][0].get("fit_details", {})
    ran = [
        f"{details['epochs_run']} epochs run" if "epochs_run" in details else "",
        f"best epoch {details['best_epoch']}" if "best_epoch" in details else "",
        f"{record['timings']['fit_s']:.0f} s of training on {_hardware(record)}" if record.get("timings") else "",
    ]
    return (
        f"`{method.get('_target_', record['method'])}` (method={record['method']}), "
        f"seed {record['config'].get('seed')}: `{settings}`.\n\n" + "; ".join(t for t in ran if t) + "."
    )


def _hardware(record: dict) -> str:
    """What the run trained on: its accelerator (fit details' device_name) or the machine's CPU cores."""
    names = sorted({f.get("fit_details", {}).get("device_name") for f in record["folds"]} - {None})
    return ", ".join(names) if names else f"{record['env'].get('cpu_count')} CPU cores"


def _scores(model: Model, out: Output) -> str:
    here = out.path("cards")
    rows = []
    learned = _learned(model)
    for path, record in ([model.training] if model.training else []) + model.scores:
        for tested, split, n, acc, f1 in _split_scores(record):
            base = tested.split(" (", 1)[0]
            rows.append(
                [
                    base,
                    f"{record['protocol']}: {split}" if split != base else record["protocol"],
                    _relation(base, learned),
                    _scored_as(record, model),
                    f"{n:,}",
                    pct(acc),
                    pct(f1),
                    _record_link(path, record, out),
                ]
            )
    rows.sort(key=lambda r: (_order(r[0]), r[1], r[3]))
    if not rows:
        return "No record scores this file."
    table = tabulate(
        rows,
        headers=["tested on", "protocol: split", "faces", "scored as", "images", "accuracy %", "macro-F1 %", "record"],
        tablefmt="github",
        disable_numparse=True,
    )
    notes = (
        "Accuracy and macro-F1 over every test image once (pooled over folds). faces: whether the model had "
        "learned from these people's data set. scored as: the run that trained it (with the test-time views "
        "its config names), or method=pretrained loading this file (its test-time views and logit adjustment)."
    )
    if model.stale:
        notes += (
            f" Not counted: {len(model.stale)} record(s) of a file at this path with another SHA-256 (replaced "
            "since): " + ", ".join(link(p.name, p, here) for p in model.stale) + "."
        )
    return f"{table}\n\n{notes}"


def _split_scores(record: dict) -> list[tuple[str, str, int, float, float]]:
    """(data set tested, split, images, accuracy, macro-F1) of every split a record scored, pooled over folds."""
    from benchmark.report.cross import target_name

    out = []
    for split, metrics in record["metrics_by_split"].items():
        n = sum(len(p[split]["ids"]) for p in record.get("predictions", {}).values() if split in p)
        if record["protocol"] == "cross":
            tested, name = target_name(record, split), _cross_split(record, split)
        else:
            tested, name = record["dataset"], split
        out.append((tested, name, n, metrics["pooled"]["accuracy"], metrics["pooled"]["macro_f1"]))
    return out


def _cross_split(record: dict, target: str) -> str:
    learned = set(record["folds"][0].get("learned_from", [record["dataset"]]))
    if any(frozenset((target, d)) in SAME_IMAGES or target == d for d in learned):
        return "its PrivateTest"
    detector = record["folds"][0].get("target_faces", {}).get(target, {}).get("detector")
    return "every image" + (f", faces by {detector}" if detector and detector != "none" else "")


def _relation(tested: str, learned: set[str]) -> str:
    if tested in learned:
        return "its own data set"
    if any(frozenset((tested, d)) in SAME_IMAGES for d in learned):
        return "its data set's test images, other labels"
    return "never seen"


def _scored_as(record: dict, model: Model) -> str:
    method = _method(record)
    if record["method"] != "pretrained":
        return f"as trained, tta {method.get('tta', 'none')}"
    text = f"pretrained, tta {method.get('tta', 'none')}"
    tau = method.get("logit_adjust")
    return text + (f", logit-adjusted (tau {tau:g})" if tau else "")


def _robustness(model: Model, out: Output) -> str:
    from benchmark.report import robustness

    rows = []
    for path, record in model.robustness:
        p = record["perturbations"]
        rows.append(
            [
                record["dataset"],
                f"{record['protocol']}: {p.get('test_set', record['test_set'])}, {p['mode']} mode",
                _scored_as(record, model),
                f"{p['n_images']:,}" if p.get("n_images") else "all",
                pct(p["clean"]["accuracy"]["mean"]),
                pct(robustness.mean_accuracy(record)),
                pct(robustness.mean_area(record)),
                _record_link(path, record, out),
            ]
        )
    return (
        tabulate(
            rows,
            headers=[
                "tested on",
                "protocol: split",
                "scored as",
                "images",
                "clean accuracy %",
                "mean perturbed accuracy %",
                "mean normalised area %",
                "record",
            ],
            tablefmt="github",
            disable_numparse=True,
        )
        + "\n\nThe robustness protocol (`+perturb=standard`): every perturbation at four severities on the same "
        "images; mean perturbed accuracy over all of them; normalised area: the area under each "
        "accuracy-severity curve divided by the clean accuracy, averaged over perturbations (100 % is no loss)."
    )


def _averages(model: Model, out: Output) -> str:
    from benchmark.report.leaderboard import model_name

    rows = []
    for path, record in model.averages:
        for tested, split, n, acc, _ in _split_scores(record):
            rows.append(
                [
                    model_name(record),
                    tested,
                    f"{record['protocol']}: {split}",
                    f"{n:,}",
                    pct(acc),
                    _record_link(path, record, out),
                ]
            )
    rows.sort(key=lambda r: (r[0], _order(r[1]), r[2]))
    return tabulate(
        rows,
        headers=["average", "tested on", "protocol: split", "images", "accuracy %", "record"],
        tablefmt="github",
        disable_numparse=True,
    )


def _fine_tunes(model: Model, here: Path) -> str:
    by_board = defaultdict(list)
    for path, record in model.fine_tunes:
        by_board[f"{record['dataset']} {record['protocol']}"].append(link(path.name, path, here))
    return "Runs that started from this file (`method.init_checkpoint`): " + "; ".join(
        f"{board}: {', '.join(links)}" for board, links in sorted(by_board.items())
    )


def _limits(model: Model) -> str:
    from benchmark.report import robustness
    from benchmark.report.pages import PROTOCOL_NOTES

    lines = []
    if model.training:
        record = model.training[1]
        lines.append(
            f"It learned from {_trained_on(record)}; it gives one of its classes ({', '.join(record['classes'])}) "
            "to every face, also to a face that shows none of them."
        )
        if record["dataset"] in NO_SUBJECT_IDS:
            lines.append(PROTOCOL_NOTES.get(record["protocol"], ""))
    learned = _learned(model)
    never = [  # a cross-data-set training record tests on data sets the model never saw too
        acc
        for _, record in ([model.training] if model.training else []) + model.scores
        for tested, _, _, acc, _ in _split_scores(record)
        if _relation(tested.split(" (", 1)[0], learned) == "never seen"
    ]
    own = _test_score(model.training[1]) if model.training else None
    if never:
        lines.append(
            "On data sets it never saw its accuracy is "
            + (
                f"{pct(never[0])} % (1 scoring above)"
                if len(never) == 1
                else f"{pct(min(never))} to {pct(max(never))} % ({len(never)} scorings above)"
            )
            + (f", against {pct(own[1])} % on its own {own[0]}" if own else "")
            + ": expect less than on its own test split from photos unlike its training faces."
        )
    else:
        lines.append("No record scores it on a data set it never saw: how it does on other faces is not measured.")
    if model.robustness:
        record = model.robustness[-1][1]
        lines.append(
            f"Under the standard perturbations its mean accuracy is {pct(robustness.mean_accuracy(record))} % "
            f"against {pct(record['perturbations']['clean']['accuracy']['mean'])} % clean on the same images."
        )
    else:
        lines.append("Its accuracy under blur, noise, low light or occlusion is not measured.")
    lines.append("No record measures its accuracy by age, gender or skin tone.")
    if model.dataset in TERMS:
        lines.append(f"{TERMS[model.dataset]}: check that your use of a model learned from it is allowed.")
    return "\n".join(f"- {line}" for line in lines)


def _learned(model: Model) -> set[str]:
    """The data sets the model learned from: its folder's, and those its records list (`learned_from`)."""
    learned = {model.dataset}
    for _, record in ([model.training] if model.training else []) + model.scores:
        learned |= set(record["folds"][0].get("learned_from", []))
    return learned


def _test_score(record: dict) -> tuple[str, float] | None:
    """(test split, accuracy pooled over folds) of a record that was not a cross-data-set one."""
    if record["protocol"] == "cross" or record["test_set"] not in record["metrics_by_split"]:
        return None
    return record["test_set"], record["metrics_by_split"][record["test_set"]]["pooled"]["accuracy"]


# -- the index -----------------------------------------------------------------------------------------


def _index(models: list[Model], shipped: dict, cards: dict, out: Output) -> str:
    from benchmark.experiments import models as experiments

    here = out.path("cards")
    rows = []
    for model in models:
        made = experiments().get(model.name, {})
        own = _test_score(model.training[1]) if model.training else None
        rows.append(
            [
                link(model.name, cards[model.name], here),
                source_name(model.training[1]) if model.training else model.dataset,
                str(made.get("seed", "")),
                _card_link(made["init_folder"], cards, here) if made.get("init_folder") else "",
                made.get("experiment", "—"),
                f"{pct(own[1])} ({own[0]})" if own else "",
                str(len(model.scores) + len(model.robustness) + (model.training is not None)),
                "yes" if shipped.get("file") == model.file.resolve() else "",
            ]
        )
    table = tabulate(
        rows,
        headers=[
            "model",
            "learned from",
            "seed",
            "fine-tuned from",
            "experiment",
            "own test accuracy %",
            "records scoring it (training included)",
            "shipped",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    return (
        "\n\n".join(
            [
                "# Model cards",
                GENERATED,
                "One card per committed model (results/models/): what it is, the SHA-256 of its file, how it "
                "was trained, its scores on every data set a record scored it on, and its limits.",
                table,
            ]
        )
        + "\n"
    )


# -- helpers -----------------------------------------------------------------------------------------------


def _shipped(models_dir: Path) -> dict:
    """The shipped manifest of `models_dir` (shipped.yaml) with `file`, its model's resolved path; {} without it."""
    import yaml

    manifest = Path(models_dir) / "shipped.yaml"
    if not manifest.is_file():
        return {}
    data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    if isinstance(data.get("model"), str):
        data["file"] = (manifest.parent / data["model"]).resolve()
    return data


def _shipped_use(shipped: dict) -> str:
    stage = shipped.get("face_stage") or {}
    parts = [", ".join(f"{k} {v}" for k, v in stage.items())] if stage else []
    if shipped.get("tta"):
        parts.append(f"tta {shipped['tta']} for its benchmark figures")
    if (shipped.get("logit_adjust") or {}).get("tau") is not None:
        parts.append(f"logit-adjusted (tau {shipped['logit_adjust']['tau']:g})")
    return "; ".join(parts)


def _method(record: dict) -> dict:
    method = record["config"].get("method") or {}
    return (method.get("estimator") or method) if isinstance(method, dict) else {}


def _run_dir(record: dict) -> str | None:
    return _method(record).get("run_dir")


def _record_link(path: Path, record: dict, out: Output) -> str:
    """A link to the record and one to the report's page that shows it (`page_of`)."""
    here = out.path("cards")
    page = page_of(record, out)
    shown = link("record", path, here)
    return shown + (f" · {link(page[0], page[1], here)}" if page else "")


def page_of(record: dict, out: Output) -> tuple[str, Path] | None:
    """(what it is, path) of the page of the report under `out` that shows `record`, where it is there: a
    robustness board, the cross-data-set page, a board (a method's run) or a variants page (a model
    scored again, method=pretrained, or where no board has the data set and protocol)."""
    dataset, protocol = record["dataset"], record["protocol"]
    if "perturbations" in record:
        mode = record["perturbations"]["mode"]
        found = [("robustness board", f"leaderboards/robustness__{dataset}__{protocol}__{mode}.md")]
    elif protocol == "cross":
        found = [("cross-data-set page", "leaderboards/cross_dataset.md")]
    else:
        found = [("variants page", f"studies/{dataset}__{protocol}.md")]
        if record["method"] != "pretrained":
            found.insert(0, ("board", f"leaderboards/{dataset}__{protocol}.md"))
    return next(((name, out.path(p)) for name, p in found if out.path(p).is_file()), None)


def _card_link(name: str, cards: dict, here: Path) -> str:
    """A link to the card of the model folder `name`, or its name where it has none."""
    return link(name, cards[name], here) if name in cards else name


def _order(dataset: str):
    return (ORDER.index(dataset), "") if dataset in ORDER else (len(ORDER), dataset)


def _recency(member: tuple[Path, dict]):
    return member[1]["env"].get("time", ""), member[0].name
