"""Video containers: the frames of a video file or a camera, and the annotated video written in a
codec browsers play.

Files are decoded with PyAV (FFmpeg's libraries), cameras read with OpenCV:

- a frame's time is its presentation time in the container, so a variable-frame-rate video (a phone's,
  a screen recording) gets the real time of each frame, not index / frame rate;
- a damaged part of a file costs only its own frames: a packet that does not decode, a frame the
  decoder marks corrupt, and a frame that comes out of time order after damage are skipped and counted
  (`VideoSource.damaged`) while decoding goes on (OpenCV's reader stops at the first frame it cannot
  decode, as if the video had ended). An MP4 / MOV file that ends before the last frame its header
  lists (a cut download) counts the missing frames as damaged too; other containers' frame counts are
  estimates, not lists, and are not used so. Not counted: a Matroska / WebM cluster lost whole, which
  the demuxer skips without a word;
- frames are turned upright as the container's rotation says (a phone's portrait video);
- a camera index is checked before OpenCV sees it (OpenCV reads -1 as "any camera", which crashes
  some of its builds, and 100 or more as a capture API plus an index), and OpenCV's own warnings
  are kept off the terminal while a camera is opened: a camera that does not open is one
  `DataError`.

The annotated video (`AnnotatedVideoWriter`) is H.264 (libx264, 4:2:0) in MP4 with its index at the
front: what every browser plays, also while it is still downloading. OpenCV's wheels from the package
index write MPEG-4 part 2 (mp4v), which browsers do not play, and cannot encode H.264 (their FFmpeg has
no H.264 encoder: a `cv2.VideoWriter` with fourcc avc1 does not open); PyAV's wheels carry libx264.
PyAV also reports a failed write (a full disk) as an exception, where `cv2.VideoWriter.write` stays silent.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import math
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from core.errors import DataError, OutputError

log = logging.getLogger(__name__)

#: camera indices OpenCV reads as a camera number (0 is the first camera)
CAMERA_INDICES = range(100)
#: frames held to put the decoder's output back in time order after damage (its reordering reaches a few frames)
REORDER_FRAMES = 4
#: demuxing errors in a row after which the rest of a file is given up as unreadable
MAX_DEMUX_ERRORS = 100
#: time base (ticks per second) of the written video: MPEG's 90 kHz clock, exact for the usual frame rates
WRITE_CLOCK = 90_000


# -- sources ---------------------------------------------------------------------------------------
class VideoSource:
    """An opened video file or camera (`open_video`).

    name: the file's stem, or camera<index>; fps: frames per second the stream declares (None when
    unknown); frame_count: frames the file's header declares (None when unknown: cameras, Matroska,
    streams); is_camera; damaged: frames skipped as damaged so far (always 0 for a camera). Iterate
    with `frames`; `close` releases it.
    """

    name: str
    fps: float | None
    frame_count: int | None
    is_camera: bool
    damaged: int = 0

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index from 0, time in seconds, (H, W, 3) uint8 RGB frame) up to the end of the stream or
        `max_frames`; the source is closed when the iteration ends. The index counts the frames given
        (damaged ones skipped); the time is the frame's presentation time in the file, from the
        stream's start (for a camera: the wall-clock time since its first frame). Every frame has the
        first frame's size (a stream that changes size is scaled to it)."""
        try:
            for index, (time_s, rgb) in enumerate(itertools.islice(self._decoded(), max_frames)):
                if rgb.shape != self._shape:
                    rgb = cv2.resize(rgb, (self._shape[1], self._shape[0]), interpolation=cv2.INTER_AREA)
                yield index, time_s, rgb
        finally:
            self.close()

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class FileSource(VideoSource):
    """A video file (or URL) decoded by PyAV (see the module docstring); `container`: PyAV's."""

    is_camera = False

    def __init__(self, container, name: str):
        self.container, self.name = container, name
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame and slice threads
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate and 0 < rate < 1000 else None
        self.frame_count = int(self.stream.frames) or None
        #: MP4 / MOV: the header lists every frame (its sample table), so `frame_count` is exact
        self._listed = bool({"mov", "mp4"} & set(container.format.name.split(",")))
        self.damaged = 0
        self._start = float(self.stream.start_time * self.stream.time_base) if self.stream.start_time else 0.0
        self._frames = self._decode()
        first = next(self._frames, None)
        if first is None:
            self.close()
            raise DataError(f"video {name} opened but gave no frame (empty or damaged video)")
        self._first = first
        self._shape = first[1].shape

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def _decode(self) -> Iterator[tuple[float, np.ndarray]]:
        """(time, RGB frame) in time order: decoded frames pass through a heap of REORDER_FRAMES, and
        one that comes after a later one has been given is counted as damaged. A frame without a
        time is placed one frame period after the one before it."""
        held: list = []
        order = itertools.count()
        given = latest = -math.inf
        period = 1 / (self.fps or 30)
        for frame in self._stream_frames():
            if frame.pts is not None:
                latest = frame.time - self._start
            else:
                latest = latest + period if latest > -math.inf else 0.0
            heapq.heappush(held, (latest, next(order), frame))
            if len(held) > REORDER_FRAMES:
                given = yield from self._in_order(heapq.heappop(held), given)
        for item in sorted(held):
            given = yield from self._in_order(item, given)

    def _in_order(self, item: tuple, given: float):
        """Yield the (time, RGB frame) of a held `item` unless its time is not after `given`, the time
        of the frame given last (then it is counted as damaged); returns the new `given`."""
        t, _, frame = item
        if t <= given:
            self.damaged += 1
            return given
        yield t, _upright(frame)
        return t

    def _stream_frames(self) -> Iterator:
        """The frames the decoder gives, corrupt ones skipped; damage counted in `damaged` (see the
        module docstring); the silent losses only once the whole file has been read."""
        demuxed = decodable = given = failed = lost_parts = 0
        errors_in_a_row = 0
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError:  # a damaged part of the container (one frame at least): read on past it
                lost_parts += errors_in_a_row == 0
                self.damaged += errors_in_a_row == 0
                errors_in_a_row += 1
                if errors_in_a_row >= MAX_DEMUX_ERRORS:
                    log.warning("%s: the rest of the file cannot be read; stopped there", self.name)
                    return
                packets = self.container.demux(self.stream)
                continue
            errors_in_a_row = 0
            if packet.size:
                demuxed += 1
                decodable += not packet.is_discard
            try:
                frames = packet.decode()
            except av.error.FFmpegError:  # a damaged packet: its frame is lost, the next ones decode
                self.damaged += 1
                failed += 1
                continue
            for frame in frames:
                given += 1
                if frame.is_corrupt:
                    self.damaged += 1
                    continue
                yield frame
        # the whole file was read and the decoder flushed: frames it dropped without an error, and
        # frames the header lists that the file does not hold
        self.damaged += max(0, decodable - given - failed)
        if self.frame_count and self._listed:
            self.damaged += max(0, self.frame_count - demuxed - lost_parts)

    def close(self) -> None:
        self.container.close()


