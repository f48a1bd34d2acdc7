"""Classical methods: the scalable RBF SVM and hyper-parameter selection that never sees the test fold."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC

from benchmark import classifiers
from benchmark.classifiers import RBFSVM
from benchmark.methods import FeatureClassifier, pipeline
from benchmark.tuning import TunedClassifier
from core.errors import ConfigError


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=300, n_features=20, n_informative=8, n_classes=3, random_state=0)
    return X, y


def test_rbfsvm_exact_equals_svc_with_scale_gamma(blobs, monkeypatch):
    """The precomputed kernel, built and applied in blocks of rows, gives libsvm's own RBF solution."""
    monkeypatch.setattr(classifiers, "KERNEL_BLOCK", 64)  # several blocks, the last one partial
    X, y = blobs
    ours = RBFSVM(C=3.0, gamma=1.0, approx="exact").fit(X, y)
    ref = SVC(C=3.0, gamma="scale").fit(X, y)
    assert ours.gamma_ == pytest.approx(ref._gamma)
    np.testing.assert_array_equal(ours.model_.support_, ref.support_)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.fit_info_["svm_formulation"] == "exact SVC (precomputed kernel)"


def test_rbfsvm_switches_to_nystroem_past_the_threshold_and_stays_accurate(blobs):
    X, y = blobs
    exact = RBFSVM(C=3.0, exact_max_samples=1000).fit(X[:200], y[:200])
    approx = RBFSVM(C=3.0, exact_max_samples=100, n_components=200).fit(X[:200], y[:200])
    assert "Nystroem(200 landmarks)" in approx.fit_info_["svm_formulation"]
    assert exact.fit_info_["svm_formulation"] == "exact SVC (precomputed kernel)"
    # with every training image as a landmark the approximation is the exact kernel map
    agree = np.mean(exact.predict(X[200:]) == approx.predict(X[200:]))
    assert agree >= 0.9
    assert approx.score(X[200:], y[200:]) >= exact.score(X[200:], y[200:]) - 0.1


def test_rbfsvm_rejects_bad_values(blobs):
    with pytest.raises(ConfigError, match="approx must be one of"):
        RBFSVM(approx="fast").fit(*blobs)
    with pytest.raises(ConfigError, match="C must be a number > 0"):
        RBFSVM(C=0).fit(*blobs)


class Spy(ClassifierMixin, BaseEstimator):
    """Records the row ids (column 0 of X) of every training set it is fitted on."""

    seen: list = []

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        Spy.seen.append(set(X[:, 0].astype(int).tolist()))
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_ if self.C < 5 else self.classes_[0])


def _ids_as_features():
    return FunctionTransformer(lambda X: np.asarray(X, float).reshape(len(X), -1))


def test_inner_selection_is_grouped_by_subject_and_never_sees_test_rows():
    Spy.seen = []
    rng = np.random.default_rng(0)
    n = 120
    X = np.arange(n).reshape(n, 1, 1)  # the "image" is its own row id
    y = rng.integers(0, 3, n)
    groups = np.repeat(np.arange(12), 10)
    train = np.arange(90)  # test rows 90..119 are never passed to fit
    clf = FeatureClassifier(_ids_as_features(), TunedClassifier(Spy(), param_grid={"C": [1.0, 10.0]}, inner_k=3))
    clf.fit(X[train], y[train], groups=groups[train])
    assert clf.fit_info_["selection"] == "inner 3-fold grouped by subject"
    assert clf.fit_info_["best_params"]["C"] in (1.0, 10.0)
    for seen in Spy.seen:
        assert max(seen) < 90, "a test row reached fit"
    inner = Spy.seen[:-1]  # the last fit is the refit on the whole training part
    assert len(inner) == 2 * 3 and Spy.seen[-1] == set(range(90))
    for seen in inner:  # each inner fit leaves out whole subjects
        held_out = set(range(90)) - seen
        assert {int(g) for g in groups[sorted(held_out)]}.isdisjoint(groups[sorted(seen)])


def test_selection_on_validation_set_then_refit_on_training_only():
    Spy.seen = []
    X = np.arange(100).reshape(100, 1, 1)
    y = np.arange(100) % 2
    clf = FeatureClassifier(_ids_as_features(), TunedClassifier(Spy(), param_grid={"C": [1.0, 10.0]}))
    clf.fit(X[:60], y[:60], X_val=X[60:80], y_val=y[60:80])
    assert clf.fit_info_["selection"] == "validation set (20 images)"
    assert all(seen <= set(range(60)) for seen in Spy.seen), "validation images are never trained on"
    assert Spy.seen[-1] == set(range(60))


def test_tune_samples_subsamples_only_the_search(blobs):
    X, y = blobs
    tuned = TunedClassifier(pipeline({"svm": RBFSVM()}), param_grid={"svm__C": [1.0, 10.0]}, tune_samples=90)
    clf = FeatureClassifier(_ids_as_features(), tuned).fit(X, y)
    assert clf.fit_info_["tuned_on"] == 90
    assert clf.fit_info_["svm_formulation"].startswith("exact SVC") and clf.fit_info_["n_features"] == 20
    again = clone(clf).fit(X, y)
    np.testing.assert_array_equal(clf.predict(X), again.predict(X))


def test_no_grid_means_fixed_parameters(blobs):
    clf = FeatureClassifier(_ids_as_features(), TunedClassifier(pipeline({"svm": RBFSVM(C=2.0)}))).fit(*blobs)
    assert clf.fit_info_["best_params"] == {} and clf.fit_info_["selection"].startswith("none")


def test_every_classical_method_config_builds_and_fits_on_synthetic_faces():
    from hydra.utils import instantiate

    from benchmark.config import compose_config
    from benchmark.datasets.synthetic import Synthetic

    data = Synthetic(n_subjects=3, per_class=3).load()
    for method in ("lbp_svm", "gabor_svm", "hog_svm", "lbp_gabor_svm", "pixels_svm"):
        est = instantiate(compose_config([f"method={method}"]).method)
        kwargs = {"groups": data.subjects} if isinstance(est, FeatureClassifier) else {}
        est.fit(data.images, data.labels, **kwargs)
        assert set(est.predict(data.images[:5])) <= set(data.labels), method


def test_classifier_group_can_be_swapped_and_the_grid_follows():
    from hydra.utils import instantiate

    from benchmark.config import compose_config

    est = instantiate(compose_config(["method=lbp_svm", "classifier@method.classifier=linear_svm"]).method)
    assert list(est.classifier.param_grid) == ["svm__C"]
