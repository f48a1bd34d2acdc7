"""Faces in videos and camera streams, classified in real time, with an id that follows each face.

Detection is the expensive stage and faces move little from one frame to the next, so a stream is
not a sequence of photos. Measured on a 640x480 frame on the 2-core machine of bench/realtime.py:
the Haar stage (face and eye cascades) takes 30-100 ms on the full frame and about half on a copy
whose longer side is 480 pixels, while one 48x48 crop costs ~3.5 ms through ONNX Runtime (the shipped
CNN, no test-time augmentation) against ~7 ms through torch with bf16 autocast and ~25 ms with
torch's default two threads on a busy machine. Hence:

- faces are detected every `every` frames only, on a copy no larger than `detect_side` (480 keeps
  the eyes of a 70-pixel face, which 400 loses, so crops stay eye-aligned);
- an IoU tracker links each detection to the face it continues (greedy, highest overlap first), so
  a face keeps its id and, between detections, is cut from the current frame at its last box and
  eyes with the detector's own crop geometry (`FaceDetector.crop`): the crops are framed, aligned
  and preprocessed as a photo's are; only the box and eyes are those of the last detection;
- all crops of a frame are classified in one batch, by ONNX Runtime on one thread when the model
  is a CNN (`backend="auto"`: the graph is exported on the fly; its probabilities match torch's to 1e-7),
  with the test-time augmentation chosen for the stream (`tta`: flip doubles the cost of a crop,
  the checkpoints' default, affine, multiplies it by 10: too slow for real time);
- optionally, each face's probabilities are an exponential moving average over its frames
  (`smooth`), which steadies a label that flickers between two close classes.

`predict_video` writes the annotated video and a CSV with one row per (frame, face), and one row
with empty face fields for a frame without a face, so the CSV lines up with the video's time.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmark.faces.base import Found
from benchmark.inference.annotate import draw
from benchmark.inference.models import FaceModel
from benchmark.inference.pipeline import Face, FacePipeline
from core import validation as check
from core.composites import Composite
from core.errors import ConfigError, DataError, FerbenchError
from core.io import write_atomic

log = logging.getLogger(__name__)

#: longer side (pixels) of the copy of a frame that faces are looked for on (see the module docstring)
VIDEO_DETECT_SIDE = 480
#: auto: ONNX Runtime for a CNN checkpoint, the model as loaded otherwise; onnx: ONNX Runtime or an
#: error; torch: the model as loaded (torch for a CNN checkpoint)
BACKENDS = ("auto", "onnx", "torch")
#: frame rate written into the annotated video of a camera that does not report its own
CAMERA_FPS = 30.0


# -- reading frames --------------------------------------------------------------------------------
class VideoSource:
    """An opened video file or camera (`open_video`): `name` (the file's stem, or camera<index>),
    `fps` (frames per second the stream declares, None when unknown), `frame_count` (None when
    unknown: cameras, some streams), `is_camera`. Iterate with `frames`; `close` releases it."""

    def __init__(self, capture: cv2.VideoCapture, name: str, is_camera: bool, first: np.ndarray):
        self.capture, self.name, self.is_camera = capture, name, is_camera
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else None
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if not is_camera and np.isfinite(count) and count > 0 else None
        self._first = first

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index from 0, time in seconds, (H, W, 3) uint8 RGB frame) up to the end of the stream or
        `max_frames`; the source is closed when the iteration ends. The time is index / fps for a
        file that declares its frame rate, the decoder's position otherwise, and for a camera the
        wall-clock time since its first frame."""
        start = time.monotonic()
        index = 0
        try:
            while max_frames is None or index < max_frames:
                if self._first is not None:
                    bgr, self._first = self._first, None
                else:
                    ok, bgr = self.capture.read()
                    if not ok:
                        break
                if self.is_camera:
                    time_s = time.monotonic() - start
                elif self.fps is not None:
                    time_s = index / self.fps
                else:
                    time_s = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
                yield index, time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            self.close()

    def close(self) -> None:
        self.capture.release()


def open_video(source: str | os.PathLike | int) -> VideoSource:
    """Open a video file (any format OpenCV's FFmpeg reads; a URL with "://" is passed to it as it
    is) or a camera by index (an int, or a string of digits that is not a file), and decode its
    first frame. A missing file, a file that is not a video and a camera that does not exist or
    gives no frame raise DataError."""
    if isinstance(source, str) and source.isdigit() and not Path(source).exists():
        source = int(source)
    if isinstance(source, (bool, np.bool_)):
        raise DataError(f"video source must be a file path or a camera index, got {source!r}")
    if isinstance(source, (int, np.integer)):
        index = int(source)
        capture = cv2.VideoCapture(index)
        what, name, is_camera = f"camera {index}", f"camera{index}", True
    else:
        text = os.fspath(source)
        if "://" not in text:
            path = Path(text).expanduser()
            if not path.is_file():
                raise DataError(f"video file {path} not found" if not path.exists() else f"{path} is not a file")
            text = str(path)
        capture = cv2.VideoCapture(text)
        what, name, is_camera = f"video {text}", Path(text.split("?")[0]).stem or "stream", False
    if not capture.isOpened():
        capture.release()
        hint = (
            " (no such camera, or it is in use or not permitted)"
            if is_camera
            else " (not a video, a corrupt file, or a format this OpenCV build cannot decode)"
        )
        raise DataError(f"cannot open {what}{hint}")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise DataError(
            f"{what} opened but gave no frame" + (" (is it in use?)" if is_camera else " (empty or corrupt video)")
        )
    return VideoSource(capture, name, is_camera, first)


def frames(source: str | os.PathLike | int, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time_s, (H, W, 3) uint8 RGB frame) of a video file or camera (see `open_video`, whose
    DataError is raised here, before the first frame is asked for, and `VideoSource.frames`)."""
    return open_video(source).frames(max_frames)


# -- tracking --------------------------------------------------------------------------------------
def iou_matrix(a, b) -> np.ndarray:
    """Intersection over union of every box of `a` (n, 4) with every box of `b` (m, 4), boxes as
    x, y, w, h: an (n, m) float array in [0, 1] (0 for boxes of no area)."""
    a = np.asarray(a, float).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, float).reshape(-1, 4)[None, :, :]
    w = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_match(overlap: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, column) of an (n, m) overlap matrix, taken greedily from the highest overlap down
    (ties: lower row, then lower column first), each row and column at most once, overlaps below
    `threshold` never."""
    overlap = np.asarray(overlap, float)
    rows, cols = np.nonzero(overlap >= threshold)
    order = np.lexsort((cols, rows, -overlap[rows, cols]))
    used_rows, used_cols, pairs = set(), set(), []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


def smoothed(previous: np.ndarray | None, current: np.ndarray, smooth: float) -> np.ndarray:
    """The exponential moving average of a face's probabilities: `smooth` * previous + (1 - `smooth`)
    * current, or `current` for the first frame of a track (`previous` None) or `smooth` 0. Both
    sum to 1, so the average does too."""
    if previous is None or smooth == 0:
        return current
    return (smooth * previous + (1 - smooth) * current).astype(current.dtype, copy=False)


@dataclass
class Track:
    """One face followed through the frames: its id (1, 2, ... in order of appearance), the box
    (x, y, w, h) and eyes (x1, y1, x2, y2; NaN when not found) of its last detection and that
    detection's score, and its (smoothed) probabilities of the last classified frame."""

    id: int
    box: np.ndarray
    eyes: np.ndarray
    score: float
    probabilities: np.ndarray | None = None


class IoUTracker:
    """Links each frame's detections to the faces of the previous detection frame by box overlap.

    `update(found)`: detections and live tracks are paired greedily by IoU (highest first, at
    least `iou`); a paired track takes the detection's box, eyes and score; a detection left over
    starts a new track (new ids left to right); a track left over has ended (its face was not
    found again) and is dropped. `tracks` are the live tracks, by id.
    """

    def __init__(self, iou: float = 0.3):
        self.iou = check.number("iou", iou, 0, 1, low_open=True)
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, found: Found) -> list[Track]:
        boxes, eyes, scores = (
            np.asarray(found.boxes, float).reshape(-1, 4),
            np.asarray(found.eyes, float).reshape(-1, 4),
            np.asarray(found.scores, float),
        )
        pairs = greedy_match(iou_matrix([t.box for t in self.tracks], boxes), self.iou)
        kept = []
        for r, c in pairs:
            track = self.tracks[r]
            track.box, track.eyes, track.score = boxes[c].copy(), eyes[c].copy(), float(scores[c])
            kept.append(track)
        matched = {c for _, c in pairs}
        for c in sorted(set(range(len(boxes))) - matched, key=lambda c: (boxes[c][0], boxes[c][1])):
            kept.append(Track(self.next_id, boxes[c].copy(), eyes[c].copy(), float(scores[c])))
            self.next_id += 1
        self.tracks = sorted(kept, key=lambda t: t.id)
        return self.tracks


