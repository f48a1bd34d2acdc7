"""Scores of one test set, and their aggregation over folds."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from core.labels import CLASS_NAMES


def score(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and macro-F1 over the data set's classes (a class absent from this test set scores 0)."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def mean_std(values) -> dict:
    """{mean, std} with the population std (ddof=0), as scikit-learn's cross-validation reports it."""
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std())}


def confusion(y_true, y_pred, labels) -> np.ndarray:
    """The confusion matrix (true class x predicted class) over `labels`."""
    return confusion_matrix(y_true, y_pred, labels=labels)


def per_class(y_true, y_pred, labels) -> dict:
    """Precision, recall, F1 and support per class name, from the pooled predictions."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        CLASS_NAMES[c]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(labels)
    }
