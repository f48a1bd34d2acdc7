"""Uncertainty of a test accuracy, and whether the leader of a table really beats the runner-up.

Three questions, three tools:

- How precise is one accuracy measured on n test images? The Wilson score interval: unlike the
  normal ("Wald") interval it stays inside [0, 1] and keeps close to its nominal coverage for
  accuracies near 0 or 1 and for small n.
- Do two methods differ on the same test images (FER2013's PrivateTest)? McNemar's test on the
  paired per-image predictions. Only the images on which exactly one method is right carry
  information; under the null hypothesis each of them is equally likely to favour either, so the
  count is Binomial(b + c, 1/2). We use that exact binomial form at every size: the
  continuity-corrected chi-square is only an approximation of it, and the exact one is cheap.
- Do two methods differ over the same cross-validation folds? An exact sign-flip permutation test
  on the per-fold accuracy differences (`paired_folds`), see there for why not a t-test.
- Do two cross-validated runs differ on the images? McNemar on their predictions pooled over folds
  (`pooled_predictions`: each image is tested once). It has the power of all the test images, and
  answers a narrower question: it treats the images as independent trials and these runs' fitted
  models as given, so it says whether these two runs differ, not whether the methods would over
  other training sets (Dietterich 1998): the fold test speaks to that, with little power at 5 folds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

#: with more folds than this, `paired_folds` draws sign flips at random (fixed seed) instead of all 2^k
EXACT_MAX_FOLDS = 16
RANDOM_FLIPS = 100_000


class NotPaired(ValueError):
    """Two runs cannot be compared pairwise: their test images or folds differ."""


@dataclass(frozen=True)
class TestResult:
    """A p-value with what it was computed from, as the leaderboard prints it."""

    name: str
    p_value: float
    detail: str


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for an accuracy of `correct` / `n` (scipy's implementation)."""
    if n <= 0:
        raise ValueError("an interval needs at least one test image")
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar(y_true, pred_a, pred_b) -> TestResult:
    """Exact McNemar test of two classifiers' predictions on the same images (same order)."""
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not (y_true.shape == pred_a.shape == pred_b.shape):
        raise NotPaired("McNemar needs both methods' predictions for the same images")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    b = int(np.count_nonzero(right_a & ~right_b))
    c = int(np.count_nonzero(~right_a & right_b))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return TestResult("exact McNemar", p, f"{b} image{'s' * (b != 1)} right only by #1, {c} only by #2")


def paired_folds(scores_a, scores_b) -> TestResult:
    """Exact two-sided sign-flip permutation test on paired per-fold scores (mean difference).

    Why this and not a paired t-test: 5 fold differences are far too few to check the t-test's
    normality assumption, and folds share most of their training data, so their scores are not
    independent and the t-test's variance estimate is too small (Dietterich 1998; Nadeau & Bengio
    2003): its p-values are overconfident. The permutation test assumes only that, if the methods
    were equal, each fold's difference would be as likely positive as negative. Its honest price
    is resolution: with k folds there are 2^k sign patterns, so the smallest two-sided p-value is
    2 / 2^k, 0.0625 for 5 folds. No 5-fold lead can be significant at 5%, and the table says so;
    LOSO (10 folds on JAFFE, 118 on CK+) can reach it. Beyond `EXACT_MAX_FOLDS` folds the sign
    patterns are sampled (`RANDOM_FLIPS`, seed 0), so the p-value is still reproducible.
    Wilcoxon's signed-rank test has the same floor and discards the sizes of the differences.
    """
    a, b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise NotPaired("a paired fold test needs the same folds (at least 2) for both methods")
    d = a - b
    k = len(d)
    if k <= EXACT_MAX_FOLDS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=k)))
        how = f"exact over all {len(signs)} sign patterns"
    else:
        signs = np.random.default_rng(0).choice((1.0, -1.0), size=(RANDOM_FLIPS, k))
        how = f"{RANDOM_FLIPS} random sign patterns, seed 0"
    observed = abs(d.mean())
    extreme = np.abs(signs @ d / k) >= observed - 1e-12
    p = float(extreme.mean()) if k <= EXACT_MAX_FOLDS else float((extreme.sum() + 1) / (len(signs) + 1))
    return TestResult(
        "sign-flip permutation test over folds",
        p,
        f"{k} folds, mean difference {100 * d.mean():+.2f} points; {how}; smallest possible p = "
        f"{2.0 / 2**k if k <= EXACT_MAX_FOLDS else 1 / (RANDOM_FLIPS + 1):.3g}",
    )


