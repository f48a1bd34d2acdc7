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

from benchmark.errors import ConfigError
from deep import imbalance
from deep.augment import BatchAugment, TestTimeAugment

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "plateau", "none")
LOSSES = ("ce", "focal")
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
    compile: bool
    seed: int
    verbose: int

    def __post_init__(self):
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("loss", self.loss, LOSSES)):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got '{value}'")
        imbalance.check(self.imbalance)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs, batch_size and lr must be positive, got {self.epochs}, {self.batch_size}, "
                              f"{self.lr}")
        if self.resample_target is not None and self.resample_target < 1:
            raise ConfigError(f"resample_target must be at least 1 (or null), got {self.resample_target}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be at least 1 (or null for no early stopping), got {self.patience}")
        if not 0 <= self.swa_fraction < 1:
            raise ConfigError(f"swa_fraction must be in [0, 1), got {self.swa_fraction}")
        if self.swa_epochs and (self.swa_lr <= 0 or self.schedule not in ("cosine", "none")):
            raise ConfigError(f"weight averaging (swa_fraction > 0) needs a positive swa_lr (got {self.swa_lr}) and "
                              f"schedule cosine or none (got '{self.schedule}'); swa_fraction=0 turns it off")

    @property
    def swa_epochs(self) -> int:
        """How many of the last epochs are averaged: swa_fraction of them, rounded down (0: none)."""
        return math.floor(self.swa_fraction * self.epochs + 1e-9)


