"""The one path every experiment takes: build, load, faces, folds, fit/predict per fold, record.

The method is any scikit-learn-style classifier (`fit`, `predict`); the runner never asks whether
it is classical or deep (the estimator states its `family` for the record). Besides `X` and `y`,
`fit` receives the fold's `groups` (subjects of the training images) and `X_val` / `y_val` (the
protocol's validation set, FER2013's PublicTest) when, and only when, its signature names them
(`core.selection.fit_kwargs`): that is how a method selects hyper-parameters without ever seeing
the test fold.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from sklearn.base import clone

from benchmark import metrics, records
from benchmark.config import instantiate_group
from benchmark.datasets.base import Dataset
from benchmark.protocols import Fold, Protocol
from benchmark.schema import SCHEMA_VERSION, validate
from core import validation as check
from core.errors import ConfigError, DataError, OutputError
from core.io import check_writable, remove_stale_temporaries
from core.labels import CLASS_NAMES
from core.selection import fit_kwargs

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    """The objects a run config builds, one per config group."""

    loader: object
    protocol: Protocol
    detector: object
    method: object
    perturber: object = None  # benchmark.robustness.Perturber, with +perturb=...


def run(cfg: DictConfig, names: dict[str, str], overrides: list[str] | None = None) -> tuple[dict, Path, bool]:
    """Run (or find) the experiment `cfg`; returns (record, record path, whether it was computed now).

    `names` are the config-group choices (e.g. {"dataset": "jaffe", ...}) used in the record;
    `overrides` the command-line overrides of this run, recorded as its command.
    """
    if cfg.dataset.get("name"):  # a folder data set names itself (dataset=folder dataset.name=kdef)
        names = {**names, "dataset": cfg.dataset.name}
    existing = records.recorded(cfg)
    if existing is not None:
        return records.load(existing), existing, False
    config, key, _ = records.lookup(cfg)

    exp = build(cfg, names)
    check_outputs(cfg)
    env = records.environment(cfg.seed, overrides)  # the code as it starts: a commit made during a long run is not it
    # of the files as they are before reading them
    fingerprint = exp.protocol.data_fingerprint(exp.loader.fingerprint(cfg.get("cache_dir")), cfg)
    t0 = time.perf_counter()
    dataset = exp.loader.load()
    t1 = time.perf_counter()
    faces, face_report = exp.detector(dataset)
    t2 = time.perf_counter()
    if len(faces) == 0:
        raise DataError(
            f"the detector ({names.get('detector')}) dropped all {len(dataset)} images of {dataset.name}: "
            "it found no face in any, and detector.on_no_face=drop. Try detector.on_no_face=center_crop, "
            "detector=mtcnn, or a smaller detector.min_face_size"
        )
    faces = exp.protocol.prepare(faces, cfg, exp.detector, exp.method)
    exp.protocol.check(faces)
    folds = exp.protocol.folds(faces)

    name = records.record_name(names, key)
    perturb = (
        None if exp.perturber is None else (lambda est, fold: exp.perturber(est, faces, fold, dataset, exp.detector))
    )
    results, saved = [], {}
    for fold in folds:
        results.append(_run_fold(exp.method, faces, fold, perturb))
        estimator = results[-1].pop("estimator")  # not kept: a fold's model can be large
        if cfg.get("save_model"):
            saved[fold.name] = _save_model(cfg, names, name, faces, fold, estimator)
    family = getattr(exp.method, "family", "classical")
    record = {
        "schema": SCHEMA_VERSION,
        "run_key": key,
        "experiment": names.get("experiment"),
        **{g: names.get(g) for g in records.GROUPS},
        "family": family,
        "threads": records.threads(config["method"]) if family == "deep" else None,
        "config": config,
        "data_fingerprint": fingerprint,
        **_scores(faces, folds, results),
        **_counts(dataset, faces, face_report),
        "timings": _timings(results, load_s=t1 - t0, faces_s=t2 - t1),
        "predictions": _predictions(faces, folds, results),
        **(_perturbations(exp, faces, folds, results) if exp.perturber is not None else {}),
        **({"models": saved} if saved else {}),
        "env": env,
    }
    path = _write_record(Path(cfg.results_dir) / name, validate(record, name))
    return record, path, True


def check_outputs(cfg: DictConfig) -> None:
    """Before any data is read or model fitted: results_dir (and models_dir with save_model) can be
    written and have space free (`core.io.check_writable`), else an `OutputError` now rather than
    after the fit; their temporaries left by killed runs are removed. A cache_dir that cannot be
    written is a warning: the run goes on, the cache is not written."""
    folders = [("results_dir", cfg.results_dir)] + ([("models_dir", cfg.models_dir)] if cfg.get("save_model") else [])
    for key, folder in folders:
        check_writable(folder, key=key)
        remove_stale_temporaries(folder)
    caches = {cfg.get("cache_dir"), (cfg.get("detector") or {}).get("cache_dir")} - {None}
    for folder in sorted(map(str, caches)):
        try:
            check_writable(Path(folder).expanduser(), key="cache_dir")  # as the cache expands it
        except OutputError as exc:
            log.warning("%s; this run goes on without writing its cache (the next one detects again)", exc)


def _write_record(path: Path, record: dict) -> Path:
    """`records.write`; when results_dir cannot take it after all (filled or made read-only during the
    run), the record is written to the temporary folder instead and an OutputError names it, so the
    run's work is not lost."""
    try:
        return records.write(path, record)
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / "ferbench-records" / path.name
        try:
            records.write(fallback, record)
        except OSError:
            raise OutputError(
                f"the record could not be written to {path} ({exc.strerror or exc}), nor to {fallback}; "
                "free some space and run it again"
            ) from None
        raise OutputError(
            f"the record could not be written to {path} ({exc.strerror or exc}); it is saved as {fallback}: "
            f"move it to {path.parent} once that has room"
        ) from None


