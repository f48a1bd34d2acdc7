"""The command line as a user meets it: `ferbench` and its subcommands (and the python -m forms), sweeps,
one-line errors for every wrong word, verify, the report's changed files."""

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
    out = cli(
        "benchmark",
        "-m",
        f"results_dir={tmp_path}",
        "dataset.n_subjects=5",
        "dataset.per_class=2",
        "protocol=subject_kfold,loso",
    )
    assert out.returncode == 0, out.stderr
    names = sorted(p.name.split("__")[1] for p in tmp_path.glob("*.json"))
    assert names == ["loso", "subject_kfold"]
    for path in tmp_path.glob("*.json"):  # each record names its own job's command, not the sweep's
        protocol = path.name.split("__")[1]
        assert json.loads(path.read_text())["env"]["command"].endswith(f"protocol={protocol}")


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset=nope"], "dataset has no option 'nope'"),
        (["method=nope"], "method has no option 'nope'"),
        (["dataset=jaffe", "protocol=official"], "protocol=official needs an official"),
        ([*SMALL, "protocol=subject_kfold", "protocol.k=20"], "use 2 <= k <= 3"),
    ],
)
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
                save(
                    root / f"{subject}.{expression}{n}.{100 + 10 * s + 2 * e + n}.tiff", jaffe_image(6 * s + 2 * e + n)
                )


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]])
def test_a_failing_job_does_not_end_the_sweep(tmp_path, launcher):
    """ckplus/ is missing: its jobs fail and are listed at the end (exit 1); the jaffe jobs still run."""
    _small_jaffe(tmp_path / "data" / "jaffe")
    out = cli(
        "benchmark",
        "-m",
        "dataset=ckplus,jaffe",
        "method=pixels_svm",
        "protocol.k=2",
        f"data_root={tmp_path / 'data'}",
        f"results_dir={tmp_path / 'runs'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *launcher,
    )
    assert out.returncode == 1, out.stderr
    assert [p.name.split("__")[0] for p in (tmp_path / "runs").glob("*.json")] == ["jaffe"]
    assert "1 job(s) of the sweep failed" in out.stderr and "dataset=ckplus" in out.stderr
    assert "no data set found" in out.stderr


def test_a_folder_of_ones_own_runs_and_is_verified(tmp_path):
    from tests.test_datasets import write_folder

    write_folder(tmp_path / "mine", ["happy", "sad", "neutral"], subjects=("A01", "B02", "C03", "D04"))
    out = cli(
        "benchmark",
        "dataset=folder",
        f"dataset.root={tmp_path / 'mine'}",
        "dataset.name=mine",
        "detector.size=32",
        "protocol.k=2",
        f"results_dir={tmp_path / 'runs'}",
    )
    assert out.returncode == 0, out.stderr
    assert [p.name.split("__")[0] for p in (tmp_path / "runs").glob("*.json")] == ["mine"]
    verified = cli("benchmark.verify", f"data_root={tmp_path / 'none'}", f"folder={tmp_path / 'mine'}")
    assert verified.returncode == 0 and "loaded: 12 images (no published totals to compare)" in verified.stdout


def test_the_cross_protocol_runs_from_the_command_line(tmp_path):
    """Its targets' configs are composed inside the running Hydra app (once a GlobalHydra error)."""
    from tests import layouts

    layouts.write_fer_csv(tmp_path / "data" / "fer2013")
    layouts.write_jaffe(tmp_path / "data" / "jaffe")
    out = cli(
        "benchmark",
        "dataset=fer2013",
        "protocol=cross",
        "method=pixels_svm",
        f"data_root={tmp_path / 'data'}",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
    )
    assert out.returncode == 0, out.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["protocol"] == "cross" and set(record["metrics_by_split"]) == {"jaffe"}


# -- one command, one grammar, one-line errors ---------------------------------------------------------

COMMANDS = ("run", "predict", "serve", "report", "verify", "records")


def ferbench(*args, cwd=ROOT, env=None):
    """`ferbench ARGS` as the console script runs it (benchmark.cli:main)."""
    return cli("benchmark.cli", *args, cwd=cwd, env=env)


