"""The config files against each other and against the code: what is written twice must agree."""

import inspect

from omegaconf import OmegaConf

from benchmark.config import CONF_DIR
from benchmark.faces import FaceDetector
from tests.helpers import make_config


def test_crop_settings_are_the_face_detectors_defaults():
    """conf/detector/crop/default.yaml (shared by haar and mtcnn) states FaceDetector's defaults."""
    crop = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "detector" / "crop" / "default.yaml"))
    defaults = {
        name: p.default for name, p in inspect.signature(FaceDetector.__init__).parameters.items() if name != "self"
    }
    assert set(crop) == set(defaults)
    assert crop.pop("cache_dir") == "${cache_dir}"  # the top-level setting, whose default is the code's
    assert crop == {k: v for k, v in defaults.items() if k != "cache_dir"}


def test_each_detector_file_states_its_class_defaults():
    """conf/detector/<name>.yaml's own keys are its class's defaults: the applications build a model's
    face stage from the class (benchmark.inference.pipeline.build_detector), the benchmark from the file."""
    from benchmark.faces import DETECTORS

    for name, detector in DETECTORS.items():
        own = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "detector" / f"{name}.yaml"))
        own.pop("defaults")
        assert own.pop("_target_") == f"benchmark.faces.{detector.__name__}"
        defaults = {
            n: p.default
            for n, p in inspect.signature(detector.__init__).parameters.items()
            if n not in ("self", "common")
        }
        assert set(own) == set(defaults), name
        assert all(
            list(own[k]) == list(defaults[k]) if isinstance(own[k], list) else own[k] == defaults[k] for k in own
        ), name


def test_both_detectors_compose_the_crop_settings():
    for detector in ("haar", "mtcnn"):
        cfg = make_config([f"detector={detector}", "detector.margin=0.25"]).detector
        assert cfg.size == 96 and cfg.margin == 0.25 and cfg.on_no_face == "center_crop"


def test_lbp_gabor_features_are_lbp_and_gabor():
    """lbp_gabor.yaml is a copy, not a composition, of lbp.yaml and gabor.yaml: composing would add
    lbp's `scales: null` to its resolved config and change the run key of its committed records. The
    copy must keep every value of the two files (gabor's `n_jobs` is a scheduling key, left out)."""
    union = make_config(["method=lbp_gabor_svm"]).method.features
    parts = {name: OmegaConf.to_container(node) for name, node in union.transformer_list}
    lbp = OmegaConf.to_container(make_config(["method=lbp_svm"]).method.features)
    gabor = OmegaConf.to_container(make_config(["method=gabor_svm"]).method.features)
    assert lbp.pop("scales") is None and gabor.pop("n_jobs") == 1
    assert parts == {"lbp": lbp, "gabor": gabor}
