"""Interrupted and concurrent work: a sweep killed at any point (Ctrl-C or SIGKILL) leaves no half-written
record or cache entry and is finished by running it again; two sweeps into one results_dir and cache at
once leave exactly one sweep's records, none corrupt."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import _small_jaffe

ROOT = Path(__file__).resolve().parent.parent


def sweep_args(tmp_path: Path, *extra: str) -> list[str]:
    """Four jobs on a small JAFFE-named set, with the Haar detector and its cache."""
    return [
        sys.executable,
        "-m",
        "benchmark",
        "-m",
        "dataset=jaffe",
        "detector=haar",
        "detector.size=32",
        "protocol.k=2",
        "method=pixels_svm",
        "seed=0,1,2,3",
        f"data_root={tmp_path / 'data'}",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={tmp_path / 'sweeps'}/${{now:%H-%M-%S-%f}}",
        *extra,
    ]


def check_intact(tmp_path: Path) -> dict[str, bytes]:
    """Every visible record is whole JSON named after its run key; every cache entry is a whole npz (a
    write in progress is only ever a hidden temporary file). Returns {record name: bytes}."""
    found = {}
    for path in (tmp_path / "runs").glob("*.json"):
        record = json.loads(path.read_text())
        assert path.name.endswith(f"__{record['run_key'][:12]}.json")
        found[path.name] = path.read_bytes()
    for path in (tmp_path / "cache").rglob("*.npz"):
        if not path.name.startswith("."):
            with np.load(path) as entry:  # raises on a truncated file
                assert {"boxes", "eyes", "n_faces", "ids"} <= set(entry.files)
    for path in (tmp_path / "cache").rglob("*.txt"):  # data fingerprints
        assert path.name.startswith(".") or len(path.read_text().strip()) == 40
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_a_killed_sweep_leaves_nothing_half_written_and_finishes_when_run_again(tmp_path, sig):
    _small_jaffe(tmp_path / "data" / "jaffe")
    before: dict[str, bytes] = {}
    for delay in (2.5, 4.0, 5.5):  # seconds after the start: while jobs are running, at different points
        process = subprocess.Popen(sweep_args(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        process.send_signal(sig)
        process.wait(timeout=60)
        after = check_intact(tmp_path)
        assert all(after[name] == data for name, data in before.items())  # nothing recorded was rewritten
        before = after
    done = subprocess.run(sweep_args(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final = check_intact(tmp_path)
    assert len(final) == 4 and all(final[name] == data for name, data in before.items())
    assert done.stdout.count("already recorded; nothing recomputed") == len(before)


def test_two_sweeps_at_once_leave_one_sweeps_records(tmp_path):
    _small_jaffe(tmp_path / "data" / "jaffe")
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    processes = [
        subprocess.Popen(
            sweep_args(tmp_path, *joblib),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ},
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    records = check_intact(tmp_path)
    assert len(records) == 4
    assert sorted(json.loads(data)["config"]["seed"] for data in records.values()) == [0, 1, 2, 3]
