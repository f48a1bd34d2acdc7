"""Reports from run records: leaderboard content, statistics, published figures, determinism, links, sweeps."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from scipy.stats import binom

from benchmark import runner
from benchmark.config import CONF_DIR
from benchmark.datasets.synthetic import Synthetic
from benchmark.report import __main__ as report_cli
from benchmark.report import leaderboard, output, pages, published, stats
from core.errors import ConfigError
from tests.helpers import choices, make_config

TINY = ["dataset.n_subjects=4", "dataset.per_class=4", "protocol.k=4"]
OFFICIAL = [
    "dataset.n_subjects=4",
    "dataset.per_class=4",
    "dataset._target_=tests.test_report.SplitSynthetic",
    "protocol=official",
]


class SplitSynthetic(Synthetic):
    """Synthetic faces with an official-style split, to produce FER2013-shaped records in seconds."""

    has_official_split = True

    def load(self):
        data = super().load()
        data.splits = np.array(["Training", "Training", "PublicTest", "PrivateTest"] * (len(data) // 4))
        return data


def _run(results_dir, overrides, **names):
    overrides = [f"results_dir={results_dir}", *overrides]
    record, path, _ = runner.run(make_config(overrides), {**choices(overrides), **names})
    return record, path


def _fake_deep(record: dict, path: Path) -> Path:
    """A deep-method record made from a real one: other predictions, a model, a training history."""
    deep = json.loads(json.dumps(record))
    deep["method"] = "cnn"
    deep["family"] = "deep"
    deep["config"]["method"] = {"_target_": "deep.estimator.CNNClassifier"}
    deep["config"]["model"] = {"_target_": "deep.models.tiny.TinyCNN"}
    preds = deep["predictions"]["official"]["PrivateTest"]
    preds["y_pred"] = preds["y_true"][:-3] + preds["y_pred"][-3:]  # right on all but (at most) 3
    deep["metrics"]["accuracy"]["mean"] = float(np.mean(np.equal(preds["y_true"], preds["y_pred"])))
    history = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e, "val_acc": 0.2 + 0.1 * e} for e in (1, 2, 3)]
    deep["folds"][0]["fit_details"] = {"parameters": 123456, "macs_per_image": 7_654_321, "history": history}
    target = path.with_name(path.name.replace("pixels_svm", "cnn"))
    target.write_text(json.dumps(deep))
    return target


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real records from the runner: a CV board with a config run with two seeds and another config of
    the same method, and a FER2013-shaped board."""
    root = tmp_path_factory.mktemp("results")
    results = root / "runs"
    _run(results, TINY)
    _run(results, [*TINY, "method.steps.svm.C=1.0"], method="pixels_svm_c1")
    _run(results, [*TINY, "seed=1"])  # the first config, another seed: one row, their mean
    _run(results, [*TINY, "method.steps.pca.n_components=0.9"])  # the same method, another config: a row of its own
    official, path = _run(results, OFFICIAL, dataset="fer2013")
    _run(results, [*OFFICIAL, "method.steps.svm.C=1.0"], dataset="fer2013", method="pixels_svm_c1")
    _fake_deep(official, path)
    (results / "notes.json").write_text("[1, 2]")  # not a record: listed as ignored, not fatal
    return root


@pytest.fixture(scope="module")
def generated(runs):
    report_cli.main([f"results_dir={runs / 'runs'}", f"report_dir={runs}", "readme=null", "cards=false"])
    return runs


def _all_rows(records) -> dict:
    """{board: every row, the board's and its variants', ranked within each}."""
    on, off = leaderboard.split_boards(records)
    return {key: on.get(key, []) + off.get(key, []) for key in on.keys() | off.keys()}


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".md", ".png")
    }


# -- statistics ------------------------------------------------------------------------------------


