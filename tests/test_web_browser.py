"""The web page of `python -m benchmark.serve` end to end in a real headless Chromium (Selenium): the
shipped model behind a live uvicorn, photos uploaded through the file input, the boxes, labels and
bars on the page, the errors shown, the webcam tab with Chromium's fake camera.

Skips when Chromium or chromedriver is missing (`apt-get install -y chromium chromium-driver`;
.ci/run installs them)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.serving import (
    CHROMIUM_HINT,
    astronaut,
    chromium_driver,
    chromium_paths,
    encode,
    shipped_pipeline,
    svm_model,
)

pytest.importorskip("selenium", reason=f"selenium is not installed (pip install -e '.[test]'; {CHROMIUM_HINT})")
if chromium_paths() is None:
    pytest.skip(f"Chromium and chromedriver are not installed: {CHROMIUM_HINT}", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from benchmark.api import create_app, running  # noqa: E402
from benchmark.inference.pipeline import FacePipeline  # noqa: E402

TIMEOUT = 30  # seconds for a result to appear


@pytest.fixture(scope="module")
def site():
    with running(create_app(shipped_pipeline())) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    driver = chromium_driver(fake_camera=True)
    yield driver
    driver.quit()


@pytest.fixture
def page(site, browser):
    """The page freshly loaded, its model named (so /api/health answered)."""
    browser.get(site + "/")
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element(By.ID, "model-info").text.startswith("Model"))
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "/api/predict" not in e["message"]]
    assert errors == []  # no script error, no blocked resource (CSP), nothing fetched from elsewhere


def results(driver, count: int):
    """The `count` result articles once each has its answer (newest first)."""

    def done(d):
        found = d.find_elements(By.CSS_SELECTOR, "#results .result")
        ready = [a for a in found if a.find_element(By.CSS_SELECTOR, ".message").text not in ("", "Analysing\u2026")]
        return found if len(found) == count and len(ready) == count else False

    return WebDriverWait(driver, TIMEOUT).until(done)


def happy_pixels(driver, canvas) -> int:
    """How many pixels of the canvas have the colour of 'happy' (#ffbf00): its box and label."""
    return driver.execute_script(
        """
        const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 191 && d[i + 2] === 0) n++;
        return n;""",
        canvas,
    )


def test_a_photo_is_boxed_labelled_and_downloadable(page, tmp_path):
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode(astronaut(), "PNG"))
    page.find_element(By.ID, "file-input").send_keys(str(photo))
    [article] = results(page, 1)
    [face] = article.find_elements(By.CSS_SELECTOR, ".face")
    assert face.get_attribute("data-label") == "happy"
    assert face.find_element(By.CSS_SELECTOR, ".face-label").text == "happy"
    assert "Face 1: happy" in face.text and len(face.find_elements(By.CSS_SELECTOR, ".bar-row")) == 7
    assert face.find_element(By.CSS_SELECTOR, ".face-title").text.endswith("%")  # a probability
    canvas = article.find_element(By.TAG_NAME, "canvas")
    assert canvas.get_attribute("data-drawn") == "true"
    assert "1: happy" in canvas.get_attribute("aria-label")  # numbered on the picture as in the list
    assert page.execute_script("return [arguments[0].width, arguments[0].height]", canvas) == [512, 512]
    assert happy_pixels(page, canvas) > 300  # the box's four sides and the label's background
    assert article.find_element(By.CSS_SELECTOR, "button.download").is_enabled()
    page.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_the_explanation_overlay_colours_the_face(page, tmp_path):
    """With the overlay on, the face is painted with the heat map (inferno colours), the box and label
    still drawn over it, and a legend of the colours (low..high) under it; the options are the server's,
    the faithful method first."""
    from selenium.webdriver.support.ui import Select

    toggle = Select(page.find_element(By.ID, "explain-toggle"))
    assert [o.get_attribute("value") for o in toggle.options] == ["", "occlusion", "lime", "gradcam"]
    assert "recommended" in toggle.options[1].text and "less faithful" in toggle.options[3].text
    legend = page.find_element(By.CSS_SELECTOR, "#explain-legend .heat-legend")
    assert legend.text.startswith("low") and "high" in legend.text
    toggle.select_by_value("occlusion")
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut(), "JPEG"))
    page.find_element(By.ID, "file-input").send_keys(str(photo))
    [article] = results(page, 1)
    assert article.find_element(By.TAG_NAME, "figcaption").get_attribute("data-explanation") == "occlusion"
    canvas = article.find_element(By.TAG_NAME, "canvas")
    assert happy_pixels(page, canvas) > 300
    bar = article.find_element(By.CSS_SELECTOR, "figcaption .heat-legend-bar")
    gradient = bar.value_of_css_property("background-image")  # the server's colours, dark to bright
    assert gradient.startswith("linear-gradient") and "rgb(0, 0, 4)" in gradient and "rgb(252, 255, 164)" in gradient
    page.save_screenshot(str(tmp_path / "explained.png"))