# -- classifying streams ---------------------------------------------------------------------------
def stream_model(model: FaceModel, backend: str = "auto", threads: int | None = 1, tta: str | None = None) -> FaceModel:
    """The model a stream classifies with (see BACKENDS), with `threads` CPU threads (None: the
    library's default, one per core; 1 is 2-4x faster for one crop on a machine whose other core
    is busy, measured by bench/realtime.py) and, for a CNN checkpoint, the test-time augmentation
    `tta` (none | flip | affine; None: the model's own). A composite (`core.composites`: a logit-adjusted
    model, an average) streams each of its parts so and is built again over them, adjusting or
    averaging as before. `model` itself is left as it is. Raises ConfigError for backend onnx or a `tta`
    with a model that is not a CNN checkpoint (nor made of them)."""
    from deep.augment import TTA_MODES

    check.choice("backend", backend, BACKENDS)
    if tta is not None:
        check.choice("tta", tta, TTA_MODES)
    estimator, backends, ttas = _streamed(model.estimator, model, backend, threads, tta)
    return dataclasses.replace(
        model,
        estimator=estimator,
        details={
            **model.details,
            "backend": "+".join(sorted(backends)) if backends else model.details.get("backend"),
            "tta": "+".join(sorted(ttas)) or None,
        },
    )


