"""The face-finding study: how many faces the applications' face stage (`FacePipeline`, the shipped
model's Haar stage) finds, and how well they are then classified, with the old search and with the
candidate settings of the new one; the defaults of benchmark/inference/pipeline.py are picked from it.

    python bench/face_finding.py            # about 5 minutes on 2 cores; writes results/studies/face_finding.md, .json
    python bench/face_finding.py --quick    # subsets, a smoke run; writes nothing unless --out is given

Inputs (FERBENCH_DATA), each image given to the pipeline as a user would give it:
- CK+48: the 927 48x48 crops of the six classes the shipped model knows (contempt left out);
- FER2013 PrivateTest: the 3,589 48x48 crops, upscaled 4x (bicubic) to 192x192;
- JAFFE: the 213 256x256 photos;
- group photos: 4032x3024 (a 12-megapixel phone photo) mosaics of scikit-image's public-domain photos
  without people, with 20 JAFFE photos pasted in each as portraits (an elliptical, feathered cut of
  the head), scaled so that their faces (the Haar box of the JAFFE photo) are 40, 75 or 150 pixels;
  `--photos` photos per face size, the same JAFFE faces at every size.

Measured, per input and setting: "found", the share of faces the detector found (group photos: a
box with IoU > 0.3 with the pasted face's, each box matched once; the false faces are the boxes
matching none); "whole", the share classified whole as ready-made crops; "no answer", the share
without a face; "accuracy", the share whose face (an image's largest one) got the right label, a
face without an answer counting as wrong; "CPU s/photo", the process's CPU time of finding and
cropping the faces of one group photo (all threads). The model is the shipped one with the flip
test-time views that predict and serve use.

The small images are searched at full size by every setting (the scale only changes for photos
larger than the 800-pixel copy), so the faces of each data set are found once and every setting's
crop rules (`FacePipeline.place`) applied to the same detections.

The defaults picked (`pick`, rules fixed before the full run): min_face, the largest candidate (the
fastest search) that finds at least 98% of the group photos' faces of 75 and of 150 pixels (the
issue's photo had faces of ~75 px) with at most one false face per photo; the crop rules, the
setting with the best mean accuracy over the three data sets (classifying every image whole,
detector=none, is a reference, not a candidate: it finds no face in a photo).
"""

from __future__ import annotations

import argparse
import json
import sys
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

from benchmark.datasets.ckplus import CKPlus  # noqa: E402
from benchmark.datasets.fer2013 import FER2013  # noqa: E402
from benchmark.datasets.jaffe import JAFFE  # noqa: E402
from benchmark.faces.search import box_iou, detection_scale  # noqa: E402
from benchmark.inference import pipeline as pipeline_module  # noqa: E402
from benchmark.inference.models import load_model  # noqa: E402
from benchmark.inference.pipeline import FacePipeline  # noqa: E402
from benchmark.records import environment  # noqa: E402
from core.io import write_atomic  # noqa: E402
from core.labels import CLASS_NAMES  # noqa: E402

OUT = REPO / "results" / "studies" / "face_finding"
PHOTO = (3024, 4032)  # H, W
FACE_SIZES = (40, 75, 150)
PER_PHOTO = 20
SEED = 0
#: background photos of scikit-image without people (public domain or CC0)
BACKGROUNDS = ("coffee", "chelsea", "rocket", "coins", "brick", "grass", "gravel", "horse", "page", "text", "moon")

#: (name, FacePipeline settings) for the crop rules, on the data sets
CROP_SETTINGS = (
    ("old: no crop rules", {"min_face": None, "crop_side": 0, "crop_fill": None}),
    ("small image without a face: whole (crop_side 256)", {"crop_fill": None}),
    ("and a face filling the image: whole (crop_fill 0.9)", {"crop_fill": 0.9}),
    ("and a face filling the image: whole (crop_fill 0.8)", {"crop_fill": 0.8}),
    ("and a face filling the image: whole (crop_fill 0.7)", {"crop_fill": 0.7}),
    ("reference: every image whole (detector=none)", {"detector": "none"}),
)
#: (name, FacePipeline settings) for the search, on the group photos
SEARCH_SETTINGS = (
    ("old: the 800-pixel copy", {"min_face": None}),
    ("min_face 96", {"min_face": 96}),
    ("min_face 64", {"min_face": 64}),
    ("min_face 48", {"min_face": 48}),
    ("min_face 40", {"min_face": 40}),
    ("min_face 32", {"min_face": 32}),
    ("min_face 48, tiles of 1024", {"min_face": 48, "tile_side": 1024}),
)


