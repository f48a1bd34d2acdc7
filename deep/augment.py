"""Augmentation of a whole batch at once, as tensor operations on the batch's device, and the
test-time views predictions are averaged over.

Per-image PIL/OpenCV transforms in data-loader workers would cost more CPU than the network on
this project's 2-core machines; here flip, translation (a random crop of the zero-padded image),
zoom and rotation are folded into one affine matrix per image and applied to the batch by a single
`affine_grid` + `grid_sample`, random erasing is one masked fill, and the photometric changes (contrast,
brightness, Gaussian blur, Gaussian noise: the faces of other cameras and lighting than the training
set's) are per-image affine maps of the grey levels, two grouped convolutions and one added tensor.
Inputs are normalised, so the zero padding and the erased patches are the data set's mean grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core import validation as check


@dataclass(frozen=True)
class BatchAugment:
    """Random flips, shifts, zooms, rotations, erasing and photometric changes for (N, C, H, W) float
    batches of normalised grey levels (the training pixels' mean 0, standard deviation 1).

    flip: mirror half of the images horizontally (faces are roughly symmetric; labels are not sided).
    shift: largest translation as a fraction of the image side (0.1 = +-4.8 px at 48x48).
    scale: largest zoom in or out, as a fraction (0.1 = 0.9x to 1.1x).
    rotate: largest rotation in degrees.
    erase: probability of erasing one random rectangle (2-20% of the area, aspect 1:3 to 3:1).
    contrast: largest change of an image's contrast, as a fraction, 0 to < 1 (0.3 = its grey levels
        spread 0.7x to 1.3x about its own mean).
    brightness: largest shift of an image's grey levels (either way), in standard deviations of the
        training pixels, 0-5.
    blur: probability (0-1) of blurring an image with a Gaussian whose standard deviation is drawn
        uniformly from `BLUR_SIGMA` (pixels of the network's input). The kernel samples the Gaussian at
        whole pixels out to `BLUR_RADIUS`, so the smallest sigmas hardly blur and the largest is trimmed:
        a point spreads with a measured sigma of 0.09 to 1.40 px.
    noise: largest standard deviation (0-5) of Gaussian noise added to an image (drawn uniformly from 0
        up to it), in standard deviations of the training pixels.
    The photometric changes come first (contrast, brightness, blur, noise), then the geometric ones and
    erasing; the geometric step's bilinear resampling softens the noise and blur already applied (the
    noise left is about two thirds of its nominal level with the recipe's shifts, zooms and
    rotations), so the levels above are nominal. Random numbers come from `generator` (on the CPU),
    so a seeded generator repeats the same augmentations on any device. The geometric fields have no
    default here (`CNNClassifier` gives the recipe's); the photometric ones are off by default.
    """

    flip: bool
    shift: float
    scale: float
    rotate: float
    erase: float
    contrast: float = 0.0
    brightness: float = 0.0
    blur: float = 0.0
    noise: float = 0.0

    def __post_init__(self):
        check.flag("flip", self.flip)
        check.number("shift", self.shift, 0, 0.5)
        check.number("scale", self.scale, 0, 1, high_open=True)
        check.number("rotate", self.rotate, 0, 180)
        check.number("erase", self.erase, 0, 1)
        check.number("contrast", self.contrast, 0, 1, high_open=True)
        check.number("brightness", self.brightness, 0, 5)
        check.number("blur", self.blur, 0, 1)
        check.number("noise", self.noise, 0, 5)

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.shift or self.scale or self.rotate)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.contrast or self.brightness:
            x = self._grey_levels(x, generator)
        if self.blur:
            x = self._blur(x, generator)
        if self.noise:
            x = self._noise(x, generator)
        if self.geometric:
            x = self._affine(x, generator)
        if self.erase:
            x = self._erase(x, generator)
        return x

    def _affine(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = lambda: _symmetric(n, g)  # noqa: E731
        angle = u() * math.radians(self.rotate)
        zoom = 1 + u() * self.scale
        mirror = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        theta = _theta(angle, zoom, mirror, u() * self.shift, u() * self.shift)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _grey_levels(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = lambda: _symmetric(n, g).view(n, 1, 1, 1).to(x.device, x.dtype)  # noqa: E731
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (1 + u() * self.contrast) + mean + u() * self.brightness

    def _blur(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        low, high = BLUR_SIGMA
        sigma = low + (high - low) * torch.rand(n, generator=g)
        chosen = torch.rand(n, generator=g) < self.blur
        taps = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=torch.float32)
        kernel = torch.exp(-(taps**2) / (2 * sigma[:, None] ** 2))
        kernel = torch.where(chosen[:, None], kernel / kernel.sum(1, keepdim=True), (taps == 0).float())
        kernel = kernel.repeat_interleave(c, 0).to(x.device, x.dtype)  # one 1-D kernel per image and channel
        y = F.pad(x.reshape(1, n * c, h, w), (BLUR_RADIUS,) * 4, mode="replicate")
        y = F.conv2d(y, kernel[:, None, None, :], groups=n * c)  # rows, then columns: separable
        y = F.conv2d(y, kernel[:, None, :, None], groups=n * c)
        return y.reshape(n, c, h, w)

    def _noise(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        scale = torch.rand(x.shape[0], 1, 1, 1, generator=g) * self.noise
        return x + (torch.randn(x.shape, generator=g) * scale).to(x.device, x.dtype)

    def _erase(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        area = (0.02 + 0.18 * torch.rand(n, generator=g)) * h * w
        aspect = torch.exp((torch.rand(n, generator=g) * 2 - 1) * math.log(3))
        eh = (area * aspect).sqrt().round().clamp(1, h).long()
        ew = (area / aspect).sqrt().round().clamp(1, w).long()
        top = (torch.rand(n, generator=g) * (h - eh + 1)).long()
        left = (torch.rand(n, generator=g) * (w - ew + 1)).long()
        rows, cols = torch.arange(h), torch.arange(w)
        inside = ((rows >= top[:, None]) & (rows < (top + eh)[:, None]))[:, :, None] & (
            (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        )[:, None, :]
        inside &= (torch.rand(n, generator=g) < self.erase)[:, None, None]
        return x.masked_fill(inside[:, None].to(x.device), 0.0)


def _symmetric(n: int, g: torch.Generator) -> torch.Tensor:
    """(n,) float32 numbers drawn uniformly from [-1, 1) by `g` (on the CPU)."""
    return torch.rand(n, generator=g) * 2 - 1


#: the range of the standard deviation of `BatchAugment.blur`'s Gaussian, in pixels of the network's
#: input, and the kernel's radius in pixels (2 sigma at the largest)
BLUR_SIGMA = (0.3, 1.5)
BLUR_RADIUS = 3


def _theta(
    angle: torch.Tensor, zoom: torch.Tensor, mirror: torch.Tensor, shift_x: torch.Tensor, shift_y: torch.Tensor
) -> torch.Tensor:
    """(N, 2, 3) affine matrices for `F.affine_grid`, from per-image rotations (radians), zooms, mirror
    signs (-1 mirrors) and shifts as fractions of the side. theta maps output to input coordinates,
    normalised to [-1, 1], so a shift of s of the side is 2s there."""
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    return torch.stack(
        [torch.stack([cos * mirror, -sin, 2 * shift_x], 1), torch.stack([sin * mirror, cos, 2 * shift_y], 1)], 1
    )


TTA_MODES = ("none", "flip", "affine")
#: The warped views of tta='affine', as (shift x, shift y, zoom, degrees): shifts of 1/24 of the side
#: (2 px at 48x48) in the four directions, zooms by 1.1 and 0.9, +-7 degree rotations; within the
#: training augmentation's range. Chosen on FER2013 PublicTest with the fernet model of commit 768ba54, where
#: each added kind of view helped (the accuracies measured then: this comment as of commit 73afbff).
TTA_WARPS = (
    (1 / 24, 0, 1, 0),
    (-1 / 24, 0, 1, 0),
    (0, 1 / 24, 1, 0),
    (0, -1 / 24, 1, 0),
    (0, 0, 1.1, 0),
    (0, 0, 0.9, 0),
    (0, 0, 1, 7),
    (0, 0, 1, -7),
)


class TestTimeAugment(nn.Module):
    """Class probabilities of `model` averaged over test-time views of each normalised image.

    mode 'none': the image alone; 'flip': the image and its mirror image; 'affine': the image and
    its `TTA_WARPS`, each also mirrored (18 views). The warps' sampling grids are computed once for
    images of `size` (H, W), so the module exports to ONNX as it is.
    """

    __test__ = False  # a module, not a pytest test class (its name starts with Test)

    def __init__(self, model: nn.Module, mode: str, size: tuple[int, int]):
        super().__init__()
        check.choice("tta", mode, TTA_MODES)
        self.model, self.flip = model, mode != "none"
        grids = torch.empty(0, *size, 2)
        if mode == "affine":
            shift_x, shift_y, zoom, degrees = torch.tensor(TTA_WARPS, dtype=torch.float32).T
            theta = _theta(torch.deg2rad(degrees), zoom, torch.ones(len(zoom)), shift_x, shift_y)
            grids = F.affine_grid(theta, [len(theta), 1, *size], align_corners=False)
        self.register_buffer("grids", grids, persistent=False)
        self.n_warps = len(grids)  # a Python int, so that ONNX tracing unrolls the loop without a warning

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        warped = (
            F.grid_sample(
                x,
                self.grids[i].expand(x.shape[0], -1, -1, -1),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
            for i in range(self.n_warps)
        )
        views = [x, *(v.contiguous(memory_format=_memory_format(x)) for v in warped)]
        if self.flip:
            views += [v.flip(3) for v in views]
        return torch.stack([self.model(v).float().softmax(1) for v in views]).mean(0)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
