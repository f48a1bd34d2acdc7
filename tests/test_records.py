import json
import shlex
from pathlib import Path

import pytest

from benchmark import records, schema
from core.errors import DataError

RUNS = Path(__file__).resolve().parent.parent / "results" / "runs"
CNN = "deep.estimator.CNNClassifier"
PRETRAINED = "benchmark.methods.Pretrained"


def test_run_key_ignores_paths_but_not_values():
    base = {
        "seed": 0,
        "results_dir": "a",
        "data_root": "x",
        "dataset": {"root": "x/jaffe", "on_bad_image": "raise"},
        "method": {"steps": {"svm": {"C": 1.0}}},
    }
    moved = {
        **base,
        "results_dir": "b",
        "data_root": "y",
        "redo": True,
        "dataset": {"root": "y/jaffe", "on_bad_image": "raise"},
    }
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


def test_a_copy_without_git_names_the_commit_its_copier_states(tmp_path, monkeypatch):
    """A source tree copied without .git (to a cluster node, a GPU machine) names the commit FERBENCH_GIT_COMMIT
    states, its dirtiness unknown; without the variable, nothing; a real checkout ignores the variable."""
    monkeypatch.delenv(records.COMMIT_ENV, raising=False)
    assert records._git_state(tmp_path) == {"commit": None, "dirty": None}
    monkeypatch.setenv(records.COMMIT_ENV, "c" * 40)
    assert records._git_state(tmp_path) == {"commit": "c" * 40, "dirty": None}
    here = records._git_state()
    assert here["commit"] != "c" * 40 and isinstance(here["dirty"], bool)


def test_a_record_names_the_commit_its_run_started_from(tmp_path, monkeypatch):
    """A commit made while a long run trains is not the code that ran: the record keeps the checkout's state
    as the run started."""
    from benchmark import runner
    from tests.helpers import choices, make_config

    started = []
    real_fold = runner._run_fold
    monkeypatch.setattr(runner, "_run_fold", lambda *a, **k: started.append(1) or real_fold(*a, **k))
    monkeypatch.setattr(
        records, "_git_state", lambda: {"commit": "b" * 40 if started else "a" * 40, "dirty": bool(started)}
    )
    base = ["dataset.n_subjects=2", "dataset.per_class=2", "protocol.k=2", f"results_dir={tmp_path}"]
    record, _, computed = runner.run(make_config(base), choices(base))
    assert computed and started and record["env"]["git"] == {"commit": "a" * 40, "dirty": False}


#: method parameters whose defaults changed as the CNN recipe improved (conf/method/cnn.yaml's history):
#: a record made before a change is found by its command with the values of its time pinned
RECIPE_KEYS = ("epochs", "tta", "swa_fraction", "swa_lr")


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


def _composed(record: dict) -> dict:
    """The config a committed record's command composes today, with the recipe keys of its time pinned
    and, for method=pretrained, the model file it ran."""
    from omegaconf import OmegaConf

    from benchmark.config import compose_config
    from benchmark.methods import with_model_framing

    words = shlex.split(record["env"]["command"])
    assert words[:3] == ["python", "-m", "benchmark"], record["env"]["command"]
    overrides = [
        w
        for w in words[3:]
        if w not in ("-m", "--multirun") and w.partition("=")[0].rsplit(".", 1)[-1] not in RECIPE_KEYS
    ]
    composed = OmegaConf.to_container(compose_config(overrides), resolve=True)
    nested = "estimator" in record["config"]["method"]  # an ensemble: the recipe is its member's
    get = (lambda c: c["method"]["estimator"]) if nested else (lambda c: c["method"])
    pins = _recipe_pins(get(record["config"]), get(composed), "method.estimator" if nested else "method")
    if record["method"] == "pretrained":  # its defaults are the shipped model's (conf/method/pretrained.yaml):
        ran = record["config"]["method"]  # a record made before they were, or while another was shipped,
        for key, neutral in {"model": None, "tta": None, **records.NEUTRAL[PRETRAINED]}.items():  # ran these
            value = ran.get(key, neutral)
            if value != composed["method"].get(key) and not any(w.startswith(f"method.{key}=") for w in overrides):
                pins.append(f"method.{key}={_override(value)}")
    # as `ferbench run` takes it: a pretrained model's framing applied to the detector (benchmark.methods)
    return OmegaConf.to_container(with_model_framing(compose_config(overrides + pins)), resolve=True)


