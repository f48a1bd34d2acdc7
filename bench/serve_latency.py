"""Latency of `POST /api/predict` (python -m benchmark.serve) for one 1-megapixel photo with one face, through
a live uvicorn on 127.0.0.1, and where the time goes.

    python bench/serve_latency.py                      # the shipped model, flip TTA, 20 timed requests
    python bench/serve_latency.py --requests 50 --threads 1 --tta none --raw

The photo is scikit-image's astronaut (public domain) scaled to 800x800 on a 1280x800 grey canvas, saved as
JPEG (quality 90) and sent as the page sends it (multipart field `file`; --raw: an image/jpeg body). After
--warmup untimed requests (oneDNN kernels, first allocations), each request is timed by the client (wall
clock, request sent to JSON parsed) and split by the server's own `timings_ms`: decode (JPEG to RGB and
grey), faces (Haar detection on a copy scaled to 800 px, eye alignment, crops), classify (the CNN on the
crops, TTA included), queue (waiting for the model lock: 0 with one client) and total (in the endpoint,
reading the body included); what the client sees beyond `total` is HTTP, the event loop and JSON. Medians
and 90th percentiles. Other jobs on the machine make the numbers noisy: the load average is printed.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import time
import uuid
from urllib.parse import urlsplit

import numpy as np
from tabulate import tabulate

STAGES = ("decode", "faces", "classify", "queue", "total")


def photo(width: int = 1280, height: int = 800) -> bytes:
    """The JPEG of the astronaut's 512x512 picture scaled to height x height, centred on a grey canvas."""
    from PIL import Image
    from skimage import data

    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    face = Image.fromarray(data.astronaut()).resize((height, height), Image.Resampling.LANCZOS)
    canvas.paste(face, ((width - height) // 2, 0))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def multipart(data: bytes, name: str = "photo.jpg") -> tuple[bytes, str]:
    """A multipart/form-data body with `data` as the field `file`, and its content type."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def post(conn: http.client.HTTPConnection, body: bytes, content_type: str) -> tuple[float, dict]:
    """One request on a kept-alive connection: (client seconds, the JSON answer)."""
    t0 = time.perf_counter()
    conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    answer = json.loads(response.read())
    elapsed = time.perf_counter() - t0
    if response.status != 200:
        raise SystemExit(f"POST /api/predict answered {response.status}: {answer}")
    return elapsed, answer


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="timed requests (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--model", default=None, help="model file or run record (default: the shipped model)")
    parser.add_argument("--tta", choices=("none", "flip", "affine"), default="flip")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and OpenCV CPU threads (default: one per core; use 1 on a machine shared with other jobs)",
    )
    parser.add_argument("--raw", action="store_true", help="send an image/jpeg body instead of a form")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]  # before we add to it

    import cv2
    import torch

    from benchmark.api import create_app, running
    from benchmark.inference.models import load_model
    from benchmark.inference.pipeline import FacePipeline

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    pipeline = FacePipeline(load_model(args.model, tta=args.tta))
    jpeg = photo()
    body, content_type = (jpeg, "image/jpeg") if args.raw else multipart(jpeg)

    client, server = [], {stage: [] for stage in STAGES}
    with running(create_app(pipeline)) as url:
        address = urlsplit(url)
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        for i in range(args.warmup + args.requests):
            elapsed, answer = post(conn, body, content_type)
            if i == 0:
                labels = [f["label"] for f in answer["faces"]]
                print(
                    f"{answer['image']['width']}x{answer['image']['height']} JPEG of {len(jpeg) / 1024:.0f} kB: "
                    f"faces {labels}; model {answer['model']}",
                    flush=True,
                )
            if i >= args.warmup:
                client.append(1000 * elapsed)
                for stage in STAGES:
                    server[stage].append(answer["timings_ms"][stage])
        conn.close()

    rows = [[f"server: {stage}", f"{statistics.median(v):.1f}", f"{p90(v):.1f}"] for stage, v in server.items()]
    overhead = [c - t for c, t in zip(client, server["total"])]
    rows += [
        ["HTTP + JSON (client - server total)", f"{statistics.median(overhead):.1f}", f"{p90(overhead):.1f}"],
        ["client: per request", f"{statistics.median(client):.1f}", f"{p90(client):.1f}"],
    ]
    print(tabulate(rows, headers=["ms", "median", "p90"], tablefmt="github"))
    sent = "an image/jpeg body" if args.raw else "multipart"
    print(
        f"{args.requests} timed requests after {args.warmup} untimed, one at a time, {sent}; tta {args.tta}; "
        f"threads {args.threads or torch.get_num_threads()}; torch {torch.__version__}; "
        f"load average before the run {load:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
