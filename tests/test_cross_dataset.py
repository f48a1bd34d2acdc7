"""The cross-data-set protocol: fitted on the source only, tested on every image of the targets, on the
classes they share."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark import runner
from core.errors import ConfigError
from core.labels import CLASS_NAMES
from tests import layouts
from tests.helpers import choices, make_config
from tests.test_robustness import Spy


@pytest.fixture
def data_root(tmp_path):
    layouts.write_fer_csv(tmp_path / "fer2013")
    layouts.write_ck48(tmp_path / "ckplus")
    layouts.write_jaffe(tmp_path / "jaffe")
    return tmp_path


def run(tmp_path, data_root, *overrides, spy=False):
    """The run's record; `spy`: True for a Spy method, or the `_target_` of another."""
    overrides = [
        "dataset=fer2013",
        "protocol=cross",
        f"data_root={data_root}",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        *overrides,
    ]
    cfg = make_config(overrides)
    if spy:
        cfg.method = {"_target_": spy if isinstance(spy, str) else "tests.test_robustness.Spy"}
    return runner.run(cfg, choices(overrides))[0]


def test_no_target_image_reaches_fit_or_selection(tmp_path, data_root):
    Spy.fitted, Spy.predicted = [], []
    record = run(tmp_path / "a", data_root, spy=True)
    (fitted,) = Spy.fitted
    training_rows = [r for r, (label, usage) in enumerate(layouts.FER_ROWS) if usage == "Training"]
    assert sorted(int(image[0, 0]) for image in fitted) == sorted(layouts.fer_value(r) for r in training_rows)
    assert all((image == image[0, 0]).all() for image in fitted)  # FER2013's flat images, not a target's
    fold = record["folds"][0]
    assert fold["source"] == "fer2013" and fold["classes"] == {
        "ckplus": ["angry", "happy"],
        "jaffe": ["angry", "happy", "surprise", "neutral"],
    }
    assert set(record["metrics_by_split"]) == {"ckplus", "jaffe"} and record["test_set"] == "ckplus"
    assert fold["ckplus"]["n"] == 4 and fold["jaffe"]["n"] == 4  # CK+'s contempt left out: FER2013 has none
    assert record["excluded"] == {"not a class of fer2013, or not tested on (ckplus)": 1}
    assert fold["target_faces"]["jaffe"]["detector"] == "haar"  # JAFFE's photos detected, cut as the source's


class TransferSpy(Spy):
    """A Spy that, like a fine-tuned CNN, names the model it starts from."""

    def __init__(self, init_checkpoint=None):
        self.init_checkpoint = init_checkpoint