def test_the_console_script_is_declared():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "ferbench"]
    assert script.value == "benchmark.cli:main"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_prints_usage_options_and_examples(command, capsys):
    from benchmark import cli as ferbench_cli

    assert ferbench_cli.main([*([command] if command else []), "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: ferbench") and "examples:" in out and not err
    if command not in (None, "run"):
        assert "options (default):" in out
    if command == "run":  # the groups with their options and the top-level keys with their defaults
        assert "lbp_svm" in out and "results_dir=results/runs" in out


@pytest.mark.parametrize(
    "module",
    ["benchmark", "benchmark.predict", "benchmark.serve", "benchmark.report", "benchmark.verify", "benchmark.records"],
)
def test_the_python_m_forms_print_the_same_help(module, tmp_path):
    out = cli(module, "--help", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("usage: python -m ") and "examples:" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "method=lbp_svn"], "method=lbp_svn: method has no option 'lbp_svn'; did you mean lbp_svm"),
        (["run", "dataset=jaffee"], "dataset has no option 'jaffee'; did you mean jaffe?"),
        (
            ["run", "method=lbp_svm", "method.C=1"],
            "no key method.C in this config; did you mean method.classifier.estimator.steps.svm.C?",
        ),
        (
            ["run", "method=lbp_svm", "+method.C=1"],
            "method.C is not a setting of benchmark.methods.FeatureClassifier; its settings: features, classifier",
        ),
        (["run", "+seed=2"], "+seed adds a key, and seed is there already: write seed=2"),
        (["run", "seed=1.5"], "error: seed must be an integer, got 1.5"),
        (["run", "protocol.k=2.5"], "error: protocol.k must be an integer, got 2.5"),
        (["run", "redo=no"], "error: redo must be true or false (or 1 / 0), got 'no'"),
        (["run", "redo=off"], "error: redo must be true or false (or 1 / 0), got 'off'"),
        (["run", "save_model=no"], "error: save_model must be true or false (or 1 / 0), got 'no'"),
        (["run", "clasifier@method.classifier=linear_svm"], "no config group 'clasifier'; did you mean classifier?"),
        (["predict", "photo.jpg", "modle=x.pt"], "error: unknown option 'modle'; did you mean model?"),
        (["predict", "photo.jpg", "--model", "x.pt"], "'--model' is not how options are given here: write model=x.pt"),
        (["predict", "photo.jpg", "tta=flp"], "tta must be one of none | flip | affine, got 'flp'; did you mean flip?"),
        (["predict", "photo.jpg", "every=0"], "error: every must be an integer >= 1, got 0"),
        (["serve", "prot=8080"], "error: unknown option 'prot'; did you mean port?"),
        (["serve", "--port", "8080"], "write port=8080"),
        (["serve", "port=http"], "error: port must be an integer >= 1 and <= 65535, got 'http'"),
        (["verify", "subjects=maybe"], "error: subjects must be true or false (or 1 / 0), got 'maybe'"),
        (["verify", "dataset.on_bad_imag=skip"], "did you mean dataset.on_bad_image?"),
        (["report", "reprot_dir=x"], "error: unknown option 'reprot_dir'; did you mean report_dir"),
        (["records", "data_rot=x"], "error: unknown option 'data_rot'; did you mean data_root?"),
        (["rnu"], "error: unknown command 'rnu'; did you mean run?"),
        (["run", "~seed"], "error: seed is needed by dataset.seed: it cannot be removed"),
        (["run", "model=vgg"], "error: model: this run has none to change; it comes with method=cnn"),
        (["run", "perturb=standard"], "error: perturb: this run has none to change; +perturb=<option> adds one"),
        (["run", "method"], "error: 'method' is not key=value: write method=<value>"),
        (["run", "=x"], "error: '=x' has no key: write key=value"),
        (["run", "seed=0=1"], "error: 'seed=0=1' is not a key=value Hydra reads (mismatched input"),
        (["run", "--foo"], "error: unknown flag '--foo' (did you mean --info or --cfg?)"),
        (["run", "--model", "vgg"], "error: '--model' is not how a run is given its settings: write model=vgg"),
        (["run", "--cfg", "jobs"], "error: --cfg takes job, hydra or all, got 'jobs'"),
        (["run", "-m", "method=lbp_svm,hog_svm", "--cfg", "job"], "error: --cfg prints the config of one run and -m"),
        (["run", "hydra/launcher=jobib"], "hydra/launcher has no option 'jobib'; did you mean joblib?"),
        (
            ["run", "method=lbp_svm", "method=hog_svm"],
            "error: method is given twice (method=lbp_svm and method=hog_svm)",
        ),
        (["run", "+perturb=standard", "+perturb=standard"], "error: perturb is given twice"),
        (["run", "data_root="], "error: data_root is empty; its default is "),
        (["serve", "host="], "error: host is empty; its default is 127.0.0.1"),
        (["serve", "port=0"], "error: port must be an integer >= 1 and <= 65535, got 0"),
        (["serve", "cors_origin=foo"], "error: cors_origin must be an origin such as https://example.org"),
        (["serve", "host=not-a-host.invalid"], "error: host 'not-a-host.invalid' is not an address this machine can"),
        (["predict", "photo.jpg", "smooth=1"], "error: smooth must be a number >= 0 and <= 0.99, got 1"),
        (["predict", "photo.jpg", "out="], "error: out is empty; its default is predictions"),
        (["report", "report_dir="], "error: report_dir is empty; its default is results"),
    ],
)
def test_every_wrong_word_is_one_line_with_the_closest_names(args, message, tmp_path, monkeypatch, capsys):
    """In this process (the words are refused before Hydra or any work starts); +method.C, refused when
    its method is built, goes through a whole `ferbench run`."""
    from benchmark import cli as ferbench_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"")
    extra = [f"results_dir={tmp_path / 'runs'}"] if args[0] == "run" else []
    if "+method.C=1" in args:
        out = ferbench(*args, *extra, cwd=tmp_path)
        code, err = out.returncode, out.stderr
    else:
        code, err = ferbench_cli.main([*args, *extra]), capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_boolean_is_true_false_1_or_0_and_1_is_true(tmp_path):
    base = [f"results_dir={tmp_path}", *SMALL, "protocol.k=2"]
    first = ferbench("run", *base)
    assert first.returncode == 0, first.stderr
    (record,) = tmp_path.glob("*.json")
    made = json.loads(record.read_text())["env"]["time"]
    again = ferbench("run", *base, "redo=0")  # false: found, not recomputed
    assert "nothing recomputed" in again.stdout
    refused = ferbench("run", *base, "redo=no")
    assert refused.returncode == 2 and json.loads(record.read_text())["env"]["time"] == made  # not replaced
    redone = ferbench("run", *base, "redo=1")
    assert redone.returncode == 0 and "nothing recomputed" not in redone.stdout


