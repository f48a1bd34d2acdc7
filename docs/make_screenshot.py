"""docs/web-page.png and docs/web-explain.png: the page of `python -m benchmark.serve` with the astronaut's
face boxed and labelled by the shipped model, without and with the occlusion overlay, in headless Chromium
at 1200x800.

    python docs/make_screenshot.py

The photo is scikit-image's astronaut (Eileen Collins, NASA, public domain): never a data-set image,
whose licences forbid redistribution. Needs Chromium and chromedriver (apt-get install -y chromium
chromium-driver) and selenium. The PNG is reduced to 256 colours and optimised to keep the repository small.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages, and its tests' helpers

from PIL import Image  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from benchmark.api import create_app, running  # noqa: E402
from tests.serving import astronaut, chromium_driver, encode, shipped_pipeline  # noqa: E402

WIDTH, HEIGHT = 1200, 800


def screenshot(explain: str = "") -> bytes:
    """The PNG of the page (WIDTH x HEIGHT) once the astronaut's result is drawn (with the `explain` overlay)."""
    with tempfile.TemporaryDirectory() as tmp, running(create_app(shipped_pipeline())) as url:
        photo = Path(tmp) / "astronaut.png"
        photo.write_bytes(encode(astronaut(), "PNG"))
        driver = chromium_driver(WIDTH, HEIGHT)
        try:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            )
            driver.get(url + "/")
            WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "model-info").text.startswith("Model"))
            if explain:
                Select(driver.find_element(By.ID, "explain-toggle")).select_by_value(explain)
            driver.find_element(By.ID, "file-input").send_keys(str(photo))
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results canvas[data-drawn]"))
            return driver.get_screenshot_as_png()
        finally:
            driver.quit()


def main() -> None:
    """Write docs/web-page.png and docs/web-explain.png."""
    for name, explain in (("web-page.png", ""), ("web-explain.png", "occlusion")):
        out = ROOT / "docs" / name
        image = Image.open(io.BytesIO(screenshot(explain))).convert("RGB")
        image = image.quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )  # keeps the class colours
        image.save(out, optimize=True)
        print(f"wrote {out} ({image.width}x{image.height}, {out.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
