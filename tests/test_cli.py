"""The command line as a user meets it: python -m benchmark / -m sweeps / errors / verify."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["dataset.n_subjects=3", "dataset.per_class=3"]


def cli(*args, cwd=ROOT, env=None):
    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_default_run_prints_table_and_writes_record_then_skips(tmp_path):
    out = cli("benchmark", f"results_dir={tmp_path}", *SMALL, "protocol.k=3")
    assert out.returncode == 0, out.stderr
    assert "synthetic | kfold | pixels_svm" in out.stdout and "mean ± std" in out.stdout
    (record,) = tmp_path.glob("*.json")
    assert f"record: {record}" in out.stdout
    env = json.loads(record.read_text())["env"]
    assert env["command"] == " ".join(["python -m benchmark", f"results_dir={tmp_path}", *SMALL, "protocol.k=3"])
    again = cli("benchmark", f"results_dir={tmp_path}", *SMALL, "protocol.k=3")
    assert again.returncode == 0 and "already recorded; nothing recomputed" in again.stdout
    assert list(tmp_path.glob("*.json")) == [record]


def test_multirun_sweep_writes_one_record_per_job(tmp_path):
    out = cli("benchmark", "-m", f"results_dir={tmp_path}", "dataset.n_subjects=5", "dataset.per_class=2",
              "protocol=subject_kfold,loso")
    assert out.returncode == 0, out.stderr
    names = sorted(p.name.split("__")[1] for p in tmp_path.glob("*.json"))
    assert names == ["loso", "subject_kfold"]
    for path in tmp_path.glob("*.json"):  # each record names its own job's command, not the sweep's
        protocol = path.name.split("__")[1]
        assert json.loads(path.read_text())["env"]["command"].endswith(f"protocol={protocol}")


@pytest.mark.parametrize("args, message", [
    (["dataset=nope"], "Available options in 'dataset'"),
    (["method=nope"], "Available options in 'method'"),
    (["dataset=jaffe", "protocol=official"], "protocol=official needs an official"),
    ([*SMALL, "protocol=subject_kfold", "protocol.k=20"], "use 2 <= k <= 3"),
])
def test_invalid_choices_fail_with_what_is_allowed(tmp_path, args, message):
    out = cli("benchmark", f"results_dir={tmp_path}", f"data_root={tmp_path}/none", *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.json"))


def test_data_root_comes_from_the_environment(tmp_path):
    out = cli("benchmark", "dataset=jaffe", f"results_dir={tmp_path}", env={"FERBENCH_DATA": str(tmp_path / "mine")})
    assert out.returncode == 2
    assert f"no data set found at '{tmp_path / 'mine' / 'jaffe'}'" in out.stderr


def test_verify_reports_missing_data(tmp_path):
    out = cli("benchmark.verify", f"data_root={tmp_path}")
    assert out.returncode == 1
    for name in ("fer2013", "jaffe", "ckplus"):
        assert f"## {name}" in out.stdout
    assert "No data set found" in out.stdout


def _small_jaffe(root: Path) -> None:
    """Two subjects x three expressions x two images, 256x256 (enough for protocol.k=2)."""
    from tests.layouts import jaffe_image, save

    root.mkdir(parents=True)
    for s, subject in enumerate(("KA", "KL")):
        for e, expression in enumerate(("AN", "HA", "NE")):
            for n in (1, 2):
                save(root / f"{subject}.{expression}{n}.{100 + 10 * s + 2 * e + n}.tiff", jaffe_image(6 * s + 2 * e + n))


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]])
def test_a_failing_job_does_not_end_the_sweep(tmp_path, launcher):
    """ckplus/ is missing: its jobs fail and are listed at the end (exit 1); the jaffe jobs still run."""
    _small_jaffe(tmp_path / "data" / "jaffe")
    out = cli("benchmark", "-m", "dataset=ckplus,jaffe", "method=pixels_svm", "protocol.k=2",
              f"data_root={tmp_path / 'data'}", f"results_dir={tmp_path / 'runs'}",
              f"hydra.sweep.dir={tmp_path / 'sweep'}", *launcher)
    assert out.returncode == 1, out.stderr
    assert [p.name.split("__")[0] for p in (tmp_path / "runs").glob("*.json")] == ["jaffe"]
    assert "1 job(s) of the sweep failed" in out.stderr and "dataset=ckplus" in out.stderr
    assert "no data set found" in out.stderr


def test_a_folder_of_ones_own_runs_and_is_verified(tmp_path):
    from tests.test_datasets import write_folder

    write_folder(tmp_path / "mine", ["happy", "sad", "neutral"], subjects=("A01", "B02", "C03", "D04"))
    out = cli("benchmark", "dataset=folder", f"dataset.root={tmp_path / 'mine'}", "dataset.name=mine",
              "detector.size=32", "protocol.k=2", f"results_dir={tmp_path / 'runs'}")
    assert out.returncode == 0, out.stderr
    assert [p.name.split("__")[0] for p in (tmp_path / "runs").glob("*.json")] == ["mine"]
    verified = cli("benchmark.verify", f"data_root={tmp_path / 'none'}", f"folder={tmp_path / 'mine'}")
    assert verified.returncode == 0 and "loaded: 12 images (no published totals to compare)" in verified.stdout


def test_the_cross_protocol_runs_from_the_command_line(tmp_path):
    """Its targets' configs are composed inside the running Hydra app (once a GlobalHydra error)."""
    from tests import layouts

    layouts.write_fer_csv(tmp_path / "data" / "fer2013")
    layouts.write_jaffe(tmp_path / "data" / "jaffe")
    out = cli("benchmark", "dataset=fer2013", "protocol=cross", "method=pixels_svm", f"data_root={tmp_path / 'data'}",
              f"results_dir={tmp_path / 'runs'}", f"cache_dir={tmp_path / 'cache'}")
    assert out.returncode == 0, out.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["protocol"] == "cross" and set(record["metrics_by_split"]) == {"jaffe"}
