"""Reading an image as users have it: any common format and mode, upright, as 8-bit RGB and grey.

JPEG, PNG, WebP, BMP, TIFF, GIF (first frame) and whatever else Pillow reads; RGB, RGBA and LA
(composited over white, so a transparent background does not turn black), palette, 1-bit, 16-bit
and 32-bit grey (scaled to 8 bits, never clipped as Pillow's `convert("L")` would), CMYK, YCbCr
and LAB (through an embedded ICC profile to sRGB when there is one). The EXIF orientation that phone
cameras write (JPEG, PNG, WebP, and TIFF's own orientation tag) is applied before anything else.

Untrusted input is refused before it is decoded: a file whose header declares more than
`max_pixels` pixels (decompression bombs included: a few kB of PNG can declare gigapixels) raises
`ImageError` with reason "too_large"; something that is not an image, "unsupported"; a truncated
or corrupt image, "corrupt". So is a floating-point image (a 32-bit float TIFF) holding a pixel that
is not a finite number (NaN, +inf, -inf): no grey level can stand for it, and scaling the image
over it would turn every other pixel black (or, for NaN, hide it as black), so it is refused with
the file's name and the count of such pixels rather than guessed.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np

from core.errors import DataError

#: suffixes of the image files ferbench reads (data sets and users' photos alike)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".gif", ".webp"})
#: the default limit on pixels (width x height) of an image to decode: a 40-megapixel photo
MAX_PIXELS = 40_000_000
#: the largest image file the web API accepts by default (`ferbench serve max_upload_mb=...`), in bytes
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
REASONS = ("unsupported", "corrupt", "too_large")


class ImageError(DataError):
    """An image that cannot be read; `reason` is one of REASONS (what went wrong, for an HTTP status)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Image:
    """A decoded image: `rgb` (H, W, 3) uint8 and `gray` (H, W) uint8 (ITU-R 601 luma, as OpenCV's)."""

    rgb: np.ndarray
    gray: np.ndarray

    @classmethod
    def from_array(cls, array: np.ndarray) -> Image:
        """From an (H, W) grey or (H, W, 3) RGB uint8 array (a video frame converted to RGB)."""
        array = np.asarray(array)
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
            raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 image, got {array.dtype} {array.shape}")
        if array.ndim == 2:
            return cls(np.repeat(array[..., None], 3, axis=2), array)
        import cv2

        return cls(array, cv2.cvtColor(array, cv2.COLOR_RGB2GRAY))


