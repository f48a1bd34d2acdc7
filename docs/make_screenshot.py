"""The pictures of the README and the docs, made again from the current code, the shipped model and the
committed records:

- docs/web-page.png and docs/web-explain.png: the page of `ferbench serve` with the astronaut's face boxed
  and labelled by the shipped model, without and with the occlusion overlay, in headless Chromium at
  1200x800;
- docs/predict-output.png: the annotated picture `ferbench predict photo.jpg` writes for the astronaut (its
  upper part);
- docs/leaderboard-plot.png: accuracy against inference time of the rows of the JAFFE subject-independent
  leaderboard (results/leaderboards/jaffe__subject_kfold.md), drawn by the report's plot function from the
  records in results/runs/, each point named by its row.

    python docs/make_screenshot.py              # all of them
    python docs/make_screenshot.py predict      # some: web, predict, plot

The photo is scikit-image's astronaut (Eileen Collins, NASA, public domain): never a data-set image, whose
licences forbid redistribution. The web pictures need Chromium and chromedriver (apt-get install -y chromium
chromium-driver) and selenium (the test extra); without them the script says so and stops with status 2.
Every PNG is reduced to 256 colours and optimised to keep the repository small.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages, and its tests' helpers

from PIL import Image  # noqa: E402

from tests.serving import astronaut, encode  # noqa: E402

DOCS = ROOT / "docs"
WIDTH, HEIGHT = 1200, 800
#: the board whose plot is shown: (data set, protocol)
BOARD = ("jaffe", "subject_kfold")
PICTURES = ("web", "predict", "plot")


def page_screenshot(explain: str = "") -> bytes:
    """The PNG of the page (WIDTH x HEIGHT) once the astronaut's result is drawn (with the `explain` overlay)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from benchmark.api import create_app, running
    from tests.serving import chromium_driver, shipped_pipeline

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


def predict_output() -> Image.Image:
    """The upper part of the annotated picture `ferbench predict photo.jpg` writes for the astronaut, made by
    predict itself."""
    from benchmark import predict

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        photo.write_bytes(encode(astronaut(), "JPEG", quality=95))
        out = Path(tmp) / "predictions"
        if predict.main([str(photo), f"out={out}"]) != 0:
            raise SystemExit("error: ferbench predict failed on the astronaut: see its message above")
        with Image.open(out / "photo.jpg.annotated.jpg") as image:
            return image.convert("RGB").crop((0, 0, image.width, image.height * 5 // 8))  # the face, less suit


def leaderboard_plot(path: Path) -> Path:
    """The accuracy-vs-time plot of BOARD's rows, each labelled by its name, from results/runs/."""
    from benchmark.report.leaderboard import boards, load_records
    from core import plots

    records, _ = load_records(ROOT / "results" / "runs")
    entries = boards([(p, r) for p, r in records if "perturbations" not in r and r["protocol"] != "cross"])[BOARD]
    points = [(e.label, e.record["timings"]["inference_ms_per_image"], 100 * e.accuracy, e.kind) for e in entries]
    return plots.accuracy_vs_time(points, f"{BOARD[0]} | {BOARD[1]}: accuracy vs inference time", path)


def save(image: Image.Image, name: str) -> None:
    """`image` as docs/<name>, in 256 colours (the class colours kept: no dithering), optimised."""
    out = DOCS / name
    image = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    image.save(out, optimize=True)
    print(f"wrote {out.relative_to(ROOT)} ({image.width}x{image.height}, {out.stat().st_size / 1024:.0f} kB)")


def main(argv: list[str]) -> int:
    """Write the pictures named in `argv` (web, predict, plot; none: all); 2 for an unknown name or when the
    browser the web pictures need is missing."""
    wanted = argv or list(PICTURES)
    unknown = [w for w in wanted if w not in PICTURES]
    if unknown:
        print(f"error: unknown picture {', '.join(unknown)}: choose from {', '.join(PICTURES)}", file=sys.stderr)
        return 2
    if "web" in wanted:
        from tests.serving import chromium_paths

        if chromium_paths() is None:
            print(
                "error: the web pictures need Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
                file=sys.stderr,
            )
            return 2
        for name, explain in (("web-page.png", ""), ("web-explain.png", "occlusion")):
            save(Image.open(io.BytesIO(page_screenshot(explain))), name)
    if "predict" in wanted:
        save(predict_output(), "predict-output.png")
    if "plot" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            drawn = leaderboard_plot(Path(tmp) / "plot.png")
            with Image.open(drawn) as image:
                save(image, "leaderboard-plot.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
