"""The three real data set loaders: every layout on tiny written fixtures, every bad-file rule under
both policies, and the published counts on the real data (skipped when FERBENCH_DATA lacks it)."""

import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from benchmark.datasets.ckplus import CKPlus
from benchmark.datasets.fer2013 import FER2013
from benchmark.datasets.jaffe import JAFFE
from core.errors import ConfigError, DataError
from core.labels import ANGRY, CONTEMPT, DISGUST, HAPPY, NEUTRAL, SURPRISE
from tests import layouts
from tests.conftest import real_data_dir


def corrupt(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")


def expect_bad(make_loader, item_id: str, reason: str):
    """Policy raise: a DataError naming the file and the reason. Policy skip: the same, recorded."""
    with pytest.raises(DataError, match=re.escape(reason)) as error:
        make_loader("raise").load()
    assert item_id in str(error.value)
    dataset = make_loader("skip").load()
    assert [s["id"] for s in dataset.skipped] == [item_id]
    assert reason in dataset.skipped[0]["reason"]
    assert item_id not in dataset.ids
    return dataset


# -- FER2013 -----------------------------------------------------------------------------------------
FER_ROWS = layouts.FER_ROWS
FER_LABELS = [emotion for emotion, _ in FER_ROWS]
FER_SPLITS = [usage for _, usage in FER_ROWS]


@pytest.mark.parametrize("icml", [False, True], ids=["fer2013.csv", "icml_face_data.csv"])
def test_fer_csv(tmp_path, icml):
    path = layouts.write_fer_csv(tmp_path, icml=icml)
    data = FER2013(tmp_path).load()
    assert data.labels.tolist() == FER_LABELS
    assert data.splits.tolist() == FER_SPLITS
    assert data.ids.tolist() == [f"{path.name}:row{r}" for r in range(len(FER_ROWS))]
    assert data.images.shape == (12, 48, 48) and data.images.dtype == np.uint8
    assert data.images[:, 0, 0].tolist() == [layouts.fer_value(r) for r in range(12)]
    assert data.subjects is None


def test_fer_tree_restores_csv_row_order(tmp_path):
    ids = layouts.write_fer_tree(tmp_path)
    data = FER2013(tmp_path).load()
    assert data.ids.tolist() == ids
    assert data.labels.tolist() == FER_LABELS
    assert data.splits.tolist() == FER_SPLITS
    assert data.images[:, 0, 0].tolist() == [layouts.fer_value(r) for r in range(12)]


def test_fer_kaggle_orders_by_split_then_number(tmp_path):
    ids = layouts.write_fer_kaggle(tmp_path)
    data = FER2013(tmp_path).load()
    assert data.ids.tolist() == ids
    assert data.splits.tolist() == ["Training"] * 3 + ["PublicTest"] * 2 + ["PrivateTest"]
    assert data.class_names == ["angry", "fear", "happy", "sad", "surprise", "neutral"]
    assert data.labels.tolist() == [6, 0, 3, 5, 4, 2]
    # JPEG is lossy, but a flat grey image survives within a level or two
    assert np.abs(data.images[:, 0, 0].astype(int) - [layouts.fer_value(i) for i in range(6)]).max() <= 2


def test_fer_explicit_layout_must_be_present(tmp_path):
    layouts.write_fer_tree(tmp_path)
    assert len(FER2013(tmp_path, layout="tree").load()) == 12
    with pytest.raises(DataError, match=r"train\|test/"):
        FER2013(tmp_path, layout="kaggle").load()


def test_fer_missing_root_names_all_layouts(tmp_path):
    with pytest.raises(DataError) as error:
        FER2013(tmp_path / "nowhere").load()
    message = str(error.value)
    for expected in (
        "fer2013.csv",
        "icml_face_data.csv",
        "<Usage>/<label 0-6>/<row>.png",
        "train|test/",
        "Facial Expression Recognition Challenge",
    ):
        assert expected in message


def test_fer_unknown_layout_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="layout"):
        FER2013(tmp_path, layout="hdf5")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("3," + " ".join(["7"] * 2303) + ",Training", "2303 pixel values, expected 2304"),
        ("7," + " ".join(["7"] * 2304) + ",Training", "unknown emotion code (line 14: '7'"),
        ("3," + " ".join(["7"] * 2304) + ",Validation", "unknown Usage (line 14: 'Validation'"),
        ("3," + " ".join(["x"] * 2304) + ",Training", "not space-separated integers"),
        ("3," + " ".join(["300"] * 2304) + ",Training", "outside 0-255"),
        ("3,Training", "wrong number of fields (line 14: 2 fields, expected 3)"),
    ],
    ids=["short", "label", "usage", "text", "range", "fields"],
)
def test_fer_bad_csv_row(tmp_path, line, reason):
    path = layouts.write_fer_csv(tmp_path)
    with path.open("a") as f:
        f.write(line + "\n")
    data = expect_bad(lambda policy: FER2013(tmp_path, on_bad_image=policy), "fer2013.csv:row12", reason)
    assert len(data) == 12 and "line 14" in data.skipped[0]["reason"]


