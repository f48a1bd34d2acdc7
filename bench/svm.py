"""Fit time of the exact RBF SVM: libsvm's own kernel (scikit-learn's `SVC(kernel="rbf")`) against
`benchmark.classifiers.RBFSVM` (the same SVC on a kernel matrix computed by BLAS), on the LBP
features of FER2013 training images.

    FERBENCH_DATA=/path/to/data python bench/svm.py [--n 4000] [--method lbp_svm] [--full]

Both fit the same images with the same C and gamma in this process; the table gives fit and
predict seconds, the speed-up (ratio of the two) and whether the two predict the same labels on
PublicTest. The plain SVC takes about an hour on all 28,709 training images here, so it runs on
a stratified subsample (`--n`); `--full` then also fits RBFSVM alone on all of Training (the
formulation the FER2013 runs use) and prints its fit time and PublicTest accuracy.
"""

import argparse
import os
import time

import numpy as np
from hydra.utils import instantiate
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from tabulate import tabulate

from benchmark.classifiers import RBFSVM
from benchmark.config import compose_config


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="training images for the comparison (stratified)")
    parser.add_argument("--method", default="lbp_svm", help="a classical method of conf/method/ (its features)")
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--gamma", type=float, default=1.0, help="relative to 'scale', as in RBFSVM")
    parser.add_argument("--full", action="store_true", help="also fit RBFSVM on all of Training")
    args = parser.parse_args()

    cfg = compose_config(["dataset=fer2013", f"method={args.method}"])
    data = instantiate(cfg.dataset).load()
    train, val = data.splits == "Training", data.splits == "PublicTest"
    features = instantiate(cfg.method.features)
    (F_train, F_val), features_s = timed(
        lambda: (features.fit_transform(data.images[train]), features.transform(data.images[val]))
    )
    y_train, y_val = data.labels[train], data.labels[val]
    idx, _ = train_test_split(np.arange(len(y_train)), train_size=args.n, stratify=y_train, random_state=0)
    X, y = F_train[idx].astype(np.float64), y_train[idx]
    print(f"{args.method} features of {len(F_train) + len(F_val)} images: {F_train.shape[1]} dims, {features_s:.1f} s")

    ours = RBFSVM(C=args.C, gamma=args.gamma, approx="exact")
    _, ours_fit = timed(lambda: ours.fit(X, y))
    ours_pred, ours_predict = timed(lambda: ours.predict(F_val))
    ref = SVC(C=args.C, kernel="rbf", gamma=ours.gamma_)
    _, ref_fit = timed(lambda: ref.fit(X, y))
    ref_pred, ref_predict = timed(lambda: ref.predict(F_val))
    rows = [
        [
            "SVC(kernel='rbf') (libsvm's kernel)",
            len(X),
            f"{ref_fit:.1f}",
            f"{ref_predict:.1f}",
            "1.0x",
            f"{np.mean(ref_pred == y_val):.4f}",
        ],
        [
            "RBFSVM exact (BLAS kernel matrix)",
            len(X),
            f"{ours_fit:.1f}",
            f"{ours_predict:.1f}",
            f"{(ref_fit + ref_predict) / (ours_fit + ours_predict):.1f}x",
            f"{np.mean(ours_pred == y_val):.4f}",
        ],
    ]
    agree = np.mean(ours_pred == ref_pred)
    if args.full:
        full = RBFSVM(C=args.C, gamma=args.gamma, approx="exact")
        _, full_fit = timed(lambda: full.fit(F_train, y_train))
        full_pred, full_predict = timed(lambda: full.predict(F_val))
        rows.append(
            [
                "RBFSVM exact, all of Training",
                len(F_train),
                f"{full_fit:.1f}",
                f"{full_predict:.1f}",
                "",
                f"{np.mean(full_pred == y_val):.4f}",
            ]
        )
    print(
        tabulate(
            rows,
            headers=["formulation", "train images", "fit s", "predict s (PublicTest)", "speed-up", "PublicTest acc"],
            tablefmt="github",
        )
    )
    print(
        f"C={args.C}, gamma={args.gamma} x scale; same PublicTest predictions: {agree:.2%}; "
        f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
