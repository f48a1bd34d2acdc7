import json
import shlex
from pathlib import Path

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
        records.write(target, {"a": 1})
    assert list(tmp_path.iterdir()) == [], "neither the record nor a temporary file may remain"


def test_write_atomic_replaces_whole(tmp_path):
    target = records.write(tmp_path / "sub" / "run.json", {"a": 1})
    records.write(target, {"b": 2})
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


RUNS = Path(__file__).resolve().parent.parent / "results" / "runs"
#: method parameters whose defaults changed as the CNN recipe improved (conf/method/cnn.yaml's history):
#: a record made before a change is found by its command with the values of its time pinned
RECIPE_KEYS = ("epochs", "tta", "swa_fraction", "swa_lr", "swa_epochs")


def _override(value) -> str:
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def _recipe_pins(recorded: dict, composed: dict, prefix: str) -> list[str]:
    """Overrides that give `composed` the recorded values of RECIPE_KEYS (added, changed or removed)."""
    pins = []
    for key in RECIPE_KEYS:
        if key in recorded and recorded[key] != composed.get(key):
            pins.append(f"{'' if key in composed else '+'}{prefix}.{key}={_override(recorded[key])}")
        elif key in composed and key not in recorded:
            pins.append(f"~{prefix}.{key}")
    return pins


@pytest.mark.parametrize("path", sorted(RUNS.glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_record_is_found_by_its_config(path):
    """The config files compose, for each record's own command, the config it was run with: same run
    key, so `python -m benchmark <that command>` finds the record instead of recomputing it. A
    refactoring of conf/ that changes any resolved value breaks this."""
    from omegaconf import OmegaConf

    from benchmark.config import compose_config

    record = json.loads(path.read_text())
    words = shlex.split(record["env"]["command"])
    assert words[:3] == ["python", "-m", "benchmark"], record["env"]["command"]
    # the recipe keys are pinned from the record below (one of them, swa_epochs, no longer exists)
    overrides = [w for w in words[3:] if w not in ("-m", "--multirun")
                 and w.partition("=")[0].rsplit(".", 1)[-1] not in RECIPE_KEYS]
    composed = OmegaConf.to_container(compose_config(overrides), resolve=True)
    nested = "estimator" in record["config"]["method"]  # an ensemble: the recipe is its member's
    get = (lambda c: c["method"]["estimator"]) if nested else (lambda c: c["method"])
    pins = _recipe_pins(get(record["config"]), get(composed), "method.estimator" if nested else "method")
    ran = record["config"]["method"].get("model")
    if record["method"] == "pretrained" and composed["method"]["model"] != ran and not any(
            w.startswith("method.model=") for w in overrides):
        # method=pretrained's default is the shipped model's file (${shipped_model:}); a record made while
        # another one was shipped is found with the file it ran
        pins.append(f"method.model={ran}")
    if pins:
        composed = OmegaConf.to_container(compose_config(overrides + pins), resolve=True)
    assert records.run_key(composed) == record["run_key"], f"{path.name}: composed with {overrides + pins}"


def test_a_cnn_record_is_only_reused_with_the_thread_count_it_was_computed_with(tmp_path):
    """Two runs of one small CNN config with n_jobs 1 and 2 can differ in a few predictions, and n_jobs is
    not in the run key: the second must not be answered with the first's record."""
    from benchmark import runner
    from core.errors import ConfigError
    from tests.helpers import choices, make_config

    base = ["dataset.n_subjects=3", "dataset.per_class=2", "protocol.k=2", "method=cnn", "method.epochs=1",
            "method.batch_size=16", "method.verbose=0", "method.tta=none", f"results_dir={tmp_path}"]
    record, path, computed = runner.run(make_config([*base, "method.n_jobs=1"]), choices(base))
    assert computed and record["threads"] == 1
    assert runner.run(make_config([*base, "method.n_jobs=1"]), choices(base))[2] is False  # found again
    with pytest.raises(ConfigError, match="computed with 1 CPU thread.*this run would use 2.*method.n_jobs=1"):
        runner.run(make_config([*base, "method.n_jobs=2"]), choices(base))
