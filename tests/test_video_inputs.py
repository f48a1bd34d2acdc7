"""Videos and cameras as users bring them (benchmark.inference.video_io and predict_video): frame times
from the container (a variable-frame-rate video), a video damaged in the middle, camera indices,
boxes that follow a moving face between detections, the annotated video's codec, a write that fails
(a full disk) and temporaries of killed runs. Every video is made here with PyAV, small and short."""

import csv
import fractions
import os
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
import skimage.data

from benchmark.faces.base import Found
from benchmark.inference.models import load_model
from benchmark.inference.pipeline import FacePipeline
from benchmark.inference.video import FaceTracker, StreamPredictor, iou_matrix, predict_video
from benchmark.inference.video_io import AnnotatedVideoWriter, camera_index, frames, open_video
from core.errors import DataError, OutputError
from core.io import temporary_owner

W, H = 160, 120


def picture(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i: grey noise (so that damage hits real data) with a white square moving right."""
    rng = np.random.default_rng(i)
    out = (90 + rng.integers(0, 40, (h, w, 3))).astype(np.uint8)
    out[20:60, 5 + 2 * i : 45 + 2 * i] = 255
    return out


def write_video(path, times, codec="libx264", size=(W, H), gop=10, rotation=None, clock=1000, faststart=False):
    """A video at `path` whose frame i is `picture(i)` shown at times[i] seconds (pts set by hand, in
    ticks of 1 / `clock` s; AVI has no frame times: give it the frame rate)."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.gop_size = gop
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, clock)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(picture(i, *size), format="rgb24")
            frame.pts, frame.time_base = round(t * clock), fractions.Fraction(1, clock)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def damaged(path, start=0.4, stop=0.5):
    """Zero the bytes of `path` from `start` to `stop` (fractions of its length): a damaged middle."""
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * start), int(len(data) * stop)
    data[a:b] = bytes(b - a)
    path.write_bytes(bytes(data))
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def pipeline():
    return FacePipeline(load_model(None, tta="none"))


# -- time ------------------------------------------------------------------------------------------
#: a variable frame rate: bursts and pauses, as a phone or a screen recorder writes
VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 1.5, 1.6, 3.0, 3.05, 3.1, 4.0, 11.0]


def test_frame_times_come_from_the_container(tmp_path, pipeline):
    path = write_video(tmp_path / "vfr.mp4", VFR_TIMES)
    got = list(frames(path))
    assert [i for i, _, _ in got] == list(range(len(VFR_TIMES)))
    np.testing.assert_allclose([t for _, t, _ in got], VFR_TIMES, atol=1e-3)  # index / fps would give 1.0 s last
    summary = predict_video(pipeline, path, tmp_path / "out", backend="torch", progress=False)
    rows = read_csv(summary["csv"])
    np.testing.assert_allclose([float(r["time_s"]) for r in rows], VFR_TIMES, atol=1e-3)
    # the annotated video keeps the times: its frame i is shown when the source's was
    with av.open(summary["video"]) as written:
        shown = [frame.time for frame in written.decode(video=0)]
    np.testing.assert_allclose(shown, VFR_TIMES, atol=1e-3)


def test_frames_are_turned_upright_as_the_container_says(tmp_path):
    path = write_video(tmp_path / "portrait.mp4", [0.0, 0.1], rotation=90)
    (_, _, first), _ = list(frames(path))
    capture = cv2.VideoCapture(str(path))  # OpenCV applies the rotation too: both must agree
    ok, bgr = capture.read()
    capture.release()
    assert ok and first.shape == bgr.shape == (W, H, 3)
    assert np.abs(first.astype(int) - bgr[..., ::-1].astype(int)).mean() < 3


# -- damage ----------------------------------------------------------------------------------------
N_DAMAGED = 60


