"""Videos and camera streams (benchmark.inference.video): reading frames, the face tracker, smoothing,
StreamPredictor and predict_video's outputs, on a small synthetic video of the public-domain
astronaut photo (skimage.data.astronaut) moving across a plain background, with a gap without her.
Speed is measured by bench/realtime.py, never here."""

import csv

import cv2
import numpy as np
import pytest
import skimage.data

from benchmark.faces.base import Found
from benchmark.inference.models import averaged, load_model, shipped
from benchmark.inference.pipeline import FacePipeline
from benchmark.inference.video import (
    FaceTracker,
    StreamPredictor,
    csv_header,
    frames,
    greedy_match,
    iou_matrix,
    open_video,
    predict_video,
    smoothed,
)
from core.composites import Average, LogitAdjust, logit_adjust
from core.errors import ConfigError, DataError
from deep.export import OnnxClassifier

N_FRAMES, GAP = 24, range(9, 15)  # frames 9-14 show no face
FPS = 10.0


def frame(i: int) -> np.ndarray:
    """Frame i (240x320 RGB): the astronaut's head (face ~76 px) 3 px further right each frame, or
    nothing during GAP."""
    out = np.full((240, 320, 3), 90, np.uint8)
    if i not in GAP:
        head = cv2.resize(skimage.data.astronaut()[10:250, 130:360], None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        x = 20 + 3 * i
        out[20 : 20 + head.shape[0], x : x + head.shape[1]] = head
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "astro.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
    for i in range(N_FRAMES):
        writer.write(cv2.cvtColor(frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def pipeline():
    return FacePipeline(load_model(None, tta="none"))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- frames ----------------------------------------------------------------------------------------
def test_frames_index_time_and_rgb(video):
    got = list(frames(video))
    assert [i for i, _, _ in got] == list(range(N_FRAMES))
    assert np.allclose([t for _, t, _ in got], np.arange(N_FRAMES) / FPS)
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for _, _, f in got)
    # RGB, not OpenCV's BGR: close to the source on the head (mp4v's loss: ~3 grey levels; swapped: ~19)
    head = (slice(20, 200), slice(20, 200))
    assert np.abs(got[0][2][head].astype(int) - frame(0)[head].astype(int)).mean() < 8
    assert [i for i, _, _ in frames(str(video), max_frames=5)] == [0, 1, 2, 3, 4]
    source = open_video(video)
    assert (source.name, source.fps, source.frame_count, source.is_camera) == ("astro", FPS, N_FRAMES, False)
    source.close()


def test_missing_or_unreadable_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        frames(tmp_path / "nope.mp4")
    with pytest.raises(DataError, match="not a file"):
        frames(tmp_path)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(DataError, match="cannot open video"):
        frames(bad)


def test_camera_that_does_not_exist_is_a_data_error(tmp_path, pipeline):
    with pytest.raises(DataError, match="camera 97"):
        frames(97)
    with pytest.raises(DataError, match="camera 97"):
        frames("97")  # digits that name no file are a camera index
    with pytest.raises(DataError):
        predict_video(pipeline, 97, tmp_path / "out", backend="torch", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- tracking --------------------------------------------------------------------------------------
def test_iou_matrix():
    a = [[0, 0, 10, 10], [100, 100, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 10, 10], [50, 50, 0, 0]]
    got = iou_matrix(a, b)
    assert got.shape == (2, 3)
    assert np.allclose(got, [[1, 50 / 150, 0], [0, 0, 0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_greedy_match_takes_the_highest_overlap_first():
    overlap = np.array([[0.5, 0.6], [0.0, 0.55]])
    # greedy: (0, 1) at 0.6 first, then row 1 has only column 0 left, at 0.0 < threshold
    assert greedy_match(overlap, 0.3) == [(0, 1)]
    assert greedy_match(overlap, 0.7) == []
    assert sorted(greedy_match(np.eye(3), 0.3)) == [(0, 0), (1, 1), (2, 2)]


def found(*boxes) -> Found:
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return Found(boxes, np.full((len(boxes), 4), np.nan), np.arange(len(boxes), dtype=float) + 1)


def test_tracker_ids_matching_and_ending():
    tracker = FaceTracker(iou=0.3)
    # two faces; new ids go left to right whatever the detector's order
    assert [t.id for t in tracker.update(found([200, 0, 50, 50], [0, 0, 50, 50]))] == [1, 2]
    assert [tuple(t.box[:2]) for t in tracker.tracks] == [(0, 0), (200, 0)]
    # both move a little: same ids, new boxes
    tracks = tracker.update(found([205, 0, 50, 50], [5, 2, 50, 50]))
    assert [(t.id, t.box[0]) for t in tracks] == [(1, 5), (2, 205)]
    # the left face is gone, a third appears far away: track 1 ends, track 3 starts
    tracks = tracker.update(found([205, 0, 50, 50], [400, 0, 50, 50]))
    assert [t.id for t in tracks] == [2, 3]
    # a jump with too little overlap (IoU 750 / 4250 = 0.18 < 0.3) is a new face
    tracks = tracker.update(found([240, 0, 50, 50], [400, 0, 50, 50]))
    assert [t.id for t in tracks] == [3, 4]
    assert tracker.update(Found.none()) == []
    tracker.reset()
    assert [t.id for t in tracker.update(found([0, 0, 9, 9]))] == [1]


def test_smoothing_math():
    p0, p1 = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    assert smoothed(None, p1, 0.8) is p1
    assert smoothed(p0, p1, 0.0) is p1
    assert np.allclose(smoothed(p0, p1, 0.8), [0.8, 0.2])
    assert smoothed(p0, p1, 0.8).dtype == np.float32


# -- streams ---------------------------------------------------------------------------------------
def test_stream_ids_stable_for_a_moving_face(pipeline):
    stream = StreamPredictor(pipeline, every=1, backend="torch")
    boxes = []
    for i in range(9):
        out = stream(frame(i))
        assert [track_id for track_id, _ in out] == [1]
        boxes.append(out[0][1].box[0])
    assert boxes[-1] - boxes[0] > 15  # it did move, and was followed
    stream.reset()
    assert stream(frame(20))[0][0] == 1


def test_between_detections_the_crop_is_cut_from_the_current_frame(pipeline):
    stream = StreamPredictor(pipeline, every=4, backend="torch")
    outs = [stream(frame(i))[0][1] for i in range(4)]
    # after the first detection no velocity is known yet: the box stays (test_video_inputs: it moves later)
    assert all(f.box == outs[0].box and f.eyes == outs[0].eyes for f in outs)
    gray = cv2.cvtColor(frame(3), cv2.COLOR_RGB2GRAY)
    expected, status, _ = pipeline.detector.crop(gray, outs[0].box, outs[0].eyes)
    assert np.array_equal(outs[3].crop, expected) and outs[3].alignment == status
    assert not np.array_equal(outs[3].crop, outs[0].crop)  # the face moved under the box
    assert all(f.label in pipeline.model.classes and f.probabilities.shape == (7,) for f in outs)


def test_stream_smoothing_is_the_moving_average_of_the_raw_probabilities(pipeline):
    raw_stream = StreamPredictor(pipeline, every=2, backend="torch")
    raw = [raw_stream(frame(i))[0][1].probabilities for i in range(6)]
    stream = StreamPredictor(pipeline, every=2, smooth=0.7, backend="torch")
    expected = raw[0]
    for i in range(6):
        face = stream(frame(i))[0][1]
        expected = expected if i == 0 else 0.7 * expected + 0.3 * raw[i]
        assert np.allclose(face.probabilities, expected, atol=1e-6)
        assert face.label == pipeline.model.classes[int(np.argmax(expected))]


def test_onnx_backend_gives_the_same_probabilities(pipeline):
    onnx = StreamPredictor(pipeline, backend="onnx")
    torch_ = StreamPredictor(pipeline, backend="torch")
    assert onnx.model.details["backend"] == "onnx" and pipeline.model.details.get("backend") is None
    assert onnx.model.details["tta"] == "none" and onnx.model.input_size == pipeline.model.input_size
    a, b = onnx(frame(0))[0][1].probabilities, torch_(frame(0))[0][1].probabilities
    assert np.abs(a - b).max() < 0.02  # torch runs bf16 autocast, the ONNX graph float32


def test_a_logit_adjusted_or_averaged_model_streams_its_cnns_then_adjusts_or_averages(pipeline):
    """The shipped model is logit-adjusted (shipped.yaml): its CNN runs in ONNX Runtime, the adjustment
    after it, as on photos; an average streams each member so."""
    plain = FacePipeline(load_model(shipped()["model"], tta="none"))
    onnx = StreamPredictor(pipeline, backend="onnx")
    assert isinstance(onnx.model.estimator, LogitAdjust) and isinstance(onnx.model.estimator.estimator, OnnxClassifier)
    assert onnx.model.details["backend"] == "onnx" and onnx.model.details["tta"] == "none"
    adjusted = onnx(frame(0))[0][1].probabilities
    unadjusted = StreamPredictor(plain, backend="onnx")(frame(0))[0][1].probabilities
    assert np.abs(adjusted - unadjusted).max() > 0.01
    np.testing.assert_allclose(
        adjusted,
        logit_adjust(unadjusted[None], pipeline.model.estimator.class_prior, pipeline.model.estimator.tau)[0],
        atol=1e-5,
    )
    both = StreamPredictor(FacePipeline(averaged([pipeline.model, plain.model])), backend="auto", tta="flip")
    assert isinstance(both.model.estimator, Average) and both.model.details["backend"] == "onnx"
    assert both.model.details["tta"] == "flip" and len(both.model.details["members"]) == 2
    probabilities = both(frame(0))[0][1].probabilities
    members = [
        StreamPredictor(FacePipeline(m), backend="onnx", tta="flip")(frame(0))[0][1].probabilities
        for m in (pipeline.model, plain.model)
    ]
    np.testing.assert_allclose(probabilities, np.mean(members, axis=0), atol=1e-5)


def test_stream_tta_leaves_the_pipelines_model_alone(pipeline, caplog):
    cnn = lambda model: model.estimator.estimator  # noqa: E731 - the shipped model's CNN, under its logit adjustment
    stream = StreamPredictor(pipeline, backend="torch", tta="flip")
    assert cnn(stream.model).tta_mode == "flip" and cnn(pipeline.model).tta_mode == "none"
    assert cnn(stream.model).n_jobs == 1 and cnn(pipeline.model).n_jobs is None
    assert StreamPredictor(pipeline, backend="torch").model.details["tta"] == "none"
    with caplog.at_level("WARNING"):
        StreamPredictor(pipeline, backend="torch", tta="affine")
    assert "too slow for real time" in caplog.text


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"every": 0}, "every"),
        ({"every": 2.5}, "every"),
        ({"smooth": 1}, "smooth"),
        ({"smooth": -0.1}, "smooth"),
        ({"iou": 0}, "iou"),
        ({"iou": 1.5}, "iou"),
        ({"backend": "gpu"}, "backend"),
        ({"detect_side": 10}, "detect_side"),
        ({"threads": 0}, "threads"),
        ({"tta": "mirror"}, "tta"),
    ],
)
def test_parameters_are_checked(pipeline, kwargs, key):
    with pytest.raises(ConfigError) as err:
        StreamPredictor(pipeline, **kwargs)
    assert err.value.key == key


def test_an_uncalibrated_models_csv_columns_are_scores(pipeline, video, tmp_path):
    """As the JSON and the page do, the CSV does not call an uncalibrated model's scores probabilities."""
    import dataclasses

    class DecisionValues:  # an estimator with decision values only, as an SVM without probability=True
        def __init__(self, inner):
            self.inner = inner

        def decision_function(self, crops):
            return np.log(self.inner.predict_proba(crops))

    model = dataclasses.replace(pipeline.model, estimator=DecisionValues(pipeline.model.estimator), calibrated=False)
    predict_video(FacePipeline(model), video, tmp_path / "out", max_frames=2, progress=False, write_video=False)
    header = list(read_csv(tmp_path / "out" / "astro.csv")[0])
    assert header == csv_header(pipeline.model.classes, calibrated=False)
    assert header[8:] == [f"score_{c}" for c in pipeline.model.classes] != csv_header(pipeline.model.classes)[8:]


def test_predict_video_parameters_are_checked_before_the_source_is_opened(pipeline, tmp_path):
    with pytest.raises(ConfigError, match="max_frames"):
        predict_video(pipeline, tmp_path / "missing.mp4", tmp_path, max_frames=0)
    with pytest.raises(ConfigError, match="every"):
        predict_video(pipeline, tmp_path / "missing.mp4", tmp_path, every=-1)


# -- whole videos ----------------------------------------------------------------------------------
def test_predict_video_csv_is_aligned_with_the_frames(pipeline, video, tmp_path):
    summary = predict_video(pipeline, video, tmp_path / "out", every=3, backend="torch", progress=False)
    rows = read_csv(tmp_path / "out" / "astro.csv")
    assert list(rows[0]) == csv_header(pipeline.model.classes)
    assert [int(r["frame"]) for r in rows] == list(range(N_FRAMES))  # one face a frame, or one empty row
    for r in rows:
        assert float(r["time_s"]) == pytest.approx(int(r["frame"]) / FPS, abs=1e-3)
        if int(r["frame"]) in GAP:  # detections at 9 and 12 found nobody: the track ended at 9
            assert all(r[k] == "" for k in list(r)[2:])
        else:
            # the face found again at frame 15 is a new track
            assert r["face_id"] == ("1" if int(r["frame"]) < GAP.start else "2")
            assert r["label"] in pipeline.model.classes
            assert sum(float(r[f"p_{c}"]) for c in pipeline.model.classes) == pytest.approx(1, abs=1e-3)
    assert summary["frames"] == N_FRAMES and summary["frames_with_faces"] == N_FRAMES - len(GAP)
    assert summary["tracks"] == 2 and summary["backend"] == "torch" and summary["tta"] == "none"
    assert not summary["interrupted"]
    # the annotated video: every frame, the source's size and rate; no temporary file left behind
    out = cv2.VideoCapture(summary["video"])
    assert (out.get(cv2.CAP_PROP_FRAME_COUNT), out.get(cv2.CAP_PROP_FPS)) == (N_FRAMES, FPS)
    assert (out.get(cv2.CAP_PROP_FRAME_WIDTH), out.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    out.release()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astro.annotated.mp4", "astro.csv"]


def test_predict_video_max_frames_and_no_video(pipeline, video, tmp_path):
    summary = predict_video(pipeline, video, tmp_path, max_frames=4, backend="torch", progress=False, write_video=False)
    assert summary["frames"] == 4 and summary["video"] is None
    assert [r["frame"] for r in read_csv(tmp_path / "astro.csv")] == ["0", "1", "2", "3"]
    assert not (tmp_path / "astro.annotated.mp4").exists()


class FakeCamera:
    """Stands in for cv2.VideoCapture of a camera: frame(i) in BGR, then Ctrl-C after `n` frames."""

    def __init__(self, index, n=5):
        self.i, self.n = 0, n

    def isOpened(self):
        return True

    def read(self):
        if self.i == self.n:
            raise KeyboardInterrupt
        self.i += 1
        return True, cv2.cvtColor(frame(self.i - 1), cv2.COLOR_RGB2BGR)

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def test_camera_is_named_by_index_timed_by_the_clock_and_stopped_by_ctrl_c(pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", FakeCamera)
    summary = predict_video(pipeline, 0, tmp_path, every=2, backend="torch", progress=False)
    assert summary["interrupted"] and summary["frames"] == 5 and summary["name"] == "camera0"
    rows = read_csv(tmp_path / "camera0.csv")
    times = [float(r["time_s"]) for r in rows]
    assert [r["frame"] for r in rows] == ["0", "1", "2", "3", "4"] and times == sorted(times) and times[0] == 0
    assert (tmp_path / "camera0.annotated.mp4").is_file()


def test_ctrl_c_on_a_file_leaves_no_output(pipeline, video, tmp_path, monkeypatch):
    calls = []
    original = StreamPredictor.__call__

    def interrupted(self, rgb):
        calls.append(1)
        if len(calls) == 3:  # the temporary video has been started
            raise KeyboardInterrupt
        return original(self, rgb)

    monkeypatch.setattr(StreamPredictor, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        predict_video(pipeline, video, tmp_path, backend="torch", progress=False)
    assert list(tmp_path.iterdir()) == []