def _save_model(cfg: DictConfig, names: dict, record_name: str, faces: Dataset, fold: Fold, estimator) -> str:
    """A fold's fitted model, saved as models_dir/<record name>/<fold>.(pt|skops) with the face stage
    its crops came from; returns its path relative to the record's folder (the record's "models")."""
    from omegaconf import OmegaConf

    from benchmark.inference.models import face_stage, save_model

    stage = face_stage(names.get("detector") or "none", OmegaConf.to_container(cfg.detector, resolve=True))
    path = save_model(
        estimator,
        Path(cfg.models_dir) / Path(record_name).stem / fold.name,
        {
            "face_stage": stage,
            "input_size": int(faces.images.shape[1]),
            "family": getattr(estimator, "family", "classical"),
        },
    )
    return Path(os.path.relpath(path, Path(cfg.results_dir))).as_posix()


# -- building: every object first, so a bad value fails before any data is read ----------------------


def build(cfg: DictConfig, names: dict[str, str]) -> Experiment:
    """The data set loader, protocol, detector and method of `cfg`, every parameter checked.

    A bad config value is a `ConfigError` whose key is its config path (e.g. `protocol.k`,
    `method.features.grid`), whichever object found it.
    """
    exp = Experiment(*(instantiate_group(cfg, group) for group in ("dataset", "protocol", "detector", "method")))
    if not hasattr(exp.method, "fit") or not hasattr(exp.method, "predict"):
        raise ConfigError(
            f"method={names.get('method')} builds a {type(exp.method).__name__}, which has no fit/predict"
        )
    check.check_params(exp.method, "method")
    exp.protocol.check_loader(exp.loader)
    if "perturb" in cfg:
        exp.perturber = instantiate_group(cfg, "perturb")
        exp.perturber.check(exp.detector)
    return exp


# -- one fold ----------------------------------------------------------------------------------------


