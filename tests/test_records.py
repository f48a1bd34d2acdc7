import json

import pytest

from benchmark import records


def test_run_key_ignores_paths_but_not_values():
    base = {"seed": 0, "results_dir": "a", "data_root": "x", "dataset": {"root": "x/jaffe", "on_bad_image": "raise"},
            "method": {"steps": {"svm": {"C": 1.0}}}}
    moved = {**base, "results_dir": "b", "data_root": "y", "redo": True, "dataset": {"root": "y/jaffe", "on_bad_image": "raise"}}
    changed = {**base, "method": {"steps": {"svm": {"C": 2.0}}}}
    assert records.run_key(base) == records.run_key(moved)
    assert records.run_key(base) != records.run_key(changed)
    assert records.run_key(base) != records.run_key({**base, "seed": 1})


def test_write_atomic_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "run.json"

    def explode(obj, f, **kw):
        f.write('{"half": ')  # part of a record has reached the temporary file...
        raise KeyboardInterrupt  # ...when the user presses Ctrl-C

    monkeypatch.setattr(records.json, "dump", explode)
    with pytest.raises(KeyboardInterrupt):
        records.write_atomic(target, {"a": 1})
    assert list(tmp_path.iterdir()) == [], "neither the record nor a temporary file may remain"


def test_write_atomic_replaces_whole(tmp_path):
    target = records.write_atomic(tmp_path / "sub" / "run.json", {"a": 1})
    records.write_atomic(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_find_ignores_corrupt_and_foreign_records(tmp_path):
    key = records.run_key({"seed": 0})
    name = records.record_name({"dataset": "d", "protocol": "p"}, key)
    (tmp_path / name).write_text('{"run_key": "' + key)  # truncated by some other tool
    assert records.find(tmp_path, key) is None
    (tmp_path / name).write_text(json.dumps({"run_key": "something else"}))
    assert records.find(tmp_path, key) is None
    (tmp_path / name).write_text(json.dumps({"run_key": key}))
    assert records.find(tmp_path, key) == tmp_path / name


def test_environment_names_versions_commit_and_seed():
    env = records.environment(seed=7)
    assert env["seed"] == 7 and env["cpu_count"] >= 1
    assert "numpy" in env["packages"] and "scikit-learn" in env["packages"]
    assert set(env["git"]) == {"commit", "dirty"}
    assert env["command"]
