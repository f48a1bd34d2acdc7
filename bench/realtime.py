"""Real-time video speed of ferbench (benchmark.inference.video) against the `fer` package on the same
frames, and both systems' accuracy on the JAFFE photos, so that speed is never bought with accuracy
unseen.

    python bench/realtime.py                                   # about 4-5 minutes
    python bench/realtime.py --quick                           # a smoke run, under a minute
    FERBENCH_DATA=/path/to/data python bench/realtime.py --fer-python /path/to/fer-venv/bin/python

The video: `--frames` (300) 640x480 frames of the public-domain astronaut photo
(skimage.data.astronaut; her face is ~95 pixels) moving slowly over a static scene (`--background`:
photo, the public-domain skimage.data.rocket; noise, a blurred random texture; plain grey), written
as mp4v to a temporary folder; both systems decode that same file.

Ours, per configuration: decoding (`video.frames`), `StreamPredictor` (detection every `every`
frames on a copy no larger than `detect side`, tracking, cropping, classifying) and drawing
(`annotate.draw`), optionally writing the annotated video (H.264, as predict writes it); the last row is
`predict_video` itself (annotated mp4 and CSV). Each configuration is warmed up on 10 frames, then timed over the whole
video `--repeats` times, and the median FPS kept; every configuration but the headline stops once
12 s are spent (the last pass cut short). The headline (the default real-time setting) is timed before and
after fer, which brackets fer's run in time on a machine whose load changes. "CPU ms/frame" is the
process's CPU time (all its threads) per frame and "1000 / CPU ms" the frame rate it would reach
with one core to itself: on a loaded machine (the load average is printed) the steadier measure.
"face found" is the share of frames with a box overlapping the pasted face (IoU >= 0.3).

fer (pip `fer`, MIT: OpenCV's Haar cascade on every full frame and its shipped quantized
mini-Xception) pins torch 2.2 and the non-headless OpenCV, which clash with ferbench's, so it runs
in its own virtual environment through bench/fer_side.py (which imports only fer, cv2 and numpy):

    python3 -m venv .fer-venv && .fer-venv/bin/pip install fer

Without it (`--fer-python`, default .fer-venv/bin/python) the fer part is skipped with that hint.

JAFFE (when FERBENCH_DATA has jaffe/): the 213 images as photos, full size, each system with its
own detector: ours `FacePipeline` with the shipped model at the headline's test-time augmentation
(and, for reference, none and the checkpoints' default, affine), fer `detect_emotions`; the largest face of an image is
its answer, an image without a face counts as wrong; labels from the file names. No image or crop
is written anywhere. Timings depend on the machine and its load (printed); compare within one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from tabulate import tabulate

# Run as a script, this file's folder comes first on sys.path; the repository root is put there
# instead, so that this checkout's packages are imported.
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from benchmark.inference.annotate import draw  # noqa: E402
from benchmark.inference.models import load_model  # noqa: E402
from benchmark.inference.pipeline import FacePipeline  # noqa: E402
from benchmark.inference.video import (  # noqa: E402
    VIDEO_DETECT_SIDE,
    StreamPredictor,
    frames,
    iou_matrix,
    predict_video,
    stream_model,
)
from benchmark.inference.video_io import AnnotatedVideoWriter  # noqa: E402

WIDTH, HEIGHT = 640, 480
FPS = 30.0
#: frames of one back-and-forth of the face, whatever the video's length
PERIOD = 300
#: the astronaut's head as pasted, and her face's box inside it (Haar, measured on the photo)
HEAD = (slice(10, 250), slice(130, 360))
FACE_IN_HEAD = (47, 56, 95, 95)
#: the default real-time setting of `predict_video` / StreamPredictor, with the TTA we recommend
HEADLINE = {"every": 5, "detect_side": VIDEO_DETECT_SIDE, "backend": "onnx", "threads": 1, "tta": "flip"}
TARGET_FPS, TARGET_RATIO = 30.0, 2.0
JAFFE_CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
#: seconds of timed passes for each configuration but the headline (which always gets `--repeats`)
BUDGET_S = 12.0


# -- the video ---------------------------------------------------------------------------------------
def head_position(i: int) -> tuple[int, int]:
    """Top-left corner of the pasted head in frame i: across and back every PERIOD frames (at most
    ~3.5 px a frame), bobbing up and down."""
    phase = 2 * np.pi * i / PERIOD
    return int(round(40 + 330 * (0.5 - 0.5 * np.cos(phase)))), int(round(100 + 60 * np.sin(phase)))


def background_image(kind: str) -> np.ndarray:
    """The static scene behind the face (H, W, 3) uint8: photo, the public-domain launch photo of
    skimage.data.rocket (a real scene: sky, smoke, structures) scaled to cover the frame; noise, a
    blurred random texture (std 25 grey levels); plain, uniform grey. The Haar cascades' cost
    depends on the scene (their early stages pass more windows on texture), so it is a choice."""
    if kind == "plain":
        return np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
    if kind == "photo":
        rocket = skimage.data.rocket()
        scale = max(HEIGHT / rocket.shape[0], WIDTH / rocket.shape[1])
        rocket = cv2.resize(rocket, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        top, left = (rocket.shape[0] - HEIGHT) // 2, (rocket.shape[1] - WIDTH) // 2
        return np.ascontiguousarray(rocket[top : top + HEIGHT, left : left + WIDTH])
    base = cv2.GaussianBlur(np.random.default_rng(0).random((HEIGHT, WIDTH, 3), np.float32), (0, 0), 8)
    return np.clip((base - base.mean()) * (25 / base.std()) + 110, 0, 255).astype(np.uint8)


def make_video(path: Path, n: int, background: str) -> np.ndarray:
    """Write the n-frame test video; return the true face box (x, y, w, h) of each frame, (n, 4)."""
    base = background_image(background)
    head = skimage.data.astronaut()[HEAD]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    truth = np.zeros((n, 4))
    for i in range(n):
        x, y = head_position(i)
        rgb = base.copy()
        rgb[y : y + head.shape[0], x : x + head.shape[1]] = head
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        truth[i] = (x + FACE_IN_HEAD[0], y + FACE_IN_HEAD[1], FACE_IN_HEAD[2], FACE_IN_HEAD[3])
    writer.release()
    return truth


def found_share(per_frame: list, truth: np.ndarray) -> float:
    """Share of frames with a box (per_frame[i]: [(box, label), ...]) overlapping the true face."""
    hits = [
        bool(faces) and iou_matrix([b for b, _ in faces], truth[i : i + 1]).max() >= 0.3
        for i, faces in enumerate(per_frame)
    ]
    return float(np.mean(hits))


def labels_of(per_frame: list) -> list[str | None]:
    """The label of the first face of each frame, None for a frame without one."""
    return [faces[0][1] if faces else None for faces in per_frame]


# -- ours ----------------------------------------------------------------------------------------------
def our_pass(
    stream: StreamPredictor, path: Path, write_to: Path | None, stop_after: float = float("inf")
) -> tuple[float, float, list]:
    """(wall s, CPU s, [(box, label), ...] per frame) of one pass: decode, stream, draw (, write);
    cut short after `stop_after` seconds (and at least 30 frames) for a slow configuration."""
    stream.reset()
    writer, per_frame = None, []
    wall, cpu = time.perf_counter(), time.process_time()
    for _, time_s, rgb in frames(path):
        faces = stream(rgb)
        annotated = draw(rgb, [f for _, f in faces], [i for i, _ in faces])
        if write_to is not None:  # as predict writes it: H.264 through PyAV, checked when closed
            if writer is None:
                writer = AnnotatedVideoWriter(write_to, FPS, annotated.shape)
            writer.write(annotated, time_s)
        per_frame.append([(f.box, f.label) for _, f in faces])
        if len(per_frame) >= 30 and time.perf_counter() - wall > stop_after:
            break
    if writer is not None:
        writer.close()
    return time.perf_counter() - wall, time.process_time() - cpu, per_frame


def measure(
    stream: StreamPredictor, path: Path, repeats: int, write_to: Path | None = None, budget_s: float = float("inf")
) -> dict:
    """FPS of up to `repeats` passes (fewer, the last one cut short, once `budget_s` is spent) after a
    10-frame warm-up, CPU ms per frame (median), and the faces of the last pass."""
    stream.reset()
    for _, _, rgb in frames(path, max_frames=10):
        stream(rgb)
    fps, cpus, per_frame, spent = [], [], [], 0.0
    while len(fps) < repeats and spent < budget_s:
        wall, cpu, per_frame = our_pass(stream, path, write_to, budget_s - spent)
        spent += wall
        fps.append(len(per_frame) / wall)
        cpus.append(1000 * cpu / len(per_frame))
    return {"fps": fps, "cpu_ms": statistics.median(cpus), "per_frame": per_frame}


def configurations(quick: bool) -> list[tuple[str, dict]]:
    """(name, changes to HEADLINE) of the configurations timed; the first is the headline."""
    other_tta = "none" if HEADLINE["tta"] != "none" else "flip"
    rows = [("headline", {}), ("detect every frame", {"every": 1}), ("torch (bf16, 1 thread)", {"backend": "torch"})]
    if quick:
        return rows
    return rows + [
        (f"tta {other_tta}", {"tta": other_tta}),
        ("torch, threads = cores", {"backend": "torch", "threads": None}),
        ("onnx, threads = cores", {"threads": None}),
        ("detect on the full frame", {"detect_side": None}),
        ("every 10", {"every": 10}),
        ("+ write annotated video", {"write": True}),
    ]


def run_ours(pipeline: FacePipeline, path: Path, args, out_dir: Path) -> tuple[list, dict]:
    """Time every configuration; returns table rows and the headline's measurement."""
    rows, headline = [], None
    for name, changes in configurations(args.quick):
        cfg = {**HEADLINE, **changes}
        stream = StreamPredictor(
            pipeline,
            cfg["every"],
            backend=cfg["backend"],
            detect_side=cfg["detect_side"],
            threads=cfg["threads"],
            tta=cfg["tta"],
        )
        result = measure(
            stream,
            path,
            args.repeats,
            out_dir / "ours.mp4" if cfg.get("write") else None,
            float("inf") if headline is None else BUDGET_S,
        )
        if headline is None:
            headline = {**result, "stream": stream}
        rows.append(
            [
                name,
                cfg["every"],
                cfg["detect_side"] or pipeline.detect_side,
                f"{cfg['backend']} x{cfg['threads'] or os.cpu_count()}",
                cfg["tta"],
                result,
            ]
        )
        print(f"  measured: {name} ({statistics.median(result['fps']):.1f} FPS)", file=sys.stderr, flush=True)
    # the product path: predict_video writes the CSV and the annotated mp4 (its own timer, model export excluded)
    fps = []
    for _ in range(1 if args.quick else 2):
        summary = predict_video(
            pipeline,
            path,
            out_dir,
            every=HEADLINE["every"],
            backend=HEADLINE["backend"],
            detect_side=HEADLINE["detect_side"],
            tta=HEADLINE["tta"],
            progress=False,
        )
        fps.append(summary["fps"])
    per_frame = [[] for _ in range(summary["frames"])]
    with open(summary["csv"]) as f:
        next(f)
        for line in f:
            cells = line.rstrip("\n").split(",")
            if cells[2]:
                per_frame[int(cells[0])].append((tuple(map(float, cells[3:7])), cells[7]))
    rows.append(
        [
            "predict_video (CSV + mp4)",
            HEADLINE["every"],
            HEADLINE["detect_side"],
            f"{summary['backend']} x1",
            HEADLINE["tta"],
            {"fps": fps, "cpu_ms": None, "per_frame": per_frame},
        ]
    )
    return rows, headline


