"""Throughput and detection rate of detector=haar vs detector=mtcnn on the 213 JAFFE images.

    FERBENCH_DATA=/path/to/data python bench/detection.py

Times one full face stage per detector (detection, alignment, cropping to 96x96; cache off), both
in this run so that their ratio is comparable even on a busy machine. The first call of each
detector, on one image, is timed apart as start-up (for MTCNN: importing TensorFlow and loading
the networks). Takes about 30 s.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchmark.datasets.jaffe import JAFFE
from benchmark.faces import HaarDetector, MTCNNDetector


def timed(function, *args) -> tuple[float, float, object]:
    """Wall-clock and CPU seconds (all threads of this process) of one call, and its result. On a
    busy machine the CPU time is the steadier measure of cost."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> int:
    root = Path(os.environ.get("FERBENCH_DATA", "data")) / "jaffe"
    if not root.is_dir():
        print(f"skipped: no JAFFE images at {root.resolve()} (set FERBENCH_DATA to the folder holding jaffe/)")
        return 0
    dataset = JAFFE(root).load()
    print(f"{len(dataset)} JAFFE images from {root}, {os.cpu_count()} CPU cores; single runs, so timings on a "
          f"shared machine are noisy")
    speed, cost = {}, {}
    for detector in (HaarDetector(cache_dir=None), MTCNNDetector(cache_dir=None)):
        startup, _, _ = timed(detector, dataset.subset([0]))
        wall, cpu, (_, report) = timed(detector, dataset)
        speed[detector.name], cost[detector.name] = len(dataset) / wall, cpu / len(dataset)
        print(f"{detector.name:>5}: {speed[detector.name]:6.1f} images/s ({wall:5.1f} s), "
              f"{1000 * cost[detector.name]:4.0f} CPU ms/image, start-up {startup:4.1f} s, "
              f"detection rate {report['detection_rate']:.3f} ({report['n_detected']}/{report['n_images']}), "
              f"not aligned {report['n_not_aligned']}, no face: {', '.join(report['no_face']) or '-'}")
    print(f"haar is {speed['haar'] / speed['mtcnn']:.1f}x as fast as mtcnn in images/s, "
          f"and costs {cost['haar'] / cost['mtcnn']:.2f}x its CPU time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
