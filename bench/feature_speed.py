"""Throughput of the feature transformers against naive per-image scikit-image code, and of
detector=haar against detector=mtcnn on JAFFE.

    FERBENCH_DATA=/path/to/data python bench/feature_speed.py [--quick] [--no-detection]

For each feature and image size, the baseline (a per-image loop over the scikit-image function,
the way one would write it by hand) and ours run in this process on the same random uint8
stack; each is timed a few times and the median kept. The speed-up is the ratio of the two
medians, and the last column the largest difference between the two outputs. Gabor's baseline
is so slow that it runs on a few images only (ours on the same ones, which understates ours: it
is batched). Timings depend on the machine and its load.

Detection: one full face stage per detector (detection, alignment, cropping to 96x96; cache off)
on the 213 JAFFE images, both in this run so that their ratio is comparable even on a busy
machine. The first call of each detector, on one image, is timed apart as start-up (for MTCNN:
importing TensorFlow and loading the networks).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import skimage
import skimage.feature
import skimage.filters
from tabulate import tabulate

# Run as a script, this file's folder comes first on sys.path, and this file, features.py,
# would shadow the `features` package; the repository root is put there instead.
HERE = Path(__file__).resolve().parent
sys.path = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from features import GaborBank, HOGFeatures, LBPHistogram, local_binary_pattern_stack  # noqa: E402
from features._base import cell_index  # noqa: E402
from features.lbp import n_codes  # noqa: E402


def cell_slices(size: int, n_cells: int) -> list[slice]:
    """The transformers' grid cells along one axis, as slices for the per-image baselines."""
    starts = np.searchsorted(cell_index(size, n_cells), np.arange(n_cells + 1))
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]


def naive_lbp_histograms(X, lbp: LBPHistogram):
    """skimage LBP per image, then one np.histogram per cell."""
    n_bins = n_codes(lbp.P, lbp.method)
    rows, cols = (cell_slices(s, g) for s, g in zip(X.shape[1:], lbp.grid))
    out = []
    for image in X:
        codes = skimage.feature.local_binary_pattern(image, lbp.P, lbp.R, lbp.method)
        hists = [
            np.histogram(codes[r, c], bins=n_bins, range=(0, n_bins))[0] / codes[r, c].size for r in rows for c in cols
        ]
        out.append(np.concatenate(hists))
    return np.array(out, dtype=np.float32)


def naive_lbp_codes(X, lbp: LBPHistogram):
    return [skimage.feature.local_binary_pattern(image, lbp.P, lbp.R, lbp.method) for image in X]


def naive_gabor(X, gabor: GaborBank):
    """skimage.filters.gabor per image per kernel, magnitude, then the mean of each cell."""
    rows, cols = (cell_slices(s, g) for s, g in zip(X.shape[1:], gabor.grid))
    thetas = np.arange(gabor.n_orientations) * np.pi / gabor.n_orientations
    out = []
    for image in X:
        image = image / 255.0
        features = []
        for frequency in gabor.frequencies:
            for theta in thetas:
                real, imag = skimage.filters.gabor(
                    image, frequency, theta=theta, bandwidth=gabor.bandwidth, n_stds=gabor.n_stds, mode=gabor.mode
                )
                magnitude = np.hypot(real, imag)
                features += [magnitude[r, c].mean() for r in rows for c in cols]
        out.append(features)
    return np.array(out, dtype=np.float32)


def naive_hog(X, hog: HOGFeatures):
    return np.array(
        [
            skimage.feature.hog(
                image,
                orientations=hog.orientations,
                pixels_per_cell=hog.pixels_per_cell,
                cells_per_block=hog.cells_per_block,
                block_norm=hog.block_norm,
            )
            for image in X
        ],
        dtype=np.float32,
    )


def timed(fn, repeats: int, budget_s: float = 10.0):
    """(median wall time of up to `repeats` calls, stopping once `budget_s` is spent; the result)"""
    times = []
    while len(times) < repeats and sum(times) < budget_s:
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), np.asarray(result, dtype=np.float64)


def grid_name(transformer) -> str:
    return "x".join(map(str, transformer.grid))


def rate(images_per_s: float) -> str:
    return f"{images_per_s:,.0f}" if images_per_s >= 100 else f"{images_per_s:.2g}"


