"""Helpers of the web tests (test_serve, test_web_browser) and docs/make_screenshot.py: the shipped model's
pipeline loaded once per process, an SVM on noise whose scores are or are not probabilities (`svm_model`),
test images made in memory (a public-domain face: NASA's astronaut of scikit-image, never a data-set image),
and a headless Chromium."""

from __future__ import annotations

import functools
import io
import shutil
import struct
import zlib

import numpy as np

#: what to install when the browser test skips
CHROMIUM_HINT = "apt-get install -y chromium chromium-driver"
SIDE = 8  # the crops of the test SVMs: 8x8 grey
CODES = [0, 1, 2, 3]  # their classes: angry, disgust, fear, happy


@functools.cache
def shipped_pipeline():
    """The `FacePipeline` of the shipped model as `python -m benchmark.serve` builds it (flip TTA)."""
    from benchmark.inference.models import load_model
    from benchmark.inference.pipeline import FacePipeline

    return FacePipeline(load_model(None, tta="flip"))


def astronaut() -> np.ndarray:
    """(512, 512, 3) uint8 RGB: Eileen Collins, smiling (NASA, public domain; shipped with scikit-image)."""
    from skimage import data

    return data.astronaut()


def encode(rgb: np.ndarray, fmt: str = "PNG", mode: str | None = None, **options) -> bytes:
    """The bytes of `rgb` (H, W, 3) uint8 saved by Pillow as `fmt`, converted to `mode` first when given."""
    from PIL import Image

    im = Image.fromarray(rgb)
    if mode is not None:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header of a `width` x `height` image around a few bytes of data: a decompression bomb
    in 100 bytes (its IHDR chunk says the size; the CRC is made right so that readers believe it)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = struct.pack(">II", width, height)  # after the signature (8), IHDR's length (4) and type (4)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))  # over the type and the 13 data bytes
    return bytes(png)


def chromium_paths() -> tuple[str, str] | None:
    """(browser, chromedriver) when both are installed, else None."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def chromium_driver(width: int = 1200, height: int = 800, fake_camera: bool = False):
    """A headless Chromium driven by Selenium, with the paths given so that Selenium Manager never
    goes to the network; the caller quits it. Its console is kept (`driver.get_log("browser")`).
    fake_camera: Chromium's synthetic camera, allowed without asking.
    Raises RuntimeError when Chromium is not installed."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise RuntimeError(f"Chromium and chromedriver are not installed ({CHROMIUM_HINT})")
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    if fake_camera:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument("--use-fake-ui-for-media-stream")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(paths[1]))


def noise_crops(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` uint8 crops of noise and labels cycling through CODES: classes an SVM separates badly, so that
    its own `predict` and its scores often name different classes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, SIDE, SIDE)).astype(np.uint8), np.arange(n) % len(CODES)


def svm_model(kind: str):
    """A FaceModel of an SVM on SIDE x SIDE crops: "platt", SVC(probability=True) (Platt-scaled
    probabilities); "decision", a plain SVC (a softmax of its decision values: not calibrated)."""
    import warnings

    from sklearn.svm import SVC

    from benchmark.inference.models import FaceModel
    from benchmark.methods import pipeline
    from core.labels import CLASS_NAMES
    from features import PixelFeatures

    crops, labels = noise_crops(60, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.9 deprecates probability=True
        svc = SVC(probability=True, random_state=0) if kind == "platt" else SVC()
        estimator = pipeline({"pixels": PixelFeatures(SIDE), "svm": svc}).fit(crops, labels)
    return FaceModel(
        estimator,
        [CLASS_NAMES[c] for c in CODES],
        SIDE,
        {"detector": "none"},
        "svm",
        "classical",
        calibrated=kind == "platt",
    )
