"""The applications' face stage on what users bring: small faces in large photos (the search scale and
its tiles), ready-made face crops, images of any aspect ratio, and float images with non-finite pixels.
Pictures are made here: NASA's public-domain astronaut of scikit-image, and synthetic ones."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image as PILImage

from benchmark.faces import search
from benchmark.faces.base import FaceDetector, Found
from benchmark.faces.geometry import rescale
from benchmark.faces.search import box_iou, deduplicate, detection_scale, find_faces
from benchmark.inference.pipeline import MIN_FACE, FacePipeline
from core.images import ImageError, read_image
from tests.serving import shipped_pipeline

ASTRONAUT = skimage.data.astronaut()
#: the astronaut's head, and her face's Haar box (x, y, w, h) inside it
HEAD = ASTRONAUT[10:250, 130:360]
FACE_IN_HEAD = (47, 56, 95, 95)


@pytest.fixture(scope="module")
def pipeline():
    """The shipped model's pipeline as serve builds it: the default face stage."""
    return shipped_pipeline()


def variant(**settings) -> FacePipeline:
    """The shipped model with other face-stage settings (the model is shared, not loaded again)."""
    return FacePipeline(shipped_pipeline().model, **settings)


def group_photo(face: int, shape=(3024, 4032), n: int = 20, seed: int = 0):
    """A phone-sized RGB photo of `n` astronaut heads whose faces are `face` pixels wide on a 5-column
    grid with jitter, over a smooth background; and their true face boxes (n, 4)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 170, shape[0], dtype=np.float32)[:, None, None]
    photo = np.broadcast_to(ramp, (*shape, 3)).astype(np.uint8).copy()
    factor = face / FACE_IN_HEAD[2]
    head = cv2.resize(HEAD, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    rows = -(-n // 5)
    cell_h, cell_w = shape[0] // rows, shape[1] // 5
    truth = []
    for i in range(n):
        row, col = divmod(i, 5)
        top = row * cell_h + int(rng.integers(max(1, cell_h - head.shape[0])))
        left = col * cell_w + int(rng.integers(max(1, cell_w - head.shape[1])))
        photo[top : top + head.shape[0], left : left + head.shape[1]] = head
        truth.append([left + factor * FACE_IN_HEAD[0], top + factor * FACE_IN_HEAD[1], face, face])
    return photo, np.array(truth)


def matched(truth: np.ndarray, faces) -> int:
    """How many true boxes a found face overlaps (IoU > 0.3)."""
    boxes = np.array([f.box for f in faces], float).reshape(-1, 4)
    return sum(len(boxes) > 0 and box_iou(t, boxes).max() > 0.3 for t in truth)


# -- small faces in large photos -----------------------------------------------------------------------


def test_small_faces_in_a_phone_photo_are_all_found(pipeline):
    """The 12-megapixel photo with 20 faces of 75 px: the old search (a copy no larger than 800 px)
    finds none of them; the default search (min_face) finds every one, once, and labels it."""
    photo, truth = group_photo(75)
    assert variant(min_face=None)(photo) == []
    faces = pipeline(photo)
    assert len(faces) == 20 and matched(truth, faces) == 20
    assert sum(f.label == "happy" for f in faces) >= 18
    assert MIN_FACE < 75


def test_the_detection_scale_follows_the_smallest_face_wanted():
    # a face of min_face photo pixels becomes the detector's smallest (30 px): 12 MP at min_face 60 -> 0.5
    assert detection_scale((3024, 4032), 30, 60, 800) == pytest.approx(0.5)
    # never below the detect_side copy, never above MAX_UPSCALE; None: the detect_side copy only
    assert detection_scale((3024, 4032), 30, 10_000, 800) == pytest.approx(800 / 4032)
    assert detection_scale((3024, 4032), 30, None, 800) == pytest.approx(800 / 4032)
    assert detection_scale((480, 640), 30, 48, 800) == 1.0
    assert detection_scale((100, 100), 30, 1, 800) == search.MAX_UPSCALE


class SquareDetector(FaceDetector):
    """A stand-in detector with exact answers: every bright square that lies whole in the image it is
    given (not touching its border, as a face cut by the border is not found), as (x, y, w, h)."""

    name = "squares"
    box_eyes = (0.4, 0.1)
    min_face_size = 10

    def __init__(self):
        super().__init__(size=48, align=False, cache_dir=None)
        self.calls: list[tuple[int, int]] = []

    def find(self, image):
        self.calls.append(image.shape)
        n, _, stats, _ = cv2.connectedComponentsWithStats((image > 127).astype(np.uint8))
        h, w = image.shape
        boxes = [
            (x, y, bw, bh)
            for x, y, bw, bh, _ in stats[1:n]
            if x > 0 and y > 0 and x + bw < w and y + bh < h and min(bw, bh) >= self.min_face_size
        ]
        if not boxes:
            return Found.none()
        return Found(np.array(boxes, float), np.full((len(boxes), 4), np.nan), np.ones(len(boxes)))


def squares_photo(shape=(1500, 2600), seed: int = 1):
    """A black image with bright squares of 12 to 300 px, none touching; and their boxes."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.uint8)
    taken = np.zeros(shape, bool)
    truth = []
    for side in [12, 14, 16, 20, 24, 30, 40, 60, 90, 120, 200, 300] * 6:
        for _ in range(200):
            y, x = int(rng.integers(1, shape[0] - side - 1)), int(rng.integers(1, shape[1] - side - 1))
            if not taken[max(0, y - 4) : y + side + 4, max(0, x - 4) : x + side + 4].any():
                image[y : y + side, x : x + side] = 255
                taken[y : y + side, x : x + side] = True
                truth.append((x, y, side, side))
                break
    return image, np.array(truth, float)