def test_wilson_interval_known_value():
    lo, hi = stats.wilson_interval(70, 100)
    z = 1.959963984540054  # the textbook formula, independently of scipy
    center = (0.7 + z * z / 200) / (1 + z * z / 100)
    half = z * np.sqrt(0.7 * 0.3 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert (lo, hi) == pytest.approx((center - half, center + half), abs=1e-9)
    assert (lo, hi) == pytest.approx((0.6042, 0.7811), abs=1e-4)


def test_mcnemar_exact_on_known_table():
    # 20 both right, 10 right only by A, 2 right only by B, 5 both wrong
    y = np.zeros(37, int)
    a = np.r_[np.zeros(30, int), np.ones(7, int)]
    b = np.r_[np.zeros(20, int), np.ones(10, int), np.zeros(2, int), np.ones(5, int)]
    result = stats.mcnemar(y, a, b)
    assert result.p_value == pytest.approx(2 * binom.cdf(2, 12, 0.5)) == pytest.approx(158 / 4096)
    assert "10 images right only by #1, 2 only by #2" in result.detail
    assert stats.mcnemar(y, a, a).p_value == 1.0


def test_paired_fold_test_exact_and_its_floor():
    assert stats.paired_folds([0.9] * 5, [0.8] * 5).p_value == pytest.approx(2 / 32)
    assert stats.paired_folds([0.8, 0.9, 0.8, 0.9], [0.9, 0.8, 0.9, 0.8]).p_value == 1.0
    many_a, many_b = np.linspace(0.6, 0.9, 20), np.linspace(0.6, 0.9, 20) - 0.05
    first, again = stats.paired_folds(many_a, many_b), stats.paired_folds(many_a, many_b)
    assert first == again and first.p_value < 0.001, "sampled beyond 16 folds, reproducibly"
    with pytest.raises(stats.NotPaired):
        stats.paired_folds([0.9, 0.8], [0.9])


def test_paired_tests_refuse_different_folds_or_images(runs, tmp_path):
    kfold = [json.loads(f.read_text()) for f in sorted((runs / "runs").glob("synthetic__kfold__pixels_svm__*.json"))]
    a = next(r for r in kfold if r["config"]["seed"] == 0)
    other_seed, _ = _run(tmp_path, [*TINY, "seed=1"])
    with pytest.raises(stats.NotPaired, match="different folds"):
        stats.paired_fold_scores(a, other_seed, "test")
    assert len(stats.paired_fold_scores(a, a, "test")[0]) == 4
    official = json.loads(next((runs / "runs").glob("fer2013__official__pixels_svm__*.json")).read_text())
    fewer = json.loads(json.dumps(official))
    fewer["predictions"]["official"]["PrivateTest"]["ids"][0] = "another image"
    with pytest.raises(stats.NotPaired, match="same PrivateTest images"):
        stats.paired_predictions(official, fewer, "PrivateTest")
    with pytest.raises(stats.NotPaired):
        stats.paired_predictions(a, a, "test")  # 4 folds: not a single test split


# -- leaderboards ----------------------------------------------------------------------------------


def test_cv_leaderboard(generated):
    text = (generated / "leaderboards" / "synthetic__kfold.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d ", line)]
    ranking = [r for r in rows if "classical" in r]
    assert len(ranking) == 2, "one row per method, at its main config: pixels_svm's two seeds are one row"
    by_method = {r.split("|")[2].strip(): r for r in ranking}
    assert set(by_method) == {"pixels_svm", "pixels_svm_c1"}
    assert re.search(r"\| 2 +\| \[record\]", by_method["pixels_svm"]), "2 records of this row"
    assert "(2 seeds, best" in by_method["pixels_svm"]
    assert "[their page](../studies/synthetic__kfold.md)" in text, "the other config is on the variants page"
    study = (generated / "studies" / "synthetic__kfold.md").read_text()
    (variant,) = [line for line in study.splitlines() if re.match(r"\| \d ", line)]
    assert "| pixels_svm " in variant and "| n_components=0.9 " in variant
    assert "config: how a row's config differs from the config its method has on the board" in study
    accs = [float(r.split("|")[5].split("±")[0]) for r in ranking]
    assert accs == sorted(accs, reverse=True)
    assert "sign-flip permutation test over folds, p = " in text and "smallest possible p = 0.125" in text
    assert "their seed-0 runs" in text, "#1 shows its seed-1 run; #2 has only seed 0"
    assert "## Per-class F1 (%)" in text and "| angry" in text
    assert "same person is in training and test" in text


