"""`ferbench serve [key=value ...]` (or `python -m benchmark.serve`): the web page and the REST API
(`benchmark.api`) on this machine, with uvicorn.

    ferbench serve                                  # the shipped model on http://127.0.0.1:8000/
    ferbench serve model=results/runs/<record>.json detector=mtcnn port=8080
    ferbench serve detector=none                    # every image is one ready-made face crop

It binds 127.0.0.1 unless told otherwise (the API has no authentication) and needs the `serve` extra
(FastAPI, uvicorn, python-multipart), which a missing one names in one line.
"""

from __future__ import annotations

import ipaddress
import sys

from benchmark import cli
from benchmark.cli import Option
from core.errors import ConfigError, FerbenchError
from core.extras import require
from core.images import MAX_UPLOAD_BYTES

MB = 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_origins(origins: list[str]) -> None:
    """Each CORS origin must be scheme://host[:port] (what a browser sends), else a ConfigError."""
    import re

    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?", origin):
            raise ConfigError(
                f"must be an origin such as https://example.org or http://localhost:3000, got {origin!r}", "cors_origin"
            )


def check_free(host: str, port: int) -> None:
    """A ConfigError, before the model is loaded, when `host` is not an address of this machine or `port`
    is taken there."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(
            f"{host!r} is not an address this machine can listen on ({exc.strerror or exc})", "host"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"{port} on {host} cannot be used ({exc.strerror or exc}): another server holds it, or "
                "choose another port=",
                "port",
            ) from None


OPTIONS = (
    Option("host", "127.0.0.1", "address to listen on (127.0.0.1: this machine only; the API has no authentication)"),
    Option("port", 8000, "TCP port", "int", low=1, high=65535),
    Option("model", None, "a .pt / .onnx / .skops model or a run record; null: the shipped model"),
    Option(
        "detector",
        None,
        "face detector; none: every image is one ready-made face crop, classified whole; null: the model's own "
        "face stage (the page and the API can also ask for none per photo)",
        "choice",
        ("haar", "mtcnn", "none"),
    ),
    Option("tta", "flip", "test-time augmentation of a CNN checkpoint", "choice", ("none", "flip", "affine")),
    Option("max_upload_mb", MAX_UPLOAD_BYTES / MB, "largest image file accepted, in MiB", "float", low=0.001),
    Option(
        "cors_origin",
        [],
        "origins (https://host:port) whose pages may call the API; repeat it or separate them with commas",
        repeat=True,
    ),
    Option(
        "threads",
        None,
        "CPU threads of the model and the face detector; null: one per core (1 on a machine shared with other jobs)",
        "int",
        low=1,
    ),
)
EXAMPLES = (
    "ferbench serve                                   # the shipped model on http://127.0.0.1:8000/",
    "ferbench serve model=results/runs/<record>.json detector=mtcnn port=8080",
    "ferbench serve detector=none                     # every image is one ready-made face crop, classified whole",
    "ferbench serve host=0.0.0.0 threads=1            # reachable from other machines: no authentication",
)


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.serve") -> int:
    """`ferbench serve`: serves until interrupted; the exit status is 2 for a bad option."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(cli.help_text(prog, "The web page and the REST API of a model on this machine.", OPTIONS, EXAMPLES))
        return 0
    try:
        args, _, _ = cli.parse(argv, OPTIONS)
        require("serve", "ferbench serve")
        check_origins(args["cors_origin"])
        check_free(args["host"], args["port"])
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args["threads"] is not None:
        import cv2
        import torch

        torch.set_num_threads(args["threads"])
        cv2.setNumThreads(args["threads"])

    import uvicorn

    from benchmark.api import create_app
    from benchmark.inference.models import load_model
    from benchmark.inference.pipeline import FacePipeline

    try:
        pipeline = FacePipeline(load_model(args["model"], tta=args["tta"]), detector=args["detector"])
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(pipeline, max_upload_bytes=int(args["max_upload_mb"] * MB), cors_origins=args["cors_origin"])
    host, port = args["host"], args["port"]
    if not is_loopback(host):
        print(
            f"warning: listening on {host}: anyone who can reach it can use the API (no authentication)",
            file=sys.stderr,
        )
    print(
        f"model {pipeline.model.name}, detector {pipeline.face_stage.get('detector')}; "
        f"page on http://{host if ':' not in host else f'[{host}]'}:{port}/",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, limit_concurrency=32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