def test_fer_csv_without_the_columns_fails(tmp_path):
    (tmp_path / "fer2013.csv").write_text("label,image\n3,1 2 3\n")
    with pytest.raises(DataError, match="lacks the columns"):
        FER2013(tmp_path).load()


@pytest.mark.parametrize(
    "damage, item_id, reason",
    [
        (lambda root: corrupt(root / "Training/3/0.png"), "Training/3/0.png", "unreadable or corrupt"),
        (
            lambda root: layouts.save(root / "Training/3/0.png", layouts.gray(1, (40, 40))),
            "Training/3/0.png",
            "wrong image size (40x40, expected 48x48)",
        ),
        (
            lambda root: layouts.save(root / "Training/7/99.png", layouts.gray(1)),
            "Training/7/99.png",
            "unknown label folder ('7'",
        ),
        (
            lambda root: layouts.save(root / "Training/3/copy.png", layouts.gray(1)),
            "Training/3/copy.png",
            "does not match <Usage>/<label>/<row>.png",
        ),
    ],
    ids=["corrupt", "size", "label", "name"],
)
def test_fer_bad_tree_file(tmp_path, damage, item_id, reason):
    layouts.write_fer_tree(tmp_path)
    damage(tmp_path)
    expect_bad(lambda policy: FER2013(tmp_path, on_bad_image=policy), item_id, reason)


def test_fer_kaggle_name_without_split_prefix(tmp_path):
    layouts.write_fer_kaggle(tmp_path)
    layouts.save(tmp_path / "test/sad/Validation_3.jpg", layouts.gray(1))
    data = expect_bad(
        lambda policy: FER2013(tmp_path, on_bad_image=policy),
        "test/sad/Validation_3.jpg",
        "does not match <Training|PublicTest|PrivateTest>_<n>.jpg",
    )
    assert len(data) == 6


# -- JAFFE -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subfolder", [False, True], ids=["flat", "jaffe-subfolder"])
def test_jaffe(tmp_path, subfolder):
    ids = layouts.write_jaffe(tmp_path, subfolder=subfolder)
    data = JAFFE(tmp_path).load()
    assert data.ids.tolist() == ids  # README, MANIFEST and .DS_Store are ignored
    assert data.labels.tolist() == [ANGRY, HAPPY, NEUTRAL, SURPRISE]
    assert data.subjects.tolist() == ["KA", "KA", "KL", "KL"]
    assert data.images.shape == (4, 256, 256)
    for i in range(4):  # the palette TIFF (i = 0) reads as its index values
        assert np.array_equal(data.images[i], layouts.jaffe_image(i))


def test_jaffe_missing_root_names_the_pattern(tmp_path):
    with pytest.raises(DataError, match=r"<SUBJECT>\.<EXPR><n>\.<id>\.tiff"):
        JAFFE(tmp_path).load()


@pytest.mark.parametrize(
    "file, image, reason",
    [
        ("KA.XX1.99.tiff", np.zeros((256, 256), np.uint8), "unknown expression code ('XX'"),
        ("KA_AN1.tiff", np.zeros((256, 256), np.uint8), "does not match <SUBJECT>.<EXPR><n>.<id>.tiff"),
        ("KA.AN9.99.png", np.zeros((256, 256), np.uint8), "does not match"),
        ("KA.AN9.99.tiff", np.zeros((128, 256), np.uint8), "wrong image size (256x128, expected 256x256)"),
        ("KA.AN9.99.tiff", None, "unreadable or corrupt"),
    ],
    ids=["code", "name", "suffix", "size", "corrupt"],
)
def test_jaffe_bad_file(tmp_path, file, image, reason):
    layouts.write_jaffe(tmp_path)
    if image is None:
        corrupt(tmp_path / file)
    else:
        layouts.save(tmp_path / file, image)
    data = expect_bad(lambda policy: JAFFE(tmp_path, on_bad_image=policy), file, reason)
    assert len(data) == 4