def test_each_config_is_a_row_named_by_how_it_differs(runs):
    records, ignored = leaderboard.load_records(runs / "runs")
    assert [p.name for p in ignored] == ["notes.json"]
    board = _all_rows(records)[("synthetic", "kfold")]
    rows = {e.variant: e for e in board if e.row_key[0] == "pixels_svm"}
    assert set(rows) == {"", "n_components=0.9"}, "the config at the method's defaults is the main row"
    assert rows[""].on_board and not rows["n_components=0.9"].on_board
    main, other = rows[""], rows["n_components=0.9"]
    assert main.n_records == 2 and sorted(r["config"]["seed"] for r in main.runs) == [0, 1]
    assert other.n_records == 1 and other.runs == (other.record,)
    assert other.record["config"]["method"]["steps"]["pca"]["n_components"] == 0.9
    assert other.label == "pixels_svm [n_components=0.9]"
    assert leaderboard.difference(main.record["config"], other.record["config"]) == "n_components=0.95"
    assert (
        leaderboard.difference({"method": {"a": {"k": 1}, "b": {"k": 2}}}, {"method": {"a": {"k": 3}}})
        == "method.a.k=1, method.b.k=2"
    ), "a name two changed settings share is given in full"
    assert leaderboard.difference({"m": {"x": 1}}, {"m": {"x": 1, "y": [1.5, None]}}) == "y=unset"
    assert leaderboard.difference({"m": {"y": [1.5, None], "x": None}}, {"m": {}}) == "y=[1.5,null]", (
        "null and a missing setting are both unset"
    )
    assert leaderboard.difference({"a": {"zz": 1}, "b": {"aa": 2.0000001}}, {}) == "aa=2.0000001, zz=1", (
        "sorted by the name shown, floats exact"
    )
    assert leaderboard.difference({"lr": 1}, {"lr": 1.0}) == "lr=1", "as the run key tells them apart"
    assert leaderboard.difference({"lr": 1}, {"lr": "1"}) == "", "alike as text"
    cnn = {"_target_": "deep.estimator.CNNClassifier", "epochs": 66}
    assert (
        leaderboard.difference(
            {"method": {**cnn, "swa_fraction": 0, "swa_lr": 0.01}},
            {"method": {**cnn, "swa_fraction": 0.25, "swa_lr": 0.01}},
        )
        == "swa_fraction=0"
    ), "an option the run key leaves out shows its neutral value; a setting idle beside it is not named"
    assert (
        leaderboard.difference(
            {"method": {**cnn, "swa_fraction": 0.25, "blur": 0.3}}, {"method": {**cnn, "swa_fraction": 0.25}}
        )
        == "blur=0.3"
    )
    assert (
        leaderboard.difference(
            {"method": {**cnn, "swa_fraction": 0.25}}, {"method": {**cnn, "swa_fraction": 0.25, "blur": 0.3}}
        )
        == "blur=0"
    )
    one = json.loads(json.dumps(other.record))
    one["config"]["method"]["steps"]["pca"]["n_components"] = 1
    other_spelling = json.loads(json.dumps(one))
    other_spelling["config"]["method"]["steps"]["pca"]["n_components"] = "1"
    spelled = _all_rows([(Path("a.json"), one), (Path("b.json"), other_spelling)])[("synthetic", "kfold")]
    assert sorted(e.variant[:7] for e in spelled) == ["", "config "], "two run keys, alike as text: named by key"


def test_the_lead_test_pairs_runs_of_one_seed_across_methods(runs):
    """A row of two seeds shows its latest (seed 1); the other row has seed 0 only, under an inner seed
    of another name: the runs of seed 0 are compared, and the text says so."""
    records, _ = leaderboard.load_records(runs / "runs")
    board = leaderboard.boards(records)[("synthetic", "kfold")]
    first = next(e for e in board if e.row_key[0] == "pixels_svm" and not e.variant)
    second = next(e for e in board if e.row_key[0] == "pixels_svm_c1")
    other = json.loads(json.dumps(second.record))
    other["config"]["method"]["inner"] = {"random_state": 7}
    result = leaderboard.lead_test(first, leaderboard.Entry(other, second.path, 1))
    assert isinstance(result, stats.TestResult) and result.detail.endswith("between their seed-0 runs")
    seed0 = next(r for r in first.runs if r["config"]["seed"] == 0)
    assert result == leaderboard.lead_test(
        leaderboard.Entry(seed0, first.path, 1, (seed0, first.record)), leaderboard.Entry(other, second.path, 1)
    )