def _run_fold(template, data: Dataset, fold: Fold, perturb=None) -> dict:
    est = clone(template)
    X = data.images
    extra = {
        "groups": None if data.subjects is None else data.subjects[fold.train],
        "y_soft": None if data.soft_labels is None else data.soft_labels[fold.train],
    }
    if fold.val is not None:
        extra.update(X_val=X[fold.val], y_val=data.labels[fold.val])
    t0 = time.perf_counter()
    est.fit(X[fold.train], data.labels[fold.train], **fit_kwargs(est, extra))
    fit_s = time.perf_counter() - t0
    details = _fit_details(est)
    fit_s += (details.get("resumed") or {}).get("earlier_s") or 0.0  # a resumed fit: the interrupted part too

    tests = {}
    for name, idx in fold.tests.items():
        t0 = time.perf_counter()
        y_pred = np.asarray(est.predict(X[idx]))
        tests[name] = {"idx": idx, "y_pred": y_pred, "predict_s": time.perf_counter() - t0}
    perturbed = None if perturb is None else perturb(est, fold)  # the fitted method, the test images only
    return {"fit_s": fit_s, "tests": tests, "details": details, "estimator": est, "perturbed": perturbed}


def _fit_details(est) -> dict:
    """What the method chose while fitting (hyper-parameters, epochs, ...): its `fit_info_`, as JSON."""
    info = getattr(est, "fit_info_", None)
    return _jsonable(info) if isinstance(info, dict) else {}


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool, type(None))):
        return v
    return repr(v)


# -- the record's parts --------------------------------------------------------------------------------


def _scores(faces: Dataset, folds: list[Fold], results: list[dict]) -> dict:
    """Per-fold rows, and the metrics of every test set over the folds: mean ± std of the per-fold
    scores, the scores of the predictions pooled over folds, per-class scores and the confusion
    matrix (pooled). The protocol's primary test set is the record's `metrics`."""
    labels = faces.classes
    class_names = [CLASS_NAMES[c] for c in labels]
    rows = [_fold_row(faces, fold, res, labels) for fold, res in zip(folds, results)]
    by_split = {}
    for test_name in folds[0].tests:
        y_true = np.concatenate([faces.labels[res["tests"][test_name]["idx"]] for res in results])
        y_pred = np.concatenate([res["tests"][test_name]["y_pred"] for res in results])
        by_split[test_name] = {
            "accuracy": metrics.mean_std([r[test_name]["accuracy"] for r in rows]),
            "macro_f1": metrics.mean_std([r[test_name]["macro_f1"] for r in rows]),
            "pooled": metrics.score(y_true, y_pred, labels),
            "per_class": metrics.per_class(y_true, y_pred, labels),
            "confusion_matrix": metrics.confusion(y_true, y_pred, labels).tolist(),
        }
    primary = folds[0].primary
    main = by_split[primary]
    return {
        "classes": class_names,
        "test_set": primary,
        "n_folds": len(folds),
        "metrics": {"accuracy": main["accuracy"], "macro_f1": main["macro_f1"], "pooled": main["pooled"]},
        "metrics_by_split": {k: {m: v[m] for m in ("accuracy", "macro_f1", "pooled")} for k, v in by_split.items()},
        "per_class": main["per_class"],
        "confusion_matrix": {"labels": class_names, "matrix": main["confusion_matrix"]},
        "folds": rows,
    }


def _fold_row(faces: Dataset, fold: Fold, res: dict, labels: np.ndarray) -> dict:
    row = {"name": fold.name, "n_train": len(fold.train), "fit_s": round(res["fit_s"], 4), **fold.meta}
    if fold.val is not None:
        row["n_val"] = len(fold.val)
    if res["details"]:
        row["fit_details"] = res["details"]
    for test_name, t in res["tests"].items():
        scores = metrics.score(faces.labels[t["idx"]], t["y_pred"], labels)
        row[test_name] = {"n": len(t["idx"]), **scores, "predict_s": round(t["predict_s"], 4)}
    return row


def _predictions(faces: Dataset, folds: list[Fold], results: list[dict]) -> dict:
    """Every test prediction: {fold: {test set: {ids, y_true, y_pred}}}."""
    return {
        fold.name: {
            test_name: {
                "ids": faces.ids[t["idx"]].tolist(),
                "y_true": faces.labels[t["idx"]].tolist(),
                "y_pred": t["y_pred"].tolist(),
            }
            for test_name, t in res["tests"].items()
        }
        for fold, res in zip(folds, results)
    }