def corrected_repeated_cv(scores_a, scores_b, repeats: int, test_to_train: float) -> TestResult:
    """The corrected repeated k-fold cross-validation t-test (Nadeau & Bengio 2003, "Inference for the
    generalization error", Machine Learning 52; Bouckaert & Frank 2004, PAKDD) on paired per-fold scores
    of `repeats` repetitions of k folds: t = mean(d) / sqrt((1/(k r) + n_test/n_train) var(d)), with k r - 1
    degrees of freedom. The n_test/n_train term widens the variance for the training sets the folds
    share, which a plain t-test ignores (it is then overconfident); with it, r x k folds give a test
    that can reach significance where 5 folds alone cannot, at the price of assuming the fold
    differences roughly normal. `test_to_train`: a fold's test images over its training images."""
    from scipy.stats import t as student

    a, b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise NotPaired("a paired fold test needs the same folds (at least 2) for both methods")
    d, n = a - b, len(a)
    variance = d.var(ddof=1)
    if variance == 0:
        p = 1.0 if d.mean() == 0 else 0.0
    else:
        statistic = d.mean() / np.sqrt((1 / n + test_to_train) * variance)
        p = float(2 * student.sf(abs(statistic), n - 1))
    return TestResult(
        "corrected repeated cross-validation t-test",
        p,
        f"{repeats} repeats of {n // repeats} folds, mean difference {100 * d.mean():+.2f} points; "
        f"variance widened by n_test/n_train = {test_to_train:.3f} (Nadeau & Bengio 2003)",
    )


def repeats_of(record: dict) -> int:
    """How many times a record's cross-validation was repeated (`protocol.repeats`; 1 when it has none)."""
    return int(record["config"].get("protocol", {}).get("repeats", 1) or 1)


def test_to_train(record: dict) -> float:
    """A record's mean ratio of a fold's test images to its training images."""
    folds = record["folds"]
    test = record["test_set"]
    return float(np.mean([f[test]["n"] / f["n_train"] for f in folds]))


def paired_predictions(rec_a: dict, rec_b: dict, test_set: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y_true, pred_a, pred_b) of two single-fold records on `test_set`, aligned by image id."""
    (fold_a, a), (fold_b, b) = _single(rec_a, test_set), _single(rec_b, test_set)
    if fold_a != fold_b or sorted(a["ids"]) != sorted(b["ids"]):
        raise NotPaired(f"the two runs were not tested on the same {test_set} images")
    order_b = {i: n for n, i in enumerate(b["ids"])}
    take = [order_b[i] for i in a["ids"]]
    y_true_b = np.asarray(b["y_true"])[take]
    if not np.array_equal(np.asarray(a["y_true"]), y_true_b):
        raise NotPaired("the two runs disagree on the true labels of the same images")
    return np.asarray(a["y_true"]), np.asarray(a["y_pred"]), np.asarray(b["y_pred"])[take]


def pooled_predictions(rec_a: dict, rec_b: dict, test_set: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y_true, pred_a, pred_b) of two records on `test_set`, every fold's predictions pooled and aligned by
    image id: under cross-validation each image is tested once, by the fold that held it out, so the two
    runs' predictions pair up image by image even when their folds differ. Raises NotPaired when an
    image was tested twice in a run, the runs tested other images, or they disagree on a label."""

    def pooled(record: dict) -> dict:
        out = {}
        for tests in _tests(record, test_set).values():
            for i, truth, pred in zip(tests["ids"], tests["y_true"], tests["y_pred"], strict=True):
                if i in out:
                    raise NotPaired(
                        f"image {i} was tested more than once in one run (repeated cross-validation: "
                        "each image once per repeat), so its predictions are not pooled; the test "
                        "over folds is the one to read"
                    )
                out[i] = (truth, pred)
        return out

    a, b = pooled(rec_a), pooled(rec_b)
    if a.keys() != b.keys():
        raise NotPaired(f"the two runs were not tested on the same {test_set} images")
    ids = sorted(a)
    if any(a[i][0] != b[i][0] for i in ids):
        raise NotPaired("the two runs disagree on the true labels of the same images")
    return (np.asarray([a[i][0] for i in ids]), np.asarray([a[i][1] for i in ids]), np.asarray([b[i][1] for i in ids]))


