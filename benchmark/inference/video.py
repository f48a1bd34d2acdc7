"""Faces in videos and camera streams, classified in real time, with an id that follows each face.

Detection is the expensive stage and faces move little from one frame to the next, so a stream is
not a sequence of photos. Measured on a 640x480 frame on the 2-core machine of bench/realtime.py:
the Haar stage (face and eye cascades) takes 30-100 ms on the full frame and about half on a copy
whose longer side is 480 pixels, while one 48x48 crop costs ~3.5 ms through ONNX Runtime (the shipped
CNN, no test-time augmentation) against ~7 ms through torch with bf16 autocast and ~25 ms with
torch's default two threads on a busy machine. Hence:

- faces are detected every `every` frames only, on a copy no larger than `detect_side` (480 keeps
  the eyes of a 70-pixel face, which 400 loses, so crops stay eye-aligned);
- a tracker (`FaceTracker`) links each detection to the face it continues, so a face keeps its id,
  and between detections moves each face's box (and eyes) where the face's motion takes it: a
  constant-velocity Kalman filter per face (OpenCV's), as SORT does (Bewley et al., 2016), learns the
  velocity from the detections; detections are linked to the boxes so predicted (greedy, highest IoU
  first). Between detections a face is cut from the current frame at its predicted box and eyes with
  the detector's own crop geometry (`FaceDetector.crop`): the crops are framed, aligned and
  preprocessed as a photo's are;
- all crops of a frame are classified in one batch, by ONNX Runtime on one thread when the model
  is a CNN (`backend="auto"`: the graph is exported on the fly; its probabilities match torch's to 1e-7),
  with the test-time augmentation chosen for the stream (`tta`: flip doubles the cost of a crop,
  the checkpoints' default, affine, multiplies it by 10: too slow for real time);
- optionally, each face's probabilities are an exponential moving average over its frames
  (`smooth`), which steadies a label that flickers between two close classes.

`predict_video` writes the annotated video (H.264 in MP4, which browsers play) and a CSV with one row
per (frame, face), and one row with empty face fields for a frame without a face, so the CSV lines up
with the video's time. Reading and writing the containers (timestamps from the container, damaged
frames skipped and counted, camera indices checked, the H.264 writer): `video_io`.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmark.faces.base import Found
from benchmark.faces.search import find_faces
from benchmark.inference.annotate import draw
from benchmark.inference.models import FaceModel
from benchmark.inference.pipeline import Face, FacePipeline
from benchmark.inference.video_io import (  # noqa: F401 - frames, open_video, VideoSource: this module's API too
    AnnotatedVideoWriter,
    VideoSource,
    frames,
    open_video,
)
from core import validation as check
from core.composites import Composite
from core.errors import ConfigError, OutputError
from core.io import MIN_FREE_BYTES, atomic_path, check_writable, remove_stale_temporaries, write_atomic

log = logging.getLogger(__name__)

#: longer side (pixels) of the copy of a frame that faces are looked for on (see the module docstring)
VIDEO_DETECT_SIDE = 480
#: auto: ONNX Runtime for a CNN checkpoint, the model as loaded otherwise; onnx: ONNX Runtime or an
#: error; torch: the model as loaded (torch for a CNN checkpoint)
BACKENDS = ("auto", "onnx", "torch")
#: frame rate the annotated video of a camera that does not report its own declares (its frames keep
#: the times they were seen at)
CAMERA_FPS = 30.0
#: a face's motion model (`motion_model`), in units of the side of its box: the spread of a detection's
#: centre and size (the detector's jitter), of the change of velocity from one frame to the next, and of
#: the velocity of a face first seen (a frame's)
DETECTION_NOISE, ACCELERATION_NOISE, START_VELOCITY = 0.05, 0.01, 0.25


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


def motion_model(box) -> cv2.KalmanFilter:
    """A constant-velocity Kalman filter (OpenCV's) of a face first detected at `box` (x, y, w, h in
    pixels). State: the box's centre x, y and its width and height (pixels), and the centre's velocity
    (pixels a frame); measured: the first four. One step is one frame. Its noise is scaled by the box's
    side (DETECTION_NOISE, ACCELERATION_NOISE, START_VELOCITY), so faces of every size move alike."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h, 1.0)
    kalman = cv2.KalmanFilter(6, 4)
    moves = np.eye(6, dtype=np.float32)
    moves[0, 4] = moves[1, 5] = 1  # centre += velocity, each frame
    kalman.transitionMatrix = moves
    kalman.measurementMatrix = np.eye(4, 6, dtype=np.float32)
    q, r = (ACCELERATION_NOISE * side) ** 2, (DETECTION_NOISE * side) ** 2
    kalman.processNoiseCov = np.diag([q / 4, q / 4, q, q, q, q]).astype(np.float32)
    kalman.measurementNoiseCov = np.diag([r] * 4).astype(np.float32)
    kalman.errorCovPost = np.diag([r] * 4 + [(START_VELOCITY * side) ** 2] * 2).astype(np.float32)
    kalman.statePost = np.array([[x + w / 2], [y + h / 2], [w], [h], [0], [0]], np.float32)
    return kalman


