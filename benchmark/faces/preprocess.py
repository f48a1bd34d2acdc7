"""Photometric preprocessing of face crops: optional denoising, then optional histogram equalisation.

Denoising comes first because equalisation stretches contrast, and with it the noise. Both work on
the final crops (cheap), so they are not part of the detection cache key: changing them reuses the
cached detections.
"""

from __future__ import annotations

from functools import reduce

import cv2
import numpy as np

from core import validation as check

EQUALIZE = ("none", "hist", "clahe")


class Preprocess:
    """The crop preprocessing of one detector config.

    equalize: none | hist (global histogram equalisation) | clahe (contrast-limited, per tile:
      evens out lighting across the face without blowing up flat regions).
    clahe_clip, clahe_tile: CLAHE's contrast limit and its grid (tiles per side).
    denoise: apply non-local-means denoising (`cv2.fastNlMeansDenoising`) with filter strength
      `denoise_strength` (larger removes more noise and more fine detail).
    """

    def __init__(
        self,
        equalize: str = "none",
        clahe_clip: float = 2.0,
        clahe_tile: int = 8,
        denoise: bool = False,
        denoise_strength: float = 5.0,
    ):
        self.equalize = check.choice("equalize", equalize, EQUALIZE)
        self.clahe_clip = check.number("clahe_clip", clahe_clip, 0, low_open=True)
        self.clahe_tile = check.number("clahe_tile", clahe_tile, 1, 64, integer=True)
        self.denoise = check.flag("denoise", denoise)
        self.denoise_strength = check.number("denoise_strength", denoise_strength, 0, low_open=True)

    def params(self) -> dict:
        return {
            "equalize": self.equalize,
            "clahe_clip": self.clahe_clip,
            "clahe_tile": self.clahe_tile,
            "denoise": self.denoise,
            "denoise_strength": self.denoise_strength,
        }

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """The (N, S, S) uint8 crops, preprocessed (the input itself when nothing is to be done)."""
        steps = self._steps()
        if not steps or not len(crops):
            return crops
        return np.stack([reduce(lambda image, step: step(image), steps, crop) for crop in crops])

    def _steps(self) -> list:
        """The per-crop operations, in order (built once per call: a CLAHE object is not picklable)."""
        steps = []
        if self.denoise:
            steps.append(lambda crop: cv2.fastNlMeansDenoising(crop, None, h=self.denoise_strength))
        if self.equalize == "hist":
            steps.append(cv2.equalizeHist)
        elif self.equalize == "clahe":
            steps.append(cv2.createCLAHE(clipLimit=self.clahe_clip, tileGridSize=(self.clahe_tile,) * 2).apply)
        return steps