def test_official_leaderboard_with_ci_mcnemar_deep_row_and_published_figures(generated):
    text = (generated / "leaderboards" / "fer2013__official.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| #"))
    for column in (
        "PrivateTest acc %",
        "95% CI (Wilson)",
        "PublicTest acc %",
        "model",
        "features / params",
        "MACs / image",
    ):
        assert column in header
    deep = next(line for line in text.splitlines() if "| cnn " in line)
    assert "| deep " in deep and "TinyCNN" in deep and re.search(r"123,456 params +\| 7\.7 M +\|", deep)
    assert "exact McNemar, p = " in text
    assert "Tang" in text and "Pramerdorfer" in text and "grade" in text
    assert "FER2013 has no subject ids" in text
    curves = generated / "plots" / "learning"
    assert [p.name.split("__")[2] for p in curves.glob("*.png")] == ["cnn"]
    assert "Learning curves:" in text
    comparison = (generated / "leaderboards" / "classical_vs_deep.md").read_text()
    assert re.search(r"\| fer2013 +\| official +\| pixels_svm", comparison) and "cnn (TinyCNN)" in comparison


def test_wilson_interval_in_the_table_matches_the_predictions(generated, runs):
    record = json.loads(next((runs / "runs").glob("fer2013__official__pixels_svm__*.json")).read_text())
    correct, n = leaderboard.correct_count(record, "PrivateTest")
    assert correct / n == pytest.approx(record["metrics"]["accuracy"]["mean"])
    lo, hi = stats.wilson_interval(correct, n)
    assert f"{100 * lo:.2f}–{100 * hi:.2f}" in (generated / "leaderboards" / "fer2013__official.md").read_text()


def test_published_figures_transcribed_with_sources_and_subject_independence(generated):
    for a in published.FIGURES:
        assert a.source and a.grade[0] in published.GRADES and a.accuracy
    page = (generated / "leaderboards" / "published.md").read_text()
    for a in published.FIGURES:
        assert a.source in page and a.method in page
    not_independent = [a for a in published.FIGURES if a.subject_independent is False]
    assert {a.dataset for a in not_independent} == {"jaffe", "ckplus"}
    assert page.count("not subject-independent: the same people in training and test") == len(not_independent)
    assert "original Cohn-Kanade database, not CK+" in page
    assert {p for a in published.FIGURES for p in a.protocols} <= {
        "kfold",
        "subject_kfold",
        "loso",
        "official",
        "cross",
    }


def test_links_are_relative_and_resolve(generated):
    md_files = sorted(generated.rglob("*.md"))
    assert {p.relative_to(generated).as_posix() for p in md_files} == {
        "README.md",
        "leaderboards/synthetic__kfold.md",
        "leaderboards/fer2013__official.md",
        "leaderboards/classical_vs_deep.md",
        "leaderboards/published.md",
        "studies/synthetic__kfold.md",
    }
    for md in md_files:
        for target in re.findall(r"\]\(([^)]+)\)", md.read_text()):
            assert not target.startswith(("/", "http")) and "\\" not in target, (md, target)
            assert (md.parent / target).exists(), (md, target)
    index = (generated / "README.md").read_text()
    assert "leaderboards/fer2013__official.md" in index and "`notes.json`" in index


def test_output_is_byte_identical_and_stale_files_go(generated, runs):
    before = _files(generated)
    assert any(name.endswith(".png") for name in before)
    stale = generated / "leaderboards" / "gone__kfold.md"
    stale.write_text(f"# gone | kfold\n\n{output.GENERATED}\n\nfrom a record that was deleted\n")
    mine = generated / "leaderboards" / "notes.txt"
    mine.write_text("not the report's")
    study = generated / "studies" / "face_finding.md"  # a page a bench script writes beside the report's
    study.write_text("# Finding faces\n\nwritten by bench/face_finding.py\n")
    pages.write_report(runs / "runs", generated)
    before["studies/face_finding.md"] = hashlib.sha256(study.read_bytes()).hexdigest()
    assert _files(generated) == before, "same records, same bytes (markdown and PNG); the study left alone"
    assert not stale.exists() and mine.exists() and study.exists()