# -- CK+ ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_root", [False, True], ids=["CK+48-folder", "class-folders-in-root"])
def test_ck48(tmp_path, in_root):
    ids = layouts.write_ck48(tmp_path, in_root=in_root)
    data = CKPlus(tmp_path).load()
    assert data.ids.tolist() == ids
    assert data.labels.tolist() == [ANGRY, ANGRY, CONTEMPT, HAPPY, HAPPY]
    assert data.subjects.tolist() == ["S010", "S010", "S138", "S005", "S010"]
    assert data.images.shape == (5, 48, 48)
    assert data.excluded == {}


def test_ck48_without_contempt_counts_the_exclusion(tmp_path):
    layouts.write_ck48(tmp_path)
    data = CKPlus(tmp_path, include_contempt=False).load()
    assert CONTEMPT not in data.labels and len(data) == 4
    assert data.excluded == {"contempt (include_contempt=false)": 1}


def test_ck48_rejects_options_it_cannot_honour(tmp_path):
    layouts.write_ck48(tmp_path)
    for options in ({"first_frame_neutral": True}, {"peak_frames": 1}):
        with pytest.raises(ConfigError, match="layout=original"):
            CKPlus(tmp_path, **options).load()


@pytest.mark.parametrize(
    "damage, item_id, reason",
    [
        (
            lambda root: corrupt(root / "CK+48/happy/S005_001_00000011.png"),
            "CK+48/happy/S005_001_00000011.png",
            "unreadable or corrupt",
        ),
        (
            lambda root: layouts.save(root / "CK+48/happy/S005_001_00000011.png", layouts.gray(1, (64, 64))),
            "CK+48/happy/S005_001_00000011.png",
            "wrong image size (64x64, expected 48x48)",
        ),
        (
            lambda root: layouts.save(root / "CK+48/neutral/S005_001_00000001.png", layouts.gray(1)),
            "CK+48/neutral/S005_001_00000001.png",
            "unknown class folder ('neutral'",
        ),
        (
            lambda root: layouts.save(root / "CK+48/happy/S5_1_11.png", layouts.gray(1)),
            "CK+48/happy/S5_1_11.png",
            "does not match S###_###_########.png",
        ),
    ],
    ids=["corrupt", "size", "class", "name"],
)
def test_ck48_bad_file(tmp_path, damage, item_id, reason):
    layouts.write_ck48(tmp_path)
    damage(tmp_path)
    expect_bad(lambda policy: CKPlus(tmp_path, on_bad_image=policy), item_id, reason)


def frame_ids(subject, sequence, frames):
    return [layouts.ck_frame_id(subject, sequence, f) for f in frames]


def test_ck_original_takes_the_last_peak_frames_of_labelled_sequences(tmp_path):
    layouts.write_ck_original(tmp_path)
    data = CKPlus(tmp_path).load()  # auto: no CK+48 folder, so the original tree
    assert data.ids.tolist() == frame_ids("S005", "001", [3, 4, 5]) + frame_ids("S010", "002", [2, 3, 4])
    assert data.labels.tolist() == [DISGUST] * 3 + [CONTEMPT] * 3  # CK+ codes 3 and 2
    assert data.subjects.tolist() == ["S005"] * 3 + ["S010"] * 3
    assert data.images.dtype == object  # two frame sizes, as in the real 640x490 / 640x480 frames
    assert [im[0, 0] for im in data.images] == [layouts.ck_value(f) for f in (3, 4, 5, 2, 3, 4)]


def test_ck_original_first_frame_neutral_and_peak_frames(tmp_path):
    layouts.write_ck_original(tmp_path)
    data = CKPlus(tmp_path, layout="original", peak_frames=1, first_frame_neutral=True).load()
    assert data.ids.tolist() == frame_ids("S005", "001", [1, 5]) + frame_ids("S010", "002", [1, 4])
    assert data.labels.tolist() == [NEUTRAL, DISGUST, NEUTRAL, CONTEMPT]


def test_ck_original_without_contempt(tmp_path):
    layouts.write_ck_original(tmp_path)
    data = CKPlus(tmp_path, include_contempt=False, first_frame_neutral=True).load()
    assert data.labels.tolist() == [NEUTRAL, DISGUST, DISGUST, DISGUST, NEUTRAL]
    assert data.excluded == {"contempt (include_contempt=false)": 3}