def detection_speed() -> None:
    """Images/s, CPU time and detection rate of haar vs mtcnn on JAFFE (skipped without the data)."""
    from benchmark.datasets.jaffe import JAFFE
    from benchmark.faces import HaarDetector, MTCNNDetector

    root = Path(os.environ.get("FERBENCH_DATA", "data")) / "jaffe"
    if not root.is_dir():
        print(f"detection: skipped, no JAFFE images at {root.resolve()} (set FERBENCH_DATA)")
        return
    dataset = JAFFE(root).load()
    print(f"\nface detection on {len(dataset)} JAFFE images (single runs; CPU time is the steadier measure)")
    speed, cost, rows = {}, {}, []
    for detector in (HaarDetector(cache_dir=None), MTCNNDetector(cache_dir=None)):
        startup = _wall_and_cpu(detector, dataset.subset([0]))[0]
        wall, cpu, (_, report) = _wall_and_cpu(detector, dataset)
        speed[detector.name], cost[detector.name] = len(dataset) / wall, cpu / len(dataset)
        rows.append(
            [
                detector.name,
                f"{speed[detector.name]:.1f}",
                f"{1000 * cost[detector.name]:.0f}",
                f"{startup:.1f}",
                f"{report['detection_rate']:.3f}",
                report["n_not_aligned"],
                ", ".join(report["no_face"]) or "-",
            ]
        )
    print(
        tabulate(
            rows,
            headers=["detector", "images/s", "CPU ms/image", "start-up s", "detection rate", "not aligned", "no face"],
        )
    )
    print(
        f"haar / mtcnn: {speed['haar'] / speed['mtcnn']:.2f}x the images/s, "
        f"{cost['haar'] / cost['mtcnn']:.2f}x the CPU time per image"
    )


def _wall_and_cpu(function, *args):
    """Wall-clock and CPU seconds (all threads of this process) of one call, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repetitions")
    parser.add_argument("--no-detection", action="store_true", help="skip haar vs mtcnn on JAFFE")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    n_small, n_large, n_gabor = (100, 10, 1) if args.quick else (300, 30, 3)

    lbp, gabor, hog = LBPHistogram(), GaborBank(), HOGFeatures()
    # (feature, ours, naive baseline, images in the stack of each size)
    cases = [
        (
            f"LBP codes ({lbp.method}, P={lbp.P}, R={lbp.R})",
            lambda X: local_binary_pattern_stack(X, lbp.P, lbp.R, lbp.method),
            lambda X: naive_lbp_codes(X, lbp),
            (n_small, n_large),
        ),
        (
            f"LBP histograms ({grid_name(lbp)} grid)",
            lbp.transform,
            lambda X: naive_lbp_histograms(X, lbp),
            (n_small, n_large),
        ),
        (
            f"Gabor {len(gabor.frequencies)}x{gabor.n_orientations}, {grid_name(gabor)} grid",
            gabor.transform,
            lambda X: naive_gabor(X, gabor),
            (n_gabor, n_gabor),
        ),
        ("HOG (skimage, n_jobs=1)", hog.transform, lambda X: naive_hog(X, hog), (n_small, n_large)),
    ]
    rng = np.random.default_rng(0)
    stacks = {
        48: rng.integers(0, 256, (n_small, 48, 48), dtype=np.uint8),
        256: rng.integers(0, 256, (n_large, 256, 256), dtype=np.uint8),
    }
    rows = []
    for name, ours, baseline, counts in cases:
        for (size, stack), n in zip(stacks.items(), counts):
            X = stack[:n]
            ours(X[:1])  # warm caches (kernel spectra, code tables) before timing
            t_base, expected = timed(lambda baseline=baseline, X=X: baseline(X), repeats)
            t_ours, got = timed(lambda ours=ours, X=X: ours(X), repeats)
            rows.append(
                [
                    name,
                    f"{size}x{size}",
                    n,
                    rate(n / t_base),
                    rate(n / t_ours),
                    f"{t_base / t_ours:,.1f}x",
                    f"{np.abs(got - expected).max():.1e}",
                ]
            )
            print(f"  done: {name}, {size}x{size}", file=sys.stderr)
    print(
        f"ferbench feature throughput (images/s, median of up to {repeats} runs; "
        f"{os.cpu_count()} CPUs; numpy {np.__version__}, scikit-image {skimage.__version__})"
    )
    print(
        tabulate(
            rows,
            headers=["feature", "size", "images", "skimage per image", "ours", "speed-up", "max |ours - skimage|"],
            colalign=("left", "left", "right", "right", "right", "right", "right"),
        )
    )
    if not args.no_detection:
        detection_speed()


if __name__ == "__main__":
    main()
