"""The one path every experiment takes: load, faces, folds, fit/predict per fold, record.

The method is any scikit-learn-style classifier (`fit`, `predict`); the runner never asks whether
it is classical or deep. Besides `X` and `y`, `fit` receives the fold's `groups` (subjects of the
training images) and `X_val` / `y_val` (the protocol's validation set, FER2013's PublicTest) when,
and only when, its signature names them: that is how a method selects hyper-parameters without
ever seeing the test fold.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.base import clone

from benchmark import metrics, records
from benchmark.datasets.base import Dataset
from benchmark.errors import ConfigError
from benchmark.labels import CLASS_NAMES
from benchmark.methods import fit_kwargs
from benchmark.protocols import Fold

def run(cfg: DictConfig, names: dict[str, str], overrides: list[str] | None = None) -> tuple[dict, Path, bool]:
    """Run (or find) the experiment `cfg`; returns (record, record path, whether it was computed now).

    `names` are the config-group choices (e.g. {"dataset": "jaffe", ...}) used in the record;
    `overrides` the command-line overrides of this run, recorded as its command.
    """
    config, key, existing = records.lookup(cfg)
    if existing is not None:
        return records.load(existing), existing, False

    # Build every object first, so bad values fail before any data is read.
    loader = instantiate(cfg.dataset)
    protocol = instantiate(cfg.protocol)
    detector = instantiate(cfg.detector)
    method = instantiate(cfg.method)
    if not hasattr(method, "fit") or not hasattr(method, "predict"):
        raise ConfigError(f"method={names.get('method')} builds a {type(method).__name__}, which has no fit/predict")
    protocol.check_loader(loader)

    t0 = time.perf_counter()
    dataset = loader.load()
    t1 = time.perf_counter()
    faces, face_report = detector(dataset)
    t2 = time.perf_counter()
    protocol.check(faces)
    folds = protocol.folds(faces)

    fold_results = [_run_fold(method, faces, fold) for fold in folds]
    record = _assemble(names, config, key, dataset, faces, face_report, folds, fold_results,
                       timings={"load_s": t1 - t0, "faces_s": t2 - t1}, env=records.environment(cfg.seed, overrides))
    path = records.write_atomic(Path(cfg.results_dir) / records.record_name(names, key), record)
    return record, path, True


def _run_fold(template, data: Dataset, fold: Fold) -> dict:
    est = clone(template)
    X = data.images
    extra = {"groups": None if data.subjects is None else data.subjects[fold.train]}
    if fold.val is not None:
        extra.update(X_val=X[fold.val], y_val=data.labels[fold.val])
    t0 = time.perf_counter()
    est.fit(X[fold.train], data.labels[fold.train], **fit_kwargs(est, extra))
    fit_s = time.perf_counter() - t0

    tests = {}
    for name, idx in fold.tests.items():
        t0 = time.perf_counter()
        y_pred = np.asarray(est.predict(X[idx]))
        tests[name] = {"idx": idx, "y_pred": y_pred, "predict_s": time.perf_counter() - t0}
    return {"fit_s": fit_s, "tests": tests, "details": _fit_details(est)}


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


def _assemble(names, config, key, dataset, faces, face_report, folds, results, timings, env) -> dict:
    labels = faces.classes
    class_names = [CLASS_NAMES[c] for c in labels]
    fold_rows, predictions = [], {}
    pooled: dict[str, tuple[list, list]] = {}
    fit_s = predict_s = n_predicted = 0.0
    for fold, res in zip(folds, results):
        row = {"name": fold.name, "n_train": len(fold.train), "fit_s": round(res["fit_s"], 4), **fold.meta}
        if fold.val is not None:
            row["n_val"] = len(fold.val)
        if res["details"]:
            row["fit_details"] = res["details"]
        predictions[fold.name] = {}
        for test_name, t in res["tests"].items():
            y_true = faces.labels[t["idx"]]
            s = metrics.score(y_true, t["y_pred"], labels)
            row[test_name] = {"n": len(t["idx"]), **s, "predict_s": round(t["predict_s"], 4)}
            predictions[fold.name][test_name] = {"ids": faces.ids[t["idx"]].tolist(),
                                                 "y_true": y_true.tolist(), "y_pred": t["y_pred"].tolist()}
            trues, preds = pooled.setdefault(test_name, ([], []))
            trues.append(y_true)
            preds.append(t["y_pred"])
            predict_s += t["predict_s"]
            n_predicted += len(t["idx"])
        fit_s += res["fit_s"]
        fold_rows.append(row)

    primary = folds[0].primary
    by_split = {}
    for test_name, (trues, preds) in pooled.items():
        y_true, y_pred = np.concatenate(trues), np.concatenate(preds)
        by_split[test_name] = {
            "accuracy": metrics.mean_std([r[test_name]["accuracy"] for r in fold_rows]),
            "macro_f1": metrics.mean_std([r[test_name]["macro_f1"] for r in fold_rows]),
            "pooled": metrics.score(y_true, y_pred, labels),
            "per_class": metrics.per_class(y_true, y_pred, labels),
            "confusion_matrix": metrics.confusion(y_true, y_pred, labels).tolist(),
        }
    main = by_split[primary]
    skipped = list(dataset.skipped) + [{"id": i, "reason": "no face found (dropped by the detector policy)"}
                                       for i in face_report.get("dropped", [])]
    return {
        "schema": records.SCHEMA_VERSION,
        "run_key": key,
        **{g: names.get(g) for g in records.GROUPS},
        "config": config,
        "classes": class_names,
        "test_set": primary,
        "n_folds": len(folds),
        "metrics": {"accuracy": main["accuracy"], "macro_f1": main["macro_f1"], "pooled": main["pooled"]},
        "metrics_by_split": {k: {m: v[m] for m in ("accuracy", "macro_f1", "pooled")} for k, v in by_split.items()},
        "per_class": main["per_class"],
        "confusion_matrix": {"labels": class_names, "matrix": main["confusion_matrix"]},
        "folds": fold_rows,
        "timings": {**{k: round(v, 4) for k, v in timings.items()}, "fit_s": round(fit_s, 4),
                    "predict_s": round(predict_s, 4),
                    "inference_ms_per_image": round(1000 * predict_s / max(n_predicted, 1), 4)},
        "n_images": len(faces),
        "n_subjects": faces.n_subjects or None,
        "skipped": {"count": len(skipped), "by_reason": _by_reason(skipped), "items": skipped},
        "excluded": dict(dataset.excluded),
        "faces": face_report,
        "predictions": predictions,
        "env": env,
    }


def _by_reason(skipped: list[dict]) -> dict[str, int]:
    """Counts per kind of reason (the text before any parenthesised detail)."""
    return dict(sorted(Counter(s["reason"].split(" (")[0] for s in skipped).items()))
