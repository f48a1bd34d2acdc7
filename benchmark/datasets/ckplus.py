"""CK+ (Extended Cohn-Kanade): posed expression sequences that run from neutral to the peak; only
the 327 sequences with an Emotion label file count, and the label belongs to the last (peak) frame.

Two layouts:
- ck48: `CK+48/<class>/S###_###_########.png` (or the class folders directly in the root), the
  common third-party 48x48 crops of the last three frames of each labelled sequence;
- original: `cohn-kanade-images/S###/###/S###_###_########.png` plus
  `Emotion/S###/###/S###_###_########_emotion.txt`, in the root or in an `original/` subfolder. The
  last `peak_frames` frames of each labelled sequence take its label; `first_frame_neutral` adds the
  first frame as neutral (the usual way to get a neutral class, which CK+ does not label).
Contempt exists only in CK+, so `include_contempt=false` drops it to compare with 7-class data sets;
the number dropped goes into `Dataset.excluded`.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.datasets.base import DatasetLoader, image_files
from core import validation as check
from core.errors import ConfigError
from core.labels import ANGRY, CONTEMPT, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE

LAYOUTS = ("auto", "ck48", "original")
CK48_SIZE = (48, 48)
#: frames CK+48 keeps per sequence; peak_frames must equal it there
CK48_PEAK_FRAMES = 3
CK48_CLASSES = {
    "anger": ANGRY,
    "contempt": CONTEMPT,
    "disgust": DISGUST,
    "fear": FEAR,
    "happy": HAPPY,
    "sadness": SAD,
    "surprise": SURPRISE,
}
#: CK+ Emotion file code (index) -> canonical code
EMOTION_CODES = (NEUTRAL, ANGRY, CONTEMPT, DISGUST, FEAR, HAPPY, SAD, SURPRISE)
FRAME_NAME = re.compile(r"(S\d{3})_(\d{3})_(\d{8})\.png")
EXPECTED = {
    "ck48": f"  ck48:     CK+48/<{'|'.join(CK48_CLASSES)}>/S###_###_########.png (or the class folders in the root)",
    "original": "  original: cohn-kanade-images/S###/###/S###_###_########.png and "
    "Emotion/S###/###/S###_###_########_emotion.txt (in the root or in original/)",
}


class CKPlus(DatasetLoader):
    """CK+: the CK+48 crops or the original sequences (see the module docstring); subjects known."""

    name = "ckplus"
    source_hint = (
        "CK+ is released by its owners (CMU / University of Pittsburgh) under a research-only "
        "agreement: https://www.jeffcohn.net/Resources/ (the CK+48 crops circulate on GitHub and Kaggle)."
    )
    has_subjects = True

    def __init__(
        self,
        root: str | Path,
        layout: str = "auto",
        include_contempt: bool = True,
        peak_frames: int = 3,
        first_frame_neutral: bool = False,
        on_bad_image: str = "raise",
    ):
        super().__init__(root, on_bad_image)
        self.layout = check.choice("layout", layout, LAYOUTS)
        self.include_contempt = check.flag("include_contempt", include_contempt)
        self.peak_frames = check.number("peak_frames", peak_frames, 1, integer=True)
        self.first_frame_neutral = check.flag("first_frame_neutral", first_frame_neutral)

    def _load(self):
        """auto takes CK+48 when both layouts are present; layout=original picks the full frames."""
        found = {"ck48": self._ck48_dir(), "original": self._original_dir()}
        layout = next((name for name in found if found[name]), None) if self.layout == "auto" else self.layout
        if layout is None:
            raise self.missing("\n".join(EXPECTED.values()))
        if found[layout] is None:
            raise self.missing(EXPECTED[layout])
        if layout == "original":
            return self._read(self._original_items(found[layout]), size=None)
        if self.first_frame_neutral or self.peak_frames != CK48_PEAK_FRAMES:
            raise ConfigError(
                f"ckplus: CK+48 holds only the last {CK48_PEAK_FRAMES} frames of each sequence; "
                f"first_frame_neutral and peak_frames other than {CK48_PEAK_FRAMES} need layout=original"
            )
        return self._read(self._ck48_items(found[layout]), size=CK48_SIZE)

    def _ck48_dir(self) -> Path | None:
        if (self.root / "CK+48").is_dir():
            return self.root / "CK+48"
        return self.root if any((self.root / c).is_dir() for c in CK48_CLASSES) else None

    def _original_dir(self) -> Path | None:
        return next(
            (
                d
                for d in (self.root, self.root / "original")
                if (d / "cohn-kanade-images").is_dir() and (d / "Emotion").is_dir()
            ),
            None,
        )

    def _ck48_items(self, folder: Path) -> list[tuple]:
        """(path, label, subject) of every CK+48 crop, by class folder then file name."""
        items = []
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in image_files(class_dir):
                name = FRAME_NAME.fullmatch(path.name)
                if class_dir.name not in CK48_CLASSES:
                    self.bad(
                        self.rel(path),
                        "unknown class folder",
                        f"{class_dir.name!r}, expected one of {', '.join(CK48_CLASSES)}",
                    )
                elif name is None:
                    self.bad(self.rel(path), "file name does not match S###_###_########.png")
                else:
                    items.append((path, CK48_CLASSES[class_dir.name], name[1]))
        return items

    def _original_items(self, folder: Path) -> list[tuple]:
        """(path, label, subject) of the chosen frames of every labelled sequence, by sequence then frame."""
        items = []
        for label_file in sorted((folder / "Emotion").glob("S*/*/*_emotion.txt")):
            code = self._emotion_code(label_file)
            if code is None:
                continue
            subject, sequence = label_file.parent.parent.name, label_file.parent.name
            frames = self._frames(folder / "cohn-kanade-images" / subject / sequence)
            if not frames:
                self.bad(
                    self.rel(label_file), "no frames for this sequence", f"cohn-kanade-images/{subject}/{sequence}/"
                )
                continue
            if self.first_frame_neutral:
                items.append((frames[0], NEUTRAL, subject))
                frames = frames[1:]
            items += [(path, EMOTION_CODES[code], subject) for path in frames[-self.peak_frames :]]
        return items

    def _emotion_code(self, label_file: Path) -> int | None:
        """The CK+ code in an Emotion file (one float, e.g. '   3.0000000e+00'), or None after `bad`."""
        text = label_file.read_text().strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value.is_integer() or not 0 <= value < len(EMOTION_CODES):
            return self.bad(self.rel(label_file), "not one CK+ emotion code 0-7", f"found {text[:40]!r}")
        return int(value)

    def _frames(self, sequence_dir: Path) -> list[Path]:
        """The frames of one sequence ordered by frame number; misnamed image files are reported."""
        frames = []
        for path in image_files(sequence_dir):
            name = FRAME_NAME.fullmatch(path.name)
            if name is None:
                self.bad(self.rel(path), "file name does not match S###_###_########.png")
            else:
                frames.append((int(name[3]), path))
        return [path for _, path in sorted(frames)]

    def _read(self, items: list[tuple], size: tuple[int, int] | None):
        """Read the (path, label, subject) items in order; contempt is dropped unread unless included."""
        kept = [
            (path, label, subject, None) for path, label, subject in items if self.include_contempt or label != CONTEMPT
        ]
        excluded = {} if self.include_contempt else {"contempt (include_contempt=false)": len(items) - len(kept)}
        return self.read_all(kept, size, excluded)