def test_tiles_find_each_face_once_whatever_its_size_or_place(monkeypatch):
    """A search in tiles (each call at most tile_side) plus a coarse pass finds every square once,
    those on tile seams included; without de-duplication some would be found twice."""
    image, truth = squares_photo()
    detector = SquareDetector()
    found = find_faces(detector, image, min_face=12, detect_side=200, tile_side=512)
    assert max(max(shape) for shape in detector.calls) <= 512 + 1 and len(detector.calls) > 10
    assert len(found) == len(truth)
    for t in truth:
        iou = box_iou(t, found.boxes)
        assert (iou > 0.6).sum() == 1, t
    # the overlaps do hold faces found twice: de-duplication is what keeps them once
    monkeypatch.setattr(search, "deduplicate", lambda f, iou=0.3: f)
    assert len(find_faces(SquareDetector(), image, min_face=12, detect_side=200, tile_side=512)) > len(truth)


def test_deduplication_keeps_the_face_with_eyes_and_every_distinct_face():
    nan = [np.nan] * 4
    found = Found(
        np.array([[100, 100, 80, 80], [102, 98, 82, 82], [400, 100, 80, 80], [170, 100, 80, 80]], float),
        np.array([nan, [120, 130, 160, 130], nan, nan], float),
        np.array([9.0, 6.0, 7.0, 8.0]),
    )
    kept = deduplicate(found)
    assert len(kept) == 3  # the first two are one face; the last only touches it (IoU < 0.3)
    assert not np.isnan(kept.eyes[0]).any() and kept.boxes[0].tolist() == [102, 98, 82, 82]
    assert sorted(kept.boxes[:, 0].tolist()) == [102, 170, 400]


def test_a_tiled_search_finds_the_same_faces_as_a_whole_one(pipeline):
    photo, truth = group_photo(80, shape=(1200, 2400), n=10, seed=3)
    whole, tiled = variant(min_face=48)(photo), variant(min_face=48, tile_side=800, detect_side=400)(photo)
    assert len(whole) == len(tiled) == 10 and matched(truth, tiled) == 10
    for a, b in zip(whole, tiled):
        assert box_iou(np.array(a.box), np.array([b.box]))[0] > 0.7 and a.label == b.label