def test_a_cnn_record_is_only_reused_with_the_thread_count_it_was_computed_with(tmp_path):
    """Two runs of one small CNN config with n_jobs 1 and 2 can differ in a few predictions, and n_jobs is
    not in the run key: the second must not be answered with the first's record."""
    from benchmark import runner
    from core.errors import ConfigError
    from tests.helpers import choices, make_config

    base = [
        "dataset.n_subjects=3",
        "dataset.per_class=2",
        "protocol.k=2",
        "method=cnn",
        "method.epochs=1",
        "method.batch_size=16",
        "method.verbose=0",
        "method.tta=none",
        f"results_dir={tmp_path}",
    ]
    record, path, computed = runner.run(make_config([*base, "method.n_jobs=1"]), choices(base))
    assert computed and record["threads"] == 1
    assert runner.run(make_config([*base, "method.n_jobs=1"]), choices(base))[2] is False  # found again
    with pytest.raises(ConfigError, match="computed with 1 CPU thread.*this run would use 2.*method.n_jobs=1"):
        runner.run(make_config([*base, "method.n_jobs=2"]), choices(base))


# -- the schema, its migrations, and run keys that new options do not move ------------------------------


def _committed(name_part: str) -> tuple[Path, dict]:
    path = next(p for p in sorted(RUNS.glob("*.json")) if name_part in p.name)
    return path, json.loads(path.read_text())


def _as_version_1(record: dict, tta=True, swa_epochs: int | None = 16, added: str = "") -> dict:
    """A current CNN record written back the way version 1 could hold it."""
    old = json.loads(json.dumps(record))
    for key in ("schema", "family", "threads", "experiment", "perturb"):
        old.pop(key, None)
    method = old["config"]["method"]
    method["tta"] = tta
    method.pop("swa_fraction", None)
    if swa_epochs is not None:
        method["swa_epochs"] = swa_epochs
    else:
        method.pop("swa_lr", None)
    old["env"]["command"] += added
    return old


def test_a_record_of_each_older_shape_loads_in_the_current_one(tmp_path):
    _, current = _committed("fernet__73c8f72ab0f2")  # the shipped model's: 66 epochs, 0.25 of them averaged
    shapes = {
        "swa_epochs": _as_version_1(current, tta=True, swa_epochs=16, added=" +method.noise=0.1"),
        "no_swa": _as_version_1(current, tta=False, swa_epochs=None),
        "schema_1": {**_as_version_1(current), "schema": 1},
    }
    for name, old in shapes.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(old))
        loaded = records.load(path)
        assert loaded["schema"] == schema.SCHEMA_VERSION and loaded["family"] == "deep", name
        assert loaded["threads"] == records.threads(old["config"]["method"], old["env"]["cpu_count"])
        assert loaded["experiment"] is None and loaded["perturb"] is None
        method = loaded["config"]["method"]
        assert "swa_epochs" not in method and isinstance(method["tta"], str)
        assert list(loaded) == [k for k in schema.FIELDS if k in loaded], "fields in the schema's order"
    loaded = {name: records.load(tmp_path / f"{name}.json") for name in shapes}
    assert loaded["swa_epochs"]["config"]["method"]["swa_fraction"] == 0.25, "16 of 66 epochs: what 0.25 averages"
    assert loaded["swa_epochs"]["config"]["method"]["tta"] == "flip"
    assert loaded["swa_epochs"]["env"]["command"].endswith(" method.noise=0.1"), "set, no longer added with +"
    assert (
        loaded["no_swa"]["config"]["method"]["swa_fraction"] == 0
        and loaded["no_swa"]["config"]["method"]["tta"] == "none"
    )
    # the same recipe spelled either way has one run key (which the report groups seeds by)
    same = json.loads(json.dumps(loaded["swa_epochs"]["config"]))
    assert records.run_key(same) == records.run_key(
        {**current["config"], "method": {**current["config"]["method"], "tta": "flip"}}
    )


def test_a_record_of_another_shape_is_an_error_that_names_the_field(tmp_path):
    _, current = _committed("jaffe__loso__lbp_svm__haar")
    broken = {**current, "metrics": {**current["metrics"], "accuracy": {"mean": "high"}}}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"broken.json is not a run record of schema \d+: metrics.accuracy.mean"):
        records.load(tmp_path / "broken.json")
    (tmp_path / "newer.json").write_text(json.dumps({**current, "schema": schema.SCHEMA_VERSION + 1}))
    with pytest.raises(DataError, match="update ferbench"):
        records.load(tmp_path / "newer.json")
    (tmp_path / "extra.json").write_text(json.dumps({**current, "surprise": 1}))
    with pytest.raises(DataError, match="surprise"):
        records.load(tmp_path / "extra.json")


def test_every_committed_record_has_the_current_shape_and_its_configs_key():
    for path in sorted(RUNS.glob("*.json")):
        raw = json.loads(path.read_text())
        assert raw == records.load(path), f"{path.name}: run `ferbench records` to rewrite it"
        assert raw["run_key"] == records.run_key(raw["config"]), path.name
        assert path.name.split(".")[0].endswith(raw["run_key"][: records.KEY_CHARS]), path.name