# -- the data sets -------------------------------------------------------------------------------------
def data_sets(root: Path, quick: bool) -> dict:
    """name -> (images as given to the pipeline, true class names)."""
    rng = np.random.default_rng(SEED)

    def part(images, labels, n):
        index = np.sort(rng.choice(len(images), n, replace=False)) if quick and len(images) > n else slice(None)
        return list(images[index]), [CLASS_NAMES[c] for c in labels[index]]

    ck = CKPlus(root / "ckplus", include_contempt=False).load()
    fer = FER2013(root / "fer2013").load()
    private = fer.splits == "PrivateTest"
    fer_images, fer_labels = part(fer.images[private], fer.labels[private], 300)
    jaffe = JAFFE(root / "jaffe").load()
    return {
        "CK+48 (48x48 crops)": part(ck.images, ck.labels, 200),
        "FER2013 PrivateTest x4 (192x192)": (
            [cv2.resize(im, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC) for im in fer_images],
            fer_labels,
        ),
        "JAFFE (256x256 photos)": part(jaffe.images, jaffe.labels, 100),
    }


def run_data_set(model, images: list, labels: list[str]) -> tuple[list[dict], float]:
    """One row per crop setting, and the CPU seconds of finding the faces of all images once."""
    pipelines = [(name, FacePipeline(model, **settings)) for name, settings in CROP_SETTINGS]
    finder = FacePipeline(model)
    for _, p in pipelines:  # every setting searches these images at the same scale
        for shape in {im.shape for im in images}:
            assert p.min_face is None or detection_scale(
                shape, p.detector.smallest_face, p.min_face, p.detect_side
            ) == detection_scale(shape, finder.detector.smallest_face, finder.min_face, finder.detect_side)
    cpu = time.process_time()
    found = [finder.find(im) for im in images]
    cpu = time.process_time() - cpu
    rows = []
    for name, p in pipelines:
        placed = [p.place(im, p.find(im) if p.face_stage["detector"] == "none" else f) for im, f in zip(images, found)]
        answers = [max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None for faces in placed]
        p.classify([a for a in answers if a is not None])
        n = len(images)
        rows.append(
            {
                "setting": name,
                "images": n,
                "found": sum(len(f) > 0 for f in found) / n if p.face_stage["detector"] != "none" else None,
                "whole": sum(a is not None and a.alignment == "whole_image" for a in answers) / n,
                "no_answer": sum(a is None for a in answers) / n,
                "accuracy": sum(a is not None and a.label == y for a, y in zip(answers, labels)) / n,
            }
        )
    return rows, cpu


# -- the group photos ----------------------------------------------------------------------------------
def background(rng: np.random.Generator) -> np.ndarray:
    """A PHOTO-sized RGB mosaic of scikit-image photos without people, at their own scale, flipped at random."""
    photos = []
    for name in BACKGROUNDS:
        im = getattr(skimage.data, name)()
        im = np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im[..., :3]
        photos.append(im.astype(np.uint8))
    canvas = np.zeros((*PHOTO, 3), np.uint8)
    y = 0
    while y < PHOTO[0]:
        x, row_h = 0, 0
        while x < PHOTO[1]:
            im = photos[rng.integers(len(photos))]
            im = im[:, ::-1] if rng.random() < 0.5 else im
            h, w = min(im.shape[0], PHOTO[0] - y), min(im.shape[1], PHOTO[1] - x)
            canvas[y : y + h, x : x + w] = im[:h, :w]
            x, row_h = x + w, max(row_h, h)
        y += row_h
    return canvas