def test_ck_original_in_original_subfolder(tmp_path):
    layouts.write_ck_original(tmp_path / "original")
    assert len(CKPlus(tmp_path, layout="original").load()) == 6


@pytest.mark.parametrize(
    "text, reason",
    [("abc", "found 'abc'"), ("   9.0000000e+00", "code 0-7"), ("   2.5000000e+00", "code 0-7")],
    ids=["text", "range", "fraction"],
)
def test_ck_original_bad_emotion_file(tmp_path, text, reason):
    layouts.write_ck_original(tmp_path)
    label = tmp_path / "Emotion/S005/001/S005_001_00000005_emotion.txt"
    label.write_text(text)
    data = expect_bad(
        lambda policy: CKPlus(tmp_path, on_bad_image=policy), "Emotion/S005/001/S005_001_00000005_emotion.txt", reason
    )
    assert data.subjects.tolist() == ["S010"] * 3


def test_ck_original_label_without_frames(tmp_path):
    layouts.write_ck_original(tmp_path)
    for frame in (tmp_path / "cohn-kanade-images/S005/001").iterdir():
        frame.unlink()
    expect_bad(
        lambda policy: CKPlus(tmp_path, on_bad_image=policy),
        "Emotion/S005/001/S005_001_00000005_emotion.txt",
        "no frames for this sequence (cohn-kanade-images/S005/001/)",
    )


def test_ck_missing_root_names_both_layouts(tmp_path):
    with pytest.raises(DataError) as error:
        CKPlus(tmp_path).load()
    assert "CK+48/<anger|" in str(error.value) and "Emotion/S###/###/" in str(error.value)
    layouts.write_ck48(tmp_path)
    with pytest.raises(DataError, match="cohn-kanade-images"):
        CKPlus(tmp_path, layout="original").load()


@pytest.mark.parametrize("options", [{"layout": "h5"}, {"peak_frames": 0}, {"peak_frames": 2.5}])
def test_ck_config_is_validated(tmp_path, options):
    with pytest.raises(ConfigError):
        CKPlus(tmp_path, **options)


# -- real data ---------------------------------------------------------------------------------------
@pytest.mark.real_data
def test_real_jaffe():
    root = real_data_dir("jaffe")
    data = JAFFE(root).load()
    assert len(data) == 213 and data.n_subjects == 10 and not data.skipped
    counts = data.counts()
    assert counts["per_class"] == {
        "angry": 30,
        "disgust": 29,
        "fear": 32,
        "happy": 31,
        "sad": 31,
        "surprise": 30,
        "neutral": 30,
    }
    assert counts["per_subject"]["KA"] == 23 and counts["per_subject"]["KR"] == 20
    # KA files are palette TIFFs: the loaded values are the raw palette indices (identity grey ramp)
    with Image.open(root / "KA.AN1.39.tiff") as im:
        assert im.mode == "P"
        assert np.array_equal(np.asarray(im), data.images[data.ids.tolist().index("KA.AN1.39.tiff")])


@pytest.mark.real_data
def test_real_ck48():
    data = CKPlus(real_data_dir("ckplus")).load()
    assert len(data) == 981 and data.n_subjects == 118 and data.images.shape == (981, 48, 48)
    assert data.counts()["per_class"] == {
        "angry": 135,
        "disgust": 177,
        "fear": 75,
        "happy": 207,
        "sad": 84,
        "surprise": 249,
        "contempt": 54,
    }
    sequences = Counter(tuple(i.split("/")[-1].split("_")[:2]) for i in data.ids)
    assert len(sequences) == 327 and set(sequences.values()) == {3}


@pytest.fixture(scope="module")
def real_fer2013():
    return FER2013(real_data_dir("fer2013")).load()


FER_TABLE = {  # SOURCE.md: per split, classes 0 angry .. 6 neutral
    "Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "PublicTest": [467, 56, 496, 895, 653, 415, 607],
    "PrivateTest": [491, 55, 528, 879, 594, 416, 626],
}


@pytest.mark.real_data
def test_real_fer2013_counts(real_fer2013):
    data = real_fer2013
    assert data.images.shape == (35887, 48, 48) and not data.skipped
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    per_split = data.counts()["per_split"]
    for split, counts in FER_TABLE.items():
        assert per_split[split] == {"n_images": sum(counts), "per_class": dict(zip(names, counts))}


