"""`ferbench predict PATH... [key=value ...]` (or `python -m benchmark.predict`): recognise the expression
of every face in photos, folders of photos, video files or a camera.

For each image: `<out>/<name>.annotated.jpg` with every face boxed and labelled, and `<out>/<name>.json` (the
model, every face's box, eyes, alignment, label and probabilities, timings), where <name> is the file's
whole name, suffix kept (photo.jpg: photo.jpg.json, photo.jpg.annotated.jpg; photo.png beside it gets its
own); for a folder (searched recursively) the same per image, keeping the folder structure, and a summary
table (`summary.csv`, also printed). For a video file or a camera (`camera:0`, or an index such as `0`
when no such file exists): `<out>/<name>.annotated.mp4` and `<out>/<name>.csv` (camera0.csv for a camera),
one row per face and frame (a frame without a face keeps one row, so the CSV stays aligned with time).

Every input gets its own outputs: they keep each input's place below the deepest folder that holds all
inputs given (a/photo.jpg and b/photo.jpg: <out>/a/photo.jpg.json and <out>/b/photo.jpg.json; a folder
given alone: the structure of its content); a file given twice is predicted once, and two names that
would still share outputs (Photo.jpg and photo.jpg, which not every file system tells apart) get `~2`
added and are reported. The output folder (and any folder holding .ferbench-predictions, which predict
writes in the output folders it makes) is never read as input: `predict .` skips its own predictions/
and says so. Outputs of an earlier run are not replaced unless overwrite=true: the run stops before
reading any image and names them. The output folder is checked (writable, space free) before the
model is loaded, every file is written under a temporary name and renamed when complete, and
temporaries left by killed runs are removed. File names that are not valid UTF-8 are processed, and
shown with \\x escapes.

Images are read in any common format and mode (RGBA, palette, 16-bit, CMYK, ...), upright as their
EXIF orientation says; an image that cannot be read is reported and counted, never a traceback.
The options are `OPTIONS`; `ferbench predict --help` lists them with their defaults.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import cli
from benchmark.cli import Option
from core.errors import ConfigError, FerbenchError, OutputError
from core.images import IMAGE_SUFFIXES, ImageError, read_image
from core.io import MIN_FREE_BYTES, check_writable, display_name, remove_stale_temporaries, write_atomic

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
OPTIONS = (
    Option("model", None, "a .pt / .onnx / .skops model or a run record (record.json[:fold]); null: the shipped model"),
    Option(
        "detector",
        None,
        "another detector than the model's own face stage (none: each image is one face crop, classified whole)",
        "choice",
        ("haar", "mtcnn", "none"),
    ),
    Option(
        "min_face",
        None,
        "the smallest face to find, its width in pixels of the photo (null: the pipeline's default; smaller is slower)",
        "int",
        low=1,
    ),
    Option("margin", None, "the crop's margin, a fraction of the face's side (null: the model's)", "float", low=0),
    Option(
        "tta",
        "flip",
        "a CNN's test-time views (affine: the benchmark's 18 views, 9x slower)",
        "choice",
        ("none", "flip", "affine"),
    ),
    Option("out", "predictions", "output folder (never read as input, also when it lies inside an input folder)"),
    Option(
        "overwrite",
        False,
        "replace outputs an earlier run left in out (false: stop before any work and name them)",
        "flag",
    ),
    Option(
        "explain",
        None,
        "also write <name>.<method>.jpg: what the model looked at, for each face's label (images only)",
        "choice",
        ("occlusion", "lime", "gradcam"),  # explain.EXPLAINERS' order, the faithful first (not imported for --help)
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
    "ferbench predict photo.jpg                      # predictions/photo.jpg.annotated.jpg and photo.jpg.json",
    "ferbench predict holidays/ out=faces/           # every image below holidays/, and faces/summary.csv",
    "ferbench predict . overwrite=true               # this folder again (not predictions/), replacing outputs",
    "ferbench predict clip.mp4 smooth=0.6            # predictions/clip.mp4.annotated.mp4 and clip.mp4.csv",
    "ferbench predict camera:0 max_frames=900        # camera 0, 900 frames or Ctrl-C",
)


#: the file predict writes in an output folder it makes: a folder holding it is never read as input
MARKER = ".ferbench-predictions"
SUMMARY = "summary.csv"


@dataclass
class Target:
    """One thing to predict on: an image or video file, or a camera index; `relative`: the input's
    path below the output folder, its whole name kept (its outputs are `<relative>.json`, ...)."""

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


def targets(paths: list[str], out: str | os.PathLike | None = None) -> tuple[list[Target], list[str]]:
    """The images and videos of `paths` (folders searched recursively, in sorted order; hidden files
    skipped), and cameras, each with its own place below the output folder `out`; and notes (text to
    show) on what was left out or renamed: the output folder and any other folder holding `MARKER`
    (counted, never read), folders that could not be listed, a file given twice (predicted once), and
    names that would share outputs (renamed with `~2`, `~3`, ...).

    A target's `relative` is its path below the deepest folder holding every input given (`predict
    holidays/`: 2019/beach.jpg; `predict a/ b/`: a/..., b/...; `predict x/photo.jpg y/photo.jpg`:
    x/photo.jpg, y/photo.jpg). Raises FerbenchError for a path that does not exist, a file given by
    name that is neither an image nor a video, or nothing to predict on; OutputError for an `out` that
    would put outputs among the files of an input folder (to be read as inputs by the next run)."""
    out_real = None if out is None else Path(os.path.realpath(out))
    found: list[tuple[Path, Path]] = []  # (file, the input given that holds it)
    cameras, notes, roots = [], [], []
    for text in paths:
        path = Path(text)
        if text.startswith("camera:") or (text.isdigit() and not path.exists()):
            from benchmark.inference.video_io import camera_index

            index = camera_index(text)  # DataError for an index OpenCV must not see (-1 crashes it)
            cameras.append(Target("camera", index, Path(f"camera{index}")))
        elif path.is_dir():
            roots.append(Path(os.path.realpath(path)))
            found += [(f, path) for f in _walk(path, out_real, notes)]
        elif path.is_file():
            if _kind(path) is None:
                raise FerbenchError(
                    f"{display_name(path)}: not an image or video file this command reads "
                    f"({display_name(path.suffix) or 'no suffix'}); give images or videos, or a folder of them"
                )
            found.append((path, path))
        else:
            raise FerbenchError(f"{display_name(path)}: no such file or folder")
    unique, seen = [], set()
    for path, given in found:
        real = os.path.normcase(os.path.realpath(path))
        if real in seen:
            notes.append(f"{display_name(path)} was given twice (or through a link); it is predicted once")
            continue
        seen.add(real)
        unique.append((path, given))
    if not unique and not cameras:
        raise FerbenchError(
            f"no image or video files in {', '.join(map(display_name, paths))}"
            + (" (see the notes above)" if notes else "")
        )
    files = [Target(_kind(path), str(path), relative) for (path, _), relative in zip(unique, _places(unique))]
    chosen = _unique_places(files + cameras, notes)
    if out_real is not None:
        _check_not_among_inputs(chosen, out_real, roots)
    return chosen, notes


def _walk(folder: Path, out_real: Path | None, notes: list[str]) -> list[Path]:
    """The image and video files below `folder`, sorted, without hidden files, `out_real` and the
    folders that hold `MARKER` (each skipped folder noted with the number of files it holds)."""
    files = []

    def unreadable(exc: OSError) -> None:
        notes.append(
            f"{display_name(exc.filename)} could not be listed ({exc.strerror}); its files were skipped: "
            "make it readable to include them"
        )

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = here / name
            if (out_real is not None and Path(os.path.realpath(sub)) == out_real) or (sub / MARKER).exists():
                n = sum(1 for _, _, names in os.walk(sub) for f in names if _kind(Path(f)) and not f.startswith("."))
                notes.append(
                    f"skipped {display_name(sub)} ({n} image/video files): predict's output folder, never read as input"
                )
            else:
                keep.append(name)
        dirnames[:] = keep
        files += [here / n for n in sorted(filenames) if not n.startswith(".") and _kind(Path(n))]
    return files


def _places(found: list[tuple[Path, Path]]) -> list[Path]:
    """Each file's path below the deepest folder that holds every input given (a folder given, or the
    folder of a file given): the inputs' folder structure, with no two inputs' files in one place."""
    absolute = [Path(os.path.abspath(path)) for path, _ in found]
    tops = [
        Path(os.path.abspath(given)) if given.is_dir() else Path(os.path.abspath(given)).parent for _, given in found
    ]
    try:
        common = Path(os.path.commonpath(tops)) if tops else None
    except ValueError:  # Windows: inputs on different drives; `_unique_places` parts what still collides
        common = None
    return [path.relative_to(top if common is None else common) for path, top in zip(absolute, tops)]


def _unique_places(found: list[Target], notes: list[str]) -> list[Target]:
    """`found` with every `relative` unique, also where a file system does not tell case apart: a
    later one gets `~2` (`~3`, ...) before its suffix, noted."""
    taken: dict[str, Target] = {}
    for target in found:
        relative, n = target.relative, 1
        while relative.as_posix().casefold() in taken:
            n += 1
            relative = target.relative.with_name(f"{target.relative.stem}~{n}{target.relative.suffix}")
        if n > 1:
            first = taken[target.relative.as_posix().casefold()]
            notes.append(
                f"{display_name(str(target.source))} and {display_name(str(first.source))} would share their "
                f"outputs; those of {display_name(str(target.source))} are named {display_name(relative)}.*"
            )
            target.relative = relative
        taken[relative.as_posix().casefold()] = target
    return found


def _check_not_among_inputs(found: list[Target], out_real: Path, roots: list[Path]) -> None:
    """Refuse an output folder that would put outputs among an input folder's files (the input folder
    is the output folder or inside it); one inside an input folder is fine: it is skipped when reading."""
    for root in roots:
        if root.is_relative_to(out_real) and any(
            (out_real / t.relative).is_relative_to(root) for t in found if t.kind != "camera"
        ):
            raise OutputError(
                f"out={display_name(out_real)} would put outputs among the files of the input folder "
                f"{display_name(root)}, to be read as inputs next time; give an out= folder outside it, "
                f"or inside it (e.g. out={display_name(root / 'predictions')})"
            )


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def outputs(target: Target, out: Path, explain: str | None = None) -> list[Path]:
    """The files predict writes for `target` in the output folder `out`: an image's JSON, annotated
    image and (with `explain`) explanation; a video's or camera's CSV and annotated video."""
    if target.kind != "image":
        from benchmark.inference.video import output_paths

        return list(output_paths(out / target.relative.parent, target.relative.name))
    base = out / target.relative
    tails = [".json", ".annotated.jpg"] + ([f".{explain}.jpg"] if explain else [])
    return [base.with_name(base.name + tail) for tail in tails]


def _check_outputs(todo: list[Target], out: Path, options: dict) -> None:
    """Before any work: the output folder can be written and has free about the inputs' size again
    (their annotated copies) beyond MIN_FREE_BYTES, and, unless `overwrite`, no output of this run
    exists. Raises OutputError."""
    files = [t.source for t in todo if t.kind != "camera"]
    check_writable(out, MIN_FREE_BYTES + sum(os.path.getsize(f) for f in files), key="out")
    if options["overwrite"]:
        return
    planned = [p for t in todo for p in outputs(t, out, options["explain"])]
    planned += [out / SUMMARY] if len(todo) > 1 else []
    existing = [p for p in planned if os.path.lexists(p)]
    if existing:
        more = f" and {len(existing) - 1} more outputs of this run exist" if len(existing) > 1 else " exists"
        raise OutputError(
            f"{display_name(existing[0])}{more} already; give overwrite=true to replace them, or another out= folder"
        )


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.predict") -> int:
    """`ferbench predict`; the exit status: 0 all done, 1 an input could not be read or its outputs written,
    2 a bad option or path, or an output folder that cannot be written or holds this run's outputs
    already (without overwrite=true), found before any work."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _escape_unprintable(sys.stdout)
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
        out = Path(options["out"]).expanduser()
        todo, notes = targets(paths, out)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        _check_outputs(todo, out, options)
        pipeline = _pipeline(options)
    except (FerbenchError, ValueError) as exc:
        print(f"error: {display_name(str(exc))}", file=sys.stderr)
        return 2
    for folder in sorted({out} | {outputs(t, out)[0].parent for t in todo}):  # where this run writes, no more
        remove_stale_temporaries(folder)
    if not out.exists():  # a folder predict makes is marked as its own; one the user had is not
        write_atomic(out / MARKER, lambda f: f.write("ferbench predict's outputs: never read as its inputs\n"))
    images = [t for t in todo if t.kind == "image"]
    rows = predict_images(pipeline, images, out, options["explain"]) if images else []
    for target in (t for t in todo if t.kind != "image"):
        try:
            summary = _video(pipeline, target, out, options)
        except (FerbenchError, OSError) as exc:  # shown once, in the summary table
            rows.append(_row(target, out, error=str(exc), stage="video"))
            continue
        labels = f"{summary['frames']} frames at {summary['fps']} frames/s -> {summary['csv']}"
        damaged = summary["damaged_frames"]
        error = f"{damaged} damaged frames skipped, the other {summary['frames']} processed" if damaged else ""
        stage = "damaged" if damaged else ""  # processed: done, with a warning that sets the exit status
        rows.append(_row(target, out, faces=f"{summary['tracks']} tracked", labels=labels, error=error, stage=stage))
    return _summary(rows, out)


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
    return FacePipeline(model, stage, **({} if options["min_face"] is None else {"min_face": options["min_face"]}))


def predict_images(pipeline, images: list[Target], out: Path, explain: str | None = None) -> list[dict]:
    """Predict every image; write its `outputs` (<out>/<relative>.json, .annotated.jpg, ...); returns the
    summary rows (file, faces, labels, error, outputs) in the images' order. An image that cannot be
    read, or whose outputs cannot be written (a full disk), gets its error in its row and the others go
    on. The faces of up to BATCH images go through the model together."""
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
                rows[target.source] = _row(target, out, error=str(exc), stage="read")
                bar.update()
                continue
            decoded.append((target, image, pipeline.faces(image)))
        pipeline.classify([face for _, _, faces in decoded for face in faces])
        for target, image, faces in decoded:
            bar.update()
            json_path, annotated, *explained = outputs(target, out, explain)
            record = _result(pipeline, image, faces, target)
            try:
                write_atomic(json_path, lambda f, r=record: json.dump(r, f, indent=1))
                _write_jpeg(annotated, draw(image.rgb, faces, calibrated=pipeline.model.calibrated))
                if explained and faces:
                    _write_jpeg(explained[0], _explained(pipeline, image, faces, explain))
            except OSError as exc:
                rows[target.source] = _row(target, out, error=f"its outputs could not be written: {exc}", stage="write")
                continue
            rows[target.source] = _row(target, out, faces=len(faces), labels=" ".join(f.label for f in faces))
    bar.close()
    return [rows[t.source] for t in images]


BATCH = 32


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _result(pipeline, image, faces, target: Target) -> dict:
    return {
        "file": display_name(str(target.source)),
        "model": pipeline.model.name,
        "classes": pipeline.model.classes,
        "calibrated": pipeline.model.calibrated,
        "face_stage": pipeline.face_stage,
        "image": {"width": int(image.rgb.shape[1]), "height": int(image.rgb.shape[0])},
        "faces": [f.to_json(pipeline.model.classes, pipeline.model.calibrated) for f in faces],
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
        name=target.relative.name,
        every=options["every"],
        smooth=options["smooth"],
        max_frames=options["max_frames"],
        backend=options["backend"],
    )


def _row(target: Target, out: Path, faces="", labels: str = "", error: str = "", stage: str = "") -> dict:
    """A summary row, every text as `display_name` gives it (printable, writable as UTF-8); `stage`:
    where it failed (read, write, video), or "damaged" for a video processed with damaged frames skipped (done,
    with a warning), for the counts."""
    return {
        "file": f"camera:{target.source}" if target.kind == "camera" else display_name(str(target.source)),
        "faces": faces,
        "labels": display_name(labels),
        "error": display_name(error),
        "outputs": display_name(out / target.relative),
        "stage": stage,
    }


def _summary(rows: list[dict], out: Path) -> int:
    """Print the table of `rows` and the counts, and write <out>/summary.csv (file, faces, labels, error,
    outputs: where the input's outputs are, without their tails) for more than one input; a failure to
    write it is reported, and the printed table stays. Returns the exit status: 0 all done, 1 an input
    failed or the summary could not be written."""
    from tabulate import tabulate

    if not rows:
        return 0
    table = [[r["file"], r["faces"], r["labels"] or ("" if r["error"] else "—"), r["error"]] for r in rows]
    print(tabulate(table, headers=["file", "faces", "labels", "error"], tablefmt="github"))
    status = 1 if any(r["error"] for r in rows) else 0
    if len(rows) > 1:

        def dump(f):
            fields = ["file", "faces", "labels", "error", "outputs"]
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

        try:
            write_atomic(out / SUMMARY, dump)
        except OSError as exc:
            print(f"error: {display_name(out / SUMMARY)} could not be written ({exc.strerror or exc})", file=sys.stderr)
            status = 1
    said = {"read": "could not be read", "write": "could not be written", "video": "failed (see error)"}
    failed = {stage: sum(1 for r in rows if r["error"] and r["stage"] == stage) for stage in said}
    counts = ", ".join(f"{n} {said[stage]}" for stage, n in failed.items() if n or stage == "read")
    n_bad = sum(failed.values())
    n_damaged = sum(1 for r in rows if r["error"] and r["stage"] == "damaged")
    damaged = f" ({n_damaged} with damaged frames skipped)" if n_damaged else ""
    print(f"{len(rows) - n_bad} of {len(rows)} done{damaged}, {counts}; outputs in {display_name(out)}/")
    return status


def _escape_unprintable(stream) -> None:
    """Let `stream` (stdout) print any file name: what its encoding cannot hold is written as an escape
    instead of raising UnicodeEncodeError (a console or pipe in an encoding other than UTF-8)."""
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