@dataclass
class Track:
    """One face followed through the frames: its id (1, 2, ... in order of appearance); its box
    (x, y, w, h) and eyes (x1, y1, x2, y2; NaN when not found) in the current frame: those of its
    detection on a detection frame, moved by the motion its filter predicts since between detections;
    its last detection's box, eyes and score; its (smoothed) probabilities of the last classified
    frame; and its motion model (`motion_model`) with its centre at the last detection."""

    id: int
    box: np.ndarray
    eyes: np.ndarray
    score: float
    probabilities: np.ndarray | None = None
    detection: tuple = field(default=(), repr=False)
    motion: cv2.KalmanFilter | None = field(default=None, repr=False)
    centre: np.ndarray | None = field(default=None, repr=False)

    def detected(self, box: np.ndarray, eyes: np.ndarray, score: float) -> None:
        """Take a detection of this frame: box, eyes and score, learnt by the motion model (which the
        track's first detection starts)."""
        self.box, self.eyes, self.score = box.copy(), eyes.copy(), float(score)
        self.detection = (self.box.copy(), self.eyes.copy())
        if self.motion is None:
            self.motion = motion_model(box)
        else:
            x, y, w, h = box
            self.motion.correct(np.array([[x + w / 2], [y + h / 2], [w], [h]], np.float32))
        self.centre = self.motion.statePost[:2, 0].astype(float)

    def moved(self, shape: tuple | None) -> None:
        """One frame on: the box and eyes of the last detection moved by the change of the predicted
        centre since (the centre kept inside a frame of `shape` (H, W, ...) when given)."""
        predicted = self.motion.predict()[:2, 0].astype(float)
        box, eyes = self.detection
        shift = predicted - self.centre
        if shape is not None:
            centre = box[:2] + box[2:] / 2
            shift = np.clip(centre + shift, 0, [shape[1] - 1, shape[0] - 1]) - centre
        self.box = box + np.r_[shift, 0, 0]
        self.eyes = eyes + np.tile(shift, 2)


