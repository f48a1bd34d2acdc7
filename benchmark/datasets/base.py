"""What every data set loader returns, and the shared rules for reading image files.

A loader is a small class built from `conf/dataset/<name>.yaml` (Hydra `_target_`). Its `load()`
returns a `Dataset`: uint8 grayscale images, canonical labels (`core.labels`), an id per
image (its path relative to the data set root, or a CSV row), and, where the data set has them, a
subject per image and the official split. Bad files either raise a `DataError` naming the file
(`on_bad_image: raise`, the default) or are skipped and listed in `Dataset.skipped` with the reason
(`on_bad_image: skip`); they are never dropped silently.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import validation as check
from core.errors import DataError
from core.images import (  # IMAGE_SUFFIXES: what a loader reads
    IMAGE_SUFFIXES,
    ImageError,
    read_image,
)
from core.io import write_atomic
from core.labels import CLASS_NAMES

BAD_IMAGE_POLICIES = ("raise", "skip")


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name; [] if it is not a folder.

    Hidden files are skipped: they are OS metadata (.DS_Store, macOS '._x.tiff' resource forks that
    zips made on a Mac carry), not images. README, manifest and other non-image files are skipped too.
    """
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


@dataclass
class Dataset:
    """Images with labels, ids and (optionally) subjects and official splits, all aligned by index.

    `images` is a uint8 array of shape (N, H, W) when all images share one size, else a 1-D object
    array of 2-D uint8 arrays (e.g. CK+'s original 640x490 and 640x480 frames); both index the same way.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    subjects: np.ndarray | None = None
    splits: np.ndarray | None = None
    skipped: list[dict] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    #: (N, 8) float32 class distributions (label-code order) for data sets labelled by votes (FER+), else None
    soft_labels: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.images)
        for attr in ("labels", "ids", "subjects", "splits", "soft_labels"):
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"Dataset {self.name}: {attr} has {len(value)} entries for {n} images")
        self.labels = np.asarray(self.labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def classes(self) -> np.ndarray:
        """The canonical label codes present, sorted."""
        return np.unique(self.labels)

    @property
    def class_names(self) -> list[str]:
        return [CLASS_NAMES[c] for c in self.classes]

    @property
    def n_subjects(self) -> int:
        return 0 if self.subjects is None else len(np.unique(self.subjects))

    def subset(self, index) -> Dataset:
        """The images at `index` (an index array or boolean mask), with the same skip/exclusion log."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Dataset(
            self.name,
            self.images[index],
            self.labels[index],
            self.ids[index],
            pick(self.subjects),
            pick(self.splits),
            list(self.skipped),
            dict(self.excluded),
            pick(self.soft_labels),
        )

    def counts(self) -> dict:
        """Counts per split, class and subject, as `verify` and run records report them."""
        out = {"n_images": len(self), "per_class": _count(self.labels, CLASS_NAMES)}
        if self.splits is not None:
            out["per_split"] = {
                s: {"n_images": int(m.sum()), "per_class": _count(self.labels[m], CLASS_NAMES)}
                for s in sorted(set(self.splits.tolist()))
                for m in [self.splits == s]
            }
        if self.subjects is not None:
            out["n_subjects"] = self.n_subjects
            out["per_subject"] = {str(s): int(c) for s, c in sorted(Counter(self.subjects.tolist()).items())}
        if self.skipped:
            out["skipped"] = len(self.skipped)
        if self.excluded:
            out["excluded"] = dict(self.excluded)
        return out


def _count(labels: np.ndarray, names) -> dict[str, int]:
    return {names[c]: int(n) for c, n in sorted(Counter(labels.tolist()).items())}


