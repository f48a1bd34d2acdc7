"""`ferbench predict PATH... [key=value ...]` (or `python -m benchmark.predict`): recognise the expression
of every face in photos, folders of photos, video files or a camera.

For each image: `<out>/<name>.annotated.jpg` with every face boxed and labelled, and `<out>/<name>.json` (the
model, every face's box, eyes, alignment, label and probabilities, timings); for a folder (searched
recursively) the same per image, keeping the folder structure, and a summary table (`summary.csv`,
also printed). For a video file or a camera (`camera:0`, or an index such as `0` when no such file
exists): `<out>/<name>.annotated.mp4` and `<out>/<name>.csv`, one row per face and frame (a frame
without a face keeps one row, so the CSV stays aligned with time).

Images are read in any common format and mode (RGBA, palette, 16-bit, CMYK, ...), upright as their
EXIF orientation says; an image that cannot be read is reported and counted, never a traceback.
The options are `OPTIONS`; `ferbench predict --help` lists them with their defaults.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import cli
from benchmark.cli import Option
from core.errors import ConfigError, FerbenchError
from core.images import IMAGE_SUFFIXES, ImageError, read_image
from core.io import write_atomic

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
OPTIONS = (
    Option("model", None, "a .pt / .onnx / .skops model or a run record (record.json[:fold]); null: the shipped model"),
    Option("detector", None, "another detector than the model's own face stage", "choice", ("haar", "mtcnn")),
    Option("margin", None, "the crop's margin, a fraction of the face's side (null: the model's)", "float", low=0),
    Option(
        "tta",
        "flip",
        "a CNN's test-time views (affine: the benchmark's 18 views, 9x slower)",
        "choice",
        ("none", "flip", "affine"),
    ),
    Option("out", "predictions", "output folder"),
    Option(
        "explain",
        None,
        "also write <name>.<method>.jpg: what the model looked at, for each face's label (images only)",
        "choice",
        ("gradcam", "occlusion", "lime"),
    ),
    Option("every", 5, "video: detect faces every N frames, track them between", "int", low=1),
    Option(
        "smooth",
        0.0,
        "video: average each face's probabilities over time (0 off ... 0.9 heavy)",
        "float",
        low=0,
        high=0.99,
    ),
    Option(
        "backend",
        "auto",
        "video: a CNN through torch or ONNX Runtime (auto: ONNX Runtime, the fastest here)",
        "choice",
        ("auto", "torch", "onnx"),
    ),
    Option(
        "max_frames", None, "video / camera: stop after N frames (a camera runs until Ctrl-C otherwise)", "int", low=1
    ),
)
EXAMPLES = (
    "ferbench predict photo.jpg                      # predictions/photo.annotated.jpg and photo.json",
    "ferbench predict holidays/ out=faces/           # every image below holidays/, and faces/summary.csv",
    "ferbench predict clip.mp4 smooth=0.6            # predictions/clip.annotated.mp4 and clip.csv",
    "ferbench predict camera:0 max_frames=900        # camera 0, 900 frames or Ctrl-C",
)


@dataclass
class Target:
    """One thing to predict on: an image or video file (with the path its outputs get under out/),
    or a camera index."""

    kind: str  # image | video | camera
    source: str | int
    relative: Path


def parse(argv: list[str]) -> tuple[list[str], dict]:
    """(paths, options) from the command line: `key=value` words are options (OPTIONS), the rest are
    paths (a word with `=` that names an existing file is a path too, and every word after `--`).
    Raises ConfigError for an unknown option (with the closest ones) or a bad value."""
    options, paths, _ = cli.parse(argv, OPTIONS, positional=True)
    if not paths:
        raise FerbenchError("give at least one image, folder, video file or camera (camera:0)")
    return paths, options


def targets(paths: list[str]) -> list[Target]:
    """The images and videos of `paths` (folders searched recursively, sorted), and cameras."""
    found = []
    for text in paths:
        path = Path(text)
        if text.startswith("camera:") or (text.isdigit() and not path.exists()):
            found.append(
                Target("camera", int(text.removeprefix("camera:")), Path(f"camera{text.removeprefix('camera:')}"))
            )
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            found += [_target(p, p.relative_to(path.parent)) for p in files if _kind(p)]
        elif path.is_file():
            if _kind(path) is None:
                raise FerbenchError(
                    f"{path}: not an image or video file this command reads ({path.suffix or 'no suffix'})"
                )
            found.append(_target(path, Path(path.name)))
        else:
            raise FerbenchError(f"{path}: no such file or folder")
    if not found:
        raise FerbenchError(f"no image or video files in {', '.join(paths)}")
    return found


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _target(path: Path, relative: Path) -> Target:
    return Target(_kind(path), str(path), relative)


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.predict") -> int:
    """`ferbench predict`; the exit status: 0 all done, 1 an input could not be read, 2 a bad option."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(
            cli.help_text(
                prog,
                "Recognise the expression of every face in photos, folders of photos, video files or a camera.",
                OPTIONS,
                EXAMPLES,
                usage=f"{prog} PATH... [key=value ...]",
                notes=__doc__.split("\n\n")[1],
            )
        )
        return 0
    try:
        paths, options = parse(argv)
        todo = targets(paths)
        pipeline = _pipeline(options)
    except (FerbenchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(options["out"])
    images = [t for t in todo if t.kind == "image"]
    rows = predict_images(pipeline, images, out, options["explain"]) if images else []
    for target in (t for t in todo if t.kind != "image"):
        try:
            summary = _video(pipeline, target, out, options)
        except FerbenchError as exc:
            print(f"error: {target.source}: {exc}", file=sys.stderr)
            rows.append({"file": str(target.source), "faces": "", "labels": "", "error": str(exc)})
            continue
        rows.append(
            {
                "file": str(target.source),
                "faces": f"{summary['tracks']} tracked",
                "error": "",
                "labels": f"{summary['frames']} frames at {summary['fps']} frames/s -> {summary['csv']}",
            }
        )
    _summary(rows, out)
    return 1 if any(r["error"] for r in rows) else 0


def _pipeline(options: dict):
    from benchmark.inference.models import load_model
    from benchmark.inference.pipeline import FacePipeline, face_stage_for

    if options["explain"] is not None:
        from benchmark.inference.explain import require_method

        require_method(options["explain"])
    model = load_model(options["model"], tta=options["tta"])
    if options["explain"] == "gradcam":
        from benchmark.inference.explain import has_gradcam

        if not has_gradcam(model.estimator):
            raise ConfigError(
                f"is gradcam, which explains CNNs, and {model.name} is a {type(model.estimator).__name__}; "
                "occlusion and lime explain any model",
                "explain",
            )
    stage = face_stage_for(model.face_stage, options["detector"])
    if options["margin"] is not None:
        stage["margin"] = options["margin"]
    return FacePipeline(model, stage)


def predict_images(pipeline, images: list[Target], out: Path, explain: str | None = None) -> list[dict]:
    """Predict every image; write <out>/<relative>.annotated.jpg and .json for each; returns the summary
    rows (file, faces, labels, error) in the images' order. The faces of up to BATCH images go through
    the model together."""
    from tqdm.auto import tqdm

    from benchmark.inference.annotate import draw

    rows = {}
    bar = tqdm(total=len(images), desc="images", unit="image", disable=len(images) < 2)
    for chunk in _chunks(images, BATCH):
        decoded = []
        for target in chunk:
            try:
                image = read_image(target.source)
            except (ImageError, OSError) as exc:
                rows[target.source] = {"file": str(target.source), "faces": "", "labels": "", "error": str(exc)}
                bar.update()
                continue
            decoded.append((target, image, pipeline.faces(image)))
        pipeline.classify([face for _, _, faces in decoded for face in faces])
        for target, image, faces in decoded:
            bar.update()
            stem = out / target.relative.with_suffix("")
            record = _result(pipeline, image, faces, target)
            write_atomic(stem.with_suffix(".json"), lambda f, r=record: json.dump(r, f, indent=1))
            _write_jpeg(stem.with_name(f"{stem.name}.annotated.jpg"), draw(image.rgb, faces))
            if explain and faces:
                _write_jpeg(stem.with_name(f"{stem.name}.{explain}.jpg"), _explained(pipeline, image, faces, explain))
            rows[target.source] = {
                "file": str(target.source),
                "faces": len(faces),
                "labels": " ".join(f.label for f in faces),
                "error": "",
            }
    bar.close()
    return [rows[t.source] for t in images]


BATCH = 32


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _result(pipeline, image, faces, target: Target) -> dict:
    return {
        "file": str(target.source),
        "model": pipeline.model.name,
        "classes": pipeline.model.classes,
        "calibrated": pipeline.model.calibrated,
        "face_stage": pipeline.face_stage,
        "image": {"width": int(image.rgb.shape[1]), "height": int(image.rgb.shape[0])},
        "faces": [f.to_json(pipeline.model.classes) for f in faces],
        **({} if faces else {"message": "no face found"}),
    }


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise FerbenchError(f"could not encode {path}")
    write_atomic(path, lambda f: f.write(data.tobytes()), binary=True)


def _explained(pipeline, image, faces, method: str) -> np.ndarray:
    """The photo with each face's explanation map (for its label) laid over it."""
    from benchmark.inference import explain

    return explain.overlay(image.rgb, explain.photo_map(method, pipeline.model, faces, image.gray.shape))


def _video(pipeline, target: Target, out: Path, options: dict) -> dict:
    from benchmark.inference.video import predict_video

    return predict_video(
        pipeline,
        target.source,
        out / target.relative.parent,
        every=options["every"],
        smooth=options["smooth"],
        max_frames=options["max_frames"],
        backend=options["backend"],
    )


def _summary(rows: list[dict], out: Path) -> None:
    from tabulate import tabulate

    if not rows:
        return
    table = [[r["file"], r["faces"], r["labels"] or ("" if r["error"] else "—"), r["error"]] for r in rows]
    print(tabulate(table, headers=["file", "faces", "labels", "error"], tablefmt="github"))
    if len(rows) > 1:

        def dump(f):
            writer = csv.DictWriter(f, fieldnames=["file", "faces", "labels", "error"])
            writer.writeheader()
            writer.writerows(rows)

        write_atomic(out / "summary.csv", dump)
    n_bad = sum(1 for r in rows if r["error"])
    print(f"{len(rows) - n_bad} of {len(rows)} done, {n_bad} could not be read; outputs in {out}/")


if __name__ == "__main__":
    sys.exit(main())