def _streamed(estimator, model: FaceModel, backend: str, threads: int | None, tta: str | None) -> tuple:
    """(`estimator` as a stream runs it, the backends of the CNNs inside it, their test-time views); a
    composite is built again over its parts streamed."""
    from deep.estimator import CNNClassifier
    from deep.export import OnnxClassifier

    if isinstance(estimator, Composite):
        streamed = [_streamed(part, model, backend, threads, tta) for part in estimator.parts()]
        return (
            estimator.rebuilt([s[0] for s in streamed]),
            set().union(*(s[1] for s in streamed)),
            set().union(*(s[2] for s in streamed)),
        )
    if isinstance(estimator, CNNClassifier):
        estimator = copy.copy(estimator)  # shallow: the weights are shared, the caller's model is untouched
        estimator.set_params(n_jobs=threads, **({} if tta is None else {"tta": tta}))
        if estimator.tta_mode == "affine":
            log.warning(
                "%s averages 18 views of each face (~100 ms a face on a CPU core): too slow for real time; "
                "use tta='flip' (or 'none')",
                model.name,
            )
        if backend in ("auto", "onnx"):
            try:
                return _onnx(estimator, threads), {"onnx"}, {estimator.tta_mode}
            except Exception as exc:  # auto falls back to torch, which runs any checkpoint
                if backend == "onnx":
                    raise
                log.warning("ONNX export of %s failed (%s); classifying with torch", model.name, exc)
        return estimator, {"torch"}, {estimator.tta_mode}
    if tta is not None:
        raise ConfigError(
            f"is {tta}, but {model.name} holds a {type(estimator).__name__}, not a CNN checkpoint: only "
            "a checkpoint's test-time augmentation can be chosen (an ONNX file has its own built in)",
            "tta",
        )
    if isinstance(estimator, OnnxClassifier):
        if threads and Path(estimator.path).is_file():  # the session again, with the thread count asked for
            estimator = OnnxClassifier(estimator.path, threads=threads)
        return estimator, {"onnx"}, set()
    if backend == "onnx":
        raise ConfigError(
            f"is onnx, but {model.name} holds a {type(estimator).__name__}, not a CNN checkpoint: "
            "only those are exported to ONNX",
            "backend",
        )
    return estimator, set(), set()


def _onnx(estimator, threads: int | None):
    """A CNN checkpoint's estimator exported to ONNX (`deep.export.export_onnx`, its test-time augmentation
    inside the graph) to a temporary file, loaded, and the file deleted."""
    from deep.export import OnnxClassifier, export_onnx

    with tempfile.TemporaryDirectory(prefix="ferbench-onnx-") as tmp:
        return OnnxClassifier(export_onnx(estimator, Path(tmp) / "model.onnx"), threads=threads)