def read_image(source, max_pixels: int = MAX_PIXELS) -> Image:
    """Decode `source` (bytes, a path, or a binary file object) into an upright 8-bit `Image`.

    Raises `ImageError` (a `DataError`) with its reason: unsupported, corrupt or too_large.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    name = str(source) if isinstance(source, (str, os.PathLike)) else "the upload"
    stream = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(stream) as im:  # reads the header only: the size is known before decoding
                if im.width * im.height > max_pixels:
                    raise ImageError(
                        f"{name} is {im.width}x{im.height} pixels, more than the {max_pixels:,} allowed", "too_large"
                    )
                im.seek(0)  # the first frame of an animation or a multi-page TIFF
                upright = ImageOps.exif_transpose(im)  # a loaded copy, rotated as the EXIF orientation says
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageError(f"{name} is refused as a decompression bomb: {exc}", "too_large") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image ferbench can read: save it as JPEG, PNG, WebP, BMP, TIFF or GIF", "unsupported"
        ) from None
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{name} is truncated or corrupt ({type(exc).__name__}: {exc})", "corrupt") from None
    try:
        return _to_8bit_rgb(upright, name)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{name} cannot be converted to 8-bit RGB ({exc})", "corrupt") from None


def _to_8bit_rgb(im, name: str) -> Image:
    from PIL import Image as PILImage

    if im.mode in ("I", "F") or im.mode.startswith("I;16"):  # high bit depth grey
        values = np.asarray(im)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            bad = int(values.size - np.isfinite(values).sum())
            what = f"{bad:,} pixels whose values are" if bad > 1 else "1 pixel whose value is"
            raise ImageError(
                f"{name} has {what} not a finite number (NaN or infinity): give "
                f"{'them' if bad > 1 else 'it'} a grey level, or save the image as 8 or 16 bits, and try again",
                "corrupt",
            )
        gray = _scale_to_8bit(values, im.mode)
        return Image(np.repeat(gray[..., None], 3, axis=2), gray)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("PA", "1"):
        im = im.convert("RGBA" if im.mode == "PA" else "L")
    im = _colour_managed(im)
    if im.mode in ("RGBA", "LA", "RGBa", "La"):  # composite over white
        background = PILImage.new("RGB", im.size, (255, 255, 255))
        rgba = im.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        im = background
    if im.mode == "L":
        gray = np.asarray(im).copy()
        return Image(np.repeat(gray[..., None], 3, axis=2), gray)
    rgb = im.convert("RGB")  # RGB, CMYK, YCbCr, LAB, HSV
    return Image(np.asarray(rgb).copy(), np.asarray(rgb.convert("L")).copy())


def _colour_managed(im):
    """`im` converted to sRGB through its embedded ICC profile (CMYK, Adobe RGB, Display P3), when it has
    one that works; else unchanged."""
    from PIL import ImageCms

    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        return ImageCms.profileToProfile(
            im,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if im.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # a broken profile: the plain conversion below


def _scale_to_8bit(a: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit, 32-bit integer or float grey array as uint8 over its full scale (no clipping)."""
    if mode.startswith("I;16"):  # 0..65535
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    a = a.astype(np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if mode == "F" and lo >= 0 and hi <= 1:
        a = a * 255.0  # float in [0, 1]
    elif lo >= 0 and hi > 255 and hi <= 65535:
        a = a / 257.0  # 16-bit values held in 32 bits (Pillow opens 16-bit PNG grey as "I")
    elif lo < 0 or hi > 255:
        a = (a - lo) * (255.0 / max(hi - lo, 1e-12))  # anything else: stretched to 0-255
    return np.clip(np.rint(np.nan_to_num(a)), 0, 255).astype(np.uint8)


def image_stack(X, side: int | None = None, what: str = "the model") -> np.ndarray:
    """`X` as the uint8 (N, S, S) stack of grey images every model of ferbench takes; the same rule for
    all of them (CNN, ONNX, classical pipelines).

    Converted: a list of same-size images, and a stack with a channel axis of 1 ((N, H, W, 1) or
    (N, 1, H, W)). Refused with a ValueError that says what to do: a single (H, W) image (ambiguous
    with a stack of rows: pass X[None]), colour channels, a dtype other than uint8 (floats may be in
    0-1 or 0-255: convert them yourself), and, when `side` is given, another size than side x side
    (what the model was trained on: a face twice as large gives wrong answers, not an error).
    """
    X = np.asarray(X)
    if X.dtype == object:
        try:
            X = np.stack(list(X))
        except ValueError:
            raise ValueError(f"{what} takes images of one size; these come in several") from None
    if X.ndim == 4 and 1 in (X.shape[1], X.shape[3]):
        X = X[:, 0] if X.shape[1] == 1 else X[..., 0]
    if X.ndim == 2:
        raise ValueError(
            f"{what} takes a stack of images (N, H, W), got one (H, W) array {X.shape}: "
            "pass image[None] for a stack of one"
        )
    if X.ndim != 3:
        raise ValueError(
            f"{what} takes grey images (N, H, W), got shape {X.shape}"
            + (": convert colour images to grey first" if X.ndim == 4 and 3 in X.shape[1:] else "")
        )
    if X.dtype != np.uint8:
        raise ValueError(
            f"{what} takes uint8 grey levels 0-255, got {X.dtype}: convert them (floats in 0-1: "
            "np.round(X * 255).astype(np.uint8))"
        )
    if side is not None and X.shape[1:] != (side, side):
        raise ValueError(
            f"{what} was trained on {side}x{side} crops and got {X.shape[2]}x{X.shape[1]} ones: cut "
            f"the faces at {side}x{side} (detector.size={side}) or resize them first"
        )
    return np.ascontiguousarray(X)