def _upright(frame) -> np.ndarray:
    """The (H, W, 3) uint8 RGB pixels of a decoded frame, rotated as the container says to show it."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class CameraSource(VideoSource):
    """A camera read by OpenCV (see the module docstring); its frames are timed by the clock."""

    is_camera = True
    frame_count = None

    def __init__(self, capture: cv2.VideoCapture, index: int, first: np.ndarray):
        self.capture, self.name = capture, f"camera{index}"
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else None
        self.damaged = 0
        self._first, self._shape = first, first.shape

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        start = time.monotonic()
        while True:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self.capture.read()
                if not ok or bgr is None:
                    log.warning("%s stopped giving frames (unplugged, or taken by another program)", self.name)
                    return
            yield time.monotonic() - start, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


def camera_index(source) -> int:
    """The camera index of `source`: an int, or text "camera:<N>" or "<N>". Raises DataError, saying
    which indices are valid, for anything else or an index outside CAMERA_INDICES."""
    text = str(source).strip()
    digits = text.removeprefix("camera:").strip()
    valid = not isinstance(source, (bool, np.bool_, float)) and digits.lstrip("-").isdigit()
    if not valid or int(digits) not in CAMERA_INDICES:
        raise DataError(
            f"camera index must be a whole number from {CAMERA_INDICES.start} to {CAMERA_INDICES.stop - 1} "
            f"(camera:0 is the first camera, camera:1 the next), got {text!r}"
        )
    return int(digits)


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's log silenced (its warnings while probing camera back-ends), then restored."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def open_camera(source) -> CameraSource:
    """Open the camera `source` (see `camera_index`) and read its first frame. Raises DataError (one
    line, OpenCV's warnings kept quiet) for an invalid index, a camera that does not exist or does
    not open, or one that gives no frame."""
    index = camera_index(source)
    with _opencv_quiet():
        capture = cv2.VideoCapture(index)
        opened = capture.isOpened()
        ok, first = capture.read() if opened else (False, None)
    if not ok or first is None:
        capture.release()
        raise DataError(
            f"camera {index} gave no frame (is another program using it?)"
            if opened
            else f"cannot open camera {index}: no such camera, or it is in use or not permitted "
            "(check the cable and the system's camera permission, or try another index)"
        )
    return CameraSource(capture, index, first)


def open_file(source: str | os.PathLike) -> FileSource:
    """Open a video file (any format FFmpeg reads; a URL with "://" is passed to it as it is) and
    decode its first frame. Raises DataError for a missing file, one that is not a video or holds no
    video stream, and one without a frame that decodes."""
    text = os.fspath(source)
    if "://" not in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataError(f"video file {path} not found" if not path.exists() else f"{path} is not a file")
        text = str(path)
    name = Path(text.split("?")[0]).stem or "stream"
    try:
        container = av.open(text, metadata_errors="replace")
    except (av.error.FFmpegError, OSError, UnicodeError):
        raise DataError(
            f"cannot open video {text}: not a video, a damaged file, or a format ferbench cannot decode "
            "(convert it to MP4, e.g. with a video editor or ffmpeg)"
        ) from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{text} holds no video (an audio file?); give a video file")
    return FileSource(container, name)


def open_video(source: str | os.PathLike | int) -> VideoSource:
    """Open a video file (`open_file`) or a camera (`open_camera`: an int, text "camera:<N>", or a
    string of digits that names no file) and decode its first frame. Raises DataError for a source
    that cannot be read (see those two)."""
    if isinstance(source, (bool, np.bool_)):
        raise DataError(f"video source must be a file path or a camera index, got {source!r}")
    if isinstance(source, (int, np.integer)):
        return open_camera(int(source))
    text = os.fspath(source)
    if isinstance(source, str) and (
        text.startswith("camera:") or (text.lstrip("-").isdigit() and not Path(text).exists())
    ):
        return open_camera(text)
    return open_file(source)


def frames(source: str | os.PathLike | int, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time_s, (H, W, 3) uint8 RGB frame) of a video file or camera (see `open_video`, whose
    DataError is raised here, before the first frame is asked for, and `VideoSource.frames`)."""
    return open_video(source).frames(max_frames)


# -- writing ---------------------------------------------------------------------------------------
class AnnotatedVideoWriter:
    """Write RGB frames as an H.264 MP4 (see the module docstring) at `path`.

    fps: the frame rate the file declares; each frame is placed at the time given to `write`, so a
    variable-frame-rate source keeps its timing. shape: (H, W, ...) of every frame; a frame of odd
    width or height gets one more column or row (its edge repeated): 4:2:0 needs even sides.
    shown: the path named in error messages (the final name, when `path` is a temporary one).
    Every failure, a full disk included, raises OutputError; `close` also checks the written file.
    """

    def __init__(self, path: str | os.PathLike, fps: float, shape: tuple, shown: str | os.PathLike | None = None):
        self.path, self.shown = Path(path), Path(shown or path)
        self.height, self.width = shape[0], shape[1]
        self.written, self.bytes, self._last_pts = 0, 0, -1
        try:
            self.container = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            self.stream.width, self.stream.height = self.width + self.width % 2, self.height + self.height % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, WRITE_CLOCK)
            self.stream.codec_context.options = {"preset": "veryfast"}  # real-time encoding on a CPU core
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error(exc) from None

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        """Add one (H, W, 3) uint8 RGB frame, shown at `time_s` seconds (times that do not increase
        are moved just after the previous frame)."""
        pts = max(round(time_s * WRITE_CLOCK), self._last_pts + 1)
        self._last_pts = pts
        if rgb.shape[0] % 2 or rgb.shape[1] % 2:
            rgb = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = pts, self.stream.time_base
        self._mux(self.stream.encode(frame))
        self.written += 1

    def _mux(self, packets) -> None:
        try:
            for packet in packets:
                self.bytes += packet.size
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Flush the encoder, finish the file and check it: H.264, every frame written, no byte
        missing. Raises OutputError when it is not so (the file is then incomplete: do not use it)."""
        try:
            self._mux(self.stream.encode())
            self.container.close()
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error(exc) from None
        self.check()

    def abort(self) -> None:
        """Close the file after a failure, whatever state it is in (it is incomplete: remove it)."""
        with contextlib.suppress(Exception):
            self.container.close()

    def check(self) -> None:
        """Raise OutputError unless the closed file is an H.264 MP4 with every frame written."""
        try:
            with av.open(str(self.path)) as written:
                stream = written.streams.video[0]
                codec, count = stream.codec_context.name, stream.frames
            size = self.path.stat().st_size
        except (av.error.FFmpegError, OSError, IndexError):
            codec, count, size = None, 0, 0
        if codec != "h264" or count != self.written or size < self.bytes:
            raise OutputError(
                f"the annotated video {self.shown} came out incomplete ({count} of {self.written} frames); "
                "check that its disk has space, then run again"
            )

    def _error(self, exc: BaseException) -> OutputError:
        space = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
        reason = getattr(exc, "strerror", None) or str(exc)
        return OutputError(
            f"cannot write the annotated video {self.shown} ({reason}); "
            + ("free some space or choose another output folder" if space else "choose another output folder")
            + ", then run again"
        )