def run_transfer(tmp_path, data_root, init_checkpoint):
    """JAFFE -> FER2013 with a TransferSpy that starts from `init_checkpoint`; the record's fold."""
    overrides = [
        "dataset=jaffe",
        "detector=haar",
        "protocol=cross",
        "protocol.targets=[fer2013]",
        f"data_root={data_root}",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    cfg = make_config(overrides)
    cfg.method = {"_target_": "tests.test_cross_dataset.TransferSpy", "init_checkpoint": init_checkpoint}
    return runner.run(cfg, choices(overrides))[0]["folds"][0]


def test_a_target_the_starting_model_learned_from_is_tested_on_its_test_split_only(tmp_path, data_root):
    shared = {"angry", "happy", "surprise", "neutral"}  # JAFFE's classes in the fixture
    shared_rows = [usage for label, usage in layouts.FER_ROWS if CLASS_NAMES[label] in shared]
    fold = run_transfer(tmp_path / "a", data_root, None)  # from nothing: every FER2013 image of JAFFE's classes
    assert fold["fer2013"]["n"] == len(shared_rows) and fold["learned_from"] == ["jaffe"]
    fold = run_transfer(tmp_path / "b", data_root, "results/models/fer2013__fernet/fit-000/model.pt")
    assert fold["fer2013"]["n"] == shared_rows.count("PrivateTest") == 1  # fine-tuned from a FER2013 model
    assert fold["learned_from"] == ["fer2013", "jaffe"]
    with pytest.raises(ConfigError, match="method.init_checkpoint names .*mine.pt, and the data set it was trained"):
        run_transfer(tmp_path / "c", data_root, str(tmp_path / "mine.pt"))


def test_no_target_is_enlarged_the_source_is_shrunk_to_the_smallest_crops(tmp_path, data_root):
    Spy.fitted, Spy.predicted = [], []
    fold = run_transfer(tmp_path, data_root, None)  # JAFFE's faces are cut at 96 px, FER2013's crops are 48
    record = json.loads(next((tmp_path / "runs").glob("jaffe__cross__*.json")).read_text())
    assert record["faces"]["size"] == 96 and fold["size"] == 48 and fold["target_faces"]["fer2013"]["size"] == 48
    (fitted,) = Spy.fitted
    assert fitted.shape[1:] == (48, 48) and all(batch.shape[1:] == (48, 48) for batch in Spy.predicted)
    assert not (fitted == fitted[:, :1, :1]).all()  # JAFFE's faces, shrunk, not FER2013's flat images


def test_targets_are_named_or_found(tmp_path, data_root):
    record = run(tmp_path / "b", data_root, "protocol.targets=[jaffe]")
    assert set(record["metrics_by_split"]) == {"jaffe"}
    with pytest.raises(ConfigError, match="names the source, fer2013, itself"):
        run(tmp_path / "c", data_root, "protocol.targets=[fer2013,jaffe]")
    with pytest.raises(ConfigError, match="names a data set twice"):
        run(tmp_path / "c", data_root, "protocol.targets=[jaffe,jaffe]")
    with pytest.raises(ConfigError, match="names merged, whose parts may hold the source's images"):
        run(tmp_path / "c", data_root, "protocol.targets=[merged]")
    with pytest.raises(ConfigError, match="protocol.detectors names jaffee, neither a target"):
        run(tmp_path / "c", data_root, "protocol.targets=[jaffe]", "+protocol.detectors.jaffee=mtcnn")


def test_a_pretrained_model_is_filed_under_the_data_set_it_learned_from(tmp_path, data_root):
    with pytest.raises(ConfigError, match="scores a model trained on fer2013 and fits nothing on ckplus"):
        run(tmp_path, data_root, "dataset=ckplus", "method=pretrained")  # the shipped FER2013 model


def test_starting_models_are_traced_through_records_and_any_suffix_case(tmp_path):
    from benchmark.cross_dataset import learned_from

    fine_tuned = tmp_path / "ckplus__cross__cnn_transfer.json"  # a record of a model fine-tuned from FER2013's
    fine_tuned.write_text(
        json.dumps(
            {
                "dataset": "ckplus",
                "config": {"method": {"init_checkpoint": "results/models/fer2013__fernet/fit-000/model.pt"}},
            }
        )
    )
    assert learned_from({"model": f"{fine_tuned}:cross"}) == {"ckplus", "fer2013"}
    assert learned_from({"init_checkpoint": "results/models/ferplus__fernet/fit-000/MODEL.PT"}) == {"ferplus"}
    assert learned_from({"model": {"name": "fernet"}, "init_checkpoint": None}) == set()  # an architecture
    shouting = tmp_path / "CKPLUS.JSON"
    shouting.write_text(fine_tuned.read_text())
    assert learned_from({"model": f"{shouting}:cross"}) == {"ckplus", "fer2013"}
    # a folder whose name holds ".json" is not a record: the file's own suffix decides
    assert learned_from({"model": "results/models/jaffe__fernet/fit.json.d/model.pt"}) == {"jaffe"}


def test_the_cross_dataset_page_sets_each_method_s_matrix_beside_its_own_scores(tmp_path, data_root):
    from benchmark.report.pages import write_report

    run(tmp_path, data_root)  # fer2013 -> ckplus, jaffe with pixels_svm
    run_transfer(tmp_path, data_root, "results/models/fer2013__fernet/fit-000/model.pt")  # jaffe -> fer2013
    within = ["dataset=fer2013", "protocol=official", f"data_root={data_root}", f"results_dir={tmp_path / 'runs'}"]
    runner.run(make_config(within), choices(within))
    write_report(tmp_path / "runs", tmp_path / "report")
    page = (tmp_path / "report" / "leaderboards" / "cross_dataset.md").read_text()
    assert "## pixels_svm (classical)" in page and "Mollahosseini" in page
    assert "Besides its row's data set, this model learned from fer2013" in page  # the JAFFE row's start
    row = next(line for line in page.splitlines() if line.startswith("| **fer2013**"))
    assert row.count("*") >= 6 and row.count("(") == 3  # its own score in italics, then ckplus and jaffe
    board = (tmp_path / "report" / "leaderboards" / "fer2013__official.md").read_text()
    assert "ckplus" not in board  # cross records are not on the data set's own board
    assert "Cross-data-set accuracy" in (tmp_path / "report" / "README.md").read_text()


def test_leave_one_data_set_out_over_merged_data_sets(tmp_path, data_root):
    overrides = [
        "dataset=merged",
        "protocol=loso",
        f"data_root={data_root}",
        f"results_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    record, _, _ = runner.run(make_config(overrides), choices(overrides))
    folds = {f["name"]: f for f in record["folds"]}
    assert set(folds) == {"subject_fer2013", "subject_ckplus", "subject_jaffe"}
    for name, fold in folds.items():
        held_out = name.removeprefix("subject_")
        ids = record["predictions"][name]["test"]["ids"]
        assert ids and all(i.startswith(held_out + "/") for i in ids)  # the fold tests one data set ...
        untested = sum(fold.get("untested", {}).values())  # (on the classes the others have) ...
        assert fold["n_train"] == record["n_images"] - len(ids) - untested  # ... and trains on all the others
    assert folds["subject_ckplus"]["untested"] == {"contempt": 1}  # CK+ alone has contempt
    from benchmark.report.pages import write_report

    write_report(tmp_path / "runs", tmp_path / "report")
    assert "(ckplus: 1 contempt" in (tmp_path / "report" / "leaderboards" / "merged__loso.md").read_text()
    with pytest.raises(ConfigError, match="fer2013 and ferplus, which hold the same images"):
        runner.run(make_config([*overrides, "dataset.parts=[fer2013,ferplus]"]), choices(overrides))


class SoftSpy(Spy):
    """A Spy that, like a CNN, takes a validation set and class distributions; remembers what it was given."""

    given: dict = {}

    def fit(self, X, y, X_val=None, y_val=None, y_soft=None):
        SoftSpy.given = {"y": np.array(y), "n_val": None if X_val is None else len(X_val), "y_soft": y_soft}
        return super().fit(X, y)


SOFT_SPY = "tests.test_cross_dataset.SoftSpy"


def test_a_merged_source_fits_on_every_part_s_training_images_with_fer_plus_votes(tmp_path, data_root):
    layouts.write_ferplus_folders(data_root / "ferplus")
    Spy.fitted, Spy.predicted = [], []
    merged = ["dataset=merged", "dataset.parts=[ferplus,jaffe]", "+dataset.options.ferplus.train_labels=soft"]
    fold = run(tmp_path, data_root, *merged, "protocol.targets=[ckplus,fer2013]", spy=SOFT_SPY)["folds"][0]
    given = SoftSpy.given
    # FER+'s Training images with a vote distribution (the tie too, not the unknown one) and JAFFE's faces
    assert fold["n_train"] == len(given["y"]) == 4 + 4
    assert given["n_val"] == 2  # FER+'s PublicTest selects; its PrivateTest is neither fitted on nor tested
    soft = np.asarray(given["y_soft"])
    assert soft.shape == (len(given["y"]), len(CLASS_NAMES)) and np.allclose(soft.sum(1), 1)
    assert (soft[:4].max(1) < 1).sum() == 3 and (soft[4:].max(1) == 1).all()  # FER+'s votes; JAFFE's one-hot
    assert (soft.argmax(1) == given["y"]).all()
    assert fold["learned_from"] == ["ferplus", "jaffe", "merged"]
    # FER2013's images are FER+'s: only its PrivateTest is tested on (of the classes the source has)
    tested = [label for label, usage in layouts.FER_ROWS if usage == "PrivateTest" and label in set(given["y"])]
    assert fold["fer2013"]["n"] == len(tested) > 0


def test_a_part_of_a_merged_source_is_tested_on_its_private_test_only(tmp_path, data_root):
    merged = ["dataset=merged", "dataset.parts=[fer2013,jaffe]"]
    fold = run(tmp_path / "a", data_root, *merged, "protocol.targets=[ckplus,fer2013]", spy=SOFT_SPY)["folds"][0]
    rows = layouts.FER_ROWS
    assert SoftSpy.given["n_val"] == sum(1 for _, usage in rows if usage == "PublicTest")
    assert fold["n_train"] == sum(1 for _, usage in rows if usage == "Training") + 4  # and JAFFE's four faces
    tested = [label for label, usage in rows if usage == "PrivateTest" and label in set(SoftSpy.given["y"])]
    assert fold["fer2013"]["n"] == len(tested) > 0
    with pytest.raises(ConfigError, match="leaves no image of jaffe to test on"):  # a part without official split
        run(tmp_path / "b", data_root, *merged, "protocol.targets=[jaffe]", spy=SOFT_SPY)


def test_a_merged_model_is_traced_to_its_parts_through_its_record(tmp_path):
    from benchmark.cross_dataset import learned_from

    record = tmp_path / "merged__cross__cnn.json"
    record.write_text(
        json.dumps({"dataset": "merged", "config": {"dataset": {"parts": ["ferplus", "ckplus"]}, "method": {}}})
    )
    assert learned_from({"model": str(record)}) == {"merged", "ferplus", "ckplus"}
    with pytest.raises(ConfigError, match="a model of merged data sets: under protocol=cross name its run record"):
        learned_from({"init_checkpoint": "results/models/merged__fernet_general/fit-000/model.pt"})
    from benchmark.datasets.merged import Merged

    with pytest.raises(ConfigError, match="options names fer2013, not among the parts"):
        Merged(["ferplus", "jaffe"], options={"fer2013": {}})


def test_the_general_model_page_compares_it_with_the_shipped_model_on_the_same_faces(tmp_path):
    from benchmark.config import shipped_setting
    from benchmark.report import general
    from benchmark.report.output import Output

    def record(experiment, protocol, tests, method=None, dataset="merged"):
        predictions = {t: {"ids": ids, "y_true": y, "y_pred": p} for t, (ids, y, p) in tests.items()}
        return {
            "experiment": experiment,
            "dataset": dataset,
            "protocol": protocol,
            "method": "pretrained" if method else "cnn_transfer",
            "config": {"method": method or {}},
            "predictions": {protocol: predictions},
        }

    ck = [f"ckplus/{i}" for i in range(4)]
    private = [f"PrivateTest/{i}.png" for i in range(100)]
    y_private = [i % 7 for i in range(100)]
    shipped = {"model": shipped_setting("model"), "tta": shipped_setting("tta"), "logit_adjust": 0.5}
    jaffe = (["jaffe/a", "jaffe/b"], [0, 3], [0, 0])
    records = [
        (
            Path(shipped_setting("logit_adjust.record")),
            record(
                "shipped_cross", "cross", {"ckplus": (ck[:3], [0, 3, 5], [0, 0, 5]), "jaffe": jaffe}, shipped, "fer2013"
            ),
        ),
        (
            Path("p.json"),
            record(None, "official", {"PrivateTest": (private, y_private, y_private)}, shipped, "fer2013"),
        ),
    ]
    mine_private = ([f"fer2013/{i}" for i in private], y_private, [y if i >= 2 else 6 for i, y in enumerate(y_private)])
    for experiment, lab in [
        ("general", None),
        ("general_without_ckplus", "ckplus"),
        ("general_without_jaffe", "jaffe"),
    ]:
        tests = {"fer2013": mine_private}
        if lab == "ckplus":  # right on all three shared faces, and a contempt face the shipped model never saw
            tests["ckplus"] = (ck, [0, 3, 5, 7], [0, 3, 5, 0])
        elif lab == "jaffe":  # no better than the shipped model on JAFFE
            tests["jaffe"] = jaffe
        records.append((Path(f"{experiment}.json"), record(experiment, "cross", tests)))
    out = Output(tmp_path)
    assert general.write(out, records[1:]) is None  # without the shipped model's cross record: no page
    page = general.write(out, [*records[:2], records[3]]).read_text()  # held-out CK+ alone: better, not decided
    assert "set): not decided, without records of general_without_jaffe, general." in page
    page = general.write(out, records).read_text()
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith(("| ckplus", "| jaffe"))}
    assert "| 3       | 66.67" in rows["ckplus"] and "100.00" in rows["ckplus"] and "+33.33" in rows["ckplus"]
    assert "+0.00" in rows["jaffe"]  # equal is not better: the rule is not met
    assert "-2.00" in page and "set): **not met**." in page
    with pytest.raises(ValueError, match="labels differ"):
        records[-1][1]["predictions"]["cross"]["jaffe"]["y_true"] = [3, 0]
        general.write(out, records)