def test_readme_block_gets_the_headline_table_and_nothing_else(tmp_path, runs):
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nintro\n\n<!-- results:start -->\nold table\n<!-- results:end -->\n\nrest\n")
    pages.write_report(runs / "runs", tmp_path / "results", readme)
    text = readme.read_text()
    assert text.startswith("# Project\n\nintro\n\n<!-- results:start -->\n") and text.endswith(
        "<!-- results:end -->\n\nrest\n"
    )
    assert "old table" not in text and "| data set" in text
    index = (tmp_path / "results" / "README.md").read_text()
    cells = [[c.strip() for c in row.split("|")] for row in re.findall(r"^\|.*$", index, flags=re.M)]
    rows = re.findall(r"^\| (?:synthetic|fer2013) .*$", text, flags=re.M)
    assert rows and not any(r.startswith("| synthetic") for r in rows), "the smoke test is not in a README's headline"
    for row in rows:  # the rows of results/README.md, links seen from the README
        assert [c.strip() for c in row.replace("](results/", "](").split("|")] in cells
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert (tmp_path / target).exists(), target
    pages.write_report(runs / "runs", tmp_path / "results", readme)
    assert readme.read_text() == text, "regenerating changes nothing"
    readme.write_text("no markers")
    with pytest.raises(ConfigError, match="results:start"):
        pages.write_report(runs / "runs", tmp_path / "results", readme)


def test_no_records_is_an_error_and_writes_nothing(tmp_path, capsys):
    assert report_cli.main([f"results_dir={tmp_path / 'missing'}", f"report_dir={tmp_path / 'out'}"]) == 2
    assert "no run records" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- sweeps ----------------------------------------------------------------------------------------

VALID = {
    "fer2013": ({"official"}, {"none"}),
    "ferplus": ({"official"}, {"none"}),
    "ckplus": ({"kfold", "subject_kfold", "loso"}, {"none"}),
    "jaffe": ({"kfold", "subject_kfold", "loso"}, {"haar", "mtcnn"}),
}