def test_an_option_added_at_its_neutral_value_moves_no_committed_key(tmp_path, monkeypatch):
    """conf/method/cnn.yaml gets a new option `sharpen: 0.0` (and records.NEUTRAL its neutral value): every
    committed CNN record's command composes to its recorded key still. Changing a real default does move it."""
    import shutil

    from benchmark import config

    conf = shutil.copytree(config.CONF_DIR, tmp_path / "conf")
    (conf / "method" / "cnn.yaml").write_text((conf / "method" / "cnn.yaml").read_text() + "sharpen: 0.0\n")
    monkeypatch.setattr(config, "CONF_DIR", conf)
    monkeypatch.setitem(records.NEUTRAL, CNN, {**records.NEUTRAL[CNN], "sharpen": 0})
    checked = 0
    for path in sorted(RUNS.glob("*__cnn__*fernet*.json"))[:4]:
        record = json.loads(path.read_text())
        composed = _composed(record)
        assert composed["method"]["sharpen"] == 0.0
        assert records.run_key(composed) == record["run_key"], path.name
        composed["method"]["sharpen"] = 0.5
        assert records.run_key(composed) != record["run_key"]
        composed["method"]["sharpen"], composed["method"]["epochs"] = 0.0, composed["method"]["epochs"] + 1
        assert records.run_key(composed) != record["run_key"], "a changed default is another run"
        checked += 1
    assert checked == 4


def test_upgrade_renames_a_record_to_its_current_key_and_keeps_a_second_run_aside(tmp_path):
    path, current = _committed("fernet__73c8f72ab0f2")
    old = _as_version_1(current, tta="affine", swa_epochs=None)  # the recipe before weight averaging
    old["config"]["method"]["swa_fraction"], old["config"]["method"]["swa_lr"] = 0, 0.01  # spelled as off
    old["run_key"] = json.loads(json.dumps(current))["run_key"]
    first = tmp_path / f"{path.name.rsplit('__', 1)[0]}__{old['run_key'][:12]}.json"
    first.write_text(json.dumps(old))
    done = records.upgrade(tmp_path)
    (renamed,) = tmp_path.glob("*.json")
    new = records.load(renamed)
    assert new["run_key"] == records.run_key(new["config"]) != old["run_key"]
    assert renamed.name.endswith(f"__{new['run_key'][:12]}.json") and "renamed" in done[first.name]
    assert records.upgrade(tmp_path) == {}, "a second upgrade changes nothing"
    later = {**old, "env": {**old["env"], "time": "2999-01-01T00:00:00+00:00"}}
    first.write_text(json.dumps(later))  # the same config, run again later under its old key
    records.upgrade(tmp_path)
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == [renamed.name, renamed.name.replace(".json", ".superseded.json")]
    assert json.loads(renamed.read_text())["env"]["time"].startswith("2999"), "the latest run keeps the key's name"
    assert records.find(tmp_path, new["run_key"]) == renamed
    assert records.upgrade(tmp_path) == {}


# -- named experiments -------------------------------------------------------------------------------------


def test_every_experiment_finds_its_committed_record_which_names_it():
    from benchmark import experiments

    tags = experiments.tags()
    assert len(tags) == len(experiments.names()), "two experiments compose the same run"
    for key, name in tags.items():
        path = records.find(RUNS, key)
        assert path is not None, f"+experiment={name} has no committed record"
        assert records.load(path)["experiment"] == name


def test_every_committed_model_has_its_experiment():
    """A committed model folder results/models/<data set>__<name>/ is the run_dir of an experiment's run."""
    from benchmark import experiments
    from benchmark.config import compose_config

    models = {p.name for p in (RUNS.parent / "models").iterdir() if p.is_dir()}
    made = {
        str(compose_config([f"+experiment={n}"]).method.get("run_dir") or "").rsplit("/", 1)[-1]
        for n in experiments.names()
    }
    assert models <= made, f"models without an experiment: {sorted(models - made)}"


def test_a_run_of_an_experiment_finds_its_record_without_recomputing():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", "+experiment=fer2013_fernet_seed2", "method.n_jobs=2"],
        cwd=RUNS.parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (
        "fer2013__official__cnn__none__fernet__73c8f72ab0f2.json (an identical run was already recorded" in out.stdout
    )


# -- last in this module: its one Hydra stays initialised until the module ends ----------------------------


@pytest.fixture(scope="module")
def one_hydra():
    """One Hydra for the many compositions of the committed records' commands (compose_config reuses it)."""
    from hydra import initialize_config_dir

    from core.io import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        yield


@pytest.mark.parametrize("path", sorted(RUNS.glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_record_is_found_by_its_config(path, one_hydra):
    """The config files compose, for each record's own command, the config it was run with: same run
    key, so `python -m benchmark <that command>` finds the record instead of recomputing it. A
    refactoring of conf/ that changes any resolved value breaks this."""
    record = json.loads(path.read_text())
    assert records.run_key(_composed(record)) == record["run_key"], path.name