def test_every_committed_command_passes_the_checks_unchanged():
    """No false alarm: the command of every committed record is accepted as it is (the same words), but for
    the recipe keys that have since changed or gone (tests/test_records.py pins them from the record)."""
    import shlex

    from hydra import initialize_config_dir

    from benchmark.config import check_overrides
    from core.io import CONF_DIR
    from tests.test_records import RECIPE_KEYS

    commands = {}
    for path in sorted((ROOT / "results" / "runs").glob("*.json")):
        words = [
            w
            for w in shlex.split(json.loads(path.read_text())["env"]["command"])[3:]
            if w.partition("=")[0].rsplit(".", 1)[-1] not in RECIPE_KEYS
        ]
        shape = tuple(sorted(w.split("=", 1)[0] for w in words))  # one command per set of keys given
        commands.setdefault(shape, (words, path.name))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):  # one Hydra for all of them
        for words, name in commands.values():
            assert check_overrides(list(words)) == list(words), name


def test_kfold_on_a_data_set_with_subjects_says_so_and_fit_time_is_a_sum(tmp_path):
    out = ferbench("run", f"results_dir={tmp_path}", *SMALL, "protocol.k=2")
    assert "note: protocol=kfold puts the same person (3 subjects) in training and test folds" in out.stdout
    assert "protocol=subject_kfold or protocol=loso" in out.stdout and "fit s (mean row: sum)" in out.stdout
    loso = ferbench("run", f"results_dir={tmp_path}", *SMALL, "protocol=loso")
    assert "note: protocol=kfold" not in loso.stdout


def test_verify_ends_with_a_verdict_per_data_set(tmp_path):
    from tests.test_datasets import write_folder

    write_folder(tmp_path / "mine", ["happy", "sad"], subjects=("A01", "B02"))
    out = ferbench("verify", f"data_root={tmp_path / 'none'}", f"folder={tmp_path / 'mine'}")
    verdict = out.stdout.split("## verdict\n", 1)[1].splitlines()
    assert verdict[0] == f"fer2013: not found at {tmp_path / 'none' / 'fer2013'}"
    assert verdict[4].startswith(f"folder {tmp_path / 'mine'}: loaded (") and "no published totals" in verdict[4]
    assert "| subject " not in out.stdout  # per-subject tables on request
    with_subjects = ferbench(
        "verify",
        f"data_root={tmp_path / 'none'}",
        f"folder={tmp_path / 'mine'}",
        "subjects=true",
        r"dataset.subject_pattern='^([A-Z]\d\d)_'",
    )  # only the folder has this key
    assert with_subjects.returncode == 0, with_subjects.stderr
    assert "| subject " in with_subjects.stdout and "(4 images, 2 subjects;" in with_subjects.stdout