@pytest.mark.real_data
def test_real_fer2013_is_in_csv_order(real_fer2013):
    rows = [int(i.rsplit("/", 1)[1].removesuffix(".png")) for i in real_fer2013.ids]
    assert rows == list(range(35887))
    splits = real_fer2013.splits
    assert (splits[:28709] == "Training").all() and (splits[28709:32298] == "PublicTest").all()
    assert (splits[32298:] == "PrivateTest").all()


# -- FER+ ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["folders", "csv"])
def test_ferplus_majority_labels_exclusions_and_splits(tmp_path, layout):
    from benchmark.datasets.ferplus import FERPlus
    from tests.layouts import (
        FERPLUS_ROWS,
        ferplus_value,
        write_ferplus_csv,
        write_ferplus_folders,
    )

    (write_ferplus_folders if layout == "folders" else write_ferplus_csv)(tmp_path)
    data = FERPlus(tmp_path).load()
    kept = [(row, usage, label) for row, (usage, name, _, label) in enumerate(FERPLUS_ROWS) if label is not None]
    assert data.class_names == ["angry", "disgust", "happy", "surprise", "neutral", "contempt"]
    from core.labels import CLASS_NAMES

    assert [CLASS_NAMES[c] for c in data.labels] == [label for _, _, label in kept]
    assert data.splits.tolist() == [usage for _, usage, _ in kept]
    assert [int(image[0, 0]) for image in data.images] == [ferplus_value(row) for row, _, _ in kept]
    missing_rows = 1 if layout == "folders" else 0  # the row without an image is not even read there
    assert data.excluded == {
        "no majority of the votes for an emotion (PrivateTest)": 1,
        "no majority of the votes for an emotion (Training)": 3 - missing_rows,
    }
    np.testing.assert_array_equal(data.soft_labels.argmax(1), data.labels)  # one-hot under majority


def test_ferplus_soft_labels_are_the_official_vote_distribution(tmp_path):
    from benchmark.datasets.ferplus import FERPlus, vote_targets
    from tests.layouts import write_ferplus_folders

    write_ferplus_folders(tmp_path)
    data = FERPlus(tmp_path, train_labels="soft").load()
    train = data.splits == "Training"
    # fer0000001: 5 happy, 3 surprise after the single votes are dropped (3 + 5 >= 75 % of 8)
    np.testing.assert_allclose(data.soft_labels[train][1][[HAPPY, SURPRISE]], [5 / 8, 3 / 8])
    assert vote_targets([4, 0, 0, 4, 0, 0, 0, 0, 2, 0], "soft") is not None  # the tie is a distribution ...
    assert vote_targets([4, 0, 0, 4, 0, 0, 0, 0, 2, 0], "majority") is None  # ... but no majority
    assert vote_targets([0, 0, 0, 0, 0, 0, 0, 0, 6, 4], "soft") is None
    assert set(data.splits[~train].tolist()) == {"PublicTest", "PrivateTest"}  # tests stay majority-labelled
    assert (data.soft_labels[~train].max(1) == 1).all()


def test_ferplus_votes_from_fer2013new_and_bad_files(tmp_path):
    from benchmark.datasets.ferplus import FERPlus
    from tests.layouts import write_ferplus_folders

    write_ferplus_folders(tmp_path)
    (tmp_path / "FER2013Valid" / "label.csv").write_text(
        'fer0000005.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,0,10\nfer0000006.png,"(0, 0, 48, 48)",2,0,0,0,8,0,0,0,0,0\n'
    )
    by_label_csv, by_new = FERPlus(tmp_path).load(), FERPlus(tmp_path, votes="fer2013new").load()
    assert len(by_new) == len(by_label_csv) + 1  # fer0000005 has surprise votes in fer2013new.csv only
    with pytest.raises(ConfigError, match="votes must be one of label_csv | fer2013new".replace("|", r"\|")):
        FERPlus(tmp_path, votes="both")
    (tmp_path / "FER2013Test" / "fer0000007.png").write_bytes(b"")
    with pytest.raises(DataError, match="fer0000007.png"):
        FERPlus(tmp_path).load()
    assert FERPlus(tmp_path, on_bad_image="skip").load().skipped[0]["id"] == "FER2013Test/fer0000007.png"
    with pytest.raises(DataError, match="FER2013Train"):
        FERPlus(tmp_path / "nowhere").load()


