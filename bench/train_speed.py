"""Training and inference speed of each registered model at 48x48: eager fp32 against the optimised
settings the trainer uses (channels_last + bf16 autocast; torch.compile on request), measured in
the same process, with the ratio.

    python bench/train_speed.py                 # every model that builds here, about 2-3 minutes
    python bench/train_speed.py --quick         # fernet only, fewer steps
    python bench/train_speed.py --models fernet --settings fp32 cl bf16 cl+bf16 cl+bf16+compile --threads 1

Throughput is the median over timed steps of one network step (forward, backward and SGD update
for training: augmentation excluded, it costs under 2% of a step; `predict_proba` on uint8
images for inference), in images per second of wall-clock time. On a machine shared with other jobs the
numbers are noisy, and with more threads than idle cores they collapse (OpenMP threads wait for
each other at every layer): compare settings within one run, and use --threads 1 there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch
from tabulate import tabulate
from torch import nn

from core.errors import ConfigError
from deep.flops import count_parameters, macs_per_image
from deep.models import create_model, list_models
from deep.train import Runtime, bf16_native, predict_proba, train_step

SIZE, CLASSES = 48, 7
SWITCHES = {"cl": "channels_last", "bf16": "bf16", "compile": "compile"}


def parse_setting(text: str) -> dict[str, bool]:
    """'fp32' (eager, nothing on) or switches joined by '+', e.g. 'cl+bf16+compile'."""
    on = set() if text == "fp32" else set(text.split("+"))
    if on - set(SWITCHES):
        raise SystemExit(f"unknown switch in setting '{text}'; use fp32 or a '+'-joined subset of {list(SWITCHES)}")
    return {flag: key in on for key, flag in SWITCHES.items()}


def train_speed(name: str, rt: Runtime, compiled: bool, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = rt.place(create_model(name, CLASSES)).train()
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 1, SIZE, SIZE).contiguous(memory_format=rt.memory_format)
    y = torch.randint(0, CLASSES, (batch,))
    criterion = nn.CrossEntropyLoss()
    times = []
    for _ in range(steps + 1):  # the first step (oneDNN kernel creation, compilation) is not timed
        t0 = time.perf_counter()
        train_step(step_model, x, y, criterion, opt, rt)
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times[1:])


def infer_speed(name: str, rt: Runtime, compiled: bool, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = rt.place(create_model(name, CLASSES))
    model = torch.compile(model) if compiled else model
    images = torch.randint(0, 256, (batch, SIZE, SIZE), dtype=torch.uint8)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        predict_proba(model, images, rt, (128.0, 64.0))
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times[1:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="registry names (default: all that build here)")
    parser.add_argument("--quick", action="store_true", help="fernet only, 2 timed steps")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["fp32", "cl+bf16"],
        help="speed settings to compare; the first is the baseline of the ratios "
        "(default: fp32 cl+bf16; compile takes ~1 minute per model)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: one per core)")
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    args = parser.parse_args(argv)
    models = args.models or (["fernet"] if args.quick else list_models())
    steps = 2 if args.quick else args.steps
    settings = [parse_setting(text) for text in args.settings]
    load = os.getloadavg()[0]  # before we add to it: other jobs make every number here noisy

    rows, skipped = [], []
    for name in models:
        try:
            probe = create_model(name, CLASSES)
        except ConfigError as exc:  # e.g. a torchvision backbone without torchvision
            skipped.append(f"{name}: {exc}")
            continue
        row = [name, f"{count_parameters(probe) / 1e6:.2f}", f"{macs_per_image(probe, SIZE) / 1e6:.0f}"]
        train, infer = [], []
        for setting in settings:
            rt = Runtime.resolve("cpu", setting["bf16"], setting["channels_last"], args.threads)
            rt = dataclasses.replace(rt, bf16=setting["bf16"])  # autocast as asked, emulated or not (footer)
            with rt.cpu_threads():
                train.append(train_speed(name, rt, setting["compile"], args.batch, steps))
                infer.append(infer_speed(name, rt, setting["compile"], 4 * args.batch, steps))
        row += [f"{v:.0f}" for v in train] + [f"{v / train[0]:.2f}x" for v in train[1:]]
        row += [f"{v:.0f}" for v in infer] + [f"{v / infer[0]:.2f}x" for v in infer[1:]]
        rows.append(row)
        print(f"measured {name}", flush=True)

    names = args.settings
    headers = (
        ["model", "params (M)", "MACs/img (M)"]
        + [f"train {n} img/s" for n in names]
        + [f"train {n} / {names[0]}" for n in names[1:]]
        + [f"infer {n} img/s" for n in names]
        + [f"infer {n} / {names[0]}" for n in names[1:]]
    )
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"threads: {args.threads or torch.get_num_threads()}, train batch {args.batch}, inference batch "
        f"{4 * args.batch}, {SIZE}x{SIZE}, median of {steps} timed steps; torch {torch.__version__}; "
        f"load average before the run {load:.1f} on {os.cpu_count()} cores; bf16 kernels on this CPU: "
        f"{'yes' if bf16_native('cpu') else 'no (bf16 is emulated: the trainer uses fp32 here)'}"
    )
    for line in skipped:
        print(f"skipped {line}")


if __name__ == "__main__":
    main()