def paired_fold_scores(rec_a: dict, rec_b: dict, test_set: str, metric: str = "accuracy") -> tuple[list, list]:
    """Per-fold `metric` of two records, refusing unless every fold tested exactly the same images.

    Comparing fold by fold is only meaningful when the folds are the same cut of the same data
    (same protocol, k and seed): the test ids of each fold are compared, not the config.
    """
    a, b = _tests(rec_a, test_set), _tests(rec_b, test_set)
    if list(a) != list(b) or any(sorted(a[f]["ids"]) != sorted(b[f]["ids"]) for f in a):
        raise NotPaired("the two runs have different folds (another protocol.k, seed or data)")
    by_fold_a = {f["name"]: f[test_set][metric] for f in rec_a["folds"]}
    by_fold_b = {f["name"]: f[test_set][metric] for f in rec_b["folds"]}
    return [by_fold_a[f] for f in a], [by_fold_b[f] for f in a]


def _tests(record: dict, test_set: str) -> dict[str, dict]:
    """{fold name: that fold's predictions on `test_set`} in the record's fold order."""
    return {fold: tests[test_set] for fold, tests in record["predictions"].items() if test_set in tests}


def _single(record: dict, test_set: str) -> tuple[str, dict]:
    tests = _tests(record, test_set)
    if len(tests) != 1:
        raise NotPaired("McNemar compares runs with a single test fold (e.g. protocol=official)")
    return next(iter(tests.items()))


def perturbed_view(record: dict, name: str, severity: str) -> dict:
    """`record` as a single-fold record whose test predictions are those under perturbation `name` at
    `severity`, pooled over its folds: the scored images (all test images, or the sample of
    `perturb.n_images`), their true labels and the perturbed predictions (each image is scored once
    per run, so pooling keeps the pairs independent)."""
    test_set = record["test_set"]
    ids, y_true, y_pred = [], [], []
    for fold, tests in record["predictions"].items():
        clean, perturbed = tests[test_set], record["perturbed_predictions"][fold]
        truth = dict(zip(clean["ids"], clean["y_true"]))
        ids += perturbed["ids"]
        y_true += [truth[i] for i in perturbed["ids"]]
        y_pred += perturbed["y_pred"][name][severity]
    pooled = {"ids": ids, "y_true": y_true, "y_pred": y_pred}
    return {"test_set": test_set, "predictions": {"pooled": {test_set: pooled}}}


def lead_test_perturbed(rec_a: dict, rec_b: dict, name: str, severity: str) -> TestResult:
    """Whether two runs differ under one perturbation and severity: exact McNemar on the perturbed
    images both scored, pooled over folds (with 5 folds a test over folds could never reach p < 0.05).
    Raises NotPaired when the runs scored other images or disagree on their labels."""
    a, b = perturbed_view(rec_a, name, severity), perturbed_view(rec_b, name, severity)
    return mcnemar(*paired_predictions(a, b, a["test_set"]))
