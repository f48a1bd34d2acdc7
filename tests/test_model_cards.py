"""Model cards (`benchmark.report.cards`): one per committed model, as the report writes it, with scores
counted only for the file whose SHA-256 a record names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from benchmark.report import __main__ as report_cli
from benchmark.report import cards
from benchmark.report.leaderboard import load_records
from benchmark.report.output import Output

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
#: a committed model with one record that scores its file alone (method=pretrained, across data sets)
SMALL = "ferplus__fernet_lowreg"


@pytest.fixture(scope="module")
def records():
    found, _ = load_records(RESULTS / "runs")
    return found


def _committed_models() -> list[str]:
    return sorted(
        p.name
        for p in (RESULTS / "models").iterdir()
        if p.is_dir() and any(f.suffix in cards.MODEL_SUFFIXES for f in p.rglob("*"))
    )


def test_every_committed_model_has_its_card_as_the_report_writes_it(tmp_path, monkeypatch):
    """The cards under results/cards/ are what the code writes from the committed records and models now
    (the report's own layout: runs, models, boards and variants pages beside cards/)."""
    root = tmp_path / "results"
    root.mkdir()
    for name in ("runs", "models", "leaderboards", "studies"):
        (root / name).symlink_to(RESULTS / name)
    monkeypatch.chdir(tmp_path)
    written = cards.write(Output(root), load_records(root / "runs")[0], Path("results/models"))
    assert sorted(written) == _committed_models()
    committed = sorted(p.name for p in (RESULTS / "cards").glob("*.md"))
    assert committed == sorted([f"{name}.md" for name in written] + ["index.md"])
    for name in committed:
        assert (root / "cards" / name).read_text() == (RESULTS / "cards" / name).read_text(), (
            f"results/cards/{name} is not what the report writes now: run `ferbench report readme=README.md`"
        )


def test_the_shipped_models_card_says_so_and_no_other_does():
    shipped = yaml.safe_load((RESULTS / "models" / "shipped.yaml").read_text())["model"]
    folder = Path(shipped).parts[0]
    for card in sorted((RESULTS / "cards").glob("*__*.md")):
        assert ("**The shipped model**" in card.read_text()) == (card.stem == folder), card.name
    index = (RESULTS / "cards" / "index.md").read_text()
    assert [row.split("|")[1].strip() for row in index.splitlines() if row.rstrip().endswith("| yes       |")] == [
        f"[{folder}]({folder}.md)"
    ]


def test_a_score_counts_only_for_the_file_whose_sha256_the_record_names(tmp_path, records):
    """A copy of a committed model keeps its records; a file replaced under the same name loses the scores
    made with the old one (counted as such), and keeps its training run (tied by its experiment)."""
    models = tmp_path / "models"
    same = models / SMALL / "fit-000" / "model.pt"
    same.parent.mkdir(parents=True)
    shutil.copyfile(RESULTS / "models" / SMALL / "fit-000" / "model.pt", same)
    (model,) = cards.collect(records, models)
    assert (
        model.name == SMALL
        and model.training is not None
        and model.training[1]["experiment"] == "ferplus_fernet_lowreg"
    )
    assert len(model.scores) == 1 and not model.stale

    replaced = bytearray(same.read_bytes())
    replaced[-1] ^= 0xFF
    same.write_bytes(bytes(replaced))
    (model,) = cards.collect(records, models)
    assert model.scores == [] and [p.name for p in model.stale] == [p.name for p, _ in _scorers(records, SMALL)]
    assert model.training is not None
    card = cards._card(model, {}, models, {SMALL: tmp_path / "cards" / f"{SMALL}.md"}, Output(tmp_path))
    assert "Not counted: 1 record(s) of a file at this path with another SHA-256" in card
    assert "No record scores it on a data set it never saw" in card


def test_a_model_no_experiment_or_record_names_gets_a_card_that_says_so(tmp_path, records):
    mine = tmp_path / "models" / "jaffe__mine" / "fit-000" / "model.pt"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"not a model any record scored")
    (tmp_path / "models" / "jaffe__empty").mkdir()  # no model file: no card
    out = Output(tmp_path / "report")
    written = cards.write(out, records, tmp_path / "models")
    assert list(written) == ["jaffe__mine"]
    card = written["jaffe__mine"].read_text()
    assert "none names it (conf/experiment/)" in card and "No record scores this file." in card
    assert "nothing ties this file to a run" in card
    assert "JAFFE may be used for non-commercial scientific research only" in card
    assert "[jaffe__mine](jaffe__mine.md)" in (tmp_path / "report" / "cards" / "index.md").read_text()


def test_no_models_no_cards(tmp_path, records):
    assert cards.write(Output(tmp_path / "report"), records, tmp_path) == {}
    assert not (tmp_path / "report" / "cards").exists()


def test_the_report_refuses_a_models_dir_that_is_not_there_before_writing(tmp_path, capsys):
    argv = [f"results_dir={RESULTS / 'runs'}", f"report_dir={tmp_path / 'out'}", f"models_dir={tmp_path / 'nope'}"]
    assert report_cli.main(argv) == 2
    assert f"models_dir {tmp_path / 'nope'} is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _scorers(records, name: str) -> list:
    """The records that scored the committed model `name` alone."""
    return [
        (p, r)
        for p, r in records
        if r["method"] == "pretrained" and r["config"]["method"]["model"] == f"results/models/{name}/fit-000/model.pt"
    ]


def test_a_model_saved_by_a_run_is_tied_to_the_record_its_folder_is_named_after(tmp_path, records):
    """save_model=true writes models_dir/<record name>/<fold>.skops: that record is its training run."""
    path, record = next((p, r) for p, r in records if r["method"] == "hog_svm" and r["dataset"] == "jaffe")
    saved = tmp_path / path.stem / "fold0.skops"
    saved.parent.mkdir()
    saved.write_bytes(b"a fitted pipeline")
    (model,) = cards.collect(records, tmp_path)
    assert model.training == (path, record) and model.dataset == "jaffe"


def test_a_card_names_the_accelerator_a_model_trained_on():
    """Training time is said with what it was spent on: the GPU a record names, else the CPU cores."""
    cpu = {"env": {"cpu_count": 2}, "folds": [{"fit_details": {"device": "cpu"}}]}
    gpu = {"env": {"cpu_count": 16}, "folds": [{"fit_details": {"device": "cuda", "device_name": "NVIDIA H200"}}]}
    assert cards._hardware(cpu) == "2 CPU cores"
    assert cards._hardware(gpu) == "NVIDIA H200"


def test_a_card_names_the_model_it_was_fine_tuned_from_in_another_data_set_and_a_merged_set_s_parts():
    from benchmark.experiments import models
    from benchmark.report.cross import source_name

    made = models()
    assert made["merged__fernet_general_without_ckplus"]["init_folder"] == "fer2013__fernet_seed2"  # not merged__
    assert made["fer2013__fernet_finetuned"]["init"] == "fernet_seed2"
    assert source_name({"dataset": "merged", "config": {"dataset": {"parts": ["ferplus", "jaffe"]}}}) == (
        "merged (ferplus, jaffe)"
    )
    assert source_name({"dataset": "jaffe", "config": {"dataset": {}}}) == "jaffe"
