"""A built-in, deterministic data set of cartoon faces: the zero-config default and the test fixture.

It is a smoke test, not a benchmark. Each "subject" has its own face geometry (face size, eye
spacing, eye and mouth height, skin tone); each of the 7 expressions moves the brows, eyes and
mouth in its own way; each image adds jitter, a small shift and pixel noise. Expressions are easy
to tell apart, subjects differ enough that subject-wise folds are a real (if small) step harder.
"""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import Dataset
from core import validation as check
from core.labels import ANGRY, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE

# Per expression: mouth curve (+ smile), mouth open, brow tilt (+ inner end down), brow raise, eye open.
EXPRESSIONS = {
    ANGRY: dict(curve=-0.3, open=0.0, tilt=0.9, raise_=-0.5, eye=0.7),
    DISGUST: dict(curve=-0.8, open=0.2, tilt=0.4, raise_=-0.8, eye=0.4),
    FEAR: dict(curve=-0.2, open=0.6, tilt=-0.6, raise_=0.8, eye=1.3),
    HAPPY: dict(curve=1.0, open=0.3, tilt=0.0, raise_=0.1, eye=0.6),
    SAD: dict(curve=-1.0, open=0.0, tilt=-0.9, raise_=0.2, eye=0.8),
    SURPRISE: dict(curve=0.0, open=1.0, tilt=0.0, raise_=1.0, eye=1.5),
    NEUTRAL: dict(curve=0.0, open=0.0, tilt=0.0, raise_=0.0, eye=1.0),
}


class Synthetic:
    """Loader-shaped generator (`load()` returns a `Dataset`); no files, no data_root."""

    name = "synthetic"
    has_subjects = True
    has_official_split = False

    def __init__(self, n_subjects: int = 8, per_class: int = 8, size: int = 48, noise: float = 12.0, seed: int = 0):
        self.n_subjects = check.number("n_subjects", n_subjects, 2, integer=True)
        self.per_class = check.number("per_class", per_class, 1, integer=True)
        self.size = check.number("size", size, 24, integer=True)
        self.noise = check.number("noise", noise, 0)
        self.seed = check.number("seed", seed, integer=True)

    def fingerprint(self, cache_dir=None) -> None:
        """None: the images are generated from the config, which the run key covers."""
        return None

    def load(self) -> Dataset:
        import cv2

        rng = np.random.default_rng(self.seed)
        images, labels, ids, subjects = [], [], [], []
        for s in range(self.n_subjects):
            face = _subject_geometry(rng)
            for label, expr in EXPRESSIONS.items():
                for i in range(self.per_class):
                    images.append(_draw(face, expr, self.size, self.noise, rng, cv2))
                    labels.append(label)
                    ids.append(f"s{s:02d}/{label}/{i}")
                    subjects.append(f"s{s:02d}")
        return Dataset(self.name, np.stack(images), np.asarray(labels), np.asarray(ids), np.asarray(subjects))


def _subject_geometry(rng: np.random.Generator) -> dict:
    return dict(
        face_w=rng.uniform(0.34, 0.42),
        face_h=rng.uniform(0.42, 0.48),
        eye_dx=rng.uniform(0.15, 0.2),
        eye_y=rng.uniform(0.38, 0.44),
        mouth_y=rng.uniform(0.68, 0.74),
        mouth_w=rng.uniform(0.12, 0.17),
        skin=rng.uniform(150, 200),
        bg=rng.uniform(40, 90),
    )


def _draw(face: dict, expr: dict, size: int, noise: float, rng: np.random.Generator, cv2) -> np.ndarray:
    """Render one face; all geometry is in fractions of `size`, jittered per image."""
    jit = lambda v, s=0.08: v * (1 + rng.normal(0, s))  # noqa: E731
    px = lambda v: int(round(v * size))  # noqa: E731
    cx, cy = 0.5 + rng.normal(0, 0.02), 0.5 + rng.normal(0, 0.02)
    img = np.full((size, size), face["bg"], np.float32)
    cv2.ellipse(img, (px(cx), px(cy)), (px(face["face_w"]), px(face["face_h"])), 0, 0, 360, face["skin"], -1)
    dark = face["skin"] - 120
    ey, dx = cy - 0.5 + face["eye_y"], face["eye_dx"]
    eye_h = max(1, px(0.035 * jit(expr["eye"], 0.1)))
    brow_y = ey - 0.09 - 0.05 * jit(expr["raise_"] + 1e-3)
    tilt = 0.04 * jit(expr["tilt"] + 1e-3)
    for side in (-1, 1):
        ex = cx + side * dx
        cv2.ellipse(img, (px(ex), px(ey)), (px(0.06), eye_h), 0, 0, 360, dark, -1)
        inner, outer = ex - side * 0.07, ex + side * 0.07
        cv2.line(img, (px(inner), px(brow_y + tilt)), (px(outer), px(brow_y - tilt)), dark, max(1, px(0.025)))
    my, mw = cy - 0.5 + face["mouth_y"], face["mouth_w"] * jit(1.0, 0.05)
    xs = np.linspace(-1, 1, 15)
    curve = -0.06 * jit(expr["curve"] + 1e-3) * (xs**2 - 0.5)
    upper = np.stack([cx + xs * mw, my + curve], 1)
    lower = np.stack([cx + xs * mw, my + curve + 0.09 * max(expr["open"], 0) * (1 - xs**2)], 1)
    poly = np.round(np.concatenate([upper, lower[::-1]]) * size).astype(np.int32)
    cv2.fillPoly(img, [poly], dark)
    cv2.polylines(img, [np.round(upper * size).astype(np.int32)], False, dark, max(1, px(0.02)))
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
