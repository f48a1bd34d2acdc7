"""The server keeps answering after every bad request: each bad upload, sent to a live uvicorn through one
httpx.Client (one connection at a time, kept alive), gets a 4xx with a one-line JSON error, never a 500,
and the good photo sent right after it on the same client is still answered."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.serving import astronaut, encode, png_declaring, shipped_pipeline

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from benchmark.api import MIN_SIDE, create_app, running  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with running(create_app(shipped_pipeline())) as url:
        with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=1)) as c:
            yield c


def good_photo() -> bytes:
    return encode(astronaut()[::2, ::2], "JPEG")


def png_of(array: np.ndarray) -> bytes:
    """A PNG of the array as it is: uint16 (H, W) gives 16-bit grey."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def tiff_of(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "TIFF")
    return buf.getvalue()


def multipart(name: bytes, filename: bytes, data: bytes, content_type: bytes = b"image/png") -> tuple[bytes, str]:
    """A multipart/form-data body written byte by byte (any field name, any bytes in the file name)."""
    boundary = b"ferbench-test-boundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"\r\n'
        b"Content-Type: " + content_type + b"\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary.decode()}"


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png", **params) -> dict:
    return {"files": {"file": (name, data, content_type)}, "params": params}


def raw(data: bytes, content_type: str, **params) -> dict:
    return {"content": data, "headers": {"content-type": content_type}, "params": params}


def form(name: bytes, filename: bytes, data: bytes) -> dict:
    body, content_type = multipart(name, filename, data)
    return {"content": body, "headers": {"content-type": content_type}}


JPEG = encode(astronaut(), "JPEG")
PNG = encode(astronaut(), "PNG")
THIN = np.zeros((2000, 1, 3), np.uint8)  # 1 pixel wide, 2000 high

#: (what, request, status, error code): every bad upload a user or a client bug sends
BAD = [
    ("empty file", upload(b""), 422, "missing_file"),
    ("empty raw body", raw(b"", "image/png"), 422, "missing_file"),
    ("no body at all", {}, 422, "missing_file"),
    ("not an image", upload(b"just some text\n", "notes.txt", "text/plain"), 415, "unsupported"),
    ("html as an image", raw(b"<html><body>hi</body></html>", "image/jpeg"), 415, "unsupported"),
    ("truncated JPEG", upload(JPEG[: len(JPEG) // 2], "cut.jpg", "image/jpeg"), 400, "corrupt"),
    ("JPEG header only", raw(JPEG[:200], "image/jpeg"), 400, "corrupt"),
    ("truncated PNG", upload(PNG[: len(PNG) // 3]), 400, "corrupt"),
    ("huge dimensions", upload(png_declaring(30_000, 30_000), "bomb.png"), 413, "too_large"),
    ("thin 1x2000", upload(png_of(THIN)), 422, "too_small"),
    ("thin 3000x1", upload(png_of(np.zeros((1, 3000, 3), np.uint8))), 422, "too_small"),
    ("thin 16-bit", upload(png_of(np.zeros((1, 2000), np.uint16))), 422, "too_small"),
    ("thin palette", upload(encode(np.zeros((5, 900, 3), np.uint8), "PNG", mode="P")), 422, "too_small"),
    ("one pixel", upload(png_of(np.zeros((1, 1, 3), np.uint8))), 422, "too_small"),
    ("wrong field name", {"files": {"image": ("a.jpg", good_photo(), "image/jpeg")}}, 422, "missing_file"),
    ("wrong field, raw form", form(b"photo", b"a.jpg", good_photo()), 422, "missing_file"),
    ("JSON body", raw(b'{"image": "a.jpg"}', "application/json"), 415, "unsupported"),
    ("text body", raw(b"a.jpg", "text/plain"), 415, "unsupported"),
    ("form without boundary", raw(b"--x\r\n", "multipart/form-data"), 400, "bad_form"),
    ("form of garbage", raw(b"\x00\xff" * 50, "multipart/form-data; boundary=zz"), 400, "bad_form"),
    ("form without parts", raw(b"--zz--\r\n", "multipart/form-data; boundary=zz"), 422, "missing_file"),
    ("unknown explain", upload(good_photo(), explain="shap"), 422, "bad_parameter"),
    ("explain twice", upload(good_photo(), explain=["occlusion", "lime"]), 422, "bad_parameter"),
    ("misspelt option", upload(good_photo(), explian="occlusion"), 422, "bad_parameter"),
    ("unknown option", upload(good_photo(), model="/etc/passwd"), 422, "bad_parameter"),
    ("unknown detector", upload(good_photo(), detector="yolo"), 422, "bad_parameter"),
]


def check_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    message = body["message"]
    assert message and "\n" not in message and len(message) < 400, message
    assert "Traceback" not in message and "Pillow" not in message


def check_good(client) -> None:
    response = client.post("/api/predict", **upload(good_photo(), "good.jpg", "image/jpeg"))
    assert response.status_code == 200, response.text
    assert [f["label"] for f in response.json()["faces"]] == ["happy"]


@pytest.mark.parametrize("what,request_,status,code", BAD, ids=[b[0] for b in BAD])
def test_a_bad_upload_is_a_4xx_and_the_next_photo_is_answered(client, what, request_, status, code):
    check_error(client.post("/api/predict", **request_), status, code)
    check_good(client)


@pytest.mark.parametrize(
    "method,path,status",
    [("GET", "/api/predict", 405), ("PUT", "/api/predict", 405), ("POST", "/api/nothing", 404)],
)
def test_a_wrong_method_or_path_says_what_to_call(client, method, path, status):
    response = client.request(method, path)
    check_error(response, status, f"http_{status}")
    assert "POST /api/predict" in response.json()["message"]
    check_good(client)


#: what users bring that is unusual but readable: answered (200), never a 5xx
ODD = [
    ("16-bit grey PNG", lambda: png_of(np.rint(astronaut().mean(2) * 257).astype(np.uint16))),
    ("palette PNG", lambda: encode(astronaut(), "PNG", mode="P")),
    ("1-bit PNG", lambda: encode(astronaut(), "PNG", mode="1")),
    ("grey + alpha PNG", lambda: encode(astronaut(), "PNG", mode="LA")),
    ("CMYK JPEG", lambda: encode(astronaut(), "JPEG", mode="CMYK")),
    ("JPEG sent as PNG", lambda: JPEG),
]


@pytest.mark.parametrize("what,make", ODD, ids=[o[0] for o in ODD])
def test_odd_modes_are_read(client, what, make):
    response = client.post("/api/predict", **upload(make()))
    assert response.status_code == 200, response.text
    assert len(response.json()["faces"]) <= 1


def test_an_image_at_the_smallest_side_is_analysed(client):
    response = client.post("/api/predict", **upload(png_of(np.full((MIN_SIDE, 400, 3), 128, np.uint8))))
    assert response.status_code == 200 and response.json()["faces"] == []


def test_a_float_image_with_infinite_pixels_is_never_a_server_error(client):
    """Non-finite pixels are core.images' to refuse (4xx) or clip (200); either way a clear answer."""
    grey = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    grey[3, 5] = np.inf
    response = client.post("/api/predict", **upload(tiff_of(grey), "float.tif", "image/tiff"))
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    if response.status_code != 200:
        check_error(response, response.status_code, response.json()["error"])
    check_good(client)


def test_a_file_name_of_any_bytes_is_echoed_safely(client):
    body, content_type = multipart(b"file", b"caf\xe9 \xff<b>.jpg", good_photo(), b"image/jpeg")
    response = client.post("/api/predict", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["filename"].startswith("caf") and "<b>" in response.json()["filename"]