class StreamPredictor:
    """Classified faces of consecutive frames of one stream, each with its track id.

    pipeline: the `FacePipeline` whose detector (face stage and crop geometry) and model are used.
    every: faces are detected on frames 0, every, 2*every, ... (counted from the last `reset`);
      between them each face is cut at its track's last box and eyes.
    smooth: 0 (off) or the weight in [0, 1) of a face's previous probabilities in their exponential
      moving average; the label is the argmax of the averaged probabilities.
    iou: the least box overlap (intersection over union, in (0, 1]) that links a detection to a track.
    backend: auto | onnx | torch (see BACKENDS); threads: CPU threads of the classifier.
    tta: a CNN checkpoint's test-time augmentation for the stream (none | flip | affine; None: the
      model's own). flip doubles the classifier's cost, affine (the checkpoints' default) costs 10x.
    detect_side: longer side in pixels of the copy of a frame that faces are looked for on (None:
      the pipeline's own `detect_side`).
    Invalid values raise ConfigError (key: the parameter's name) before anything is loaded.
    """

    def __init__(
        self,
        pipeline: FacePipeline,
        every: int = 5,
        smooth: float = 0.0,
        iou: float = 0.3,
        *,
        backend: str = "auto",
        detect_side: int | None = VIDEO_DETECT_SIDE,
        threads: int | None = 1,
        tta: str | None = None,
    ):
        self.every = check.number("every", every, 1, integer=True)
        self.smooth = check.number("smooth", smooth, 0, 1, high_open=True)
        self.backend = check.choice("backend", backend, BACKENDS)
        self.detect_side = check.number("detect_side", detect_side, 64, integer=True, optional=True)
        self.threads = check.number("threads", threads, 1, integer=True, optional=True)
        self.tracker = IoUTracker(iou)
        self.pipeline = pipeline
        self.model = stream_model(pipeline.model, backend, self.threads, tta)
        self.frame_index = 0

    @property
    def classes(self) -> list[str]:
        return self.model.classes

    def reset(self) -> None:
        """Forget every track and count frames from 0 again (a new stream)."""
        self.tracker.reset()
        self.frame_index = 0

    def find(self, gray: np.ndarray) -> Found:
        """The faces of a grey frame, looked for on a copy no larger than `detect_side`."""
        side = self.detect_side or self.pipeline.detect_side
        factor = min(1.0, side / max(gray.shape))
        if factor == 1.0:
            return self.pipeline.detector.find(gray)
        small = cv2.resize(
            gray, (round(gray.shape[1] * factor), round(gray.shape[0] * factor)), interpolation=cv2.INTER_AREA
        )
        return self.pipeline.detector.find(small).scaled(1 / factor)

    def __call__(self, frame: np.ndarray) -> list[tuple[int, Face]]:
        """The faces of the next frame ((H, W, 3) uint8 RGB, or (H, W) grey) as (track id, `Face`)
        by id; `Face.probabilities` are the smoothed ones when `smooth` > 0. A frame without a
        (tracked) face gives an empty list."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grey uint8 frame, got {frame.dtype} {frame.shape}")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.frame_index % self.every == 0:
            self.tracker.update(self.find(gray))
        self.frame_index += 1
        tracks = self.tracker.tracks
        faces = []
        for track in tracks:
            crop, status, square = self.pipeline.detector.crop(gray, track.box, track.eyes)
            eyes = None if np.isnan(track.eyes).any() else tuple(float(v) for v in track.eyes)
            faces.append(Face(tuple(float(v) for v in track.box), eyes, status, crop, square, track.score))
        if faces:
            proba = self.model.predict_proba(np.stack([f.crop for f in faces]))
            for track, face, p in zip(tracks, faces, proba):
                track.probabilities = smoothed(track.probabilities, p, self.smooth)
                face.probabilities = track.probabilities
                face.label = self.classes[int(np.argmax(track.probabilities))]
        return [(t.id, f) for t, f in zip(tracks, faces)]


# -- whole videos ----------------------------------------------------------------------------------
def csv_header(classes: list[str]) -> list[str]:
    """The columns of `predict_video`'s CSV."""
    return ["frame", "time_s", "face_id", "x", "y", "w", "h", "label"] + [f"p_{c}" for c in classes]


def csv_rows(index: int, time_s: float, faces: list[tuple[int, Face]], n_classes: int) -> list[list[str]]:
    """The CSV rows of one frame: one per face, or a single row with empty face fields."""
    head = [str(index), f"{time_s:.3f}"]
    if not faces:
        return [head + [""] * (6 + n_classes)]
    return [
        head
        + [str(track_id)]
        + [f"{v:.1f}" for v in face.box]
        + [face.label]
        + [f"{p:.4f}" for p in face.probabilities]
        for track_id, face in faces
    ]