# -- ready-made crops -----------------------------------------------------------------------------------


def face_crop(side: int, margin: float = 0.1) -> np.ndarray:
    """The astronaut's face cut tight (her Haar box and `margin` of it around) as a side x side RGB crop."""
    x, y, w, h = 177, 66, 95, 95
    m = int(margin * w)
    return cv2.resize(ASTRONAUT[y - m : y + h + m, x - m : x + w + m], (side, side), interpolation=cv2.INTER_AREA)


def test_a_ready_made_crop_is_classified_whole(pipeline):
    """Two 48x48 crops: in one the detector finds no face (the old answer: "no face found"), in the
    other it finds the face, which fills the image; both are classified whole, exactly as given."""
    old = variant(crop_side=0, crop_fill=None)
    unfound, found = face_crop(48, margin=0.05), face_crop(48, margin=0.1)
    assert old(unfound) == [] and [f.alignment for f in old(found)] != ["whole_image"]
    for crop in (unfound, found):
        faces = pipeline(crop)
        assert len(faces) == 1 and faces[0].alignment == "whole_image" and faces[0].label == "happy"
        assert faces[0].box == (0.0, 0.0, 48.0, 48.0) and faces[0].eyes is None
        np.testing.assert_array_equal(faces[0].crop, cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))


def test_a_small_photo_of_one_face_gets_one_answer(pipeline):
    photo = cv2.resize(ASTRONAUT[0:330, 70:400], (128, 128), interpolation=cv2.INTER_AREA)
    faces = pipeline(photo)
    assert len(faces) == 1 and faces[0].label == "happy"
    filled = pipeline(face_crop(160, margin=0.15))  # a face that fills its image, found: classified whole
    assert len(filled) == 1 and filled[0].alignment == "whole_image" and filled[0].score > 0


@pytest.mark.parametrize("shape", [(100, 100), (10, 10), (20, 200)])
def test_a_blank_tiny_or_strip_image_is_no_face_crop(pipeline, shape):
    assert pipeline(np.full((*shape, 3), 127, np.uint8)) == []
    if shape == (100, 100):
        texture = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
        assert len(pipeline(texture)) == 1  # small, not blank: taken for a crop, and said so
        assert pipeline(texture)[0].alignment == "whole_image"


def test_detector_none_classifies_every_image_whole_padded_not_stretched():
    none = variant(detector="none")
    assert none.face_stage["detector"] == "none"
    faces = none(ASTRONAUT)
    assert len(faces) == 1 and faces[0].alignment == "whole_image" and faces[0].box == (0.0, 0.0, 512.0, 512.0)
    wide = np.zeros((50, 100), np.uint8)
    wide[:, 50:] = 255
    (face,) = none(wide)
    # padded to 100 x 100 with its edge rows repeated, then resized: the left half black, the right white
    assert face.crop.shape == (48, 48) and face.crop[:, :22].max() == 0 and face.crop[:, 26:].min() == 255


def test_predict_honours_detector_none(tmp_path):
    from benchmark import predict

    PILImage.fromarray(ASTRONAUT).save(tmp_path / "astronaut.png")
    assert predict.main([str(tmp_path / "astronaut.png"), "detector=none", f"out={tmp_path / 'out'}"]) == 0
    (record,) = [p for p in (tmp_path / "out").rglob("*.json")]
    import json

    data = json.loads(record.read_text())
    assert data["face_stage"]["detector"] == "none" and [f["alignment"] for f in data["faces"]] == ["whole_image"]


# -- any aspect ratio -----------------------------------------------------------------------------------


THIN = [(1, 2000), (3000, 1), (2, 5000), (29, 3000), (5000, 40)]