class FaceTracker:
    """Follows the faces of consecutive frames (see the module docstring).

    `update(found, shape)`, once a frame: every track moves one frame on (`Track.moved`: its box and eyes
    go where its face's velocity takes them, the centre kept in a frame of `shape`); then, on a
    detection frame (`found` not None), detections and tracks are paired greedily by the IoU of their
    boxes (highest first, at least `iou`); a paired track takes the detection's box, eyes and score,
    which its motion model learns; a detection left over starts a new track (new ids left to right);
    a track left over has ended (its face was not found again) and is dropped. `tracks` are the live
    tracks, by id.
    """

    def __init__(self, iou: float = 0.3):
        self.iou = check.number("iou", iou, 0, 1, low_open=True)
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, found: Found | None, shape: tuple | None = None) -> list[Track]:
        for track in self.tracks:
            track.moved(shape)
        if found is None:
            return self.tracks
        boxes, eyes, scores = (
            np.asarray(found.boxes, float).reshape(-1, 4),
            np.asarray(found.eyes, float).reshape(-1, 4),
            np.asarray(found.scores, float),
        )
        pairs = greedy_match(iou_matrix([t.box for t in self.tracks], boxes), self.iou)
        kept = []
        for r, c in pairs:
            self.tracks[r].detected(boxes[c], eyes[c], scores[c])
            kept.append(self.tracks[r])
        matched = {c for _, c in pairs}
        for c in sorted(set(range(len(boxes))) - matched, key=lambda c: (boxes[c][0], boxes[c][1])):
            track = Track(self.next_id, boxes[c], eyes[c], float(scores[c]))
            track.detected(boxes[c], eyes[c], scores[c])
            kept.append(track)
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
      between them each face is cut at its track's predicted box and eyes (`FaceTracker`).
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
        self.tracker = FaceTracker(iou)
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
        """The faces of a grey frame, looked for on a copy no larger than `detect_side`
        (`benchmark.faces.search.find_faces` without `min_face`: a frame is searched once, at that size)."""
        side = self.detect_side or self.pipeline.detect_side
        return find_faces(self.pipeline.detector, gray, None, side, self.pipeline.tile_side)

    def __call__(self, frame: np.ndarray) -> list[tuple[int, Face]]:
        """The faces of the next frame ((H, W, 3) uint8 RGB, or (H, W) grey) as (track id, `Face`)
        by id; `Face.probabilities` are the smoothed ones when `smooth` > 0. A frame without a
        (tracked) face gives an empty list."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grey uint8 frame, got {frame.dtype} {frame.shape}")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        self.tracker.update(self.find(gray) if self.frame_index % self.every == 0 else None, gray.shape)
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
def csv_header(classes: list[str], calibrated: bool = True) -> list[str]:
    """The columns of `predict_video`'s CSV: p_<class> (probabilities) for a calibrated model, score_<class>
    for one whose scores are not probabilities (`FaceModel.calibrated`), as the JSON and the page name them."""
    prefix = "p_" if calibrated else "score_"
    return ["frame", "time_s", "face_id", "x", "y", "w", "h", "label"] + [f"{prefix}{c}" for c in classes]


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
    name: str | None = None,
) -> dict:
    """Classify every face of a video file or camera (`open_video`) and write, in `out_dir`:

    - `<name>.annotated.mp4` (H.264 in MP4, `video_io.AnnotatedVideoWriter`; each frame at its time in
      the source, the source's frame rate declared, for a camera its own or CAMERA_FPS): every frame
      with its faces drawn (`annotate.draw`, "#<track id> label 93%"); skipped with `write_video` False;
    - `<name>.csv`: columns frame, time_s, face_id, x, y, w, h, label, p_<class> per class of the
      model (score_<class> when its scores are not probabilities: `csv_header`); one row per (frame,
      face), and for a frame without a face one row with the face fields empty. Box in pixels of the
      frame; frame: its index in the annotated video; time_s: its time in the source in seconds, from the
      container (`VideoSource.frames`).

    `<name>` is `name`, else the file's stem, or camera<index> (`output_paths`). `out_dir` is checked
    first (`core.io.check_writable`: writable, the source's size free beyond MIN_FREE_BYTES; stale
    temporaries of killed runs removed), before the source is opened. Both files are written to a
    temporary name in `out_dir` and renamed when complete, the video only once its file has been
    checked, so a failed run (a full disk) leaves neither half-written. Damaged frames of a file are
    skipped and counted (`damaged_frames`, with a warning); the others are processed. A camera is read
    until Ctrl-C (or `max_frames`), which ends the run normally with what was seen; for a file, Ctrl-C
    leaves no output. `every`, `smooth`, `iou`, `backend`, `detect_side`, `tta`: see StreamPredictor.

    Returns a summary: source, name, frames, damaged_frames, frames_with_faces, tracks (faces seen,
    i.e. track ids given), seconds and fps of the processing (decoding, detection, classification,
    drawing and writing; not loading the model), the settings, the output paths and `interrupted`.
    Raises ConfigError for an invalid parameter (before the source is opened), OutputError for an
    `out_dir` that cannot be written (before the source is opened) or an output that could not be
    written, DataError for a source that cannot be read (a camera index outside 0-99 among them).
    """
    from tqdm.auto import tqdm

    max_frames = check.number("max_frames", max_frames, 1, integer=True, optional=True)
    check.flag("progress", progress)
    check.flag("write_video", write_video)
    stream = StreamPredictor(pipeline, every, smooth, iou, backend=backend, detect_side=detect_side, tta=tta)
    size = os.path.getsize(source) if isinstance(source, (str, os.PathLike)) and os.path.isfile(source) else 0
    out_dir = check_writable(out_dir, MIN_FREE_BYTES + size)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)  # what killed runs left while writing here
    video = open_video(source)
    csv_path, video_path = output_paths(out_dir, name or video.name)
    classes = stream.classes
    rows: list[list[str]] = []
    writer = None
    n_frames = with_faces = 0
    ids: set[int] = set()
    total = video.frame_count if max_frames is None else min(max_frames, video.frame_count or max_frames)
    bar = tqdm(total=total, desc=video.name, unit="frame", disable=not progress)
    interrupted = False
    start = time.perf_counter()
    try:
        with contextlib.ExitStack() as outputs:
            tmp_video = outputs.enter_context(atomic_path(video_path)) if write_video else None
            try:
                try:
                    for index, time_s, rgb in video.frames(max_frames):
                        faces = stream(rgb)
                        rows += csv_rows(index, time_s, faces, len(classes))
                        n_frames += 1
                        with_faces += bool(faces)
                        ids.update(i for i, _ in faces)
                        if tmp_video is not None:
                            if writer is None:
                                fps = video.fps or CAMERA_FPS
                                writer = AnnotatedVideoWriter(tmp_video, fps, rgb.shape, shown=video_path)
                            calibrated = pipeline.model.calibrated
                            writer.write(draw(rgb, [f for _, f in faces], [i for i, _ in faces], calibrated), time_s)
                        bar.update()
                except KeyboardInterrupt:
                    if not video.is_camera:
                        raise
                    interrupted = True  # how a camera stream ends: what was seen is still written
                finally:
                    bar.close()
                    video.close()
                if writer is not None:
                    writer.close()  # finished and checked: the rename follows, at the end of `outputs`
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            seconds = time.perf_counter() - start
            write_atomic(
                csv_path,
                lambda f: csv.writer(f, lineterminator="\n").writerows(
                    [csv_header(classes, pipeline.model.calibrated)] + rows
                ),
            )
    except OSError as exc:  # the CSV's write, or the video's final flush and rename
        raise OutputError(
            f"cannot write {csv_path.name} or {video_path.name} in {out_dir} ({exc.strerror or exc}); "
            "free some space or choose another output folder, then run again"
        ) from None
    if video.damaged:
        log.warning(
            "%s: %d damaged frame%s skipped; the other %d frames were processed",
            video.name,
            video.damaged,
            "s" if video.damaged != 1 else "",
            n_frames,
        )
    return {
        "source": str(source),
        "name": video.name,
        "frames": n_frames,
        "damaged_frames": video.damaged,
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
        "video": str(video_path) if writer is not None else None,
        "interrupted": interrupted,
    }


def output_paths(out_dir: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """(CSV, annotated video) that `predict_video` writes in `out_dir` for a source named `name`."""
    return Path(out_dir) / f"{name}.csv", Path(out_dir) / f"{name}.annotated.mp4"


def _tta(model: FaceModel) -> str | None:
    """The test-time augmentation a model applies, when it says (CNN checkpoints and their ONNX exports)."""
    mode = getattr(model.estimator, "tta_mode", None)
    return mode if mode is not None else model.details.get("tta")
