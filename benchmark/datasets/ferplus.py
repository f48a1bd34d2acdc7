"""FER+ (Barsoum, Zhang, Canton Ferrer, Zhang, ICMI 2016, arXiv 1608.01041): FER2013's images relabelled
by ten crowd-workers each, over FER2013's seven classes plus contempt, with "unknown" and "not a
face" (NF) votes. The split is FER2013's: FER2013Train = Training, FER2013Valid = PublicTest (for
selection), FER2013Test = PrivateTest (reported), so `protocol=official` runs it.

Two layouts, both with the pixels as FER2013 had them (not the contrast-stretched copies some
FER2013 uploads carry):
- folders (the official generator's output): `FER2013Train|FER2013Valid|FER2013Test/` with the 48x48
  PNGs and a `label.csv` each (`<name>.png,"(0, 0, 48, 48)",<10 votes>`), and `fer2013new.csv`
  (`Usage,Image name,<10 votes>`);
- csv: `fer2013new.csv` beside FER2013's `fer2013.csv` (or `icml_face_data.csv`), row r of one being
  row r of the other (the only reliable join: image names are not row numbers).
`votes` picks the vote file in the folders layout: `label_csv` (what the official training code
reads) or `fer2013new` (what most other code reads); they differ for 1,601 images.

Labels follow the official code (microsoft/FERPlus, src/ferplus.py, `_process_data`): a single vote
for an emotion is dropped as an outlier; then
- majority: the top emotion must hold more than half of the remaining votes (unknown and NF
  included), else the image is excluded (counted in `excluded`). Valid and Test are always labelled
  this way: it is the test protocol;
- soft (Training, `train_labels=soft`): the vote distribution over the top emotions (at most three,
  taken until they hold 75 % of the votes); an image whose kept emotions hold half of the votes or
  less, or whose top votes are unknown / NF, is excluded. `Dataset.soft_labels` holds the
  distributions (N, 8) in label-code order; `labels` their most-voted class (for scoring and for
  methods that train on one label: the classical ones). A CNN trains on the distribution (cross-entropy
  against it, or a label drawn from it each epoch: `deep.estimator.CNNClassifier(soft_targets=...)`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from benchmark.datasets.base import DatasetLoader
from benchmark.datasets.fer2013 import CSV_NAMES, N_PIXELS, SIZE
from core import validation as check
from core.errors import DataError
from core.labels import ANGRY, CONTEMPT, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE

#: the vote columns, in the files' order: eight emotions as label codes, then unknown and not-a-face
EMOTIONS = (NEUTRAL, HAPPY, SURPRISE, SAD, ANGRY, DISGUST, FEAR, CONTEMPT)
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
VOTES = ("label_csv", "fer2013new")
TRAIN_LABELS = ("majority", "soft")
N_CODES = 8
EXPECTED = (
    "  folders: FER2013Train/ FER2013Valid/ FER2013Test/ (48x48 PNGs + label.csv each) and fer2013new.csv\n"
    "  csv:     fer2013new.csv beside FER2013's fer2013.csv (or icml_face_data.csv)"
)


def vote_targets(votes, mode: str) -> np.ndarray | None:
    """The official code's target of one image's 10 votes (8 emotions, unknown, NF) as a distribution
    over the 8 label codes (float64, summing to 1), or None when the image is excluded."""
    raw = [0.0 if v < 1.0 + 1e-9 else float(v) for v in votes]  # a single vote is an outlier
    total = sum(raw)
    kept = [0.0] * len(raw)
    if mode == "majority":
        top = max(raw)
        if top > 0.5 * total:
            kept[raw.index(top)] = top
    else:  # the vote distribution: the top emotions, at most three, until they hold 75 % of the votes
        part, count, valid = 0.0, 0, True
        while part < 0.75 * total and count < 3 and valid:
            top = max(raw)
            for i in range(len(raw)):
                if raw[i] == top:
                    kept[i], raw[i] = top, 0.0
                    part += top
                    count += 1
                    if i >= len(EMOTIONS):  # unknown or NF share the top count
                        valid = False
                        if sum(kept) > top:  # other emotions came before it
                            kept[i] = 0.0
                            count -= 1
                        break
        if sum(kept) <= 0.5 * total or count > 3:
            return None
    if sum(kept) == 0 or int(np.argmax(kept)) >= len(EMOTIONS):
        return None
    target = np.zeros(N_CODES)
    for column, code in enumerate(EMOTIONS):
        target[code] = kept[column]
    return target / target.sum()


class FERPlus(DatasetLoader):
    """FER+: FER2013's images with the labels of 10 votes each (see the module docstring)."""

    name = "ferplus"
    source_hint = (
        "FER+ labels: https://github.com/microsoft/FERPlus (MIT; fer2013new.csv, and its generator "
        "writes the FER2013Train|Valid|Test folders from FER2013's fer2013.csv, on Kaggle)."
    )
    has_official_split = True

    def __init__(
        self, root: str | Path, votes: str = "label_csv", train_labels: str = "majority", on_bad_image: str = "raise"
    ):
        super().__init__(root, on_bad_image)
        self.votes = check.choice("votes", votes, VOTES)
        self.train_labels = check.choice("train_labels", train_labels, TRAIN_LABELS)

    def _load(self):
        new_csv = self.root / "fer2013new.csv"
        if all((self.root / f).is_dir() for f in FOLDERS.values()):
            entries = self._folder_entries(new_csv)
        elif new_csv.is_file() and any((self.root / n).is_file() for n in CSV_NAMES):
            entries = self._csv_entries(new_csv, next(self.root / n for n in CSV_NAMES if (self.root / n).is_file()))
        else:
            raise self.missing(EXPECTED)
        return self._assemble(entries)

    # -- the two layouts: (id, usage, votes, image or path) per image ------------------------------
    def _folder_entries(self, new_csv: Path) -> list[tuple]:
        by_name = {}
        if self.votes == "fer2013new":
            if not new_csv.is_file():
                raise self.missing(EXPECTED)
            for r, row in enumerate(self._rows(new_csv, header=True)):
                if len(row) >= 12 and row[1].strip():
                    by_name[(row[0].strip(), row[1].strip())] = (r, row[2:12])
        entries = []
        for usage, folder in FOLDERS.items():
            labels = self.root / folder / "label.csv"
            if not labels.is_file():
                raise DataError(f"{self.name}: {self.rel(labels)} is missing. {self.source_hint}")
            for line, row in enumerate(self._rows(labels, header=False), start=1):
                if len(row) < 12:
                    self.bad(f"{folder}/label.csv:{line}", "wrong number of fields", f"{len(row)}, expected 12")
                    continue
                name = row[0].strip()
                votes = row[2:12] if self.votes == "label_csv" else by_name.get((usage, name), (None, None))[1]
                if votes is None:
                    self.bad(f"{folder}/{name}", "no row of fer2013new.csv names this image")
                    continue
                entries.append((f"{folder}/{name}", usage, votes, self.root / folder / name))
        return entries

    def _csv_entries(self, new_csv: Path, pixels_csv: Path) -> list[tuple]:
        rows = list(self._rows(new_csv, header=True))
        with pixels_csv.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if "pixels" not in header:
                raise DataError(f"{self.name}: {pixels_csv.name}: no 'pixels' column in its header {header}")
            pixels = [row[header.index("pixels")] for row in reader if row]
        if len(pixels) != len(rows):
            raise DataError(
                f"{self.name}: {new_csv.name} has {len(rows)} rows and {pixels_csv.name} {len(pixels)}: "
                "row r of one must be row r of the other"
            )
        return [
            (f"{pixels_csv.name}:row{r}", row[0].strip(), row[2:12], text)
            for r, (row, text) in enumerate(zip(rows, pixels))
        ]

    # -- labels and images ------------------------------------------------------------------------
    def _assemble(self, entries: list[tuple]):
        images, labels, ids, splits, soft = [], [], [], [], []
        excluded: dict[str, int] = {}
        for item_id, usage, votes, source in entries:
            if usage not in FOLDERS:
                self.bad(item_id, "unknown Usage", f"{usage!r}, expected one of {', '.join(FOLDERS)}")
                continue
            try:
                counts = [float(v) for v in votes]
            except ValueError:
                self.bad(item_id, "votes are not numbers", str(votes))
                continue
            if len(counts) != len(VOTE_COLUMNS) or min(counts) < 0:
                self.bad(item_id, f"not {len(VOTE_COLUMNS)} vote counts >= 0", str(votes))
                continue
            mode = self.train_labels if usage == "Training" else "majority"
            target = vote_targets(counts, mode)
            if target is None:
                reason = (
                    "no majority of the votes for an emotion"
                    if mode == "majority"
                    else "no usable vote distribution over the emotions"
                ) + f" ({usage})"
                excluded[reason] = excluded.get(reason, 0) + 1
                continue
            image = self._image(item_id, source)
            if image is None:
                continue
            images.append(image)
            labels.append(int(np.argmax(target)))
            ids.append(item_id)
            splits.append(usage)
            soft.append(target.astype(np.float32))
        return self.finish(
            images, labels, ids, splits=splits, excluded=dict(sorted(excluded.items())), soft_labels=soft
        )

    def _image(self, item_id: str, source) -> np.ndarray | None:
        if isinstance(source, Path):
            return self.read_gray(source, SIZE)
        try:
            values = np.fromstring(source, dtype=np.int16, sep=" ")
        except ValueError:
            return self.bad(item_id, "pixels are not space-separated integers")
        if values.size != N_PIXELS or values.min() < 0 or values.max() > 255:
            return self.bad(item_id, "wrong pixel values", f"{values.size} values, expected {N_PIXELS} in 0-255")
        return values.astype(np.uint8).reshape(SIZE)

    def _rows(self, path: Path, header: bool):
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            if header:
                names = [h.strip() for h in next(reader, [])]
                if names[2:12] != list(VOTE_COLUMNS):
                    raise DataError(
                        f"{self.name}: {path.name}: header {names} does not have the FER+ vote columns "
                        f"{', '.join(VOTE_COLUMNS)} after Usage and Image name"
                    )
            yield from (row for row in reader if row)
