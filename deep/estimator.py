"""`CNNClassifier`: a torch CNN behind the scikit-learn estimator interface the runner calls.

The runner treats it like any classical method: `fit(X, y, groups=None, X_val=None, y_val=None)` on
a fold's training images, then `predict`. Epoch selection and early stopping use the protocol's
validation set when it gives one (FER2013's PublicTest), else an inner split of the training part,
grouped by subject when subjects are known (so no person is in both halves) and stratified by
class; never the test fold. Labels may be any codes: they are mapped to 0..K-1 inside and back.
Images are uint8 stacks (N, H, W); the mean and standard deviation of the training pixels are
stored with the model, so a saved checkpoint predicts on raw images.
"""

from __future__ import annotations

import itertools
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from core import validation as check
from core.errors import ConfigError
from core.images import image_stack
from core.io import find_file, sha256, write_atomic
from core.selection import inner_splitter
from deep.augment import TTA_MODES, BatchAugment
from deep.flops import count_parameters, macs_per_image
from deep.models import create_model, head_prefix
from deep.models.registry import entry as model_entry
from deep.models.weights import load_except_head, match_head_classes
from deep.train import Runtime, TrainConfig, predict_proba, saved_run_dir, train
from features import resize_stack

CHECKPOINT_FORMAT = 1


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """A CNN from the model registry, trained with batch augmentation on CPU or GPU.

    The defaults are the FER2013 recipe (fernet, 66 epochs of SGD with Nesterov momentum, lr 0.1,
    batch 128, cosine schedule after a 2-epoch warm-up, weight decay 5e-4, label smoothing 0.1,
    flips, shifts, zooms, +-10 degree rotations and random erasing, weight averaging over the last
    quarter (16 epochs) at lr 0.01, affine TTA): about an hour on 2 idle CPU cores (experiment
    fer2013_fernet; its scores: the FER2013 board's cnn row). For small data sets fine-tune that model
    instead (conf/method/cnn_transfer.yaml), or set `epochs` and `batch_size` down.

    model: a registry name (`deep.models.list_models()`), or a mapping with `name` and the model's
        keyword arguments (what conf/model/<name>.yaml gives).
    optimizer: sgd (Nesterov when momentum > 0) | adam | adamw. schedule: cosine | onecycle | plateau | none.
    loss: ce | focal (with `focal_gamma`). imbalance: see `deep.imbalance.IMBALANCE`;
        `resample_target` is the per-class count for `hybrid` (default: the median class size).
    flip, shift, scale, rotate, erase, contrast, brightness, blur, noise: augmentation
        (`deep.augment.BatchAugment`; the photometric four are off by default).
    val_fraction: size of the inner validation split (about 1/round(1/val_fraction) of the training
        part) when no X_val is given; 0 trains on everything and keeps the last epoch.
    patience: stop after this many epochs without a better validation accuracy (None: never).
    swa_fraction, swa_lr: stochastic weight averaging over that fraction of the epochs, the last ones
        (rounded down; 0: off), run at the constant learning rate `swa_lr` (the cosine schedule anneals
        to it); the average, with batch-norm statistics recomputed, is kept when it beats the best
        epoch on validation data (`deep.train`).
    backbone_lr: the learning rate of everything but the head, as a fraction of `lr` (1: the same; below 1 for
        fine-tuning pretrained weights, the head learning faster than the backbone).
    freeze_epochs: the first epochs train the head only, the backbone held (0: none), a warm-up for a new head
        on pretrained weights.
    soft_targets: what a fit given class distributions (`y_soft`, FER+'s votes) trains on:
        crossentropy (against the distribution) | draw (a label drawn from it for each image each
        epoch); without `y_soft` it trains on `y`.
    tta: test-time views predictions are averaged over: none | flip (each image and its mirror
        image) | affine (flips x small shifts, zooms and rotations: `deep.augment.TTA_WARPS`).
        True and False, from older configs and checkpoints, mean flip and none.
    image_size: resize every image to this square side first (None: as given), e.g. 48 to fine-tune
        a FER2013 model on JAFFE's 96x96 face crops at the scale it learned.
    init_checkpoint: a checkpoint written by `save` (same model family) to start from, e.g. a FER2013
        model fine-tuned on CK+: every weight is loaded, the head's rows matched by class label
        (`deep.models.weights.match_head_classes`); classes the checkpoint never saw start fresh.
        `fit_info_` names it by path and SHA-256 (`init_sha256`): a file replaced under the same
        path is told apart in the run record.
    device: auto (CUDA when present) | cpu | cuda. bf16, channels_last, compile: speed switches (bf16
        only where the device has bf16 kernels: `deep.train.bf16_native`).
    n_jobs: torch CPU threads while fitting and predicting (None: one per core). Use 1 on a machine
        shared with other jobs (see `deep.train.Runtime`).
    run_dir: when set, each fit writes history.csv/json, learning_curves.png and model.pt into a
        new folder run_dir/fit-NNN (`fit_info_` gives model.pt's SHA-256: `model_sha256`), and its
        whole training state after every epoch into run_dir/resume/<digest of its data and
        parameters>.pt (deleted when the fit ends).
    resume: continue an interrupted fit from that state (the same data and parameters find it): the
        final weights are those of an uninterrupted fit (same seed and thread count, CPU).
    """

    #: the method family the run record and the leaderboards state
    family = "deep"

    def __init__(
        self,
        model="fernet",
        epochs: int = 66,
        batch_size: int = 128,
        lr: float = 0.1,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        schedule: str = "cosine",
        warmup_epochs: float = 2.0,
        label_smoothing: float = 0.1,
        loss: str = "ce",
        focal_gamma: float = 2.0,
        imbalance: str = "none",
        resample_target: int | None = None,
        flip: bool = True,
        shift: float = 0.1,
        scale: float = 0.1,
        rotate: float = 10.0,
        erase: float = 0.25,
        contrast: float = 0.0,
        brightness: float = 0.0,
        blur: float = 0.0,
        noise: float = 0.0,
        val_fraction: float = 0.1,
        patience: int | None = None,
        swa_fraction: float = 0.25,
        swa_lr: float = 0.01,
        backbone_lr: float = 1.0,
        freeze_epochs: int = 0,
        soft_targets: str = "crossentropy",
        tta: str | bool = "affine",
        image_size: int | None = None,
        init_checkpoint: str | None = None,
        seed: int = 0,
        device: str = "auto",
        bf16: bool = True,
        channels_last: bool = True,
        compile: bool = False,
        n_jobs: int | None = None,
        verbose: int = 1,
        run_dir: str | None = None,
        resume: bool = False,
    ):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.imbalance = imbalance
        self.resample_target = resample_target
        self.flip = flip
        self.shift = shift
        self.scale = scale
        self.rotate = rotate
        self.erase = erase
        self.contrast = contrast
        self.brightness = brightness
        self.blur = blur
        self.noise = noise
        self.val_fraction = val_fraction
        self.patience = patience
        self.swa_fraction = swa_fraction
        self.swa_lr = swa_lr
        self.backbone_lr = backbone_lr
        self.freeze_epochs = freeze_epochs
        self.soft_targets = soft_targets
        self.tta = tta
        self.image_size = image_size
        self.init_checkpoint = init_checkpoint
        self.seed = seed
        self.device = device
        self.bf16 = bf16
        self.channels_last = channels_last
        self.compile = compile
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.run_dir = run_dir
        self.resume = resume

    # ---- fitting -------------------------------------------------------------------------------
    def check_params(self) -> None:
        """Check every parameter without training: a bad value is a `ConfigError` naming it. `fit`
        checks the same; the runner calls this before it reads any data."""
        self._train_config()
        self._runtime()
        self._augment()
        check.choice("tta", self.tta_mode, TTA_MODES)
        check.number("val_fraction", self.val_fraction, 0, 1, high_open=True)
        check.number("image_size", self.image_size, 8, integer=True, optional=True)
        model_entry(self._model_spec()[0])
        if self.init_checkpoint and find_file(self.init_checkpoint) is None:
            raise ConfigError(
                f"is {self.init_checkpoint}, which is not a file here or in the repository", "init_checkpoint"
            )

    def fit(self, X, y, groups=None, X_val=None, y_val=None, y_soft=None):
        self.check_params()  # before any work, not after training
        cfg, rt = self._train_config(), self._runtime()
        X, y = self._input_images(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        soft = None if y_soft is None else self._class_distributions(y_soft, len(X))
        if X_val is not None:
            X_tr, y_tr, X_va, y_va = X, y_idx, self._input_images(X_val), self._encode(y_val)
            selection = f"validation set ({len(X_va)} images)"
        else:
            train_idx, val_idx, selection = self._inner_split(y_idx, groups)
            X_tr, y_tr = X[train_idx], y_idx[train_idx]
            soft = None if soft is None else soft[train_idx]
            X_va, y_va = (None, None) if val_idx is None else (X[val_idx], y_idx[val_idx])
        self.mean_, self.std_ = _pixel_stats(X_tr)
        self.image_shape_ = X.shape[1:]
        checkpoint = self._checkpoint(X_tr, y_tr, soft, X_va, y_va)
        run = saved_run_dir(checkpoint) or _new_run_folder(self.run_dir)  # a resumed fit: its own folder

        devices = [rt.device.index or 0] if rt.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), rt.cpu_threads():  # seeded; the caller's RNG untouched
            torch.manual_seed(self.seed)
            model, transfer = self._build_model(self.classes_)
            macs = self._macs(model)  # before training: crops the network cannot take fail here
            if getattr(model, "input_norm", None):  # pretrained weights expect their own normalisation
                self.mean_, self.std_ = model.input_norm
            self.model_ = rt.place(model)
            val = None if X_va is None else (torch.from_numpy(X_va), torch.from_numpy(y_va).long())
            summary = train(
                self.model_,
                torch.from_numpy(X_tr),
                torch.from_numpy(y_tr).long(),
                val,
                len(self.classes_),
                cfg,
                rt,
                (self.mean_, self.std_),
                self._augment(),
                run,
                y_soft=None if soft is None else torch.from_numpy(soft),
                checkpoint=checkpoint,
            )
        self.history_ = summary["history"]  # per-epoch rows: in the run record, for its learning curves
        self.fit_info_ = {
            "selection": selection,
            "n_train": len(X_tr),
            "n_val": 0 if X_va is None else len(X_va),
            **summary,
            "parameters": count_parameters(self.model_),
            "macs_per_image": macs,
            "device": str(rt.device),
            "bf16": rt.bf16,  # in effect: off where the device has no bf16 kernels (deep.train.bf16_native)
            **({"device_name": rt.device_name} if rt.device_name else {}),
            **transfer,
            "run_dir": None if run is None else str(run),
        }
        if run is not None:  # the file's digest names it in the run record (a file cannot hold its own)
            self.fit_info_["model_sha256"] = sha256(self.save(run / "model.pt"))
        return self

    def _checkpoint(self, *arrays) -> Path | None:
        """Where this fit's training state goes (run_dir/resume/<digest>.pt), None without run_dir; an old
        state of the same fit is dropped unless `resume` asks for it."""
        if self.run_dir is None:
            return None
        import hashlib
        import json

        digest = hashlib.blake2b(digest_size=16)
        ignored = {"n_jobs", "verbose", "run_dir", "resume", "device"}  # where and how visibly, not what
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ignored}
        digest.update(json.dumps(params, sort_keys=True, default=str).encode())
        for array in arrays:
            digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
        path = Path(self.run_dir) / "resume" / f"{digest.hexdigest()}.pt"
        if not self.resume:
            path.unlink(missing_ok=True)
        return path

    def _class_distributions(self, y_soft, n: int) -> np.ndarray:
        """`y_soft` (N, 8) distributions over the label codes, as (N, K) float32 over `classes_`."""
        y_soft = np.asarray(y_soft, dtype=np.float32)
        if y_soft.ndim != 2 or len(y_soft) != n or y_soft.shape[1] <= self.classes_.max():
            raise ValueError(f"y_soft must be (N, n_codes) class distributions for the {n} images, got {y_soft.shape}")
        soft = y_soft[:, self.classes_]
        return soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-12)

    def _inner_split(self, y, groups) -> tuple[np.ndarray, np.ndarray | None, str]:
        """(train indices, validation indices, description): a stratified split, by subject when
        `groups` is given; no validation indices when val_fraction is 0."""
        if self.val_fraction == 0:
            return np.arange(len(y)), None, "none (val_fraction=0: the last epoch is kept)"
        # the first fold of a k-fold split; k is capped by the subjects (or the largest class) available
        k = max(2, round(1 / self.val_fraction))
        if groups is None:
            k = min(k, np.bincount(y).max())
        else:
            groups = np.asarray(groups)
        cv, k = inner_splitter(k, groups, self.seed)
        how = f"inner stratified split (1/{k})" if groups is None else "inner split by subject"
        if k < 2:
            raise ConfigError(
                "an inner validation split needs at least 2 subjects (or 2 images of a class) in the "
                "training part; set method.val_fraction=0 to train without one"
            )
        train_idx, val_idx = next(cv.split(y, y, groups))
        if groups is not None:
            how += f" ({len(np.unique(groups[val_idx]))} of {len(np.unique(groups))} subjects)"
        return train_idx, val_idx, how

    def _input_images(self, X, fitted: bool = False) -> np.ndarray:
        """uint8 (N, H, W) (`core.images.image_stack`), resized to image_size when it is set; a fitted
        model without image_size takes only the size it was trained on (a ValueError says so)."""
        trained = getattr(self, "image_shape_", None) if fitted and self.image_size is None else None
        side = trained[0] if trained is not None and trained[0] == trained[1] else None
        X = image_stack(X, side, "this CNNClassifier")
        return X if self.image_size is None else resize_stack(X, self.image_size)

    def _encode(self, labels) -> np.ndarray:
        labels = np.asarray(labels)
        idx = np.searchsorted(self.classes_, labels).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != labels
        if unknown.any():
            raise ValueError(
                f"validation labels {sorted(set(labels[unknown].tolist()))} are not among the "
                f"training classes {self.classes_.tolist()}"
            )
        return idx

    def _macs(self, model: torch.nn.Module) -> int:
        """`model`'s forward multiply-adds per image at the crops' size (one image of zeros, eval mode, no random
        numbers drawn). A network whose strides or pooling need larger inputs is a ConfigError naming the fix."""
        try:
            return macs_per_image(model, self.image_shape_)
        except RuntimeError as exc:
            h, w = self.image_shape_
            reason = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"model {self._model_spec()[0]} cannot take {h}x{w} crops ({reason}); give larger crops "
                "(method.image_size=96, or the detector's size) or another model"
            ) from exc

    def _model_spec(self) -> tuple[str, dict]:
        if isinstance(self.model, str):
            return self.model, {}
        spec = dict(self.model)
        if "name" not in spec:
            raise ConfigError(f"must be a registry name or a mapping with a 'name', got {self.model}", "model")
        return spec.pop("name"), spec

    def _build_model(self, classes: np.ndarray) -> tuple[torch.nn.Module, dict]:
        """The registry model for `classes`, with the weights of `init_checkpoint` when one is given:
        the backbone as saved, the head's rows matched by class label (new classes start fresh)."""
        name, kwargs = self._model_spec()
        model = create_model(name, len(classes), in_chans=1, **kwargs)
        if not self.init_checkpoint:
            return model, {}
        ckpt = _read_checkpoint(self.init_checkpoint)
        source = CNNClassifier(**ckpt["params"])._model_spec()[0]
        if source != name:
            raise ConfigError(f"init_checkpoint {self.init_checkpoint} holds a '{source}' model, not '{name}'")
        state, new = match_head_classes(model, ckpt["state_dict"], head_prefix(name), ckpt["classes"], classes.tolist())
        load_except_head(model, state, head_prefix(name))
        return model, {
            "init_checkpoint": str(self.init_checkpoint),
            "init_sha256": sha256(find_file(self.init_checkpoint)),
            "new_classes": new,
        }

    @property
    def tta_mode(self) -> str:
        """`tta` as a `deep.augment.TTA_MODES` name (booleans are the older spelling of flip / none)."""
        return {True: "flip", False: "none"}[self.tta] if isinstance(self.tta, bool) else self.tta

    def _train_config(self) -> TrainConfig:
        own = {f.name: getattr(self, f.name) for f in fields(TrainConfig) if f.name != "head"}
        return TrainConfig(**own, head=head_prefix(self._model_spec()[0]))

    def _runtime(self) -> Runtime:
        return Runtime.resolve(self.device, self.bf16, self.channels_last, self.n_jobs)

    def _augment(self) -> BatchAugment:
        return BatchAugment(**{f.name: getattr(self, f.name) for f in fields(BatchAugment)})

    # ---- prediction ----------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        rt = self._runtime()
        rt.place(self.model_)
        with rt.cpu_threads():
            return predict_proba(
                self.model_,
                torch.from_numpy(self._input_images(X, fitted=True)),
                rt,
                (self.mean_, self.std_),
                tta=self.tta_mode,
            ).numpy()

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, path, metadata: dict | None = None) -> Path:
        """Weights, parameters, classes and pixel normalisation: all `load` needs to predict; and
        `metadata` (JSON values: e.g. the face stage the training crops came from), or the loaded
        model's own (`metadata_`). Written atomically; read back with `load`."""
        check_is_fitted(self, "model_")
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "params": self.get_params(deep=False),
            "classes": self.classes_.tolist(),
            "norm": [self.mean_, self.std_],
            "image_shape": list(self.image_shape_),
            "state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
            "fit_info": self.fit_info_,
            "metadata": dict(metadata if metadata is not None else getattr(self, "metadata_", {})),
        }
        return write_atomic(path, lambda f: torch.save(checkpoint, f), binary=True)

    @classmethod
    def load(cls, path) -> CNNClassifier:
        ckpt = _read_checkpoint(path)
        est = cls(**ckpt["params"])
        est.classes_ = np.asarray(ckpt["classes"])
        est.mean_, est.std_ = ckpt["norm"]
        est.image_shape_ = tuple(ckpt["image_shape"])
        est.fit_info_ = ckpt["fit_info"]
        est.metadata_ = ckpt.get("metadata", {})  # checkpoints before metadata have none
        name, kwargs = est._model_spec()
        if kwargs.get("pretrained"):  # the saved weights replace them: never fetch or read them again
            kwargs["pretrained"] = False
        est.model_ = create_model(name, len(est.classes_), in_chans=1, **kwargs)
        est.model_.load_state_dict(ckpt["state_dict"])
        return est


def _pixel_stats(X: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all pixels, exactly, from a 256-bin histogram (no float copy)."""
    counts = np.bincount(X.ravel(), minlength=256)
    values = np.arange(256.0)
    mean = (counts @ values) / counts.sum()
    std = np.sqrt((counts @ (values - mean) ** 2) / counts.sum())
    return float(mean), float(max(std, 1.0))


def _new_run_folder(run_dir) -> Path | None:
    """A fresh run_dir/fit-NNN (a protocol's folds each get their own), or None without run_dir."""
    if run_dir is None:
        return None
    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for i in itertools.count():
        try:
            (path := root / f"fit-{i:03d}").mkdir()
            return path
        except FileExistsError:
            continue


def _read_checkpoint(path) -> dict:
    """A checkpoint written by `CNNClassifier.save`; a relative path is also looked for from the
    repository's root (`core.io.find_file`: shipped models load from any working folder)."""
    try:
        ckpt = torch.load(find_file(path) or path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint not found: {path}") from None
    except Exception as err:  # a corrupt file, another format (a record, an ONNX file): unreadable by torch
        raise ConfigError(
            f"{path} is not a ferbench CNNClassifier checkpoint (torch cannot read it: {type(err).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a ferbench CNNClassifier checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt
