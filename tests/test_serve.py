"""The REST API of `python -m benchmark.serve` through FastAPI's TestClient: the shipped model on a
public-domain face in every common encoding, and every kind of bad upload answered with a JSON error
while the server keeps running, and nothing written to the disk."""

from __future__ import annotations

import io
import os
import tempfile
import warnings

import numpy as np
import pytest

from tests.serving import astronaut, encode, png_declaring, shipped_pipeline

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
with warnings.catch_warnings():  # recent Starlette asks for httpx2 instead; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient

from benchmark.api import create_app  # noqa: E402

SMALL_LIMIT = 20_000


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """An empty working folder and an empty temporary folder for the whole module; both must stay empty."""
    cwd, tmp = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.setenv("TMPDIR", str(tmp))
        mp.setattr(tempfile, "tempdir", str(tmp))
        yield cwd, tmp


@pytest.fixture(scope="module")
def client(sandbox):
    with TestClient(create_app(shipped_pipeline())) as c:
        yield c


@pytest.fixture(scope="module")
def small_client(sandbox):
    """The same model behind a tiny upload limit."""
    with TestClient(create_app(shipped_pipeline(), max_upload_bytes=SMALL_LIMIT)) as c:
        yield c


def post_file(client, data: bytes, name: str = "photo.png", content_type: str = "image/png"):
    return client.post("/api/predict", files={"file": (name, data, content_type)})


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["message"], body
    if code is not None:
        assert body["error"] == code
    return body


