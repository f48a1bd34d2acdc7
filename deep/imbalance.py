"""Remedies for class imbalance (FER2013 has 436 disgust and 7215 happy training images).

Two independent knobs: `imbalance` changes what an epoch sees or how much each class weighs
(per-epoch resampling, a weighted sampler, or a class-weighted loss), `loss="focal"` down-weights
easy examples. Resampling is redrawn every epoch, so undersampling eventually sees every image and
oversampling repeats different ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

#: none | class_weight (loss weights n/(k n_c)) | sampler (draw n images with probability ~ 1/n_c)
#: | oversample (every class up to the largest) | undersample (down to the smallest)
#: | hybrid (every class to `target` images: the median class size unless given)
IMBALANCE = ("none", "class_weight", "sampler", "oversample", "undersample", "hybrid")


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's 'balanced' weights; classes absent from `y` get weight 0."""
    present = np.unique(y)
    w = np.zeros(n_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=y)
    return w


def epoch_indices(y: np.ndarray, mode: str, rng: np.random.Generator, target: int | None = None) -> np.ndarray:
    """The training indices one epoch visits, shuffled (with repeats when resampling up)."""
    n = len(y)
    if mode in ("none", "class_weight"):
        return rng.permutation(n)
    counts = np.bincount(y)
    if mode == "sampler":
        p = 1.0 / counts[y]
        return rng.choice(n, size=n, replace=True, p=p / p.sum())
    per_class = {
        "oversample": counts.max(),
        "undersample": counts[counts > 0].min(),
        "hybrid": target or int(np.median(counts[counts > 0])),
    }[mode]
    picked = []
    for c in np.flatnonzero(counts):
        idx = np.flatnonzero(y == c)
        if len(idx) >= per_class:
            picked.append(rng.choice(idx, per_class, replace=False))
        else:
            picked += [idx, rng.choice(idx, per_class - len(idx), replace=True)]
    return rng.permutation(np.concatenate(picked))


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)^gamma, optionally class-weighted
    and label-smoothed (the modulating factor uses the unsmoothed probability of the true class)."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma, self.label_smoothing = gamma, label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, target, weight=self.weight, reduction="none", label_smoothing=self.label_smoothing)
        p_true = logits.softmax(1).gather(1, target[:, None]).squeeze(1)
        total = ((1 - p_true).pow(self.gamma) * ce).sum()
        # normalised as nn.CrossEntropyLoss does, so gamma=0 is exactly the (weighted) cross-entropy
        return total / (len(target) if self.weight is None else self.weight[target].sum())
