"""The web page and the REST API that find and classify the faces of photos (`create_app`, a FastAPI
application; `ferbench serve`, benchmark/serve.py, runs it).

Endpoints: `POST /api/predict` (an image: multipart field `file`, or a raw body with an image/*
content type) returns `FacePipeline.predict_json` and the server's total time; `GET /api/health`
names the model, its classes and their colours; `GET /` is the page (benchmark/web/).

Uploads are untrusted, so:
- the body is read here chunk by chunk and counted against the limit as it arrives, after the
  declared Content-Length was checked: a client that sends no length, a false one, or a chunked body
  cannot get more than the limit into memory. Starlette's own form parser would read the whole body
  first and spool file parts over 1 MB to a temporary file; here the form is parsed in memory
  (python-multipart's streaming parser), so an upload never touches the file system, and the file
  name it carries is never used as a path (it is only echoed, JSON-encoded, in the answer);
- images are decoded by `core.images.read_image`, which refuses decompression bombs from their
  header before decoding; its reasons become statuses (unsupported 415, corrupt 400, too_large 413);
  an image less than MIN_SIDE pixels wide or high (a 1x2000 strip) holds no face and is refused (422);
- a query parameter other than those `PARAMETERS` names, or a value they do not allow, is refused (422),
  never ignored;
- every error is a JSON object {"error": <code>, "message": <one line saying what to do>}, with a 4xx
  status for everything the client sent, and the server keeps answering on the same connection.

The pipeline is CPU-bound, so it runs in Starlette's thread pool (the event loop keeps answering),
and one lock serialises the model: torch modules and OpenCV's cascade classifiers are not documented
to be thread-safe. Decoding happens before the lock, two images at a time (memory). The page is
served with a Content-Security-Policy that allows nothing but this server (no CDN; it works offline)
and no CORS headers unless `cors_origins` names some.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from python_multipart import multipart
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

from core.images import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError, read_image

#: what a multipart body may hold besides the file: boundaries, part headers, small fields
FORM_OVERHEAD = 64 * 1024
#: the page's files (index.html, app.js, style.css), shipped as package data
WEB_DIR = Path(__file__).resolve().parent / "web"
#: HTTP status of each `ImageError.reason`
STATUS = {"unsupported": 415, "corrupt": 400, "too_large": 413}
#: the smallest width and height of an image analysed, in pixels: the window of OpenCV's face cascades, 24 x 24;
#: a thinner strip holds neither a face to find nor a face crop
MIN_SIDE = 24
#: the query parameters of POST /api/predict and what each takes
PARAMETERS = {
    "explain": "a heat-map method this model offers (GET /api/health's explain)",
    "detector": "none to classify the whole image as one ready-made face crop, or the server's own detector "
    "(GET /api/health's detectors)",
}
RAW_TYPES = ("application/octet-stream",)  # besides image/*: a raw body that is the image
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
}


class UploadError(Exception):
    """A request the API refuses: its HTTP `status`, a short `error` code and a `message` for people."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class Predictor:
    """`FacePipeline.predict_json` for uploaded bytes, one image at a time through the model.

    pipeline: a `FacePipeline`; max_pixels: the largest image (width x height) decoded; decoders: how
    many images may be decoded at once (each holds up to 4 bytes a pixel: 160 MB at 40 megapixels).
    `pipelines` maps each face stage a request may ask for to its pipeline, all of the same model: the
    pipeline's own detector, and "none" (every image one ready-made face crop, classified whole).
    Calling it with the bytes of an image (and `explain`, `detector`: one of `pipelines`, None: the
    pipeline's own) returns the pipeline's JSON dict, whose `timings_ms` also hold `queue` (waiting for
    a decoder and for the model lock); raises `ImageError` for bytes that are no usable image,
    `UploadError` (422) for one narrower or lower than MIN_SIDE pixels.
    """

    def __init__(self, pipeline, max_pixels: int = MAX_PIXELS, decoders: int = 2):
        from benchmark.inference.pipeline import FacePipeline

        self.pipeline = pipeline
        self.max_pixels = int(max_pixels)
        self.lock = threading.Lock()
        self.decoders = threading.BoundedSemaphore(decoders)
        own = pipeline.face_stage.get("detector")
        self.pipelines = {own: pipeline}
        if own != "none":
            self.pipelines["none"] = FacePipeline(pipeline.model, detector="none")

    def __call__(self, data: bytes, explain: str | None = None, detector: str | None = None) -> dict:
        t0 = time.perf_counter()
        with self.decoders:  # decoding is per object: it needs no model lock
            t1 = time.perf_counter()
            image = read_image(data, self.max_pixels)
        height, width = image.gray.shape
        if min(height, width) < MIN_SIDE:
            raise UploadError(
                422,
                "too_small",
                f"the image is {width}x{height} pixels, too small to hold a face: send a picture at least "
                f"{MIN_SIDE} pixels wide and high",
            )
        t2 = time.perf_counter()
        with self.lock:
            t3 = time.perf_counter()
            result = self.pipelines.get(detector, self.pipeline).predict_json(image, explain)
        result["timings_ms"].update(decode=round(1000 * (t2 - t1), 2), queue=round(1000 * (t1 - t0 + t3 - t2), 2))
        return result