def group_photo(faces: list[np.ndarray], boxes: list, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A group photo with `faces` (256x256 grey JAFFE photos, their Haar face `boxes`) pasted on a 5x4
    grid with jitter, scaled so that each face box is `size` pixels; returns it and the true boxes (n, 4)."""
    canvas = background(rng).astype(np.float32)
    cell_h, cell_w = PHOTO[0] // 4, PHOTO[1] // 5
    truth = []
    for i, (photo, box) in enumerate(zip(faces, boxes)):
        factor = size / box[2]
        small = cv2.resize(
            photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        )
        bx, by, bw, bh = (v * factor for v in box)
        # the head: an ellipse around the face box, feathered over a tenth of its size
        mask = np.zeros(small.shape, np.float32)
        centre = (int(round(bx + bw / 2)), int(round(by + bh / 2)))
        cv2.ellipse(mask, centre, (int(0.8 * bw), int(1.05 * bh)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.1 * bw))[..., None]
        row, col = divmod(i, 5)
        slack_y, slack_x = cell_h - small.shape[0], cell_w - small.shape[1]
        top = row * cell_h + int(rng.integers(max(1, slack_y)))
        left = col * cell_w + int(rng.integers(max(1, slack_x)))
        region = canvas[top : top + small.shape[0], left : left + small.shape[1]]
        region[:] = region * (1 - mask) + np.repeat(small[..., None], 3, axis=2) * mask
        truth.append((left + bx, top + by, bw, bh))
    return canvas.astype(np.uint8), np.array(truth)


def match(truth: np.ndarray, boxes: np.ndarray) -> list[int | None]:
    """For each true box, the index of the found box matched to it (IoU > 0.3, best pairs first, each once)."""
    pairs = sorted(((box_iou(t, boxes)[j], i, j) for i, t in enumerate(truth) for j in range(len(boxes))), reverse=True)
    matched: list[int | None] = [None] * len(truth)
    used = set()
    for iou, i, j in pairs:
        if iou > 0.3 and matched[i] is None and j not in used:
            matched[i] = j
            used.add(j)
    return matched


def run_group(model, jaffe, n_photos: int) -> list[dict]:
    """One row per search setting: per face size the share found and accurate, false faces and CPU s a photo."""
    reference = FacePipeline(model)
    picks = np.linspace(0, len(jaffe.images) - 1, n_photos * PER_PHOTO).round().astype(int)
    boxes = []
    for i in picks:  # the face box of each JAFFE photo, at full size
        found = reference.find(jaffe.images[i])
        boxes.append(found.boxes[np.argmax(found.boxes[:, 2])])
    labels = [CLASS_NAMES[jaffe.labels[i]] for i in picks]
    photos = {}
    for size in FACE_SIZES:
        rng = np.random.default_rng(SEED)
        photos[size] = [
            group_photo(
                [jaffe.images[i] for i in picks[k * PER_PHOTO : (k + 1) * PER_PHOTO]],
                boxes[k * PER_PHOTO : (k + 1) * PER_PHOTO],
                size,
                rng,
            )
            for k in range(n_photos)
        ]
    rows = []
    for name, settings in SEARCH_SETTINGS:
        p = FacePipeline(model, **settings)
        row = {"setting": name, "settings": settings, "false_faces": 0, "cpu_s": 0.0, "n_photos": 0}
        for size in FACE_SIZES:
            found = correct = 0
            for k, (photo, truth) in enumerate(photos[size]):
                cpu = time.process_time()
                faces = p.faces(photo)
                row["cpu_s"] += time.process_time() - cpu
                row["n_photos"] += 1
                p.classify(faces)
                matched = match(truth, np.array([f.box for f in faces]).reshape(-1, 4))
                found += sum(j is not None for j in matched)
                row["false_faces"] += len(faces) - sum(j is not None for j in matched)
                truth_labels = labels[k * PER_PHOTO : (k + 1) * PER_PHOTO]
                correct += sum(j is not None and faces[j].label == y for j, y in zip(matched, truth_labels))
            n = len(photos[size]) * PER_PHOTO
            row[f"found_{size}"], row[f"accuracy_{size}"] = found / n, correct / n
        row["false_faces"] /= row["n_photos"]
        row["cpu_s"] /= row["n_photos"]
        rows.append(row)
        print(f"  {name}: {row['cpu_s']:.1f} CPU s/photo", flush=True)
    return rows


# -- the choice and the report ---------------------------------------------------------------------
def pick(data_rows: dict, group_rows: list[dict]) -> dict:
    """The defaults the study supports (see the module docstring)."""
    candidates = [r for r in group_rows if list(r["settings"]) == ["min_face"] and r["settings"]["min_face"]]
    good = [r for r in candidates if min(r["found_75"], r["found_150"]) >= 0.98 and r["false_faces"] <= 1]
    min_face = max((r["settings"]["min_face"] for r in good), default=None)
    names = [name for name, settings in CROP_SETTINGS if "detector" not in settings]
    mean = {
        n: np.mean([next(r["accuracy"] for r in rows if r["setting"] == n) for rows in data_rows.values()])
        for n in names
    }
    crop = max(names, key=lambda n: mean[n])
    return {"min_face": min_face, "crop_setting": crop, "crop_settings": dict(CROP_SETTINGS)[crop]}


def pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f}"


def report(env: dict, data_rows: dict, group_rows: list[dict], find_cpu: dict, chosen: dict, args) -> str:
    shipped = {
        "min_face": pipeline_module.MIN_FACE,
        "crop_side": pipeline_module.CROP_SIDE,
        "crop_fill": pipeline_module.CROP_FILL,
    }
    lines = [
        "# Face-finding study: faces found in users' images, and their accuracy",
        "",
        f"Made by `{env['command']}` on {env['time']} (commit {env['git']['commit']}"
        f"{', with uncommitted changes' if env['git']['dirty'] else ''}; {env['platform']}, {env['cpu_count']} CPUs); "
        "the record of the run, with the package versions: face_finding.json. What is measured and how: "
        "the docstring of bench/face_finding.py. The model: the shipped one, flip test-time views.",
        "",
        "## Ready-made crops and small photos",
        "",
        "Each image searched at full size (every setting alike); accuracy counts an image without an answer as wrong.",
        "",
    ]
    table = []
    for data, rows in data_rows.items():
        for r in rows:
            table.append(
                [
                    data,
                    r["setting"],
                    r["images"],
                    pct(r["found"]),
                    pct(r["whole"]),
                    pct(r["no_answer"]),
                    pct(r["accuracy"]),
                ]
            )
    lines.append(
        tabulate(
            table,
            headers=["input", "setting", "images", "face found %", "classified whole %", "no answer %", "accuracy %"],
            tablefmt="github",
        )
    )
    lines += [
        "",
        "Finding the faces (every setting alike), CPU ms per image: "
        + ", ".join(f"{k} {1000 * v:.1f}" for k, v in find_cpu.items())
        + ".",
        "",
        f"## Group photos ({PHOTO[1]}x{PHOTO[0]}, {PER_PHOTO} faces each, {args.photos} photos per face size)",
        "",
        "Face sizes are the side of the pasted face's Haar box in pixels of the photo.",
        "",
    ]
    table = [
        [r["setting"]]
        + [pct(r[f"found_{s}"]) for s in FACE_SIZES]
        + [pct(r[f"accuracy_{s}"]) for s in FACE_SIZES]
        + [f"{r['false_faces']:.1f}", f"{r['cpu_s']:.1f}"]
        for r in group_rows
    ]
    lines.append(
        tabulate(
            table,
            headers=["setting"]
            + [f"found {s} px %" for s in FACE_SIZES]
            + [f"accuracy {s} px %" for s in FACE_SIZES]
            + ["false faces / photo", "CPU s / photo"],
            tablefmt="github",
        )
    )
    lines += [
        "",
        "## The defaults",
        "",
        f"The rules (bench/face_finding.py `pick`) give min_face {chosen['min_face']} and the crop rules "
        f'"{chosen["crop_setting"]}". benchmark/inference/pipeline.py ships min_face {shipped["min_face"]}, '
        f"crop_side {shipped['crop_side']}, crop_fill {shipped['crop_fill']}"
        + (
            "."
            if chosen["min_face"] == shipped["min_face"]
            and all(shipped.get(k, v) == v for k, v in chosen["crop_settings"].items())
            else ": **they differ from the study's choice; update the code or this study.**"
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="subsets of the data sets, one group photo per size")
    parser.add_argument("--photos", type=int, default=None, help="group photos per face size (default 3; quick 1)")
    parser.add_argument("--out", type=Path, default=None, help=f"output stem (default {OUT.relative_to(REPO)})")
    parser.add_argument("--data", type=Path, default=None, help="the data root (default $FERBENCH_DATA, else data/)")
    args = parser.parse_args(argv)
    import os

    args.photos = args.photos or (1 if args.quick else 3)
    root = args.data or Path(os.environ.get("FERBENCH_DATA", "data"))
    started = time.perf_counter()
    env = environment(SEED)
    model = load_model(None, tta="flip")
    sets = data_sets(root, args.quick)
    data_rows, find_cpu = {}, {}
    for name, (images, labels) in sets.items():
        print(f"{name}: {len(images)} images", flush=True)
        data_rows[name], cpu = run_data_set(model, images, labels)
        find_cpu[name] = cpu / len(images)
    print("group photos", flush=True)
    group_rows = run_group(model, JAFFE(root / "jaffe").load(), args.photos)
    chosen = pick(data_rows, group_rows)
    text = report(env, data_rows, group_rows, find_cpu, chosen, args)
    print(text)
    out = args.out or (None if args.quick else OUT)
    if out is not None:
        record = {
            "environment": env,
            "seconds": round(time.perf_counter() - started, 1),
            "arguments": {"quick": args.quick, "photos": args.photos, "data": str(root)},
            "data_sets": data_rows,
            "find_cpu_s_per_image": find_cpu,
            "group_photos": group_rows,
            "chosen": chosen,
        }
        write_atomic(out.with_suffix(".md"), lambda f: f.write(text))
        write_atomic(out.with_suffix(".json"), lambda f: json.dump(record, f, indent=1))
        print(f"written: {out.with_suffix('.md')}, {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
