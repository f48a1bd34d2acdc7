import numpy as np
import pytest

from benchmark.datasets.base import Dataset
from benchmark.datasets.synthetic import Synthetic
from benchmark.protocols import LOSO, KFold, Official, SubjectKFold
from core.errors import ConfigError
from tests.conftest import real_data_dir


@pytest.fixture(scope="module")
def synthetic():
    return Synthetic(n_subjects=6, per_class=5).load()


def _assert_partition(folds, n):
    tests = np.concatenate([f.tests["test"] for f in folds])
    assert sorted(tests.tolist()) == list(range(n)), "every image is tested exactly once"
    for f in folds:
        assert not set(f.train) & set(f.tests["test"])
        assert len(f.train) + len(f.tests["test"]) == n


def _assert_no_shared_subject(folds, subjects):
    for f in folds:
        train_subjects = set(subjects[f.train].tolist())
        test_subjects = set(subjects[f.tests["test"]].tolist())
        assert not train_subjects & test_subjects, f"{f.name} shares subjects {train_subjects & test_subjects}"


def test_kfold_is_stratified_partition_and_seeded(synthetic):
    folds = KFold(k=5, seed=1).folds(synthetic)
    _assert_partition(folds, len(synthetic))
    for f in folds:  # 30 images per class in 5 folds: 6 of each class per test fold
        assert set(np.bincount(synthetic.labels[f.tests["test"]]).tolist()) == {6}
    again = KFold(k=5, seed=1).folds(synthetic)
    other = KFold(k=5, seed=2).folds(synthetic)
    assert all(np.array_equal(a.tests["test"], b.tests["test"]) for a, b in zip(folds, again))
    assert not all(np.array_equal(a.tests["test"], b.tests["test"]) for a, b in zip(folds, other))


def test_kfold_leaks_subjects_which_subject_kfold_prevents(synthetic):
    leaky = KFold(k=3, seed=0).folds(synthetic)
    assert any(set(synthetic.subjects[f.train]) & set(synthetic.subjects[f.tests["test"]]) for f in leaky)
    folds = SubjectKFold(k=3, seed=0).folds(synthetic)
    _assert_partition(folds, len(synthetic))
    _assert_no_shared_subject(folds, synthetic.subjects)
    assert all(f.meta["test_subjects"] for f in folds)


def test_loso_one_fold_per_subject(synthetic):
    folds = LOSO().folds(synthetic)
    assert len(folds) == 6
    _assert_partition(folds, len(synthetic))
    _assert_no_shared_subject(folds, synthetic.subjects)
    assert [len(f.meta["test_subjects"]) for f in folds] == [1] * 6


def test_loso_tests_a_held_out_subject_only_on_classes_the_others_have():
    """Leave-one-data-set-out's case: the held-out part has a class (CK+'s contempt) no other part has.
    Those images are not tested and are counted; a subject with nothing else to test is an error."""
    from core.errors import DataError

    labels = np.array([0, 1, 0, 1, 0, 1, 7, 7])
    subjects = np.array(["fer2013"] * 2 + ["jaffe"] * 2 + ["ckplus"] * 4)
    ds = Dataset("merged", np.zeros((8, 4, 4), np.uint8), labels, np.arange(8).astype(str), subjects)
    folds = {f.name: f for f in LOSO().folds(ds)}
    ck = folds["subject_ckplus"]
    assert ck.tests["test"].tolist() == [4, 5] and ck.meta["untested"] == {"contempt": 2}
    assert all(
        "untested" not in f.meta and len(f.tests["test"]) == 2 for n, f in folds.items() if n != "subject_ckplus"
    )
    alone = Dataset(
        "merged",
        np.zeros((6, 4, 4), np.uint8),
        np.array([0, 1, 0, 1, 7, 7]),
        np.arange(6).astype(str),
        np.array(["a", "a", "b", "b", "c", "c"]),
    )
    with pytest.raises(DataError, match="every image of subject c is of a class no other subject has"):
        LOSO().folds(alone)


