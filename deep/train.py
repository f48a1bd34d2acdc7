"""The training loop: batches, augmentation, loss, optimiser, schedule, validation, history.

Everything a run decides is in `TrainConfig` (built by `CNNClassifier` from its parameters) and
`Runtime` (device and CPU speed switches). Model selection uses only the validation data it is
given: the best epoch by validation accuracy is restored at the end, and early stopping watches
the same number. Without validation data the last epoch is kept.

Stochastic weight averaging (`swa_fraction` > 0, Izmailov et al. 2018): the schedule anneals to
`swa_lr` by the start of the last `swa_epochs` epochs (that fraction of them) and holds it there;
the weights at the end of each of those epochs are averaged (`torch.optim.swa_utils`), batch-norm
statistics recomputed for the average, and the average competes with the best single epoch on the
validation data (it is kept without validation data).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from core import validation as check
from core.errors import ConfigError
from core.io import write_atomic
from deep import imbalance
from deep.augment import BatchAugment, TestTimeAugment

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "plateau", "none")
LOSSES = ("ce", "focal")
#: how class distributions (FER+'s votes) are trained on: cross-entropy against the distribution, or a
#: label drawn from it for every image each epoch (Barsoum et al. 2016's "probabilistic label drawing")
SOFT_TARGETS = ("crossentropy", "draw")
#: ReduceLROnPlateau on validation accuracy: halve the learning rate after 3 epochs without progress
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 3
EVAL_BATCH = 512


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does; the defaults and their meaning are `CNNClassifier`'s."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    momentum: float
    weight_decay: float
    schedule: str
    warmup_epochs: float
    label_smoothing: float
    loss: str
    focal_gamma: float
    imbalance: str
    resample_target: int | None
    patience: int | None
    swa_fraction: float
    swa_lr: float
    soft_targets: str
    compile: bool
    seed: int
    verbose: int
    backbone_lr: float = 1.0  # the learning rate of everything but the head, as a fraction of lr
    freeze_epochs: int = 0  # the first epochs train the head only (the backbone's weights held)
    head: str = "head"  # the state-dict prefix of the model's head (deep.models.head_prefix)

    def __post_init__(self):
        check.choice("optimizer", self.optimizer, OPTIMIZERS)
        check.choice("schedule", self.schedule, SCHEDULES)
        check.choice("loss", self.loss, LOSSES)
        check.choice("imbalance", self.imbalance, imbalance.IMBALANCE)
        check.number("epochs", self.epochs, 1, integer=True)
        check.number("batch_size", self.batch_size, 1, integer=True)
        check.number("lr", self.lr, 0, low_open=True)
        check.number("momentum", self.momentum, 0, 1, high_open=True)
        check.number("weight_decay", self.weight_decay, 0)
        check.number("warmup_epochs", self.warmup_epochs, 0)
        check.number("label_smoothing", self.label_smoothing, 0, 1, high_open=True)
        check.number("focal_gamma", self.focal_gamma, 0)
        check.number("resample_target", self.resample_target, 1, integer=True, optional=True)
        check.number("patience", self.patience, 1, integer=True, optional=True)
        check.number("swa_fraction", self.swa_fraction, 0, 1, high_open=True)
        check.flag("compile", self.compile)
        check.number("backbone_lr", self.backbone_lr, 0, 1)
        if check.number("freeze_epochs", self.freeze_epochs, 0, integer=True) >= max(self.epochs, 1):
            raise ConfigError(
                f"must be fewer than method.epochs ({self.epochs}): the head alone trains for those epochs, then "
                f"every layer; got {self.freeze_epochs}",
                "freeze_epochs",
            )
        check.choice("soft_targets", self.soft_targets, SOFT_TARGETS)
        if self.swa_epochs and (self.swa_lr <= 0 or self.schedule not in ("cosine", "none")):
            raise ConfigError(
                f"needs a positive swa_lr (got {self.swa_lr}) and schedule cosine or none (got "
                f"'{self.schedule}') for weight averaging; swa_fraction=0 turns it off",
                "swa_fraction",
            )

    @property
    def swa_epochs(self) -> int:
        """How many of the last epochs are averaged: swa_fraction of them, rounded down (0: none)."""
        return math.floor(self.swa_fraction * self.epochs + 1e-9)


def bf16_native(device: str) -> bool:
    """Whether `device` ('cpu' or 'cuda') has bf16 kernels for autocast: a CUDA GPU that supports bf16,
    or a CPU where oneDNN computes bf16 (AVX-512 or AMX; `torch.ops.mkldnn._is_mkldnn_bf16_supported`).
    Elsewhere (AVX2 alone) bf16 autocast trains and predicts several times slower than fp32
    (bench/train_speed.py)."""
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@dataclass(frozen=True)
class Runtime:
    """Where tensors live and how the CPU is used.

    bf16 autocast with channels_last trains about 3x and predicts 3.5-4x faster than fp32 on CPUs
    with AMX/AVX-512-BF16 (bench/train_speed.py measures it; torch.compile was slower here). Where
    the device has no bf16 kernels (`bf16_native`: an AVX2-only CPU, say) autocast would emulate
    bf16 several times slower than fp32, so `resolve` turns it off there: `bf16` is what is in effect.
    `threads` (None: torch's default, one per core) matters on a shared machine: when another
    process holds a core, OpenMP threads wait for each other at every layer and 2 threads train
    10-20x slower than 1 (measured here).
    """

    device: torch.device
    bf16: bool
    channels_last: bool
    threads: int | None = None

    @classmethod
    def resolve(cls, device: str, bf16: bool, channels_last: bool, threads: int | None = None) -> Runtime:
        if check.choice("device", device, ("auto", "cpu", "cuda")) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"is cuda, but torch sees no CUDA device (this torch build: {torch.__version__}); "
                "use device=auto or cpu",
                "device",
            )
        threads = check.number("n_jobs", threads, 1, integer=True, optional=True)
        bf16 = check.flag("bf16", bf16) and bf16_native(device)
        return cls(torch.device(device), bf16, check.flag("channels_last", channels_last), threads)

    @property
    def device_name(self) -> str | None:
        """The accelerator's name (torch.cuda.get_device_name: 'NVIDIA H200'), None on the CPU."""
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def place(self, model: nn.Module) -> nn.Module:
        return model.to(self.device, memory_format=self.memory_format)

    def inputs(self, images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        """uint8 (N, H, W) -> normalised float (N, 1, H, W) on the device."""
        x = images.to(self.device, non_blocking=True).float().sub_(mean).div_(std)
        return x.unsqueeze(1).contiguous(memory_format=self.memory_format)

    def input_batches(self, images: torch.Tensor, mean: float, std: float):
        """`inputs` over consecutive batches of EVAL_BATCH images (for passes without gradients)."""
        for start in range(0, len(images), EVAL_BATCH):
            yield self.inputs(images[start : start + EVAL_BATCH], mean, std)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @contextlib.contextmanager
    def cpu_threads(self):
        """torch's CPU threads set to `threads` for the duration, then restored."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads or before)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    val: tuple[torch.Tensor, torch.Tensor] | None,
    n_classes: int,
    cfg: TrainConfig,
    rt: Runtime,
    norm: tuple[float, float],
    augment: BatchAugment,
    run_dir: Path | None = None,
    y_soft: torch.Tensor | None = None,
    checkpoint: Path | None = None,
) -> dict:
    """Train `model` (already placed) in place on uint8 images `X` and class indices `y` (0..n_classes-1).

    `y_soft` (N, n_classes) float class distributions, when given, are the targets instead of `y`
    (`cfg.soft_targets`: cross-entropy against them, or a label drawn from them each epoch); `y`
    still measures the training accuracy.

    `checkpoint`: where the whole training state is saved after every epoch (atomically) and, when it
    is there at the start, restored from: a run interrupted after epoch e continues at e + 1 and ends
    with the same weights as one never interrupted (same seed, same thread count, CPU). It is deleted
    when training ends. The state also names `run_dir` (`saved_run_dir` reads it back, so a resumed
    fit finishes in the folder it began in) and the seconds trained before it was saved.

    Returns the summary: history (one dict per epoch), best_epoch, best_val_acc (the best single
    epoch's), epochs_run, train_seconds and images_per_s (training passes only, validation
    excluded); with weight averaging also `swa`: epochs_averaged, val_loss, val_acc and whether the
    average was selected (kept) over the best epoch; after a resume also `resumed`: after_epoch and
    earlier_s (the interrupted runs' seconds in this function, up to their last saved epoch; None
    from a state saved by a version of ferbench that did not count them).
    """
    t_start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    y_np = y.numpy()
    plans = [
        _batches(imbalance.epoch_indices(y_np, cfg.imbalance, rng, cfg.resample_target), cfg.batch_size)
        for _ in range(cfg.epochs)
    ]
    opt = _optimizer(model, cfg)
    if rt.device.type == "cuda":  # the uint8 images on the GPU once (a data set of 48x48 crops fits easily):
        X, y = X.to(rt.device), y.to(rt.device)  # batches are then cut there, with no copy per step
    epoch_pass = _EpochPass(
        torch.compile(model) if cfg.compile else model,
        X,
        y,
        _criterion(cfg, y_np, n_classes),
        opt,
        _scheduler(opt, cfg, steps_per_epoch=len(plans[0])),
        rt,
        norm,
        augment,
        torch.Generator().manual_seed(cfg.seed),
        cfg,
    )
    best = _BestEpoch(model)
    swa = AveragedModel(model) if cfg.swa_epochs else None
    targets = _loss_targets(y, y_soft, cfg)

    history = []
    state = _TrainingState(checkpoint, model, opt, epoch_pass, best, swa, history, run_dir)
    start, earlier_s = state.restore()
    for epoch, batches in enumerate(plans, start=1):
        if epoch <= start:
            continue
        t0 = time.perf_counter()
        if cfg.freeze_epochs:
            _freeze_backbone(model, cfg, frozen=epoch <= cfg.freeze_epochs)
        row = epoch_pass(epoch, batches, targets(epoch))
        if swa is not None and epoch > cfg.epochs - cfg.swa_epochs:
            swa.update_parameters(model)
        if val is not None:
            row.update(_val_scores(model, val, rt, norm))
            best.offer(epoch, row["val_acc"], row["val_loss"])
        epoch_pass.end_of_epoch(row, validated=val is not None)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        _report(row, cfg, run_dir, history)
        state.save(epoch, (earlier_s or 0.0) + time.perf_counter() - t_start)
        if val is not None and cfg.patience is not None and epoch - best.epoch >= cfg.patience:
            break
    train_seconds = sum(r["train_seconds"] for r in epoch_pass.passes)
    summary = {
        "history": history,
        "epochs_run": len(history),
        "best_epoch": best.epoch if val is not None else len(history),
        "best_val_acc": best.score[0] if val is not None else None,
        "train_seconds": train_seconds,
        "images_per_s": sum(r["seen"] for r in epoch_pass.passes) / train_seconds,
    }
    if start:
        summary["resumed"] = {"after_epoch": start, "earlier_s": earlier_s}
    if swa is not None and swa.n_averaged > 0:  # not when early stopping came first
        summary["swa"] = _weight_average(swa, X, val, rt, norm)
        if val is None or (summary["swa"]["val_acc"], -summary["swa"]["val_loss"]) >= best.score:
            summary["swa"]["selected"] = True
            best.state = swa.module.state_dict()
    best.restore()
    state.done()
    return summary


def saved_run_dir(checkpoint: Path | None) -> Path | None:
    """The fit folder a saved training state (`train`'s `checkpoint`) was writing to, when both are
    still there; None otherwise."""
    if checkpoint is None or not checkpoint.is_file():
        return None
    folder = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True).get("run_dir")
    return Path(folder) if folder and Path(folder).is_dir() else None


class _TrainingState:
    """Everything a training run needs to continue where it stopped: the weights, the optimiser's and
    schedule's state, the weight average, the best epoch so far, the history, and both random states
    (the augmentation's generator and torch's, which dropout draws from); also the fit's folder and
    the seconds trained so far."""

    def __init__(self, path: Path | None, model, opt, epoch_pass, best, swa, history: list, run_dir):
        self.path, self.model, self.opt, self.epoch_pass = path, model, opt, epoch_pass
        self.best, self.swa, self.history, self.run_dir = best, swa, history, run_dir

    def save(self, epoch: int, elapsed_s: float) -> None:
        if self.path is None:
            return
        state = {
            "epoch": epoch,
            "elapsed_s": elapsed_s,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": None if self.epoch_pass.sched is None else self.epoch_pass.sched.state_dict(),
            "swa": None if self.swa is None else self.swa.state_dict(),
            "best": {"score": self.best.score, "epoch": self.best.epoch, "state": self.best.state},
            "history": self.history,
            "passes": self.epoch_pass.passes,
            "generator": self.epoch_pass.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        write_atomic(self.path, lambda f: torch.save(state, f), binary=True)

    def restore(self) -> tuple[int, float | None]:
        """(the last epoch done, the seconds trained up to it), (0, 0.0) without a saved state, after
        restoring everything to that epoch's end."""
        if self.path is None or not self.path.is_file():
            return 0, 0.0
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if state["scheduler"] is not None:
            self.epoch_pass.sched.load_state_dict(state["scheduler"])
        if state["swa"] is not None:
            self.swa.load_state_dict(state["swa"])
        self.best.score, self.best.epoch, self.best.state = (
            tuple(state["best"]["score"]),
            state["best"]["epoch"],
            state["best"]["state"],
        )
        self.history[:] = state["history"]
        self.epoch_pass.passes[:] = state["passes"]
        self.epoch_pass.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["epoch"]), state.get("elapsed_s")  # None: saved by a version that did not count

    def done(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _EpochPass:
    """One training pass over an epoch's batches: augmentation, optimisation steps, the per-step
    schedule; the per-epoch (plateau) schedule after validation."""

    def __init__(
        self,
        model,
        X,
        y,
        criterion,
        opt,
        sched,
        rt: Runtime,
        norm,
        augment: BatchAugment,
        generator: torch.Generator,
        cfg: TrainConfig,
    ):
        self.model, self.X, self.y, self.opt, self.sched = model, X, y, opt, sched
        self.criterion = criterion.to(rt.device)
        self.rt, self.norm, self.augment, self.generator, self.cfg = rt, norm, augment, generator, cfg
        self.per_epoch_schedule = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self.passes: list[dict] = []  # seen images and seconds of each pass

    def __call__(self, epoch: int, batches: list[np.ndarray], targets: torch.Tensor) -> dict:
        """The epoch's history row: training loss (against `targets`: `y`, or class distributions, or
        labels drawn from them) and accuracy (against `y`) on the augmented images, lr, speed."""
        rt, t0, lr = self.rt, time.perf_counter(), self.opt.param_groups[0]["lr"]
        self.model.train()
        loss_sum, correct = torch.zeros((), device=rt.device), torch.zeros((), device=rt.device)
        for idx in _progress(batches, f"epoch {epoch}/{self.cfg.epochs}", self.cfg.verbose > 0):
            xb = self.augment(rt.inputs(self.X[idx], *self.norm), self.generator).contiguous(
                memory_format=rt.memory_format
            )
            yb = self.y[idx].to(rt.device)
            tb = yb if targets is self.y else targets[idx].to(rt.device)
            loss, logits = train_step(self.model, xb, tb, self.criterion, self.opt, rt)
            if self.sched is not None and not self.per_epoch_schedule:
                self.sched.step()
            loss_sum += loss * len(idx)  # summed on the device: no synchronisation per step
            correct += (logits.argmax(1) == yb).sum()
        seen = sum(len(idx) for idx in batches)
        train_s = time.perf_counter() - t0
        self.passes.append({"seen": seen, "train_seconds": train_s})
        return {
            "epoch": epoch,
            "loss": loss_sum.item() / seen,
            "acc": correct.item() / seen,
            "val_loss": None,
            "val_acc": None,
            "lr": lr,
            "seconds": 0.0,
            "images_per_s": seen / train_s,
        }

    def end_of_epoch(self, row: dict, validated: bool) -> None:
        if self.per_epoch_schedule:
            self.sched.step(row["val_acc"] if validated else -row["loss"])


def _loss_targets(y: torch.Tensor, y_soft: torch.Tensor | None, cfg: TrainConfig):
    """epoch -> the targets of that epoch's loss: `y`; the distributions `y_soft`; or labels drawn from
    them (drawn up front from a generator of their own, so hard-label runs draw nothing more)."""
    if y_soft is None:
        return lambda epoch: y
    if cfg.loss == "focal":
        raise ConfigError(
            "is focal, which takes one label an image: use loss=ce with class distributions (FER+ train_labels=soft)",
            "loss",
        )
    if cfg.soft_targets == "crossentropy":
        return lambda epoch: y_soft
    rng, cumulative = np.random.default_rng([cfg.seed, 1]), np.cumsum(y_soft.numpy(), axis=1)
    draws = [torch.from_numpy((rng.random(len(y))[:, None] < cumulative).argmax(1)) for _ in range(cfg.epochs)]
    return lambda epoch: draws[epoch - 1]


class _BestEpoch:
    """The best epoch on validation data (accuracy, then lower loss) and a copy of its weights;
    `restore` puts the kept weights back into the model (without validation data: the last epoch)."""

    def __init__(self, model: nn.Module):
        self.model, self.score, self.epoch, self.state = model, (-1.0, 0.0), 0, None

    def offer(self, epoch: int, val_acc: float, val_loss: float) -> None:
        if (val_acc, -val_loss) > self.score:
            self.score, self.epoch = (val_acc, -val_loss), epoch
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)


def train_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module, opt: torch.optim.Optimizer, rt: Runtime
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a normalised (augmented) batch; returns the detached loss and logits."""
    with rt.autocast():
        logits = model(x)
    loss = criterion(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


@torch.inference_mode()
def predict_proba(
    model: nn.Module, X: torch.Tensor, rt: Runtime, norm: tuple[float, float], tta: str = "none"
) -> torch.Tensor:
    """Class probabilities (float32, on the CPU) for uint8 images `X`, averaged over the test-time
    views `tta` names (`deep.augment.TestTimeAugment`)."""
    model.eval()
    views = TestTimeAugment(model, tta, tuple(X.shape[1:])).to(rt.device)
    out = []
    for x in rt.input_batches(X, *norm):
        with rt.autocast():
            out.append(views(x).cpu())
    return torch.cat(out)


def _val_scores(
    model: nn.Module, val: tuple[torch.Tensor, torch.Tensor], rt: Runtime, norm: tuple[float, float]
) -> dict:
    """Validation accuracy and cross-entropy (no test-time augmentation)."""
    proba = predict_proba(model, val[0], rt, norm)
    return {
        "val_loss": F.nll_loss(proba.clamp_min(1e-12).log(), val[1]).item(),
        "val_acc": (proba.argmax(1) == val[1]).float().mean().item(),
    }


def _weight_average(
    swa: AveragedModel,
    X: torch.Tensor,
    val: tuple[torch.Tensor, torch.Tensor] | None,
    rt: Runtime,
    norm: tuple[float, float],
) -> dict:
    """Batch-norm statistics for the averaged weights, from one pass over the (unaugmented)
    training images: the running statistics of the averaged epochs belong to other weights."""
    with rt.autocast():
        update_bn(rt.input_batches(X, *norm), swa.module)
    info = {"epochs_averaged": int(swa.n_averaged), "val_loss": None, "val_acc": None, "selected": False}
    if val is not None:
        info.update(_val_scores(swa.module, val, rt, norm))
    return info


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Full batches only (the remainder is reshuffled into the next epoch); a set smaller than a batch
    is one batch."""
    if len(order) <= batch_size:
        return [order]
    n = len(order) // batch_size
    return np.split(order[: n * batch_size], n)


def _criterion(cfg: TrainConfig, y: np.ndarray, n_classes: int) -> nn.Module:
    weight = None
    if cfg.imbalance == "class_weight":
        weight = torch.tensor(imbalance.class_weights(y, n_classes), dtype=torch.float32)
    if cfg.loss == "focal":
        return imbalance.FocalLoss(cfg.focal_gamma, weight, cfg.label_smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """No weight decay on biases and normalisation parameters (1-D tensors): decaying them only hurts.
    With backbone_lr < 1, everything outside the head (`cfg.head`) learns at lr * backbone_lr, the usual
    practice for fine-tuning pretrained weights (the head's groups come first)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.backbone_lr == 1:
        parts = [([p for _, p in named], cfg.lr)]
    else:
        head = [p for n, p in named if _in_head(n, cfg.head)]
        backbone = [p for n, p in named if not _in_head(n, cfg.head)]
        parts = [(head, cfg.lr), (backbone, cfg.lr * cfg.backbone_lr)]
    groups = []
    for part, lr in parts:
        groups += [
            {"params": [p for p in part if p.ndim > 1], "weight_decay": cfg.weight_decay, "lr": lr},
            {"params": [p for p in part if p.ndim <= 1], "weight_decay": 0.0, "lr": lr},
        ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer](groups, lr=cfg.lr)


def _in_head(name: str, head: str) -> bool:
    return name == head or name.startswith(head + ".")


def _freeze_backbone(model: nn.Module, cfg: TrainConfig, frozen: bool) -> None:
    """Hold (or release) every parameter outside the head: a frozen parameter gets no gradient, so the
    optimizer leaves it as it is (weight decay and momentum included)."""
    for name, p in model.named_parameters():
        if not _in_head(name, cfg.head):
            p.requires_grad_(not frozen)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """Per-step cosine (after a linear warm-up) or one-cycle; per-epoch plateau; or none. With weight
    averaging, cosine anneals to swa_lr instead of 0 by the first averaged epoch and both cosine and
    none hold swa_lr from there."""
    total = cfg.epochs * steps_per_epoch
    anneal = (cfg.epochs - cfg.swa_epochs) * steps_per_epoch  # total without weight averaging
    floor = cfg.swa_lr / cfg.lr if cfg.swa_epochs else 0.0
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), anneal - 1)
    if cfg.schedule == "cosine":

        def factor(step: int) -> float:
            if step >= anneal:
                return floor
            if step < warmup:
                return (step + 1) / warmup
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, anneal - warmup)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if cfg.schedule == "none" and cfg.swa_epochs:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 if step < anneal else floor)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=[g["lr"] for g in opt.param_groups],
            total_steps=total,
            pct_start=max(warmup, 1) / total if total > 1 else 0.5,
        )
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
    return None


def _progress(batches: list, desc: str, enabled: bool):
    """A tqdm bar over the batches when tqdm is installed (and the output is a terminal); else the
    batches themselves (an epoch line is printed either way)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return batches
    return tqdm(batches, desc=desc, leave=False, unit="batch", disable=None if enabled else True)


def _report(row: dict, cfg: TrainConfig, run_dir: Path | None, history: list[dict]) -> None:
    if cfg.verbose:
        val = f" val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f}" if row["val_acc"] is not None else ""
        print(
            f"epoch {row['epoch']}/{cfg.epochs} loss {row['loss']:.4f} acc {row['acc']:.4f}{val} "
            f"lr {row['lr']:.3g} {row['seconds']:.1f}s {row['images_per_s']:.0f} img/s",
            flush=True,
        )
    if run_dir is not None:
        write_history(run_dir, history)


def write_history(run_dir: Path, history: list[dict]) -> None:
    """history.csv, history.json and learning_curves.png in `run_dir` (rewritten every epoch, so a
    long run can be watched). `loss` is the training objective on augmented images (with label
    smoothing, focal or class weights as configured); `val_loss` is plain cross-entropy."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    (run_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    from core import plots  # matplotlib, only for runs that write a run_dir

    plots.learning_curves(
        [plots.per_epoch(history)], f"{run_dir.parent.name}/{run_dir.name}", run_dir / "learning_curves.png"
    )