def predict_video(
    pipeline: FacePipeline,
    source: str | os.PathLike | int,
    out_dir: str | os.PathLike,
    every: int = 5,
    smooth: float = 0.0,
    max_frames: int | None = None,
    progress: bool = True,
    *,
    backend: str = "auto",
    detect_side: int | None = VIDEO_DETECT_SIDE,
    iou: float = 0.3,
    tta: str | None = None,
    write_video: bool = True,
) -> dict:
    """Classify every face of a video file or camera (`open_video`) and write, in `out_dir`:

    - `<name>.annotated.mp4` (mp4v, the source's frame rate; for a camera its declared one or
      CAMERA_FPS): every frame with its faces drawn (`annotate.draw`, "#<track id> label 93%");
      skipped with `write_video` False;
    - `<name>.csv`: columns frame, time_s, face_id, x, y, w, h, label, p_<class> per class of the
      model; one row per (frame, face), and for a frame without a face one row with the face fields
      empty. Box in pixels of the frame, time in seconds (`VideoSource.frames`).

    `<name>` is the file's stem, or camera<index>. Both files are written to a temporary name in
    `out_dir` and renamed when complete, so a failed run leaves neither half-written. A camera is
    read until Ctrl-C (or `max_frames`), which ends the run normally with what was seen; for a file,
    Ctrl-C leaves no output. `every`, `smooth`, `iou`, `backend`, `detect_side`, `tta`: see StreamPredictor.

    Returns a summary: source, name, frames, frames_with_faces, tracks (faces seen, i.e. track ids
    given), seconds and fps of the processing (decoding, detection, classification, drawing and
    writing; not loading the model), the settings, the output paths and `interrupted`.
    Raises ConfigError for an invalid parameter (before the source is opened), DataError for a
    source that cannot be read.
    """
    from tqdm.auto import tqdm

    max_frames = check.number("max_frames", max_frames, 1, integer=True, optional=True)
    check.flag("progress", progress)
    check.flag("write_video", write_video)
    stream = StreamPredictor(pipeline, every, smooth, iou, backend=backend, detect_side=detect_side, tta=tta)
    video = open_video(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, video_path = out_dir / f"{video.name}.csv", out_dir / f"{video.name}.annotated.mp4"
    classes = stream.classes
    rows: list[list[str]] = []
    writer, tmp_video = None, None
    n_frames = with_faces = 0
    ids: set[int] = set()
    total = video.frame_count if max_frames is None else min(max_frames, video.frame_count or max_frames)
    bar = tqdm(total=total, desc=video.name, unit="frame", disable=not progress)
    interrupted = False
    start = time.perf_counter()
    try:
        try:
            for index, time_s, rgb in video.frames(max_frames):
                faces = stream(rgb)
                rows += csv_rows(index, time_s, faces, len(classes))
                n_frames += 1
                with_faces += bool(faces)
                ids.update(i for i, _ in faces)
                if write_video:
                    if writer is None:
                        tmp_video = _temp_name(video_path)
                        writer = _video_writer(tmp_video, video.fps or CAMERA_FPS, rgb.shape)
                    annotated = draw(rgb, [f for _, f in faces], [i for i, _ in faces])
                    writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
                bar.update()
        except KeyboardInterrupt:
            if not video.is_camera:
                raise
            interrupted = True  # how a camera stream ends: what was seen is still written
        finally:
            bar.close()
            video.close()
            if writer is not None:
                writer.release()
        seconds = time.perf_counter() - start
        if tmp_video is not None:
            os.replace(tmp_video, video_path)
        write_atomic(csv_path, lambda f: csv.writer(f, lineterminator="\n").writerows([csv_header(classes)] + rows))
    finally:
        if tmp_video is not None:
            Path(tmp_video).unlink(missing_ok=True)
    return {
        "source": str(source),
        "name": video.name,
        "frames": n_frames,
        "frames_with_faces": with_faces,
        "tracks": len(ids),
        "seconds": round(seconds, 3),
        "fps": round(n_frames / seconds, 2) if seconds else None,
        "every": stream.every,
        "smooth": stream.smooth,
        "iou": stream.tracker.iou,
        "backend": stream.model.details.get("backend", stream.model.family),
        "tta": _tta(stream.model),
        "detect_side": stream.detect_side or pipeline.detect_side,
        "model": stream.model.name,
        "csv": str(csv_path),
        "video": str(video_path) if tmp_video is not None else None,
        "interrupted": interrupted,
    }


def _tta(model: FaceModel) -> str | None:
    """The test-time augmentation a model applies, when it says (CNN checkpoints and their ONNX exports)."""
    mode = getattr(model.estimator, "tta_mode", None)
    return mode if mode is not None else model.details.get("tta")


def _temp_name(path: Path) -> Path:
    """An unused temporary name beside `path`, with its suffix (OpenCV picks the container by suffix)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")


def _video_writer(path: Path, fps: float, shape: tuple) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise FerbenchError(f"OpenCV cannot write an mp4v video to {path}")
    return writer