def test_a_photo_can_be_sent_as_one_face_crop(page, tmp_path):
    """The switch asks for detector=none: a grey picture in which no face is found is classified whole."""
    grey = tmp_path / "crop.png"
    grey.write_bytes(encode(np.full((96, 96, 3), 128, np.uint8), "PNG"))
    switch = page.find_element(By.ID, "whole-image")
    assert switch.is_displayed() and not switch.is_selected()
    switch.click()
    page.find_element(By.ID, "file-input").send_keys(str(grey))
    [article] = results(page, 1)
    assert len(article.find_elements(By.CSS_SELECTOR, ".face")) == 1
    sent = page.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert any("/api/predict?detector=none" in url for url in sent)


def test_no_face_and_errors_are_shown(page, tmp_path):
    grey = tmp_path / "grey.png"
    grey.write_bytes(encode(np.full((240, 320, 3), 128, np.uint8), "PNG"))
    text = tmp_path / "notes.png"
    text.write_text("not an image <b>at all</b>")
    page.find_element(By.ID, "file-input").send_keys(f"{grey}\n{text}")  # two files at once
    newest, oldest = results(page, 2)
    assert "no face found" in oldest.find_element(By.CSS_SELECTOR, ".message").text
    assert oldest.find_elements(By.CSS_SELECTOR, ".face") == []
    assert "error" in newest.get_attribute("class")
    message = newest.find_element(By.CSS_SELECTOR, ".message").text
    assert message.startswith("Error 415:") and "not an image" in message
    assert newest.find_element(By.TAG_NAME, "h2").text == "notes.png"


def test_webcam_frames_are_sent_and_stopped(page):
    tab = page.find_element(By.ID, "tab-photos")
    tab.send_keys(Keys.ARROW_RIGHT)  # keyboard: the arrow keys move between the tabs
    assert page.find_element(By.ID, "panel-webcam").is_displayed()
    assert not page.find_element(By.ID, "panel-photos").is_displayed()
    page.find_element(By.ID, "webcam-start").click()
    status = page.find_element(By.ID, "webcam-status")
    WebDriverWait(page, TIMEOUT).until(lambda d: "no face found" in status.text)  # Chromium's fake camera
    page.find_element(By.ID, "webcam-stop").click()
    assert status.text == "The camera is off."
    assert page.find_element(By.ID, "webcam-start").is_enabled()


def test_webcam_denied_is_explained(page):
    page.find_element(By.ID, "tab-webcam").click()
    page.execute_script("""navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException('denied', 'NotAllowedError'));""")
    page.find_element(By.ID, "webcam-start").click()
    status = page.find_element(By.ID, "webcam-status")
    WebDriverWait(page, TIMEOUT).until(lambda d: "permission was denied" in status.text)
    assert "error-text" in status.get_attribute("class")


def test_an_uncalibrated_model_shows_scores_not_percentages(browser, tmp_path):
    """An SVM's scores (a softmax of its decision values) read "score 0.41", in the list, on the picture and
    in the model line; never as a percentage."""
    with running(create_app(FacePipeline(svm_model("decision")))) as url:
        browser.get(url + "/")
        info = browser.find_element(By.ID, "model-info")
        WebDriverWait(browser, TIMEOUT).until(lambda d: info.text.startswith("Model"))
        assert "not probabilities" in info.text
        photo = tmp_path / "astronaut.png"
        photo.write_bytes(encode(astronaut(), "PNG"))
        browser.find_element(By.ID, "file-input").send_keys(str(photo))
        [article] = results(browser, 1)
    [face] = article.find_elements(By.CSS_SELECTOR, ".face")
    title = face.find_element(By.CSS_SELECTOR, ".face-title").text
    assert title.startswith("Face 1: ") and " score 0." in title and "%" not in title
    assert all("%" not in v.text for v in face.find_elements(By.CSS_SELECTOR, ".bar-value"))
    assert "1: " in article.find_element(By.TAG_NAME, "canvas").get_attribute("aria-label")
    assert "%" not in article.find_element(By.CSS_SELECTOR, ".message").text
