"""Augmentation of a whole batch at once, as tensor operations on the batch's device.

Per-image PIL/OpenCV transforms in data-loader workers would cost more CPU than the network on
this project's 2-core machines; here flip, translation (a random crop of the zero-padded image),
zoom and rotation are folded into one affine matrix per image and applied to the batch by a single
`affine_grid` + `grid_sample`, and random erasing is one masked fill. Inputs are normalised, so the
zero padding and the erased patches are the data set's mean grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class BatchAugment:
    """Random flips, shifts, zooms, rotations and erasing for (N, C, H, W) float batches.

    flip: mirror half of the images horizontally (faces are roughly symmetric; labels are not sided).
    shift: largest translation as a fraction of the image side (0.1 = +-4.8 px at 48x48).
    scale: largest zoom in or out, as a fraction (0.1 = 0.9x to 1.1x).
    rotate: largest rotation in degrees.
    erase: probability of erasing one random rectangle (2-20% of the area, aspect 1:3 to 3:1).
    Random numbers come from `generator` (on the CPU), so a seeded generator repeats the same
    augmentations on any device. (The defaults are `CNNClassifier`'s.)
    """

    flip: bool
    shift: float
    scale: float
    rotate: float
    erase: float

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.shift or self.scale or self.rotate)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.geometric:
            x = self._affine(x, generator)
        if self.erase:
            x = self._erase(x, generator)
        return x

    def _affine(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = lambda: torch.rand(n, generator=g) * 2 - 1  # noqa: E731 - uniform in [-1, 1]
        angle = u() * math.radians(self.rotate)
        zoom = 1 + u() * self.scale
        mirror = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        # theta maps output to input coordinates (normalised to [-1, 1], so a shift of s is s/2 of the side)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * mirror, -sin, u() * 2 * self.shift], 1),
                             torch.stack([sin * mirror, cos, u() * 2 * self.shift], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _erase(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        area = (0.02 + 0.18 * torch.rand(n, generator=g)) * h * w
        aspect = torch.exp((torch.rand(n, generator=g) * 2 - 1) * math.log(3))
        eh = (area * aspect).sqrt().round().clamp(1, h).long()
        ew = (area / aspect).sqrt().round().clamp(1, w).long()
        top = (torch.rand(n, generator=g) * (h - eh + 1)).long()
        left = (torch.rand(n, generator=g) * (w - ew + 1)).long()
        rows, cols = torch.arange(h), torch.arange(w)
        inside = (((rows >= top[:, None]) & (rows < (top + eh)[:, None]))[:, :, None]
                  & ((cols >= left[:, None]) & (cols < (left + ew)[:, None]))[:, None, :])
        inside &= (torch.rand(n, generator=g) < self.erase)[:, None, None]
        return x.masked_fill(inside[:, None].to(x.device), 0.0)
