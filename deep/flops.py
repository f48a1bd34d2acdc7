"""Model size and cost: parameters and forward multiply-adds per image.

Uses torch's own `FlopCounterMode`, which counts the matrix products of convolutions and linear
layers (2 FLOPs per multiply-add) at the aten level, so any architecture is covered without a hook
per layer type; element-wise work (batch norm, activations, pooling) is not counted, which is the
usual convention for MACs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of `model`."""
    return sum(p.numel() for p in model.parameters())


def macs_per_image(model: nn.Module, size: int | tuple[int, int] = 48, in_chans: int = 1) -> int:
    """Forward multiply-adds for one (in_chans, size, size) image, in eval mode, on the CPU."""
    h, w = (size, size) if isinstance(size, int) else size
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_chans, h, w, dtype=param.dtype, device=param.device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