def test_official_uses_the_split():
    splits = np.array(["Training"] * 6 + ["PublicTest"] * 2 + ["PrivateTest"] * 3)
    ds = Dataset("toy", np.zeros((11, 4, 4), np.uint8), np.arange(11) % 2, np.arange(11).astype(str), splits=splits)
    (fold,) = Official().folds(ds)
    assert fold.train.tolist() == list(range(6))
    assert fold.val.tolist() == [6, 7]
    assert fold.tests["PrivateTest"].tolist() == [8, 9, 10] and fold.tests["PublicTest"].tolist() == [6, 7]
    assert fold.primary == "PrivateTest"


def test_official_rejects_missing_split():
    splits = np.array(["Training"] * 4 + ["PrivateTest"] * 2)
    ds = Dataset("toy", np.zeros((6, 4, 4), np.uint8), np.arange(6) % 2, np.arange(6).astype(str), splits=splits)
    with pytest.raises(ConfigError, match="PublicTest"):
        Official().check(ds)


def test_k_larger_than_subjects_or_class_fails_with_allowed_range(synthetic):
    with pytest.raises(ConfigError, match=r"number of subjects .* \(6\); use 2 <= k <= 6"):
        SubjectKFold(k=7).check(synthetic)
    with pytest.raises(ConfigError, match="smallest class"):
        KFold(k=31).check(synthetic)
    with pytest.raises(ConfigError, match="k must be an integer >= 2, got 1"):
        KFold(k=1)


def test_protocol_needs_are_checked_on_the_loader_before_loading():
    class NoSubjects:
        name, has_subjects, has_official_split = "fer2013", False, True

    class NoSplit:
        name, has_subjects, has_official_split = "jaffe", True, False

    with pytest.raises(ConfigError, match="needs subject ids"):
        SubjectKFold().check_loader(NoSubjects())
    with pytest.raises(ConfigError, match="official"):
        Official().check_loader(NoSplit())
    SubjectKFold().check_loader(NoSplit())  # supported: no error


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["jaffe", "ckplus"])
@pytest.mark.parametrize("protocol", [SubjectKFold(k=5, seed=0), LOSO()], ids=["subject_kfold", "loso"])
def test_no_subject_in_train_and_test_on_real_data(name, protocol):
    from hydra.utils import instantiate

    from tests.helpers import make_config

    real_data_dir(name)
    cfg = make_config([f"dataset={name}", f"data_root={real_data_dir(name).parent}"])
    ds = instantiate(cfg.dataset).load()
    protocol.check(ds)
    folds = protocol.folds(ds)
    _assert_partition(folds, len(ds))
    _assert_no_shared_subject(folds, ds.subjects)


@pytest.mark.parametrize("protocol", [KFold, SubjectKFold])
def test_repeated_folds_are_the_folds_again_with_the_next_seeds(synthetic, protocol):
    once = protocol(k=3, seed=4).folds(synthetic)
    thrice = protocol(k=3, seed=4, repeats=3).folds(synthetic)
    assert [f.name for f in once] == ["fold0", "fold1", "fold2"]
    assert [f.name for f in thrice] == [f"r{r}-fold{i}" for r in range(3) for i in range(3)]
    for r in range(3):  # repeat r is the plain protocol with seed 4 + r
        plain = protocol(k=3, seed=4 + r).folds(synthetic)
        for got, expected in zip(thrice[3 * r : 3 * r + 3], plain):
            np.testing.assert_array_equal(got.tests["test"], expected.tests["test"])
    tested = np.concatenate([f.tests["test"] for f in thrice])
    assert np.bincount(tested, minlength=len(synthetic)).tolist() == [3] * len(synthetic), "once per repeat"
    with pytest.raises(ConfigError, match="repeats must be an integer >= 1"):
        protocol(k=3, repeats=0)


def test_repeats_1_is_the_protocol_as_before_in_the_run_key():
    from benchmark import records

    before = {"protocol": {"_target_": "benchmark.protocols.KFold", "k": 5, "seed": 0}}
    now = {"protocol": {**before["protocol"], "repeats": 1}}
    assert records.run_key(now) == records.run_key(before)
    assert records.run_key({"protocol": {**before["protocol"], "repeats": 2}}) != records.run_key(before)
