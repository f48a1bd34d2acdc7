"""Writers of tiny data sets in each real layout, for the loader tests (no real images in the repo).

Every image is filled with one grey value chosen per image, so a test can tell from the pixels which
file ended up where. Each writer returns what a correct loader must report, in load order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# -- FER2013 -----------------------------------------------------------------------------------------
#: (emotion, Usage) of CSV rows 0..11; rows 2 and 10/11 catch a lexical sort of '<row>.png'
FER_ROWS = [
    (3, "Training"),
    (0, "Training"),
    (6, "Training"),
    (2, "Training"),
    (5, "Training"),
    (1, "Training"),
    (4, "Training"),
    (0, "Training"),
    (3, "PublicTest"),
    (6, "PublicTest"),
    (2, "PrivateTest"),
    (5, "PrivateTest"),
]
#: (folder, class, file name) of a Kaggle-style upload, in the order a loader must return them
FER_KAGGLE = [
    ("train", "neutral", "Training_3.jpg"),
    ("train", "angry", "Training_5.jpg"),
    ("train", "happy", "Training_12.jpg"),
    ("test", "surprise", "PublicTest_2.jpg"),
    ("test", "sad", "PublicTest_7.jpg"),
    ("test", "fear", "PrivateTest_1.jpg"),
]


def gray(value: int, size: tuple[int, int] = (48, 48)) -> np.ndarray:
    return np.full(size, value, dtype=np.uint8)


def save(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def fer_value(row: int) -> int:
    return 5 + 20 * row


def write_fer_csv(root: Path, icml: bool = False) -> Path:
    """fer2013.csv (emotion,pixels,Usage) or icml_face_data.csv ('emotion, Usage, pixels' header)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / ("icml_face_data.csv" if icml else "fer2013.csv")
    lines = ["emotion, Usage, pixels" if icml else "emotion,pixels,Usage"]
    for row, (emotion, usage) in enumerate(FER_ROWS):
        pixels = " ".join([str(fer_value(row))] * 48 * 48)
        lines.append(f"{emotion},{usage},{pixels}" if icml else f"{emotion},{pixels},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_fer_tree(root: Path) -> list[str]:
    """<Usage>/<label>/<row>.png; returns the ids in CSV row order."""
    for row, (emotion, usage) in enumerate(FER_ROWS):
        save(root / usage / str(emotion) / f"{row}.png", gray(fer_value(row)))
    return [f"{usage}/{emotion}/{row}.png" for row, (emotion, usage) in enumerate(FER_ROWS)]


def write_fer_kaggle(root: Path) -> list[str]:
    """train|test/<class>/<Usage>_<n>.jpg; returns the ids in load order (split, then n)."""
    for i, (part, name, file) in enumerate(FER_KAGGLE):
        save(root / part / name / file, gray(fer_value(i)))
    return [f"{part}/{name}/{file}" for part, name, file in FER_KAGGLE]


# -- JAFFE -------------------------------------------------------------------------------------------
#: file names in name order, with (subject, expression code); KA.AN1.39 is written as a palette TIFF
JAFFE_FILES = [
    ("KA.AN1.39.tiff", "KA", "AN"),
    ("KA.HA1.29.tiff", "KA", "HA"),
    ("KL.NE1.155.tif", "KL", "NE"),
    ("KL.SU2.165.tiff", "KL", "SU"),
]


def jaffe_image(i: int) -> np.ndarray:
    """256x256 with a gradient, so a palette read that remapped values would show."""
    return (np.add.outer(np.arange(256), np.arange(256)) // 2 + 7 * i).astype(np.uint8)


def write_jaffe(root: Path, subfolder: bool = False) -> list[str]:
    """The JAFFE files (one palette TIFF with an identity grey palette, like the real KA files) plus
    the non-image files a real copy carries; returns the ids in load order."""
    folder = root / "jaffe" if subfolder else root
    for i, (name, _, _) in enumerate(JAFFE_FILES):
        image = jaffe_image(i)
        if i == 0:
            folder.mkdir(parents=True, exist_ok=True)
            palette = Image.frombytes("P", (256, 256), image.tobytes())
            palette.putpalette([level for level in range(256) for _ in range(3)])  # identity grey ramp
            palette.save(folder / name)
        else:
            save(folder / name, image)
    for name in ("README", "MANIFEST.sha256", ".DS_Store"):
        (folder / name).write_text("not an image\n")
    return [("jaffe/" if subfolder else "") + name for name, _, _ in JAFFE_FILES]


# -- CK+ ---------------------------------------------------------------------------------------------
#: (class folder, file name) of CK+48 crops, in load order (class folder, then name)
CK48_FILES = [
    ("anger", "S010_004_00000017.png"),
    ("anger", "S010_004_00000018.png"),
    ("contempt", "S138_008_00000007.png"),
    ("happy", "S005_001_00000011.png"),
    ("happy", "S010_006_00000015.png"),
]


def write_ck48(root: Path, in_root: bool = False) -> list[str]:
    """CK+48/<class>/<frame>.png (or the class folders in the root); returns the ids in load order."""
    folder = root if in_root else root / "CK+48"
    for i, (name, file) in enumerate(CK48_FILES):
        save(folder / name / file, gray(10 + 30 * i))
    return [("" if in_root else "CK+48/") + f"{name}/{file}" for name, file in CK48_FILES]


#: (subject, sequence, number of frames, CK+ emotion code or None for an unlabelled sequence, frame size)
CK_SEQUENCES = [("S005", "001", 5, 3, (12, 10)), ("S010", "002", 4, 2, (14, 10)), ("S010", "003", 3, None, (14, 10))]


def ck_value(frame: int) -> int:
    return 10 * frame


def write_ck_original(root: Path) -> None:
    """cohn-kanade-images/S###/###/<frame>.png (frame n filled with ck_value(n); S010/002's frames are
    RGB, as some originals are) and Emotion/S###/###/<last frame>_emotion.txt for labelled sequences."""
    for subject, sequence, n_frames, code, size in CK_SEQUENCES:
        (root / "Emotion" / subject / sequence).mkdir(parents=True)
        for frame in range(1, n_frames + 1):
            image = gray(ck_value(frame), size)
            if sequence == "002":
                image = np.repeat(image[..., None], 3, axis=2)
            save(root / "cohn-kanade-images" / subject / sequence / f"{subject}_{sequence}_{frame:08d}.png", image)
        if code is not None:
            label = root / "Emotion" / subject / sequence / f"{subject}_{sequence}_{n_frames:08d}_emotion.txt"
            label.write_text(f"   {code:.7e}\n")


def ck_frame_id(subject: str, sequence: str, frame: int) -> str:
    return f"cohn-kanade-images/{subject}/{sequence}/{subject}_{sequence}_{frame:08d}.png"


# -- FER+ ----------------------------------------------------------------------------------------------
#: (Usage, image name or "" for a row without an image, votes: neutral happiness surprise sadness anger
#: disgust fear contempt unknown NF, the majority label a loader must give or None when it excludes it)
FERPLUS_ROWS = [
    ("Training", "fer0000000.png", (7, 3, 0, 0, 0, 0, 0, 0, 0, 0), "neutral"),
    ("Training", "fer0000001.png", (0, 5, 3, 1, 1, 0, 0, 0, 0, 0), "happy"),  # majority only once 1-votes go
    ("Training", "fer0000002.png", (4, 0, 0, 4, 0, 0, 0, 0, 2, 0), None),  # a tie: no majority
    ("Training", "fer0000003.png", (0, 0, 0, 0, 0, 0, 0, 0, 6, 4), None),  # unknown and not-a-face
    ("Training", "", (0, 0, 0, 0, 0, 0, 0, 0, 0, 10), None),  # FER+ wrote no image for it
    ("Training", "fer0000004.png", (0, 0, 0, 0, 0, 0, 0, 10, 0, 0), "contempt"),
    ("PublicTest", "fer0000005.png", (0, 0, 6, 0, 0, 0, 4, 0, 0, 0), "surprise"),
    ("PublicTest", "fer0000006.png", (2, 0, 0, 0, 8, 0, 0, 0, 0, 0), "angry"),
    ("PrivateTest", "fer0000007.png", (0, 0, 0, 0, 0, 9, 0, 0, 1, 0), "disgust"),
    ("PrivateTest", "fer0000008.png", (5, 0, 0, 3, 0, 0, 0, 0, 0, 2), None),  # 5 of 10: not more than half
]
FERPLUS_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def ferplus_value(row: int) -> int:
    return 10 + 20 * row


def write_ferplus_new_csv(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = [FERPLUS_HEADER] + [f"{usage},{name},{','.join(map(str, votes))}" for usage, name, votes, _ in FERPLUS_ROWS]
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")


def write_ferplus_folders(root: Path) -> None:
    """The official generator's output: FER2013Train|Valid|Test/ with PNGs and label.csv, and fer2013new.csv."""
    write_ferplus_new_csv(root)
    lines: dict[str, list[str]] = {folder: [] for folder in FERPLUS_FOLDERS.values()}
    for row, (usage, name, votes, _) in enumerate(FERPLUS_ROWS):
        if name:
            folder = FERPLUS_FOLDERS[usage]
            save(root / folder / name, gray(ferplus_value(row)))
            lines[folder].append(f'{name},"(0, 0, 48, 48)",{",".join(map(str, votes))}')
    for folder, rows in lines.items():
        (root / folder / "label.csv").write_text("\n".join(rows) + "\n")


def write_ferplus_csv(root: Path) -> None:
    """fer2013new.csv beside FER2013's fer2013.csv, row r of one being row r of the other."""
    write_ferplus_new_csv(root)
    lines = ["emotion,pixels,Usage"] + [
        f"0,{' '.join([str(ferplus_value(row))] * 48 * 48)},{usage}"
        for row, (usage, _, _, _) in enumerate(FERPLUS_ROWS)
    ]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