def format_rows(rows: list, truth: np.ndarray, headline_fps: float) -> list:
    out = []
    for name, every, side, backend, tta, result in rows:
        fps = statistics.median(result["fps"])
        cpu = result["cpu_ms"]
        out.append(
            [
                name,
                every,
                side,
                backend,
                tta,
                f"{fps:.1f}",
                f"{1000 / fps:.1f}",
                "-" if cpu is None else f"{cpu:.1f}",
                "-" if cpu is None else f"{1000 / cpu:.0f}",
                f"{100 * found_share(result['per_frame'], truth):.0f}",
                f"{fps / headline_fps:.2f}x",
                len(result["fps"]),
            ]
        )
    return out


# -- fer -----------------------------------------------------------------------------------------------
def run_fer(fer_python: Path, mode: str, path: Path, repeats: int) -> dict | None:
    """fer_side.py's JSON, or None (with the reason printed) when it fails."""
    command = [str(fer_python), str(HERE / "fer_side.py"), mode, str(path), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        print(f"fer: {' '.join(command)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- JAFFE ---------------------------------------------------------------------------------------------
def jaffe_files(quick: bool) -> list[Path]:
    root = Path(os.environ.get("FERBENCH_DATA", "data")) / "jaffe"
    files = sorted(
        p
        for p in list(root.glob("*.tif*")) + list(root.glob("jaffe/*.tif*"))
        if re.fullmatch(r"[A-Z]{2}\.[A-Z]{2}\d+\.\d+\.tiff?", p.name)
    )
    return files[::7] if quick else files


def jaffe_label(path: Path) -> str:
    return JAFFE_CODES[path.name.split(".")[1][:2]]


def run_jaffe_ours(pipeline: FacePipeline, files: list[Path]) -> dict:
    """Our answers on the photos: detection once (the models share the face stage), then the crops
    classified at the headline's test-time augmentation, without any, and with the default (affine)."""
    from core.images import read_image

    crops, found = [], []
    for path in files:
        faces = pipeline.faces(read_image(path))
        found.append(bool(faces))
        if faces:
            crops.append(max(faces, key=lambda f: f.box[2] * f.box[3]).crop)
    out = {}
    logging.getLogger("benchmark.inference.video").setLevel(logging.ERROR)  # affine's "too slow for real time"
    for tta in dict.fromkeys([HEADLINE["tta"], "none", "affine"]):
        model = stream_model(pipeline.model, HEADLINE["backend"], threads=1, tta=tta)
        labels = iter(np.asarray(model.classes)[model.predict_proba(np.stack(crops)).argmax(1)] if crops else [])
        out[f"ferbench, tta {tta}" + (" (headline)" if tta == HEADLINE["tta"] else "")] = [
            next(labels) if hit else None for hit in found
        ]
    return out


def jaffe_rows(answers: dict, files: list[Path]) -> list:
    truth = [jaffe_label(p) for p in files]
    rows = []
    for system, labels in answers.items():
        detected = [a is not None for a in labels]
        right = [a == t for a, t in zip(labels, truth)]
        n_det = sum(detected)
        rows.append(
            [
                system,
                f"{n_det}/{len(files)} ({100 * n_det / len(files):.1f}%)",
                f"{100 * np.mean(right):.1f}",
                f"{100 * sum(right) / n_det:.1f}" if n_det else "-",
            ]
        )
    return rows


# -- main ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=None, help="frames of the test video (default 300; quick 60)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per configuration (default 3; quick 1)")
    parser.add_argument(
        "--background",
        choices=["photo", "noise", "plain"],
        default="photo",
        help="the scene behind the face (see background_image)",
    )
    parser.add_argument(
        "--fer-python",
        type=Path,
        default=REPO / ".fer-venv" / "bin" / "python",
        help="python of a virtual environment with fer installed (default .fer-venv/bin/python)",
    )
    parser.add_argument("--no-jaffe", action="store_true", help="skip the accuracy check on JAFFE")
    parser.add_argument("--quick", action="store_true", help="fewer frames, configurations and repeats")
    args = parser.parse_args(argv)
    n = args.frames or (60 if args.quick else 300)
    args.repeats = args.repeats or (1 if args.quick else 3)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    fer_python = args.fer_python if args.fer_python.is_absolute() else Path.cwd() / args.fer_python
    have_fer = fer_python.is_file()

    pipeline = FacePipeline(load_model(None, tta="none"))
    failed = False
    with tempfile.TemporaryDirectory(prefix="ferbench-realtime-") as tmp:
        tmp = Path(tmp)
        path = tmp / "astronaut.mp4"
        truth = make_video(path, n, args.background)
        rows, headline = run_ours(pipeline, path, args, tmp)
        fer = run_fer(fer_python, "video", path, args.repeats) if have_fer else None
        failed |= have_fer and fer is None
        if fer is not None:  # the headline again, after fer: the two brackets fer's run
            after = measure(headline["stream"], path, args.repeats)
            rows[0][-1]["fps"] += after["fps"]

        headline_fps = statistics.median(rows[0][-1]["fps"])
        print(
            f"\nferbench real time: {n} frames {WIDTH}x{HEIGHT} ({args.background} background), the astronaut's "
            f"face (~95 px) moving ~2 px a frame; median of the timed passes"
        )
        print(
            tabulate(
                format_rows(rows, truth, headline_fps),
                headers=[
                    "configuration",
                    "every",
                    "detect side",
                    "classifier x threads",
                    "tta",
                    "FPS",
                    "ms/frame",
                    "CPU ms/frame",
                    "1000 / CPU ms",
                    "face found %",
                    "vs headline",
                    "passes",
                ],
                tablefmt="github",
            )
        )
        before = rows[0][-1]["fps"][: args.repeats]
        print(
            f"headline passes (FPS): before fer {', '.join(f'{v:.1f}' for v in before)}"
            + (f"; after fer {', '.join(f'{v:.1f}' for v in after['fps'])}" if fer is not None else "")
        )

        if fer is not None:
            fer_fps = statistics.median(fer["fps"])
            ours_labels, fer_labels = labels_of(headline["per_frame"]), [f[0][1] if f else None for f in fer["frames"]]
            fer_per_frame = [[(tuple(b), label) for b, label, _ in f] for f in fer["frames"]]
            both = [(a, b) for a, b in zip(ours_labels, fer_labels) if a and b]
            print(
                f"\nfer {fer['fer_version']} (Haar on every full frame, quantized mini-Xception; OpenCV "
                f"{fer['opencv']}): {fer_fps:.1f} FPS ({', '.join(f'{v:.1f}' for v in fer['fps'])}), "
                f"{1000 / fer_fps:.1f} ms/frame, CPU {statistics.median(fer['cpu_ms_per_frame']):.1f} ms/frame, "
                f"face found {100 * found_share(fer_per_frame, truth):.0f}%; start-up {fer['startup_s']:.1f} s "
                "(not timed)"
            )
            print(
                f"labels, headline vs fer, on the {len(both)} frames where both found a face: same on "
                f"{sum(a == b for a, b in both)}; ours {summary_labels(ours_labels)}; "
                f"fer {summary_labels(fer_labels)}"
            )
            ratio = headline_fps / fer_fps
            cpu_ratio = statistics.median(fer["cpu_ms_per_frame"]) / headline["cpu_ms"]
            print(f"\nheadline / fer: {ratio:.2f}x the FPS; fer / headline: {cpu_ratio:.2f}x the CPU time per frame")
            print(
                f"target >= {TARGET_FPS:.0f} FPS: {'met' if headline_fps >= TARGET_FPS else 'NOT met'} "
                f"({headline_fps:.1f}); target >= {TARGET_RATIO:.0f}x fer: "
                f"{'met' if ratio >= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)"
            )
        else:
            print(
                f"\ntarget >= {TARGET_FPS:.0f} FPS: {'met' if headline_fps >= TARGET_FPS else 'NOT met'} "
                f"({headline_fps:.1f}); fer not measured"
            )
            if not have_fer:
                print(
                    f"fer: skipped, no python at {fer_python}. Create its environment (fer pins torch 2.2 and the "
                    "non-headless OpenCV, so it cannot share ferbench's):\n"
                    "    python3 -m venv .fer-venv && .fer-venv/bin/pip install fer\n"
                    "or pass --fer-python PATH to the python of an environment where fer is installed."
                )

        if not args.no_jaffe:
            files = jaffe_files(args.quick)
            if not files:
                print(
                    "\nJAFFE: skipped, no jaffe/ under FERBENCH_DATA "
                    f"({Path(os.environ.get('FERBENCH_DATA', 'data')).resolve()})"
                )
            else:
                answers = run_jaffe_ours(pipeline, files)
                if have_fer:
                    listing = tmp / "jaffe.txt"  # the paths only; no image is copied anywhere
                    listing.write_text("\n".join(str(p) for p in files))
                    fer_jaffe = run_fer(fer_python, "images", listing, 1)
                    failed |= fer_jaffe is None
                    if fer_jaffe is not None:
                        answers["fer (Haar, mini-Xception)"] = [
                            (fer_jaffe["images"][p.name] or {}).get("label") for p in files
                        ]
                print(
                    f"\nJAFFE{' (every 7th image)' if args.quick else ''}: {len(files)} photos, each system's own "
                    "detector on the full image; no face = wrong"
                )
                print(
                    tabulate(
                        jaffe_rows(answers, files),
                        headers=["system", "face found", "accuracy % (all)", "accuracy % (found)"],
                        tablefmt="github",
                    )
                )
    import onnxruntime
    import torch

    print(
        f"\n{os.cpu_count()} CPUs, load average {load:.1f} before the run and {os.getloadavg()[0]:.1f} after; "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, OpenCV {cv2.__version__}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if failed else 0


def summary_labels(labels: list) -> str:
    """The labels' counts, most common first, e.g. 'happy 290, neutral 10'."""
    counts: dict = {}
    for label in labels:
        if label:
            counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


if __name__ == "__main__":
    sys.exit(main())