def test_the_report_lists_what_it_changed_and_touches_no_readme_unless_told(tmp_path):
    runs = tmp_path / "runs"
    assert ferbench("run", f"results_dir={runs}", *SMALL, "protocol.k=2").returncode == 0
    readme = tmp_path / "README.md"
    readme.write_text("# Mine\n\n<!-- results:start -->\nold\n<!-- results:end -->\n")
    first = ferbench("report", f"results_dir={runs}", f"report_dir={tmp_path / 'report'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"new      {tmp_path / 'report' / 'README.md'}" in first.stdout
    assert readme.read_text().endswith("old\n<!-- results:end -->\n")  # not named: not touched
    second = ferbench(
        "report", f"results_dir={runs}", f"report_dir={tmp_path / 'report'}", "readme=README.md", cwd=tmp_path
    )
    assert "report up to date" not in second.stdout and "changed  README.md" in second.stdout
    assert "synthetic" not in readme.read_text()  # the smoke test never enters a README's headline
    third = ferbench(
        "report", f"results_dir={runs}", f"report_dir={tmp_path / 'report'}", "readme=README.md", cwd=tmp_path
    )
    assert third.stdout.strip() == "report up to date: no file changed"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_written_with_the_umasks_modes(tmp_path, umask, mode):
    from core.io import write_atomic

    old = os.umask(umask)
    try:
        path = write_atomic(tmp_path / "out.json", lambda f: f.write("{}"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left


def test_a_missing_extra_is_one_line_that_names_it(monkeypatch):
    from core import extras
    from core.errors import FerbenchError

    real = extras.find_spec
    gone = ("mtcnn", "fastapi", "hydra_plugins.hydra_ray_launcher")
    monkeypatch.setattr(extras, "find_spec", lambda name: None if name in gone else real(name))
    from benchmark.config import check_overrides
    from benchmark.faces import MTCNNDetector

    for launcher in ("ray", "ray_cluster"):  # ray_cluster is ours, but extends the plugin's ray
        with pytest.raises(FerbenchError, match=rf"^hydra/launcher={launcher} needs ferbench's 'ray' extra"):
            check_overrides([f"hydra/launcher={launcher}"])

    with pytest.raises(
        FerbenchError,
        match=r"^detector=mtcnn needs ferbench's 'mtcnn' extra \(mtcnn not installed\): "
        r"pip install 'ferbench\[mtcnn\]'$",
    ):
        MTCNNDetector()
    from benchmark.serve import main

    assert main(["port=0"]) == 2
    with pytest.raises(FerbenchError, match="pip install 'ferbench\\[serve\\]'"):
        extras.require("serve", "ferbench serve")


def test_the_report_never_replaces_a_readme_it_did_not_write(tmp_path, capsys):
    """report_dir=. in a project folder would have replaced the project's README with the index: refused,
    and a readme= that is not there is refused, both before any file is written."""
    from benchmark import cli as ferbench_cli

    assert ferbench(*["run", f"results_dir={tmp_path / 'runs'}", *SMALL, "protocol.k=2"]).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# My project\n")
    assert ferbench_cli.main(["report", f"results_dir={tmp_path / 'runs'}", f"report_dir={project}"]) == 2
    assert "holds a README.md the report did not write" in capsys.readouterr().err
    assert (
        ferbench_cli.main(
            [
                "report",
                f"results_dir={tmp_path / 'runs'}",
                f"report_dir={tmp_path / 'out'}",
                f"readme={tmp_path / 'missing.md'}",
            ]
        )
        == 2
    )
    assert "missing.md is not there" in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["README.md"] and not (tmp_path / "out").exists()
    assert (project / "README.md").read_text() == "# My project\n"


def test_serve_refuses_a_port_in_use_before_loading_the_model(capsys):
    import socket

    from benchmark.serve import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([f"port={port}"]) == 2
    assert f"port {port} on 127.0.0.1 cannot be used" in capsys.readouterr().err


def test_pretrained_on_jaffe_gives_the_shipped_models_committed_figure(tmp_path):
    """`ferbench run dataset=jaffe detector=haar method=pretrained`, nothing more: the shipped model's crops,
    test-time views and logit adjustment come from its manifest, and the run's pooled accuracy is the JAFFE
    figure of its committed cross-data-set record (the shipped_cross experiment), exactly where the CPU computes
    in bf16 as the record's machine did."""
    from deep.train import bf16_native
    from tests.conftest import real_data_dir

    real_data_dir("jaffe")
    out = ferbench("run", "dataset=jaffe", "detector=haar", "method=pretrained", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    cross = json.loads((ROOT / "results/runs/fer2013__cross__pretrained__none__bd59724aa1e5.json").read_text())
    got, committed = record["metrics"]["pooled"], cross["metrics_by_split"]["jaffe"]["pooled"]
    if bf16_native("cpu"):  # bf16 as on the machine that made the record: the same predictions
        assert got == committed
    else:  # fp32 on this CPU (deep.train.bf16_native): a face or two may change label, the crops and views not
        assert got == pytest.approx(committed, abs=0.01)
    assert f"accuracy {100 * got['accuracy']:.2f}" in out.stdout
    assert record["config"]["detector"]["size"] == 48 and record["config"]["detector"]["margin"] == 0.15