@pytest.mark.parametrize("shape", THIN)
def test_images_of_any_aspect_ratio_are_processed(pipeline, shape):
    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    assert pipeline(image) == []
    assert pipeline.predict_json(image)["faces"] == []
    assert variant(min_face=16, tile_side=1024)(image) == []  # upscaled and tiled: still no error
    (whole,) = variant(detector="none")(image)
    assert whole.crop.shape == (48, 48) and whole.probabilities.shape == (7,)


def test_rescale_keeps_every_side_at_least_one_pixel():
    assert rescale(np.zeros((1, 2000), np.uint8), 0.1).shape == (1, 200)
    assert rescale(np.zeros((3000, 1, 3), np.uint8), 0.01).shape == (30, 1, 3)


def test_the_cli_and_the_api_answer_thin_images_crops_and_bad_floats(tmp_path, capsys):
    from benchmark import predict

    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(np.full((1, 2000), 90, np.uint8)).save(folder / "strip.png")
    PILImage.fromarray(np.full((3000, 1), 90, np.uint8)).save(folder / "line.png")
    PILImage.fromarray(face_crop(48)).save(folder / "crop.png")
    float_tiff(folder / "depth.tif", np.inf)
    assert predict.main([str(folder), f"out={tmp_path / 'out'}"]) == 1  # one image could not be read
    out = capsys.readouterr()
    assert "depth.tif has 1 pixel whose value is not a finite number" in out.out + out.err
    assert "Traceback" not in out.out + out.err
    import json

    records = {p.name.split(".")[0]: json.loads(p.read_text()) for p in (tmp_path / "out").rglob("*.json")}
    assert records["strip"]["faces"] == [] and records["line"]["faces"] == []
    assert [f["alignment"] for f in records["crop"]["faces"]] == ["whole_image"]

    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2")
        from fastapi.testclient import TestClient
    from benchmark.api import create_app

    with TestClient(create_app(shipped_pipeline())) as client:
        for name in ("strip.png", "line.png"):  # answered (no face) or refused in one line, never a 500
            response = client.post("/api/predict", files={"file": (name, (folder / name).read_bytes(), "image/png")})
            body = response.json()
            assert body["faces"] == [] if response.status_code == 200 else response.status_code == 422, body
            assert response.status_code == 200 or "\n" not in body["message"]
        data = (folder / "depth.tif").read_bytes()
        response = client.post("/api/predict", files={"file": ("depth.tif", data, "image/tiff")})
        assert response.status_code == 400 and "not a finite number" in response.json()["message"]
        response = client.post(
            "/api/predict", files={"file": ("crop.png", (folder / "crop.png").read_bytes(), "image/png")}
        )
        assert response.status_code == 200 and response.json()["faces"][0]["alignment"] == "whole_image"


# -- non-finite pixels ----------------------------------------------------------------------------------


def float_tiff(path, bad: float | None, where=(5, 7)) -> np.ndarray:
    """A 64x64 32-bit float TIFF, a ramp over 0-1 with `bad` at `where` (None: all finite); its values."""
    values = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    if bad is not None:
        values[where] = bad
    PILImage.fromarray(values, "F").save(path, "TIFF")
    return values


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_pixels_are_refused_naming_the_file(tmp_path, bad):
    path = tmp_path / "scan.tif"
    float_tiff(path, bad)
    with pytest.raises(ImageError) as err:
        read_image(path)
    assert err.value.reason == "corrupt" and str(path) in str(err.value) and "1 pixel" in str(err.value)
    assert "\n" not in str(err.value)
    buf = io.BytesIO()
    values = np.full((8, 8), bad, np.float32)
    PILImage.fromarray(values, "F").save(buf, "TIFF")
    with pytest.raises(ImageError, match="the upload has 64 pixels whose values are not a finite number"):
        read_image(buf.getvalue())


def test_a_finite_float_image_keeps_its_full_scale(tmp_path):
    float_tiff(tmp_path / "ok.tif", None)
    gray = read_image(tmp_path / "ok.tif").gray
    assert gray.min() == 0 and gray.max() == 255 and np.all(np.diff(gray.astype(int).ravel()) >= 0)