@pytest.mark.parametrize("codec, suffix, clock", [("libx264", "mp4", 1000), ("mpeg4", "avi", 10)])
def test_a_damaged_middle_costs_only_its_frames(tmp_path, codec, suffix, clock):
    path = damaged(write_video(tmp_path / f"clip.{suffix}", np.arange(N_DAMAGED) / 10, codec=codec, clock=clock))
    capture = cv2.VideoCapture(str(path))  # OpenCV's reader: stops at the damage, as if the video had ended
    n_opencv = 0
    while capture.read()[0]:
        n_opencv += 1
    source = open_video(path)
    got = list(source.frames())
    times = [t for _, t, _ in got]
    assert source.damaged > 0 and len(got) + source.damaged == N_DAMAGED  # every frame given or counted
    assert times[-1] == pytest.approx((N_DAMAGED - 1) / 10, abs=1e-3)  # decoding went on to the end
    assert times == sorted(times) and len(set(times)) == len(times)
    if suffix == "mp4":
        assert n_opencv < len(got)


def test_a_cut_download_counts_the_frames_it_lacks(tmp_path):
    path = write_video(tmp_path / "cut.mp4", np.arange(N_DAMAGED) / 10, faststart=True)  # the index first
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    source = open_video(path)
    got = list(source.frames())
    assert 0 < len(got) < N_DAMAGED and len(got) + source.damaged == N_DAMAGED


def test_predict_video_skips_counts_and_says_so(tmp_path, pipeline, caplog):
    path = damaged(write_video(tmp_path / "clip.mp4", np.arange(N_DAMAGED) / 10))
    with caplog.at_level("WARNING"):
        summary = predict_video(pipeline, path, tmp_path / "out", backend="torch", progress=False)
    assert summary["damaged_frames"] > 0 and summary["frames"] + summary["damaged_frames"] == N_DAMAGED
    assert f"{summary['damaged_frames']} damaged frames skipped" in caplog.text
    assert len(read_csv(summary["csv"])) == summary["frames"]
    with av.open(summary["video"]) as written:
        assert written.streams.video[0].frames == summary["frames"]


def test_predict_cli_exit_status_and_summary_say_a_video_was_damaged(tmp_path, capsys):
    from benchmark.predict import main

    path = damaged(write_video(tmp_path / "clip.mp4", np.arange(N_DAMAGED) / 10))
    other = write_video(tmp_path / "fine.mp4", np.arange(5) / 10)
    status = main([str(path), str(other), f"out={tmp_path / 'out'}", "tta=none", "backend=torch"])
    printed = capsys.readouterr()
    assert status == 1
    assert "damaged frames skipped" in printed.err + printed.out
    assert "2 of 2 done (1 with damaged frames skipped), 0 could not be read" in printed.out  # processed, not failed
    rows = {r["file"]: r for r in read_csv(tmp_path / "out" / "summary.csv")}
    assert "damaged frames skipped" in rows[str(path)]["error"] and rows[str(other)]["error"] == ""