def _perturbations(exp: Experiment, faces: Dataset, folds: list[Fold], results: list[dict]) -> dict:
    """The record's "perturbations" (what was done; the clean scores of the scored images, which are the
    run's own unless `perturb.n_images` sampled them; per perturbation and severity the accuracy and
    macro-F1 over folds, pooled, and the detection rate in image mode) and every perturbed prediction
    ("perturbed_predictions": {fold: {"ids": scored images, "y_pred": {perturbation: {severity: y_pred}}}})."""
    labels = faces.classes

    def summarise(predicted) -> dict:  # predicted(fold result) -> (y_pred, detection rate or None)
        per_fold, trues, preds, rates = [], [], [], []
        for fold, res in zip(folds, results):
            y_true = faces.labels[fold.tests[fold.primary][res["perturbed"]["positions"]]]
            y_pred, rate = predicted(res)
            per_fold.append(metrics.score(y_true, y_pred, labels))
            trues.append(y_true)
            preds.append(y_pred)
            rates.append(rate)
        entry = {
            "accuracy": metrics.mean_std([s["accuracy"] for s in per_fold]),
            "macro_f1": metrics.mean_std([s["macro_f1"] for s in per_fold]),
            "pooled": metrics.score(np.concatenate(trues), np.concatenate(preds), labels),
            "n_images": int(sum(len(t) for t in trues)),
        }
        return entry | ({"detection_rate": float(np.mean(rates))} if rates[0] is not None else {})

    primary = folds[0].primary
    clean = summarise(lambda res: (res["tests"][primary]["y_pred"][res["perturbed"]["positions"]], None))
    summary: dict = {}
    for name, severities in results[0]["perturbed"]["results"].items():
        for severity in severities:
            summary.setdefault(name, {})[severity] = summarise(
                lambda res, name=name, severity=severity: (
                    np.asarray(res["perturbed"]["results"][name][severity]["y_pred"]),
                    res["perturbed"]["results"][name][severity].get("detection_rate"),
                )
            )
    return {
        "perturbations": {
            **exp.perturber.describe(exp.detector),
            "test_set": primary,
            "clean": clean,
            "results": summary,
        },
        "perturbed_predictions": {
            fold.name: {
                "ids": faces.ids[fold.tests[fold.primary][res["perturbed"]["positions"]]].tolist(),
                "y_pred": {
                    name: {s: v["y_pred"] for s, v in sev.items()} for name, sev in res["perturbed"]["results"].items()
                },
            }
            for fold, res in zip(folds, results)
        },
    }


def _timings(results: list[dict], **stages: float) -> dict:
    """Seconds per stage (load, faces), fit and predict summed over folds, and inference per image."""
    tests = [t for res in results for t in res["tests"].values()]
    predict_s = sum(t["predict_s"] for t in tests)
    n_predicted = sum(len(t["idx"]) for t in tests)
    return {
        **{k: round(v, 4) for k, v in stages.items()},
        "fit_s": round(sum(res["fit_s"] for res in results), 4),
        "predict_s": round(predict_s, 4),
        "inference_ms_per_image": round(1000 * predict_s / max(n_predicted, 1), 4),
    }


def _counts(dataset: Dataset, faces: Dataset, face_report: dict) -> dict:
    """Images used, subjects, every image skipped (unreadable, or dropped by the detector) with its
    reason, what the config excluded, and the face stage's report."""
    skipped = list(dataset.skipped) + [
        {"id": i, "reason": "no face found (dropped by the detector policy)"} for i in face_report.get("dropped", [])
    ]
    return {
        "n_images": len(faces),
        "n_subjects": faces.n_subjects or None,
        "skipped": {"count": len(skipped), "by_reason": _by_reason(skipped), "items": skipped},
        "excluded": dict(faces.excluded),  # the faces': a cross-data-set run adds its targets' exclusions
        "faces": face_report,
    }


def _by_reason(skipped: list[dict]) -> dict[str, int]:
    """Counts per kind of reason (the text before any parenthesised detail)."""
    return dict(sorted(Counter(s["reason"].split(" (")[0] for s in skipped).items()))
