"""Published figures set beside ours, transcribed from the project's shared ANCHORS.md with source and grade.

Each figure names the protocols of ours it can honestly be set beside (none when the published
protocol matches none of them) and whether its own protocol was subject-independent: a figure
from folds that share people between training and test is not comparable with our
subject-independent ones, and the leaderboards say so next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

GRADES = {
    "S": "read in an abstract, a repository file or a leaderboard",
    "R": "widely cited, paper text not checked here: as reported",
    "H": "hearsay (a README or an issue comment)",
}


@dataclass(frozen=True)
class PublishedFigure:
    """One published figure. `accuracy` is the published text (percent), never rounded or converted.

    protocols: our protocols it is set beside; ours: our methods of the same family, whose best
    result on that protocol is shown next to it; subject_independent: None when unknown.
    """

    dataset: str
    method: str
    published_protocol: str
    accuracy: str
    source: str
    grade: str
    subject_independent: bool | None
    protocols: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()
    note: str = ""


_SHAN = "Shan, Gong, McOwan, Image and Vision Computing 27(6), 2009"
_SHAN_CK = (
    "original Cohn-Kanade, 96 subjects / 320 sequences, 3 peak frames (+ first as neutral for "
    "7 classes), eye-normalised crops, 10-fold person-independent"
)
_ORIGINAL_CK = "original Cohn-Kanade database, not CK+"
_FER_SUBJECTS = "FER2013 has no subject ids: whether people recur across its splits is unknown"

FIGURES: tuple[PublishedFigure, ...] = (
    # FER2013 (7 classes; Training / PublicTest / PrivateTest)
    PublishedFigure(
        "fer2013",
        "CNN + linear-SVM loss (challenge winner)",
        "official splits",
        "71.2 private / 69.4 public",
        'Tang, "Deep Learning using Linear SVMs", ICML 2013 workshop (arXiv 1306.0239)',
        "R",
        None,
        ("official",),
        ("cnn",),
        _FER_SUBJECTS,
    ),
    PublishedFigure(
        "fer2013",
        "human labellers",
        "small sample",
        "65 ± 5",
        "Goodfellow et al. 2013 (arXiv 1307.0414)",
        "R",
        None,
        ("official",),
        (),
        "a small sample of images, not the whole test set",
    ),
    PublishedFigure(
        "fer2013",
        "dense SIFT bag of words + local-learning SVM (best handcrafted, 4th)",
        "private test",
        "67.48",
        "Ionescu, Popescu, Grozea 2013",
        "S",
        None,
        ("official",),
        (),
        _FER_SUBJECTS,
    ),
    PublishedFigure(
        "fer2013",
        "single VGG / Inception / ResNet; ensemble",
        "test, no extra data",
        "72.7 / 71.6 / 72.4; 75.2",
        "Pramerdorfer & Kampel 2016 (arXiv 1612.02903)",
        "S (ensemble), R (singles)",
        None,
        ("official",),
        ("cnn",),
        _FER_SUBJECTS,
    ),
    PublishedFigure(
        "fer2013",
        "VGGNet, tuned",
        "single network, no extra data",
        "73.28",
        "Khaireddin & Chen 2021 (arXiv 2105.03588)",
        "S",
        None,
        ("official",),
        ("cnn",),
        _FER_SUBJECTS,
    ),
    PublishedFigure(
        "fer2013",
        "CNN + BOVW + local-learning SVM",
        "uses extra data",
        "75.42",
        "Georgescu et al. 2019, IEEE Access (arXiv 1804.10892)",
        "S",
        None,
        ("official",),
        (),
        "trained with extra data",
    ),
    PublishedFigure(
        "fer2013",
        "Residual Masking Network",
        "ImageNet-pretrained; single / ensemble of 7",
        "74.14 / 76.82",
        "Pham et al., ICPR 2020 (repository README)",
        "S as claimed",
        None,
        ("official",),
        ("cnn",),
        "users report 65.6–69.1 when reproducing",
    ),
    PublishedFigure(
        "fer2013",
        "LBP + SVM (seed system's code comment)",
        "public / private",
        "45.8 / 38.9",
        "luanshiyinyang/FacialExpressionRecognition, src/LBP.py",
        "H",
        None,
        ("official",),
        ("lbp_svm",),
    ),
    PublishedFigure(
        "fer2013",
        "HOG + SVM; landmarks + HOG + SVM",
        "split not stated",
        "29.0; 48.2",
        "amineHorseman/facial-expression-recognition-svm README",
        "H",
        None,
        ("official",),
        ("hog_svm",),
    ),
    PublishedFigure(
        "fer2013",
        "`fer` package's shipped mini-Xception",
        "PrivateTest / PublicTest on this project's copy",
        "66.04 / 65.76",
        "measured here, 2026-11-22",
        "S",
        None,
        ("official",),
        ("cnn",),
    ),
    # CK+ and Cohn-Kanade
    PublishedFigure(
        "ckplus",
        "LBP + SVM (RBF)",
        _SHAN_CK,
        "92.6 (6 classes) / 88.9 (7 classes)",
        _SHAN,
        "R",
        True,
        ("subject_kfold",),
        ("lbp_svm",),
        _ORIGINAL_CK,
    ),
    PublishedFigure(
        "ckplus",
        "Boosted-LBP + SVM",
        "same as LBP + SVM above",
        "95.1 / 91.4",
        _SHAN,
        "R",
        True,
        ("subject_kfold",),
        (),
        _ORIGINAL_CK,
    ),
    PublishedFigure(
        "ckplus",
        "Gabor + SVM",
        "same as LBP + SVM above",
        "≈ 89 / ≈ 87",
        _SHAN,
        "R",
        True,
        ("subject_kfold",),
        ("gabor_svm",),
        _ORIGINAL_CK,
    ),
    PublishedFigure(
        "ckplus",
        "VGG19",
        "CK+48, 10-fold, not subject-independent",
        "94.64",
        "WuJie1010/Facial-Expression-Recognition.Pytorch README",
        "S",
        False,
        ("kfold",),
        ("cnn", "cnn_transfer"),
    ),
    PublishedFigure(
        "ckplus",
        "DeXpression; FAN; DeepEmotion",
        "protocols vary",
        "99.6; 99.7; 98.0",
        "arXiv 1509.05371; papers' own tables",
        "S as reported",
        None,
        (),
        (),
        "protocols differ from paper to paper: set beside none of ours",
    ),
    # JAFFE (213 images, 10 subjects, 7 classes)
    PublishedFigure("jaffe", "LBP + SVM", "random 10-fold", "79.8", _SHAN, "R", False, ("kfold",), ("lbp_svm",)),
    PublishedFigure("jaffe", "LBP + SVM", "leave-one-subject-out", "41.3", _SHAN, "R", True, ("loso",), ("lbp_svm",)),
    PublishedFigure(
        "jaffe",
        "Gabor + LDA",
        "known subjects, new images",
        "≈ 92",
        "Lyons, Budynek, Akamatsu, IEEE PAMI 21(12), 1999",
        "R",
        False,
        ("kfold",),
        ("gabor_svm",),
    ),
    PublishedFigure(
        "jaffe",
        "Gabor + LDA",
        "new subjects",
        "≈ 75",
        "Lyons, Budynek, Akamatsu, IEEE PAMI 21(12), 1999",
        "R",
        True,
        ("loso",),
        ("gabor_svm",),
    ),
    PublishedFigure(
        "jaffe",
        'seed system ("99%+ 5-fold")',
        "its code makes one random 80/20 split; users measured 48% with its weights",
        "—",
        "luanshiyinyang/FacialExpressionRecognition, issues #39 and #45",
        "H",
        False,
        ("kfold",),
        (),
    ),
    # FER+ (8 classes; Test scored on majority labels)
    PublishedFigure(
        "ferplus",
        "VGG13, from scratch",
        "majority vote / probabilistic label drawing",
        "84.89 / 85.43",
        "Barsoum et al. 2016 (arXiv 1608.01041), as quoted in vicksam/fer-model README",
        "S (quoted)",
        None,
        ("official",),
        ("cnn",),
        _FER_SUBJECTS,
    ),
    PublishedFigure(
        "ferplus",
        "0.17 M-parameter separable CNN, from scratch",
        "vote distribution / majority",
        "87.04 ± 0.40 / 86.56 ± 0.24",
        "vicksam/fer-model README",
        "H",
        None,
        ("official",),
        ("cnn",),
    ),
    PublishedFigure(
        "ferplus",
        "ESR-9 ensemble",
        "official",
        "87.15",
        "Siqueira et al. 2020 (arXiv 2001.06338)",
        "R",
        None,
        ("official",),
        (),
    ),
    PublishedFigure(
        "ferplus",
        "SCN; POSTER",
        "face-pretrained backbones",
        "89.35; 91.62",
        "Wang et al. 2020 (arXiv 2002.10392); Zheng et al. 2022 (arXiv 2204.04083)",
        "S",
        None,
        ("official",),
        (),
        "pretrained on faces: not from scratch",
    ),
    # cross-data-set (trained on other data, tested without fine-tuning unless stated)
    PublishedFigure(
        "cross",
        "six other data sets -> CK+ / FER2013 (held out)",
        "no target data",
        "64.2 / 34.0",
        "Mollahosseini et al. 2016 (arXiv 1511.04110), Table 5",
        "S",
        None,
        ("cross",),
        (),
    ),
    PublishedFigure(
        "cross",
        "leave-one-database-out -> CK+",
        "video, no target data",
        "67.52",
        "Hasani & Mahoor 2017 (arXiv 1705.07871)",
        "S",
        None,
        ("cross",),
        (),
    ),
    PublishedFigure(
        "cross",
        "CK+ -> JAFFE, 6 / 7 classes",
        "no target data",
        "38.80 / 37.36",
        "Lopes et al., Pattern Recognition 2017, Table 9",
        "R",
        None,
        ("cross",),
        (),
    ),
    PublishedFigure(
        "cross",
        "RAF-DB -> CK+ / JAFFE (ResNet-50)",
        "unlabelled target images (domain adaptation)",
        "85.27 / 61.50",
        "AGRA, Chen et al. TPAMI 2021 (arXiv 2008.00923), CD-FER-Benchmark README",
        "S",
        None,
        ("cross",),
        (),
        "saw the targets' images (without labels)",
    ),
)


def for_dataset(dataset: str) -> list[PublishedFigure]:
    """The published figures on `dataset`."""
    return [a for a in FIGURES if a.dataset == dataset]


def notes(figure: PublishedFigure) -> str:
    """The caveats printed beside an figure: subject independence first, then its own note."""
    parts = []
    if figure.subject_independent is False:
        parts.append("not subject-independent: the same people in training and test")
    if figure.note:
        parts.append(figure.note)
    return "; ".join(parts)