async def read_body(request: Request, limit: int, file_limit: int | None = None) -> bytes:
    """The request body, refused with a 413 `UploadError` as soon as it is declared or grows past
    `limit` bytes (the declared Content-Length is not trusted: the bytes are counted as they come).
    file_limit: the limit on the file the message names (default `limit`; a form's body may be larger)."""
    allowed = f"the server accepts (files of at most {file_limit or limit:,} bytes)"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise UploadError(400, "bad_request", f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise UploadError(413, "too_large", f"the upload is {int(declared):,} bytes, larger than {allowed}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadError(413, "too_large", f"the upload is larger than {allowed}")
    return bytes(body)


def form_file(body: bytes, content_type: str, field: str = "file") -> tuple[bytes, str | None]:
    """The content and the file name (None when the part has none) of the first part named `field`
    of a multipart/form-data `body`, parsed in memory. Raises `UploadError`: 400 for a malformed
    body, 422 when no part is named `field`."""
    boundary = multipart.parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise UploadError(
            400, "bad_form", "multipart/form-data without a boundary: let the HTTP client build the form's header"
        )
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header = [b"", b""]

    def on_header_end() -> None:
        parts[-1][0][header[0].lower()] = header[1]
        header[:] = [b"", b""]

    callbacks = {
        "on_part_begin": lambda: parts.append(({}, bytearray())),
        "on_header_field": lambda data, start, end: header.__setitem__(0, header[0] + data[start:end]),
        "on_header_value": lambda data, start, end: header.__setitem__(1, header[1] + data[start:end]),
        "on_header_end": on_header_end,
        "on_part_data": lambda data, start, end: parts[-1][1].extend(data[start:end]),
    }
    try:
        parser = multipart.MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except (multipart.MultipartParseError, ValueError) as exc:
        raise UploadError(
            400,
            "bad_form",
            f"malformed multipart/form-data body ({exc}): send the image as the form's field 'file', or as the "
            "whole body with an image/* content type",
        ) from None
    for headers, content in parts:
        options = multipart.parse_options_header(headers.get(b"content-disposition", b""))[1]
        if options.get(b"name") == field.encode():
            name = options.get(b"filename")
            return bytes(content), None if name is None else name.decode("utf-8", "replace")
    raise UploadError(
        422, "missing_file", f"the form has no field '{field}': send the image as the multipart field '{field}'"
    )


def create_app(
    pipeline=None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    cors_origins: tuple[str, ...] | list[str] = (),
):
    """The FastAPI application: the API and the page of `pipeline` (a `FacePipeline`; None: the
    shipped model with flip test-time augmentation, loaded now).

    max_upload_bytes: the largest image file accepted (413 beyond); max_pixels: the largest image
    (width x height) decoded (413 beyond, decompression bombs included); cors_origins: origins
    allowed to call the API from their pages (none by default: same origin only).
    """
    from benchmark.inference.annotate import COLOURS
    from benchmark.inference.explain import EXPLAINERS, TITLES, has_gradcam, installed, legend

    if pipeline is None:
        from benchmark.inference.models import load_model
        from benchmark.inference.pipeline import FacePipeline

        pipeline = FacePipeline(load_model(None, tta="flip"))
    predictor = Predictor(pipeline, max_pixels)
    max_upload_bytes = int(max_upload_bytes)
    model = pipeline.model

    app = FastAPI(
        title="ferbench",
        summary="Facial expression recognition of photos",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )  # the docs pages would load a CDN
    app.state.predictor = predictor
    app.add_middleware(SecurityHeaders)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"])

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": code, "message": message}, status_code=status)

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError):
        return error(exc.status, exc.error, exc.message)

    @app.exception_handler(ImageError)
    async def image_error(request: Request, exc: ImageError):
        return error(STATUS.get(exc.reason, 400), exc.reason, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        what = {
            404: f"there is nothing at {request.url.path[:100]}: the API is POST /api/predict and GET /api/health",
            405: f"{request.method} is not allowed at {request.url.path[:100]}: send images with POST /api/predict",
        }
        return error(exc.status_code, "http_" + str(exc.status_code), what.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error(422, "invalid_request", "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # Starlette re-raises it, so the server logs it
        return error(500, "internal", "the server failed on this image and logged why: try another image")

    #: the explanations this model supports (Grad-CAM needs CNN checkpoints; the others any model) and this
    #: installation has (the `explain` extra: captum, lime), the faithful method first (`EXPLAINERS`' order)
    explainable = tuple(m for m in EXPLAINERS if installed(m) and (m != "gradcam" or has_gradcam(model.estimator)))

    @app.get("/api/health")
    def health() -> dict:
        """The model the server runs, its classes (in the order of the probabilities) and their colours."""
        return {
            "status": "ok",
            "model": model.name,
            "family": model.family,
            "calibrated": model.calibrated,
            "score_name": model.score_name,
            "classes": list(model.classes),
            "detector": pipeline.face_stage.get("detector"),
            "detectors": list(predictor.pipelines),
            "colours": {c: "#{:02x}{:02x}{:02x}".format(*COLOURS.get(c, (255, 255, 255))) for c in model.classes},
            "max_upload_bytes": max_upload_bytes,
            "max_pixels": predictor.max_pixels,
            "explain": list(explainable),
            "explain_titles": {m: TITLES.get(m, m) for m in explainable},
            "explain_legend": legend(),
        }

    def options(request: Request) -> dict:
        """The query parameters of a predict request, checked before the body is read: each one of
        `PARAMETERS`, given once, with a value it allows (an empty value: the default); else an `UploadError`
        (422) that names what is allowed."""
        given = request.query_params
        unknown = sorted(set(given) - set(PARAMETERS))
        if unknown:
            known = "; ".join(f"{k}: {v}" for k, v in PARAMETERS.items())
            raise UploadError(422, "bad_parameter", f"unknown parameter {unknown[0][:40]!r}; the API takes {known}")
        repeated = [k for k in PARAMETERS if len(given.getlist(k)) > 1]
        if repeated:
            raise UploadError(422, "bad_parameter", f"{repeated[0]} is given more than once: give it once")
        explain = given.get("explain") or None
        if explain is not None and explain not in explainable:
            allowed = " | ".join(explainable) or "nothing: this installation has no heat-map method"
            raise UploadError(
                422, "bad_parameter", f"explain must be one of {allowed} for this model, got {explain[:40]!r}"
            )
        detector = given.get("detector") or None
        if detector is not None and detector not in predictor.pipelines:
            allowed = " | ".join(map(str, predictor.pipelines))
            raise UploadError(
                422, "bad_parameter", f"detector must be one of {allowed} on this server, got {detector[:40]!r}"
            )
        return {"explain": explain, "detector": detector}

    @app.post("/api/predict", openapi_extra=PREDICT_OPENAPI)
    async def predict(request: Request) -> JSONResponse:
        """Every face of the uploaded image: box, label, scores; the model; timings in ms."""
        start = time.perf_counter()
        chosen = options(request)  # a bad parameter is refused before the upload is read
        content_type = request.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        filename = None
        if media == "multipart/form-data":
            data, filename = form_file(
                await read_body(request, max_upload_bytes + FORM_OVERHEAD, max_upload_bytes), content_type
            )
        elif media.startswith("image/") or media in RAW_TYPES:
            data = await read_body(request, max_upload_bytes)
        else:
            data = await read_body(request, max_upload_bytes + FORM_OVERHEAD, max_upload_bytes)
            if data or media:
                raise UploadError(
                    415,
                    "unsupported",
                    f"expected an image as the multipart/form-data field 'file' "
                    f"or a body of type image/*, got {media or 'no content type'}",
                )
        if not data:
            raise UploadError(422, "missing_file", "no image was sent (the file is empty or missing)")
        if len(data) > max_upload_bytes:
            raise UploadError(
                413,
                "too_large",
                f"the file is {len(data):,} bytes, larger than the server accepts "
                f"(files of at most {max_upload_bytes:,} bytes)",
            )
        result = await run_in_threadpool(predictor, data, chosen["explain"], chosen["detector"])
        result["filename"] = None if filename is None else filename[:255]
        if not result["faces"]:
            result["message"] = "no face found"
        result["timings_ms"]["total"] = round(1000 * (time.perf_counter() - start), 2)
        return JSONResponse(result)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


#: what each error status of POST /api/predict means (`STATUS`, `UploadError`s, the handlers of create_app)
ERROR_RESPONSES = {
    400: "a corrupt or truncated image",
    413: "a file over the server's max_upload_bytes, or an image over its max_pixels (decompression bombs included)",
    415: "not an image (neither the multipart field 'file' nor an image/* body)",
    422: "no image sent, an image thinner than MIN_SIDE pixels, or a query parameter or value the API does not take",
    500: "the server failed on this image and logged why",
}
#: the body of every error answer
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a short code: unsupported, corrupt, too_large, bad_parameter, ..."},
        "message": {"type": "string", "description": "one line saying what to do"},
    },
}
#: what FastAPI cannot see of POST /api/predict, which reads its request itself: the query parameters, the
#: body's two forms and the error answers (the docs site's REST API reference is generated from this schema)
PREDICT_OPENAPI = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
        for name, text in PARAMETERS.items()
    ],
    "responses": {
        str(status): {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status, text in ERROR_RESPONSES.items()
    },
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response, and `Cache-Control: no-store` on the API's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if scope["path"].startswith("/api/"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


@contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0):
    """Serve `app` with uvicorn in a daemon thread for the duration of the `with` block; yields its base
    URL ("http://127.0.0.1:<port>"; port 0: a free one). For tests, benchmarks and screenshots."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(10)
