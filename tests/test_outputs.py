"""No output lost or overwritten, no work thrown away: unique output names, the output folder never read as
input, nothing replaced without overwrite=true, folders checked before the work, temporaries of killed
writers removed, any file name the file system holds (issue 29, kinds 1 and 2)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from benchmark import predict, runner
from core import io
from core.errors import OutputError
from tests.helpers import choices, make_config

ROOT = Path(__file__).resolve().parent.parent
#: a name holding a byte that is not UTF-8, as Linux file systems allow (Python holds it as "\udcff")
NOT_UTF8 = os.fsdecode(b"caf\xe9.jpg") if sys.platform.startswith("linux") else None


def _photo(path: Path, grey: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.full((40, 50), grey, np.uint8)).save(path)
    return path


def _places(paths, out=None) -> dict[str, str]:
    found, _ = predict.targets([str(p) for p in paths], out)
    return {Path(t.source).as_posix(): t.relative.as_posix() for t in found}


# -- kind 1: every input its own outputs ----------------------------------------------------------


def test_same_stem_and_same_name_in_two_folders_get_their_own_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("photo.jpg", "photo.png", "a/x.jpg", "b/x.jpg"):
        _photo(tmp_path / name)
    assert _places(["photo.jpg", "photo.png"]) == {"photo.jpg": "photo.jpg", "photo.png": "photo.png"}
    assert _places(["a", "b"]) == {"a/x.jpg": "a/x.jpg", "b/x.jpg": "b/x.jpg"}  # each folder keeps its name
    assert _places(["a/x.jpg", "b/x.jpg"]) == {"a/x.jpg": "a/x.jpg", "b/x.jpg": "b/x.jpg"}
    assert _places(["a"]) == {"a/x.jpg": "x.jpg"}  # one folder: the structure of its content
    found, _ = predict.targets(["photo.jpg", "photo.png"])
    names = [p.name for t in found for p in predict.outputs(t, Path("out"))]
    assert names == ["photo.jpg.json", "photo.jpg.annotated.jpg", "photo.png.json", "photo.png.annotated.jpg"]


def test_a_file_given_twice_is_predicted_once_and_names_that_differ_by_case_are_parted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "a" / "x.jpg")
    found, notes = predict.targets(["a", "a/x.jpg"])
    assert len(found) == 1 and notes == ["a/x.jpg was given twice (or through a link); it is predicted once"]
    _photo(tmp_path / "c" / "Face.jpg")
    _photo(tmp_path / "c" / "face.jpg")
    if len(list((tmp_path / "c").iterdir())) < 2:
        pytest.skip("this file system does not tell case apart")
    found, notes = predict.targets(["c"])
    assert sorted(t.relative.as_posix() for t in found) == ["Face.jpg", "face~2.jpg"]
    assert "would share their outputs; those of c/face.jpg are named face~2.jpg.*" in notes[0]


def test_predict_dot_never_reads_its_output_folder_and_reruns_only_with_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("photo.jpg", "photo.png", "a/x.jpg", "b/x.jpg"):
        _photo(tmp_path / name)
    if NOT_UTF8:
        _photo(tmp_path / NOT_UTF8)
    loads = []
    real_pipeline = predict._pipeline
    monkeypatch.setattr(predict, "_pipeline", lambda options: loads.append(1) or real_pipeline(options))

    assert predict.main([".", "tta=none"]) == 0
    out = capsys.readouterr().out
    n = 5 if NOT_UTF8 else 4
    assert f"{n} of {n} done, 0 could not be read; outputs in predictions/" in out
    written = sorted(
        p.relative_to(tmp_path / "predictions").as_posix() for p in (tmp_path / "predictions").rglob("*.json")
    )
    expected = ["a/x.jpg.json", "b/x.jpg.json", "photo.jpg.json", "photo.png.json"]
    assert [w for w in written if "caf" not in w] == expected
    assert json.loads((tmp_path / "predictions" / "photo.png.json").read_text())["file"] == "photo.png"

    # again: nothing replaced, and nothing read or loaded before saying so
    assert predict.main([".", "tta=none"]) == 2
    err = capsys.readouterr().err
    assert "note: skipped predictions (" in err and "never read as input" in err
    assert "more outputs of this run exist already; give overwrite=true to replace them, or another out=" in err
    assert len(loads) == 1 and "Traceback" not in err

    dead = subprocess.run(  # the temporary of a run killed while writing: its process is gone
        [sys.executable, "-c", "from core.io import temporary_path; print(temporary_path('predictions/a/x.jpg.json'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / dead.stdout.strip()
    stale.write_text('{"half": ')
    assert predict.main([".", "tta=none", "overwrite=true"]) == 0
    assert not stale.exists()
    assert f"{n} of {n} done" in capsys.readouterr().out  # the annotated outputs were not taken as photos
    assert not list((tmp_path / "predictions").rglob("*.annotated.annotated.jpg"))
    assert not list((tmp_path / "predictions").rglob("predictions"))


def test_an_output_folder_that_would_mix_outputs_with_inputs_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "photos" / "x.jpg")
    assert predict.main(["photos", "out=photos"]) == 2
    assert "would put outputs among the files of the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["x.jpg"]


# -- kind 2: checked before the work, written whole, temporaries of the dead removed ---------------


@pytest.mark.parametrize("how", ["a file in the way", "read-only"])
def test_run_with_an_unwritable_results_dir_fails_before_reading_or_fitting(tmp_path, monkeypatch, how):
    if how == "read-only":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("root writes in read-only folders; 'a file in the way' tests the same check")
        results = tmp_path / "ro"
        results.mkdir()
        results.chmod(0o555)
        results = results / "runs"
    else:
        (tmp_path / "file").write_text("not a folder")
        results = tmp_path / "file" / "runs"
    overrides = [f"results_dir={results}", f"cache_dir={tmp_path / 'cache'}"]
    from benchmark.datasets.synthetic import Synthetic

    reached = []
    monkeypatch.setattr(runner, "_run_fold", lambda *a, **k: reached.append("fit"))
    monkeypatch.setattr(Synthetic, "fingerprint", lambda *a, **k: reached.append("fingerprint"))
    monkeypatch.setattr(Synthetic, "load", lambda *a, **k: reached.append("read"))
    with pytest.raises(OutputError, match=r"^results_dir=.*; give results_dir= a folder you can write to$"):
        runner.run(make_config(overrides), choices(overrides))
    assert reached == []


def test_run_on_the_command_line_says_so_in_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark",
            f"results_dir={tmp_path / 'file' / 'runs'}",
            "hydra.run.dir=" + str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: results_dir=")
    assert "is a file" in done.stderr and time.perf_counter() - started < 60


def test_check_writable_names_the_folder_the_reason_and_the_fix(tmp_path, monkeypatch):
    assert io.check_writable(tmp_path / "new" / "deeper", key="out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked where it will be made; nothing made
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match=r"out=.*/f/sub: cannot be created: .*/f is a file; give out= a folder"):
        io.check_writable(tmp_path / "f" / "sub", key="out")
    free = type("Usage", (), {"free": 5 << 20})
    monkeypatch.setattr(io.shutil, "disk_usage", lambda path: free)
    with pytest.raises(OutputError, match=r"only 5.0 MiB free on its disk, and this needs about 64.0 MiB; free some"):
        io.check_writable(tmp_path, key="results_dir")
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]  # the probe is gone


def test_a_full_disk_fails_predict_before_the_model_is_loaded(tmp_path, monkeypatch, capsys):
    _photo(tmp_path / "x.jpg")
    monkeypatch.setattr(io.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1 << 20}))
    monkeypatch.setattr(predict, "_pipeline", lambda options: pytest.fail("the model was loaded"))
    assert predict.main([str(tmp_path / "x.jpg"), f"out={tmp_path / 'out'}"]) == 2
    assert "free on its disk" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_temporary_of_a_killed_writer_is_removed_and_a_live_ones_kept(tmp_path):
    writer = subprocess.Popen(  # writes half a file, then hangs: killed mid-write
        [
            sys.executable,
            "-c",
            "import time; from core.io import write_atomic\n"
            f"write_atomic({str(tmp_path / 'clip.mp4')!r}, lambda f: (f.write(b'half'), f.flush(), time.sleep(60)),"
            " binary=True)",
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(".clip.mp4.*.tmp.mp4")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (tmp,) = tmp_path.glob(".clip.mp4.*.tmp.mp4")
        assert io.temporary_owner(tmp)[1] == writer.pid
        (tmp_path / ".hidden.tmp").write_text("not ours")
        assert io.remove_stale_temporaries(tmp_path) == [] and tmp.exists()  # its writer is alive
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert tmp.exists() and not (tmp_path / "clip.mp4").exists()  # what a killed writer leaves
    assert io.remove_stale_temporaries(tmp_path) == [tmp]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden.tmp"]


def test_atomic_path_leaves_nothing_under_the_final_name_when_the_writer_fails(tmp_path):
    target = tmp_path / "sub" / "clip.mp4"
    with pytest.raises(OSError, match="No space left"):
        with io.atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.suffix == ".mp4"
            tmp.write_bytes(b"half a video")
            raise OSError(28, "No space left on device")
    assert list(target.parent.iterdir()) == []
    with io.atomic_path(target) as tmp:
        tmp.write_bytes(b"a whole video")
    assert target.read_bytes() == b"a whole video" and list(target.parent.iterdir()) == [target]


def test_a_record_that_cannot_be_written_at_the_end_is_kept_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    real_write = runner.records.write

    def full(path, record):
        if "ferbench-records" not in Path(path).parts:  # results_dir is full, the temporary folder is not
            raise OSError(28, "No space left on device")
        return real_write(path, record)

    monkeypatch.setattr(runner.records, "write", full)
    with pytest.raises(OutputError, match=r"\(No space left on device\); it is saved as .*run\.json: move it to"):
        runner._write_record(tmp_path / "runs" / "run.json", {"a": 1})
    assert json.loads((tmp_path / "tmp" / "ferbench-records" / "run.json").read_text()) == {"a": 1}


# -- any file name the file system holds -----------------------------------------------------------


@pytest.mark.skipif(NOT_UTF8 is None, reason="only Linux file systems hold names that are not UTF-8")
def test_a_file_name_that_is_not_utf8_is_predicted_and_summarised(tmp_path, monkeypatch, capsys):
    _photo(tmp_path / "in" / NOT_UTF8)
    (tmp_path / "in" / os.fsdecode(b"bro\xffken.jpg")).write_bytes(b"\xff\xd8 not a jpeg")
    monkeypatch.setattr(sys, "stdout", open(os.devnull, "w", encoding="ascii"))  # a console that is not UTF-8
    assert predict.main([str(tmp_path / "in"), f"out={tmp_path / 'out'}", "tta=none"]) == 1
    sys.stdout.close()
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "out" / (NOT_UTF8 + ".json")).is_file()  # the outputs carry the same byte
    record = json.loads((tmp_path / "out" / (NOT_UTF8 + ".json")).read_text())
    assert record["file"].endswith("caf\\xe9.jpg")
    with open(tmp_path / "out" / "summary.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["file"]).name for r in rows] == ["bro\\xffken.jpg", "caf\\xe9.jpg"]
    assert rows[0]["error"] and not rows[1]["error"]
    assert io.display_name(NOT_UTF8) == "caf\\xe9.jpg" and io.display_name("é.jpg") == "é.jpg"


@pytest.mark.skipif(NOT_UTF8 is None, reason="only Linux file systems hold names that are not UTF-8")
def test_a_folder_data_set_with_a_name_that_is_not_utf8_runs_and_is_recorded(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("happy", "sad"):
        for i in range(4):
            name = f"{i}.png" if i else NOT_UTF8.replace(".jpg", ".png")
            path = tmp_path / "faces" / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            PILImage.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(path)
    overrides = [
        "dataset=folder",
        f"dataset.root={tmp_path / 'faces'}",
        "protocol.k=2",
        "detector=haar",
        "detector.on_no_face=center_crop",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    record, path, _ = runner.run(make_config(overrides), choices(overrides))  # fingerprint, face cache, record
    assert record["n_images"] == 8 and record["data_fingerprint"]
    ids = [i for fold in json.loads(path.read_text())["predictions"].values() for i in fold["test"]["ids"]]
    assert sum("caf" in i for i in ids) == 2