def files_digest(root: Path, cache_dir: str | Path | None = None) -> str | None:
    """blake2b of every regular, non-hidden file below `root` (sorted relative paths, sizes, bytes);
    None when `root` is not a folder. The digest is cached under `cache_dir`/fingerprints, keyed by the
    listing (paths, sizes, modification times): a changed file changes the listing."""
    import hashlib

    if not root.is_dir():
        return None
    stats = []  # (relative path, size, mtime), hidden files and folders left out
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        prefix = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            if not name.startswith("."):
                st = os.stat(os.path.join(folder, name))
                stats.append((name if prefix == "." else f"{prefix}/{name}", st.st_size, st.st_mtime_ns))
    stats.sort()
    listing = hashlib.blake2b(
        "\n".join(f"{n}\0{size}\0{mtime}" for n, size, mtime in stats).encode("utf-8", "surrogateescape")
        + str(root.resolve()).encode("utf-8", "surrogateescape"),  # any name the file system holds
        digest_size=20,
    ).hexdigest()
    cached = None if cache_dir is None else Path(cache_dir).expanduser() / "fingerprints" / f"{listing}.txt"
    if cached is not None and cached.is_file():
        return cached.read_text().strip()
    digest = hashlib.blake2b(digest_size=20)
    for name, size, _ in stats:
        digest.update(f"{name}\0{size}\0".encode("utf-8", "surrogateescape"))
        with open(root / name, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    if cached is not None:
        try:
            write_atomic(cached, lambda f: f.write(digest.hexdigest()))
        except OSError:
            pass  # a read-only cache costs the next run a re-read, not this run
    return digest.hexdigest()


def stack_images(images: list[np.ndarray]) -> np.ndarray:
    """(N, H, W) uint8 when all images share a size, else a 1-D object array."""
    if images and len({im.shape for im in images}) == 1:
        return np.stack(images)
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out


class DatasetLoader:
    """Base of the loaders: the data set root, the bad-image policy and the skip log."""

    name: str = "dataset"
    #: where to get the data set; every "not found" error repeats it
    source_hint: str = ""
    #: what the protocols may ask of this data set, known before loading
    has_subjects: bool = False
    has_official_split: bool = False

    def __init__(self, root: str | Path, on_bad_image: str = "raise"):
        self.on_bad_image = check.choice("on_bad_image", on_bad_image, BAD_IMAGE_POLICIES)
        self.root = Path(root).expanduser()
        self._skipped: list[dict] = []

    def fingerprint(self, cache_dir: str | Path | None = None) -> str | None:
        """A hash of every file under the root (relative path, size and bytes), or None when the root
        does not exist. A run record keeps it, so an identical config run on other data (files fixed,
        replaced, or data_root pointing elsewhere) is not answered with the old record. With
        `cache_dir`, a tree whose file names, sizes and modification times are unchanged is not read
        again (FER2013's 35,887 files: ~0.3 s instead of ~5 s)."""
        return files_digest(self.root, cache_dir)

    def load(self) -> Dataset:
        """Read the data set; each call starts a fresh skip log."""
        self._skipped = []
        return self._load()

    def _load(self) -> Dataset:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------------
    def missing(self, expected: str) -> DataError:
        """The error for a root that does not hold the data set in any known layout."""
        return DataError(
            f"{self.name}: no data set found at '{self.root}'.\n"
            f"Expected layout:\n{expected}\n"
            f"Set data_root=DIR (or the FERBENCH_DATA environment variable) to the folder that "
            f"holds '{self.root.name}/'. {self.source_hint}"
        )

    def bad(self, item_id: str, reason: str, detail: str | None = None) -> None:
        """Raise, or under the skip policy record the file and return None (so `return self.bad(...)` skips).

        `reason` names the kind of fault, the same words for every file with it (records count skipped
        files by it); `detail` (a line number, the size found, ...) is added in parentheses.
        """
        if detail is not None:
            reason = f"{reason} ({detail})"
        if self.on_bad_image == "raise":
            raise DataError(
                f"{self.name}: {item_id}: {reason}. "
                f"(Fix or remove the file, or set dataset.on_bad_image=skip to skip and record it.)"
            )
        self._skipped.append({"id": item_id, "reason": reason})

    def read_gray(self, path: Path, expected_size: tuple[int, int] | None = None) -> np.ndarray | None:
        """Read an image file as 2-D uint8 grayscale; None (after `bad`) if unreadable or the wrong size.

        The one reader of image files (`core.images.read_image`, the applications' too): any format and
        mode, upright as its EXIF orientation says, grey by ITU-R 601 luma, which keeps the values of
        JAFFE's identity-palette TIFFs and of grey PNGs unchanged; 16-bit images scaled to 8 bits.
        """
        try:
            arr = read_image(path).gray
        except (ImageError, OSError) as exc:
            return self.bad(self.rel(path), "unreadable or corrupt image", f"{type(exc).__name__}: {exc}")
        if expected_size is not None and arr.shape != tuple(expected_size):
            return self.bad(
                self.rel(path),
                "wrong image size",
                f"{arr.shape[1]}x{arr.shape[0]}, expected {expected_size[1]}x{expected_size[0]}",
            )
        return arr

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def read_all(self, items, size: tuple[int, int] | None, excluded: dict | None = None) -> Dataset:
        """Read `items` = (path, label, subject or None, split or None) in order into the Dataset;
        files that cannot be read go through `bad`."""
        images, labels, ids, subjects, splits = [], [], [], [], []
        for path, label, subject, split in items:
            image = self.read_gray(path, size)
            if image is not None:
                images.append(image)
                labels.append(label)
                ids.append(self.rel(path))
                subjects.append(subject)
                splits.append(split)
        return self.finish(
            images,
            labels,
            ids,
            subjects if self.has_subjects else None,
            splits if self.has_official_split else None,
            excluded,
        )

    def finish(self, images, labels, ids, subjects=None, splits=None, excluded=None, soft_labels=None) -> Dataset:
        """Assemble the Dataset, failing clearly if nothing usable was found."""
        if not images:
            raise DataError(
                f"{self.name}: no usable images under '{self.root}' "
                f"({len(self._skipped)} skipped as bad). {self.source_hint}"
            )
        arr = lambda v: None if v is None else np.asarray(v)  # noqa: E731
        return Dataset(
            self.name,
            stack_images(images),
            np.asarray(labels, dtype=np.int64),
            np.asarray(ids),
            arr(subjects),
            arr(splits),
            list(self._skipped),
            dict(excluded or {}),
            None if soft_labels is None else np.asarray(soft_labels, dtype=np.float32),
        )
