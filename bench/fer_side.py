"""The `fer` package's side of bench/realtime.py, run by that script in fer's own virtual environment
(fer pins torch 2.2 and the non-headless OpenCV, which clash with ferbench's): it imports only
fer, cv2, numpy and the standard library, and prints one JSON object on its last line of stdout.

    .fer-venv/bin/python bench/fer_side.py video FILE [--repeats 3] [--warmup 10]
    .fer-venv/bin/python bench/fer_side.py images LIST     # LIST: a text file, one image path a line

fer is used as its README shows: `FER(mtcnn=False)` (OpenCV's haarcascade_frontalface_default,
scale 1.1, min_neighbors 5, min_face_size 50; its quantized TFLite mini-Xception, fer's default) and
`detect_emotions(bgr_frame)` on every frame. In fer 25.10.3 `from fer import FER` fails; the class is
imported from `fer.fer`.

video: each repeat decodes FILE with OpenCV and runs detect_emotions on every frame, drawing each
face's box and top label (as ferbench draws its own); the first `warmup` frames are run before any
timing, and importing TensorFlow (~4 s) is excluded. Output: fps (one per repeat), cpu_ms_per_frame,
and per frame the faces found ([x, y, w, h], label, probability) of the first repeat.
images: for each image (cv2.imread, BGR) the largest face's label and box, or null when none is found.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter goes to stderr anyway
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU measurement, like ferbench's

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def load_fer():
    import warnings

    warnings.filterwarnings("ignore")
    try:
        from fer.fer import FER
    except ImportError:  # older releases export it from the package
        from fer import FER
    return FER(mtcnn=False)


def top(face: dict) -> tuple[str, float]:
    label = max(face["emotions"], key=face["emotions"].get)
    return label, float(face["emotions"][label])


def run_video(detector, path: str, record: bool) -> tuple[float, float, list]:
    """(seconds, CPU seconds, per-frame faces if `record`) of one pass over the video."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise SystemExit(f"fer_side: cannot open {path}")
    frames = []
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        faces = detector.detect_emotions(bgr)
        for face in faces:
            x, y, w, h = (int(v) for v in face["box"])
            label, p = top(face)
            cv2.rectangle(bgr, (x, y), (x + w, y + h), (0, 191, 255), 2)
            cv2.putText(
                bgr,
                f"{label} {100 * p:.0f}%",
                (x, max(0, y - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6,
                (0, 191, 255),
                2,
                cv2.LINE_AA,
            )
        if record:
            frames.append([[[int(v) for v in f["box"]], *top(f)] for f in faces])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    capture.release()
    return wall, cpu, frames


def video(args) -> dict:
    t0 = time.perf_counter()
    detector = load_fer()
    startup = time.perf_counter() - t0
    capture = cv2.VideoCapture(args.path)
    for _ in range(args.warmup):
        ok, bgr = capture.read()
        if not ok:
            break
        detector.detect_emotions(bgr)
    capture.release()
    fps, cpu_ms, per_frame = [], [], None
    for r in range(args.repeats):
        wall, cpu, frames = run_video(detector, args.path, record=r == 0)
        per_frame = per_frame if r else frames
        fps.append(len(per_frame) / wall)
        cpu_ms.append(1000 * cpu / len(per_frame))
    return {"fps": fps, "cpu_ms_per_frame": cpu_ms, "startup_s": startup, "frames": per_frame}


def images(args) -> dict:
    detector = load_fer()
    with open(args.path) as f:
        paths = [line.strip() for line in f if line.strip()]
    out = {}
    for path in paths:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"fer_side: cannot read {path}")
        faces = detector.detect_emotions(bgr)
        if faces:
            face = max(faces, key=lambda f: int(f["box"][2]) * int(f["box"][3]))
            out[os.path.basename(path)] = {"label": top(face)[0], "box": [int(v) for v in face["box"]]}
        else:
            out[os.path.basename(path)] = None
    return {"images": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["video", "images"])
    parser.add_argument("path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    result = video(args) if args.mode == "video" else images(args)
    import fer

    result["fer_version"] = getattr(fer, "__version__", "?")
    result["opencv"], result["numpy"] = cv2.__version__, np.__version__
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