# -- cameras ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [-1, "-1", "camera:-1", 100, 10**12, "camera:10000000000000", "camera:abc"])
def test_camera_indices_are_checked_before_opencv_sees_them(source, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("cv2.VideoCapture was called")

    monkeypatch.setattr(cv2, "VideoCapture", never)
    with pytest.raises(DataError, match="camera index must be a whole number from 0 to 99"):
        open_video(source)


def test_camera_index_forms():
    assert [camera_index(s) for s in (0, "0", "camera:7", " camera: 99", np.int64(3))] == [0, 0, 7, 99, 3]
    for bad in (2.0, True, "camera:", "camera:1.5", "cam:1"):
        with pytest.raises(DataError, match="from 0 to 99"):
            camera_index(bad)


def test_a_camera_that_does_not_open_is_one_quiet_error(capfd):
    with pytest.raises(DataError) as err:
        open_video(97)
    assert str(err.value).count("\n") == 0 and "cannot open camera 97" in str(err.value)
    printed = capfd.readouterr()
    assert printed.err == "" and printed.out == ""  # OpenCV's own warnings kept off the terminal


def test_predict_cli_names_a_missing_camera_once(tmp_path, capfd):
    from benchmark.predict import main

    assert main(["camera:97", f"out={tmp_path / 'out'}"]) == 1
    printed = capfd.readouterr()
    assert (printed.out + printed.err).count("cannot open camera 97") == 1
    assert "WARN" not in printed.err and "VIDEOIO" not in printed.err
    assert "| camera:97 |" in printed.out  # the summary's row names the camera as it was given
    assert main(["camera:-1", f"out={tmp_path / 'out'}"]) == 2
    assert "from 0 to 99" in capfd.readouterr().err


# -- tracking --------------------------------------------------------------------------------------
def moving(i: int, speed: float) -> np.ndarray:
    """The true box of a 50-pixel face moving right and down at `speed` pixels a frame."""
    return np.array([10 + speed * i, 40 + speed * i / 3, 50, 50])


def found_at(box, jitter: float = 0.0, seed: int = 0) -> Found:
    noise = np.random.default_rng(seed).normal(0, jitter, 2)
    return Found(np.array([box]) + np.r_[noise, 0, 0], np.full((1, 4), np.nan), np.ones(1))


def test_between_detections_boxes_follow_the_face():
    """Detection every 5 frames, 1.5 px of jitter: after the velocity is learnt (two detections), the
    box between detections is nearer the face than the last detection, and near it in absolute terms."""
    tracker, every = FaceTracker(), 5
    predicted, stale = [], []
    for i in range(40):
        detect = i % every == 0
        tracks = tracker.update(found_at(moving(i, 4.0), 1.5, i) if detect else None, (480, 640))
        assert [t.id for t in tracks] == [1]
        if detect:
            last = moving(i, 4.0)
        elif i > 2 * every:
            truth = moving(i, 4.0)[:2]
            predicted.append(np.hypot(*(tracks[0].box[:2] - truth)))
            stale.append(np.hypot(*(last[:2] - truth)))
    assert np.mean(predicted) < np.mean(stale) / 3 and np.max(predicted) < 8


def speeding(i: int) -> np.ndarray:
    """The box of a 50-pixel face that speeds up from 2 to 9.5 pixels a frame over 30 frames."""
    x = 2 * i + 0.125 * i**2
    return np.array([10 + x, 40 + x / 3, 50, 50])


def test_a_speeding_face_keeps_its_id_where_iou_with_its_last_box_would_lose_it():
    tracker, every = FaceTracker(iou=0.3), 5
    overlaps = []
    for i in range(31):
        detect = i % every == 0
        tracks = tracker.update(found_at(speeding(i)) if detect else None, (480, 640))
        assert [t.id for t in tracks] == [1]
        if detect and i:
            overlaps.append(iou_matrix([speeding(i - every)], [speeding(i)])[0, 0])
    assert min(overlaps) < 0.3  # IoU with the last detection alone would have started new faces


def test_a_predicted_box_stays_in_the_frame():
    tracker = FaceTracker()
    for i in range(0, 25, 5):  # learns the velocity, then no more detections while it leaves the frame
        tracker.update(found_at(moving(i, 8.0)), (120, 160))
        for _ in range(4):
            tracker.update(None, (120, 160))
    for _ in range(50):
        (track,) = tracker.update(None, (120, 160))
    centre = track.box[:2] + track.box[2:] / 2
    assert 0 <= centre[0] <= 159 and 0 <= centre[1] <= 119


def astronaut_at(x: int) -> np.ndarray:
    out = np.full((240, 320, 3), 90, np.uint8)
    head = cv2.resize(skimage.data.astronaut()[10:250, 130:360], None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    out[30 : 30 + head.shape[0], x : x + head.shape[1]] = head
    return out


def test_stream_boxes_follow_a_moving_face_between_detections(pipeline):
    """The astronaut's head moving 4 px a frame; reference: the detector's box on every frame."""
    sparse = StreamPredictor(pipeline, every=5, backend="torch")
    dense = StreamPredictor(pipeline, every=1, backend="torch")
    near, far = [], []
    for i in range(25):
        rgb = astronaut_at(10 + 4 * i)
        (_, face), (_, truth) = sparse(rgb)[0], dense(rgb)[0]
        if i % 5 == 0:
            last = face.box
        elif i > 10:
            near.append(abs(face.box[0] - truth.box[0]))
            far.append(abs(last[0] - truth.box[0]))
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # the crop is cut at the predicted box
            assert np.array_equal(face.crop, pipeline.detector.crop(gray, face.box, face.eyes)[0])
    assert np.mean(near) < np.mean(far) / 2


def test_a_very_thin_frame_is_no_crash(pipeline):
    stream = StreamPredictor(pipeline, backend="torch", detect_side=64)
    assert stream(np.full((1, 2000, 3), 128, np.uint8)) == []
    assert stream(np.full((3000, 1), 128, np.uint8)) == []


# -- writing ---------------------------------------------------------------------------------------
def test_the_annotated_video_is_h264_that_browsers_play(tmp_path, pipeline):
    path = write_video(tmp_path / "clip.mkv", np.arange(4) / 10)
    summary = predict_video(pipeline, path, tmp_path / "out", backend="torch", progress=False)
    with av.open(summary["video"]) as written:
        stream = written.streams.video[0]
        assert written.format.name.startswith("mov,mp4")
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert stream.frames == 4
    # odd sides: one more column and row, the picture kept
    writer = AnnotatedVideoWriter(tmp_path / "odd.mp4", 10, (41, 63, 3))
    for i in range(3):
        writer.write(picture(i, 63, 41), i / 10)
    writer.close()
    with av.open(str(tmp_path / "odd.mp4")) as written:
        first = next(written.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape == (42, 64, 3) and np.abs(first[:41, :63].astype(int) - picture(0, 63, 41)).mean() < 8


def test_a_truncated_video_is_caught_before_it_is_used(tmp_path):
    writer = AnnotatedVideoWriter(tmp_path / "cut.mp4", 10, (H, W, 3), shown="final.mp4")
    for i in range(10):
        writer.write(picture(i), i / 10)
    writer.close()
    data = (tmp_path / "cut.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(OutputError, match="final.mp4 came out incomplete"):
        writer.check()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX")
def test_a_write_that_fails_leaves_no_output_under_its_final_name(tmp_path, pipeline):
    """A full disk, as the process sees it: writes past 40 kB fail (RLIMIT_FSIZE, EFBIG)."""
    import resource
    import signal

    path = write_video(tmp_path / "clip.mp4", np.arange(30) / 10)
    out = tmp_path / "out"
    out.mkdir()
    limit, handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, limit[1]))
        with pytest.raises(OutputError, match="clip.annotated.mp4") as err:
            predict_video(pipeline, path, out, backend="torch", progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    assert "\n" not in str(err.value) and "free some space" in str(err.value)
    assert list(out.iterdir()) == []  # no video, no CSV, no temporary


def test_temporaries_carry_the_pid_and_stale_ones_are_removed(tmp_path, pipeline, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    killed = subprocess.run(  # a run that died while writing: its temporary, named for its pid, stays
        [sys.executable, "-c", "import sys; from core.io import temporary_path; print(temporary_path(sys.argv[1]))"]
        + [str(out / "clip.annotated.mp4")],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.strip()
    open(killed, "wb").write(b"half a video")
    seen = []
    original = StreamPredictor.__call__

    def looking(self, rgb):
        seen.extend(p for p in out.iterdir() if p.name.startswith("."))
        return original(self, rgb)

    monkeypatch.setattr(StreamPredictor, "__call__", looking)
    path = write_video(tmp_path / "clip.mp4", np.arange(40) / 10)  # the encoder holds its first frames back
    summary = predict_video(pipeline, path, out, backend="torch", progress=False)
    assert not os.path.exists(killed) and seen
    assert {temporary_owner(p)[1] for p in seen} == {os.getpid()}  # ours, while writing, named for our pid
    assert sorted(p.name for p in out.iterdir()) == ["clip.annotated.mp4", "clip.csv"]
    assert summary["video"] == str(out / "clip.annotated.mp4")