def test_health_names_the_model_and_its_colours(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["model"].endswith("model.pt, logit-adjusted (tau 0.5)")  # shipped.yaml
    assert body["classes"][3] == "happy" and set(body["colours"]) == set(body["classes"])
    assert body["colours"]["happy"] == "#ffbf00"  # annotate.COLOURS["happy"] = (255, 191, 0)
    assert body["explain"] == ["occlusion", "lime", "gradcam"]  # the faithful method first (tests/test_explain.py)
    assert body["explain_titles"]["occlusion"] == "Occlusion (recommended)"
    legend = body["explain_legend"]  # the overlay's colour map, low to high: dark to bright
    assert len(legend) > 2 and legend[0] == "#000004" and sum(int(legend[-1][i : i + 2], 16) for i in (1, 3, 5)) > 600
    assert body["calibrated"] is True and body["score_name"] == "probability"


@pytest.mark.parametrize("fmt,content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_the_astronaut_smiles(client, fmt, content_type):
    response = post_file(client, encode(astronaut(), fmt), f"astronaut.{fmt.lower()}", content_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == {"width": 512, "height": 512}
    [face] = body["faces"]
    assert face["label"] == "happy" and max(face["probabilities"], key=face["probabilities"].get) == "happy"
    x, y, w, h = face["box"]
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 180  # her face, top middle
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-2
    assert set(body["timings_ms"]) >= {"decode", "faces", "classify", "queue", "total"}
    assert body["filename"] == f"astronaut.{fmt.lower()}" and "message" not in body
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in response.headers  # no CORS by default


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_an_explanation_is_the_photo_with_a_heat_map_on_the_face(client, method):
    import base64

    from PIL import Image

    response = client.post(
        f"/api/predict?explain={method}", files={"file": ("a.png", encode(astronaut(), "PNG"), "image/png")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["explanation"]["method"] == method and "explain" in body["timings_ms"]
    header, data = body["explanation"]["image"].split(",", 1)
    assert header == "data:image/png;base64"
    painted = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype=int)
    changed = np.abs(painted - astronaut()).sum(axis=2) > 30
    x, y, w, h = (int(v) for v in body["faces"][0]["box"])
    assert changed[y : y + h, x : x + w].mean() > 0.2 and changed[400:, :100].mean() == 0  # on the face only


def test_an_unknown_explanation_is_422(client):
    response = client.post(
        "/api/predict?explain=shap", files={"file": ("a.png", encode(astronaut(), "PNG"), "image/png")}
    )
    assert (
        response.status_code == 422
        and "explain must be one of occlusion | lime | gradcam" in response.json()["message"]
    )


def test_detector_none_classifies_the_whole_image_as_one_face_crop(client):
    assert client.get("/api/health").json()["detectors"] == ["haar", "none"]  # its own, and none
    grey = np.full((240, 320, 3), 128, np.uint8)  # no face to find: with detector=none, one crop all the same
    found = post_file(client, encode(grey, "PNG")).json()
    assert found["faces"] == [] and found["message"] == "no face found"
    response = client.post("/api/predict?detector=none", files={"file": ("grey.png", encode(grey, "PNG"), "image/png")})
    assert response.status_code == 200, response.text
    [face] = response.json()["faces"]
    assert face["alignment"] == "whole_image" and face["box"] == [0, 0, 320, 240]
    bad = client.post("/api/predict?detector=mtcnn", files={"file": ("grey.png", encode(grey, "PNG"), "image/png")})
    assert "detector must be one of haar | none" in assert_error(bad, 422, "bad_parameter")["message"]


def test_raw_image_body(client):
    response = client.post("/api/predict", content=encode(astronaut(), "JPEG"), headers={"content-type": "image/jpeg"})
    assert response.status_code == 200 and [f["label"] for f in response.json()["faces"]] == ["happy"]


def rgba() -> bytes:
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, 400:] = 0  # a transparent strip, composited over white
    return encode(np.dstack([astronaut(), alpha]), "PNG")


def grey16() -> bytes:
    from PIL import Image

    grey = (astronaut() @ np.array([0.299, 0.587, 0.114])).astype(np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")  # mode I;16
    return buf.getvalue()


@pytest.mark.parametrize(
    "make,content_type",
    [
        (rgba, "image/png"),
        (grey16, "image/png"),
        (lambda: encode(astronaut(), "JPEG", mode="CMYK"), "image/jpeg"),
        (lambda: encode(astronaut(), "PNG", mode="P"), "image/png"),
    ],
    ids=["rgba-png", "16bit-png", "cmyk-jpeg", "palette-png"],
)
def test_every_mode_is_read(client, make, content_type):
    response = post_file(client, make(), "photo", content_type)
    assert response.status_code == 200, response.text
    assert [f["label"] for f in response.json()["faces"]] == ["happy"]


def test_no_face_is_an_empty_list_and_a_message(client):
    ramp = np.repeat(np.linspace(0, 255, 320).astype(np.uint8)[None, :, None], 240, axis=0).repeat(3, axis=2)
    response = post_file(client, encode(ramp, "PNG"))
    assert response.status_code == 200
    body = response.json()
    assert body["faces"] == [] and body["message"] == "no face found"


def test_not_an_image_is_415(client):
    assert_error(post_file(client, b"just some text\n", "notes.txt", "text/plain"), 415, "unsupported")
    assert_error(client.post("/api/predict", content=b"{}", headers={"content-type": "application/json"}), 415)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_400(client, fmt):
    data = encode(astronaut(), fmt)
    assert_error(post_file(client, data[: len(data) // 2]), 400, "corrupt")


def test_upload_over_the_limit_is_413(small_client):
    data = encode(astronaut(), "PNG")
    assert len(data) > SMALL_LIMIT
    assert "20,000" in assert_error(post_file(small_client, data), 413, "too_large")["message"]
    raw = {"content-type": "image/png"}
    assert_error(small_client.post("/api/predict", content=data, headers=raw), 413)
    # a client whose Content-Length lies, and one that sends no length (chunked): the bytes are counted
    assert_error(small_client.post("/api/predict", content=data, headers={**raw, "content-length": "100"}), 413)
    chunks = (data[i : i + 4096] for i in range(0, len(data), 4096))
    assert_error(small_client.post("/api/predict", content=chunks, headers=raw), 413)
    # under the limit still works
    assert (
        small_client.post("/api/predict", content=encode(astronaut()[::8, ::8], "JPEG"), headers=raw).status_code == 200
    )


def test_decompression_bomb_is_413(client):
    bomb = png_declaring(30_000, 30_000)
    assert len(bomb) < 200
    body = assert_error(post_file(client, bomb, "bomb.png"), 413, "too_large")
    assert "pixels" in body["message"]


def test_missing_file_is_422_with_a_message(client):
    assert (
        "'file'"
        in assert_error(
            client.post("/api/predict", files={"image": ("a.png", b"x", "image/png")}), 422, "missing_file"
        )["message"]
    )
    assert_error(post_file(client, b"", "", "application/octet-stream"), 422)  # a form sent without a file
    assert_error(client.post("/api/predict"), 422, "missing_file")
    bad_form = {"content-type": "multipart/form-data"}  # no boundary
    assert_error(client.post("/api/predict", content=b"--x\r\n", headers=bad_form), 400)


def test_the_file_name_is_only_echoed(client, sandbox):
    name = "../../<img src=x onerror=alert(1)>.png"
    response = post_file(client, encode(astronaut()[::4, ::4], "PNG"), name)
    assert response.status_code == 200 and response.json()["filename"] == name


def test_concurrent_requests_share_the_model(client):
    from concurrent.futures import ThreadPoolExecutor

    data = encode(astronaut()[::2, ::2], "JPEG")
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: post_file(client, data, "a.jpg", "image/jpeg"), range(3)))
    assert [r.status_code for r in answers] == [200] * 3
    assert {tuple(f["label"] for f in r.json()["faces"]) for r in answers} == {("happy",)}


def test_cors_only_for_the_origins_named(sandbox):
    origin = "http://localhost:3000"
    with TestClient(create_app(shipped_pipeline(), cors_origins=[origin])) as c:
        assert c.get("/api/health", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
        other = c.get("/api/health", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_command_line_names_a_missing_model(capsys):
    from benchmark.serve import main

    assert main(["model=no/such/model.pt"]) == 2
    assert "error: model file no/such/model.pt not found" in capsys.readouterr().err


def test_the_page_is_served_with_strict_headers(client):
    response = client.get("/")
    assert response.status_code == 200 and 'id="explain-toggle"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for path in ("/static/app.js", "/static/style.css"):
        page = client.get(path)
        assert page.status_code == 200 and "://" not in page.text  # nothing from elsewhere: works offline
    assert "://" not in response.text
    assert_error(client.get("/api/nothing"), 404)


def test_still_running_and_nothing_written(client, sandbox):
    """After every bad request above: the server answers, and no upload reached the disk."""
    assert client.get("/api/health").json()["status"] == "ok"
    cwd, tmp = sandbox
    assert os.listdir(cwd) == [] and os.listdir(tmp) == []