def _sweep_jobs(sweep: str) -> list[dict]:
    """The group choices of every job `python -m benchmark -m +sweep=<sweep>` would launch."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        params = compose("config", overrides=[f"+sweep={sweep}"], return_hydra_config=True).hydra.sweeper.params
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        jobs = BasicSweeper.split_arguments(parser.parse_overrides([f"{k}={v}" for k, v in params.items()]), None)[0]
        return [
            dict(compose("config", overrides=[f"+sweep={sweep}", *job], return_hydra_config=True).hydra.runtime.choices)
            for job in jobs
        ]


def test_classical_sweep_covers_valid_cells_only():
    jobs = _sweep_jobs("classical")
    cells = {(j["dataset"], j["protocol"], j["detector"]) for j in jobs}
    assert cells == {(d, p, det) for d, (ps, dets) in VALID.items() for p in ps for det in dets}
    assert {j["method"] for j in jobs} == {"pixels_svm", "lbp_svm", "gabor_svm", "hog_svm", "lbp_gabor_svm"}
    assert len(jobs) == len(cells) * 5 == len({tuple(sorted(j.items())) for j in jobs})


def test_sweep_cell_gives_the_same_run_as_plain_overrides():
    via_sweep = make_config(["+sweep/track=jaffe_loso_haar", "+sweep/arm=lbp_svm"])
    direct = make_config(["dataset=jaffe", "protocol=loso", "detector=haar", "method=lbp_svm"])
    assert OmegaConf.to_container(via_sweep) == OmegaConf.to_container(direct), "same run key: resumable"


def test_deep_sweeps_train_every_model_and_fine_tune_only_where_a_fer2013_model_exists():
    deep = _sweep_jobs("deep")
    assert {j["model"] for j in deep} == {"fernet", "fernet_deep", "vgg", "resnet18", "seed_cnn"}
    assert {j["method"] for j in deep} == {"cnn"} and {j["dataset"] for j in deep} == set(VALID)
    transfer = _sweep_jobs("transfer")
    assert {(j["method"], j["model"]) for j in transfer} == {("cnn_transfer", "fernet")}
    assert {j["dataset"] for j in transfer} == {"jaffe", "ckplus"}

    def runs(jobs):
        return {tuple(j.get(g) for g in ("dataset", "protocol", "detector", "method", "model")) for j in jobs}

    assert runs(_sweep_jobs("all")) == runs(_sweep_jobs("classical")) | runs(deep)


def test_learning_curves_plot_losses_and_accuracies_only(monkeypatch, tmp_path):
    from core import plots

    saved = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.setdefault("fig", fig))
    history = {
        "loss": [1.0, 0.8],
        "val_loss": [1.1, 0.9],
        "acc": [0.5, 0.6],
        "val_acc": [0.4, 0.5],
        "lr": [0.1, 0.05],
        "seconds": [40.0, 41.0],
        "images_per_s": [600.0, 610.0],
    }
    plots.learning_curves([history], "t", tmp_path / "c.png")
    loss_ax, score_ax = saved["fig"].axes
    assert sorted(line.get_label() for line in loss_ax.lines) == ["loss", "val_loss"]
    assert sorted(line.get_label() for line in score_ax.lines) == ["acc", "val_acc"]


def test_seeds_of_one_config_make_one_row_with_their_mean(runs, tmp_path):
    """A row run with several seeds shows mean ± std over them; a config that differs in more than its
    seed is not averaged in (older spellings of one recipe are made current when a record is read:
    tests/test_records.py)."""
    source, _ = leaderboard.load_records(runs / "runs")
    path, base = next(
        (p, r)
        for p, r in source
        if r["dataset"] == "synthetic"
        and r["method"] == "pixels_svm"
        and r["config"]["method"]["steps"]["pca"]["n_components"] == 0.9
    )
    made = []
    for seed, accuracy, n_components in ((1, 0.5, 0.9), (2, 0.7, 0.9), (3, 0.1, 0.8)):
        record = json.loads(json.dumps(base))
        record["config"]["seed"] = seed
        record["config"]["method"]["steps"]["pca"]["n_components"] = n_components
        record["metrics"]["accuracy"]["mean"] = accuracy
        record["env"]["time"] = f"2999-01-0{seed}T00:00:00+00:00"
        made.append((tmp_path / f"seed{seed}.json", record))
    board = _all_rows([(path, base), *made[:2]])[("synthetic", "kfold")]
    entry = next(e for e in board if e.row_key[0] == "pixels_svm")
    assert len(entry.runs) == 3 and entry.accuracy == pytest.approx(
        np.mean([0.5, 0.7, base["metrics"]["accuracy"]["mean"]])
    )
    assert "(3 seeds, best 70.00)" in entry.seeds_text([r["metrics"]["accuracy"]["mean"] for r in entry.runs])
    again = json.loads(json.dumps(made[0][1]))  # seed 1 run again, later: it counts once, as its latest run
    again["metrics"]["accuracy"]["mean"], again["env"]["time"] = 0.9, "2999-02-01T00:00:00+00:00"
    other = _all_rows([(path, base), *made, (tmp_path / "again.json", again)])[("synthetic", "kfold")]
    rows = {e.variant: e for e in other if e.row_key[0] == "pixels_svm"}
    assert set(rows) == {"", "n_components=0.8"}, "the other config is a row of its own, not averaged in"
    assert rows["n_components=0.8"].runs == (made[2][1],)
    assert rows[""].n_records == 4 and len(rows[""].runs) == 3 and again in rows[""].runs
    assert rows[""].accuracy == pytest.approx(np.mean([0.9, 0.7, base["metrics"]["accuracy"]["mean"]]))

    cnn = {"_target_": "deep.estimator.CNNClassifier", "epochs": 66, "swa_lr": 0.01}
    assert leaderboard.without_seeds({"method": {**cnn, "swa_fraction": 0.25, "seed": 0}}) == leaderboard.without_seeds(
        {"method": {**cnn, "swa_fraction": 0.25, "seed": 2}}
    )
    assert leaderboard.without_seeds({"method": {**cnn, "swa_fraction": 0}}) == leaderboard.without_seeds(
        {"method": {"_target_": cnn["_target_"], "epochs": 66}}
    ), "no weight averaging, as before it existed"


def test_a_runs_printed_table_keeps_two_decimals(runs):
    """The table a run prints shows 7.00, not 7 (tabulate reads numbers out of strings unless told not to)."""
    from benchmark.report.summary import format_run

    source, _ = leaderboard.load_records(runs / "runs")
    record = json.loads(json.dumps(next(r for _, r in source if r["n_folds"] == 1)))  # no mean row of text
    for split in record["metrics_by_split"]:
        record["folds"][0][split]["accuracy"] = 0.07
    text = format_run(record)
    assert "| 7.00 " in text and "| 7 " not in text, text


def test_a_logit_adjusted_pretrained_model_is_a_row_of_its_own():
    from benchmark.report.cross import method_of
    from benchmark.report.leaderboard import model_name

    file = "results/models/fer2013__fernet/fit-000/model.pt"
    plain = {"method": "pretrained", "dataset": "jaffe", "config": {"method": {"model": file, "logit_adjust": 0.0}}}
    adjusted = {**plain, "config": {"method": {"model": file, "logit_adjust": 1.0}}}
    assert model_name(plain) == "fer2013 fernet (seed 0)", "named by its folder and its experiment's seed"
    assert model_name({**plain, "dataset": "fer2013"}) == "fernet (seed 0)", "its own data set goes unsaid"
    assert model_name(adjusted) == "fer2013 fernet (seed 0), logit-adjusted (tau 1)"
    assert method_of(plain) == ("cnn", "fernet")  # scored as the cnn run that trained it
    assert method_of(adjusted) == ("pretrained", "fer2013 fernet (seed 0), logit-adjusted (tau 1)")  # not in its matrix
    two = {
        **plain,
        "dataset": "fer2013",
        "config": {
            "method": {
                "model": [
                    file,
                    "results/models/fer2013__fernet_seed2/fit-000/model.pt",
                    "results/models/ferplus__fernet/fit-000/model.pt",
                    "results/models/fer2013__fernet_photometric/fit-000/model.pt",
                    "elsewhere/mine.onnx",
                ]
            }
        },
    }
    assert model_name(two) == (
        "fernet x2 (seeds 0+2) + ferplus fernet (seed 0) + fernet_photometric "
        "(seed 2, fine-tuned from fernet_seed2) + mine.onnx"
    )


def test_committed_models_of_one_network_share_its_cross_matrix():
    from benchmark.report.cross import method_of, networks
    from benchmark.report.leaderboard import Entry

    def trained(run_dir):
        return {
            "method": "cnn",
            "detector": "none",
            "model": "fernet",
            "config": {"model": {"name": "fernet"}, "method": {"run_dir": run_dir}},
        }

    tuned = {**trained("results/models/fer2013__fernet_finetuned"), "method": "cnn_transfer"}
    ranked = {
        ("ferplus", "official"): [
            Entry(trained("results/models/ferplus__fernet_lowreg"), Path("a.json"), 1),
            Entry(trained("results/models/ferplus__fernet_other"), Path("c.json"), 1, variant="epochs=42"),
        ],
        ("fer2013", "official"): [
            Entry(trained("results/models/fer2013__fernet"), Path("b.json"), 1),
            Entry(tuned, Path("d.json"), 1),
        ],
    }
    named = networks(ranked)
    assert named == {"ferplus__fernet_lowreg": "fernet", "fer2013__fernet": "fernet"}, (
        "a model of another config, or fine-tuned, keeps a matrix of its own"
    )

    def scored(file):
        return {"method": "pretrained", "config": {"method": {"model": file}}}

    assert method_of(scored("results/models/ferplus__fernet_lowreg/fit-000/model.pt"), named) == ("cnn", "fernet")
    assert method_of(scored("results/models/jaffe__vgg_small/fit-000/model.pt"), named) == ("cnn", "vgg_small")
    assert method_of(scored("results/models/fer2013__fernet_finetuned/fit-000/model.pt"), named) == (
        "cnn",
        "fernet_finetuned",
    ), "a fine-tune: a matrix of its own"


def test_a_cross_target_found_by_another_detector_is_a_column_of_its_own():
    """The default detector's JAFFE faces and mtcnn's are two cells: the later record does not hide the other."""
    from benchmark.report.cross import target_name

    def record(detectors):
        return {"config": {"protocol": {"detectors": detectors}}}

    assert target_name(record({"jaffe": "haar"}), "jaffe") == "jaffe", "conf/protocol/cross.yaml's default"
    assert target_name(record({"jaffe": "mtcnn"}), "jaffe") == "jaffe (mtcnn)"
    assert target_name(record({"jaffe": "mtcnn"}), "ckplus") == "ckplus", "ready-made crops: no detector"
    assert target_name(record(None), "jaffe") == "jaffe"


def test_the_corrected_repeated_cv_test_widens_the_variance_for_shared_training_data():
    from scipy.stats import t as student

    a = np.array([0.80, 0.82, 0.79, 0.85, 0.81, 0.83])
    b = np.array([0.78, 0.80, 0.79, 0.80, 0.80, 0.79])
    result = stats.corrected_repeated_cv(a, b, repeats=2, test_to_train=0.25)
    d = a - b
    statistic = d.mean() / np.sqrt((1 / 6 + 0.25) * d.var(ddof=1))
    assert result.p_value == pytest.approx(2 * student.sf(statistic, 5))
    plain = 2 * student.sf(d.mean() / np.sqrt(d.var(ddof=1) / 6), 5)
    assert result.p_value > plain, "wider than the plain paired t-test, which ignores the shared training data"
    assert "2 repeats of 3 folds" in result.detail


def test_a_repeated_cross_validation_is_compared_over_its_folds_not_pooled(tmp_path):
    """protocol.repeats=2: 2 x 3 folds; the lead test is the corrected t-test over them, and the pooled
    McNemar says why it is not made (each image is tested once per repeat)."""
    small = ["dataset.n_subjects=4", "dataset.per_class=4", "protocol.k=3", "protocol.repeats=2"]
    first, path_a = _run(tmp_path, small)
    second, path_b = _run(tmp_path, [*small, "method.steps.svm.C=1.0"], method="pixels_svm_c1")
    assert [f["name"] for f in first["folds"]] == [f"r{r}-fold{i}" for r in range(2) for i in range(3)]
    a, b = leaderboard.Entry(first, path_a, 1), leaderboard.Entry(second, path_b, 1)
    result = leaderboard.lead_test(a, b)
    assert isinstance(result, stats.TestResult) and result.name == "corrected repeated cross-validation t-test"
    assert "once per repeat" in leaderboard.pooled_test(a, b)


def test_the_framing_page_tables_every_margin_and_names_the_best(tmp_path):
    """studies/framing.md from the committed framing records: a row per margin, a cell per (data set,
    detector) with its pooled accuracy, and the best mean margin, which is the shipped model's (it was picked
    so); a report without those records writes no page."""
    import shutil

    from benchmark.report import framing
    from benchmark.report.output import Output

    committed = Path(__file__).resolve().parent.parent / "results" / framing.RECORDS
    records = sorted(committed.glob("*.json"))
    shutil.copytree(committed, tmp_path / framing.RECORDS)
    assert framing.write(Output(tmp_path / "empty")) is None and not (tmp_path / "empty" / "studies").exists()
    page = framing.write(Output(tmp_path), shipped_margin=0.15).read_text()
    table = [line for line in page.splitlines() if re.match(r"\| [0-9.]+ +\|", line)]
    assert len(table) * 4 == len(records), "a row per margin, four (data set, detector) pairs each"
    record = json.loads(records[0].read_text())
    margin = f"{record['config']['detector']['margin']:g}"
    row = next(line for line in table if line.startswith(f"| {margin} "))
    assert f"{100 * record['metrics']['pooled']['accuracy']:.2f} ({100 * record['faces']['detection_rate']:.2f})" in row
    means = {line.split("|")[1].strip(): float(line.split("|")[-2]) for line in table}
    assert f"Best mean accuracy: margin {max(means, key=means.get)}." in page
    assert max(means, key=means.get) == "0.15" and "The shipped model's face stage uses margin 0.15." in page