@dataclass(frozen=True)
class Runtime:
    """Where tensors live and how the CPU is used.

    bf16 autocast with channels_last trains about 3x and predicts 3.5-4x faster than fp32 on CPUs
    with AMX/AVX-512-BF16 (bench/train_speed.py measures it; torch.compile was slower here).
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
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got '{device}'")
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device=cuda, but torch sees no CUDA device (this torch build: "
                              f"{torch.__version__}); use device=auto or cpu")
        if threads is not None and threads < 1:
            raise ConfigError(f"n_jobs (CPU threads) must be at least 1 or null, got {threads}")
        return cls(torch.device(device), bf16, channels_last, threads)

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
            yield self.inputs(images[start:start + EVAL_BATCH], mean, std)

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


def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None,
          n_classes: int, cfg: TrainConfig, rt: Runtime, norm: tuple[float, float], augment: BatchAugment,
          run_dir: Path | None = None) -> dict:
    """Train `model` (already placed) in place on uint8 images `X` and class indices `y` (0..n_classes-1).

    Returns the summary: history (one dict per epoch), best_epoch, best_val_acc (the best single
    epoch's), epochs_run, train_seconds and images_per_s (training passes only, validation
    excluded); with weight averaging also `swa`: epochs_averaged, val_loss, val_acc and whether the
    average was selected (kept) over the best epoch.
    """
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    y_np = y.numpy()
    plans = [_batches(imbalance.epoch_indices(y_np, cfg.imbalance, rng, cfg.resample_target), cfg.batch_size)
             for _ in range(cfg.epochs)]
    criterion = _criterion(cfg, y_np, n_classes).to(rt.device)
    opt = _optimizer(model, cfg)
    sched = _scheduler(opt, cfg, steps_per_epoch=len(plans[0]))
    per_epoch_schedule = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    step_model = torch.compile(model) if cfg.compile else model
    swa = AveragedModel(model) if cfg.swa_epochs else None

    history, best, best_state = [], (-1.0, 0.0), None
    best_epoch, train_seconds, n_seen = 0, 0.0, 0
    for epoch, batches in enumerate(plans, start=1):
        t0, lr = time.perf_counter(), opt.param_groups[0]["lr"]
        model.train()
        loss_sum, correct = torch.zeros((), device=rt.device), torch.zeros((), device=rt.device)
        for idx in _progress(batches, f"epoch {epoch}/{cfg.epochs}", cfg.verbose > 0):
            xb = augment(rt.inputs(X[idx], *norm), gen).contiguous(memory_format=rt.memory_format)
            yb = y[idx].to(rt.device)
            loss, logits = train_step(step_model, xb, yb, criterion, opt, rt)
            if sched is not None and not per_epoch_schedule:
                sched.step()
            loss_sum += loss * len(idx)  # summed on the device: no synchronisation per step
            correct += (logits.argmax(1) == yb).sum()
        seen = sum(len(idx) for idx in batches)
        train_s = time.perf_counter() - t0
        train_seconds, n_seen = train_seconds + train_s, n_seen + seen
        if swa is not None and epoch > cfg.epochs - cfg.swa_epochs:
            swa.update_parameters(model)
        row = {"epoch": epoch, "loss": loss_sum.item() / seen, "acc": correct.item() / seen, "val_loss": None,
               "val_acc": None, "lr": lr, "seconds": 0.0, "images_per_s": seen / train_s}
        if val is not None:
            row.update(_val_scores(model, val, rt, norm))
            if (row["val_acc"], -row["val_loss"]) > best:
                best, best_epoch = (row["val_acc"], -row["val_loss"]), epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if per_epoch_schedule:
            sched.step(row["val_acc"] if val is not None else -row["loss"])
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        _report(row, cfg, run_dir, history)
        if val is not None and cfg.patience is not None and epoch - best_epoch >= cfg.patience:
            break
    summary = {"history": history, "epochs_run": len(history), "best_epoch": best_epoch if val is not None
               else len(history), "best_val_acc": best[0] if val is not None else None,
               "train_seconds": train_seconds, "images_per_s": n_seen / train_seconds}
    if swa is not None and swa.n_averaged > 0:  # not when early stopping came first
        summary["swa"] = _weight_average(swa, X, val, rt, norm)
        if val is None or (summary["swa"]["val_acc"], -summary["swa"]["val_loss"]) >= best:
            summary["swa"]["selected"], best_state = True, swa.module.state_dict()
    if best_state is not None:
        model.load_state_dict(best_state)
    return summary


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module,
               opt: torch.optim.Optimizer, rt: Runtime) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a normalised (augmented) batch; returns the detached loss and logits."""
    with rt.autocast():
        logits = model(x)
    loss = criterion(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


@torch.inference_mode()
def predict_proba(model: nn.Module, X: torch.Tensor, rt: Runtime, norm: tuple[float, float],
                  tta: str = "none") -> torch.Tensor:
    """Class probabilities (float32, on the CPU) for uint8 images `X`, averaged over the test-time
    views `tta` names (`deep.augment.TestTimeAugment`)."""
    model.eval()
    views = TestTimeAugment(model, tta, tuple(X.shape[1:])).to(rt.device)
    out = []
    for x in rt.input_batches(X, *norm):
        with rt.autocast():
            out.append(views(x).cpu())
    return torch.cat(out)


def _val_scores(model: nn.Module, val: tuple[torch.Tensor, torch.Tensor], rt: Runtime,
                norm: tuple[float, float]) -> dict:
    """Validation accuracy and cross-entropy (no test-time augmentation)."""
    proba = predict_proba(model, val[0], rt, norm)
    return {"val_loss": F.nll_loss(proba.clamp_min(1e-12).log(), val[1]).item(),
            "val_acc": (proba.argmax(1) == val[1]).float().mean().item()}


def _weight_average(swa: AveragedModel, X: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None,
                    rt: Runtime, norm: tuple[float, float]) -> dict:
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
    return np.split(order[:n * batch_size], n)


def _criterion(cfg: TrainConfig, y: np.ndarray, n_classes: int) -> nn.Module:
    weight = None
    if cfg.imbalance == "class_weight":
        weight = torch.tensor(imbalance.class_weights(y, n_classes), dtype=torch.float32)
    if cfg.loss == "focal":
        return imbalance.FocalLoss(cfg.focal_gamma, weight, cfg.label_smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """No weight decay on biases and normalisation parameters (1-D tensors): decaying them only hurts."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer](groups, lr=cfg.lr)


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
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                   pct_start=max(warmup, 1) / total if total > 1 else 0.5)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=PLATEAU_FACTOR,
                                                          patience=PLATEAU_PATIENCE)
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
        print(f"epoch {row['epoch']}/{cfg.epochs} loss {row['loss']:.4f} acc {row['acc']:.4f}{val} "
              f"lr {row['lr']:.3g} {row['seconds']:.1f}s {row['images_per_s']:.0f} img/s", flush=True)
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
    _plot(history, run_dir / "learning_curves.png")


def _plot(history: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(fig.subplots(1, 2), ("loss", "acc")):
        ax.plot(epochs, [r[key] for r in history], marker=".", label="train")
        if history[0][f"val_{key}"] is not None:
            ax.plot(epochs, [r[f"val_{key}"] for r in history], marker=".", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