def test_skipped_files_are_counted_by_kind_not_by_line(tmp_path):
    """Bad rows on different lines are one kind of fault in the record's count."""
    from benchmark.runner import _by_reason

    path = layouts.write_fer_csv(tmp_path)
    with path.open("a") as f:
        f.write("3,Training\n4,Training\n" + "9," + " ".join(["7"] * 2304) + ",Training\n")
    data = FER2013(tmp_path, on_bad_image="skip").load()
    assert _by_reason(data.skipped) == {"unknown emotion code": 1, "wrong number of fields": 2}


@pytest.mark.parametrize("suffix", ["jpg", "tiff", "png"])
def test_a_data_set_image_stored_sideways_is_read_upright(tmp_path, suffix):
    """JPEG, TIFF and PNG alike: the EXIF orientation is applied by the one function that reads images."""
    from PIL import Image

    upright = np.zeros((48, 48), np.uint8)
    upright[:12, :12] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    folder = tmp_path / ("train" if suffix == "jpg" else "Training/3")
    layouts.write_fer_kaggle(tmp_path) if suffix == "jpg" else layouts.write_fer_tree(tmp_path)
    target = tmp_path / "train" / "happy" / "Training_99.jpg" if suffix == "jpg" else folder / "99.png"
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    if suffix == "tiff":
        target = folder / "99.png"  # the tree layout reads PNG; a TIFF tag is tested through read_image
        from core.images import read_image

        tiff = tmp_path / "sideways.tiff"
        stored.save(tiff, exif=exif.tobytes())
        assert read_image(tiff).gray[:12, :12].mean() > 200
    stored.save(target, exif=exif.tobytes(), **({"quality": 100} if suffix == "jpg" else {}))
    data = FER2013(tmp_path).load()
    image = data.images[list(data.ids).index(target.relative_to(tmp_path).as_posix())]
    assert image[:12, :12].mean() > 200 and image[-12:, -12:].mean() < 50


# -- any folder ------------------------------------------------------------------------------------


def write_folder(root, names, split=None, subjects=("A01", "B02")):
    for n, name in enumerate(names):
        for s, subject in enumerate(subjects):
            layouts.save(root / (split or "") / name / f"{subject}_{name}_{s}.png", layouts.gray(10 * n + s, (40, 40)))


def test_folder_maps_the_usual_spellings_and_reads_any_size(tmp_path):
    from benchmark.datasets.folder import ImageFolder

    write_folder(
        tmp_path, ["Anger", "happiness", "Sadness", "surprised", "fearful", "disgusted", "NEUTRAL", "contempt"]
    )
    data = ImageFolder(tmp_path).load()
    assert data.class_names == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]
    assert len(data) == 16 and data.images.shape == (16, 40, 40) and data.splits is None and data.subjects is None


def test_folder_splits_and_subjects(tmp_path):
    from benchmark.datasets.folder import ImageFolder

    for split in ("train", "val", "test"):
        write_folder(tmp_path, ["happy", "sad"], split)
    data = ImageFolder(tmp_path, subject_pattern=r"^([A-Z]\d\d)_").load()
    assert sorted(set(data.splits.tolist())) == ["PrivateTest", "PublicTest", "Training"]
    assert sorted(set(data.subjects.tolist())) == ["A01", "B02"]
    (tmp_path / "train" / "happy" / "nosubject.png").write_bytes(
        (tmp_path / "train" / "happy").iterdir().__next__().read_bytes()
    )
    with pytest.raises(DataError, match="no subject id in the file name"):
        ImageFolder(tmp_path, subject_pattern=r"^([A-Z]\d\d)_").load()


def test_folder_numbered_classes_need_a_mapping_and_unknown_ones_are_listed(tmp_path):
    from benchmark.datasets.folder import ImageFolder

    write_folder(tmp_path, ["0", "3", "happy"])
    with pytest.raises(DataError, match=r"class folders \['0', '3'\] .* map to no label.*dataset.classes"):
        ImageFolder(tmp_path).load()
    data = ImageFolder(tmp_path, classes={"0": "angry", "3": "happy"}).load()
    assert data.class_names == ["angry", "happy"] and len(data) == 6
    with pytest.raises(ConfigError, match="classes maps to unknown labels \\['joy'\\]"):
        ImageFolder(tmp_path, classes={"0": "joy"})
