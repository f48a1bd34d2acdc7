"""Loading weights into a model whose head (and possibly input stem) differs from the source's.

Used for fine-tuning a project-trained checkpoint on a data set with other classes (FER2013 -> CK+)
and for local torchvision weights: everything must load except the named head, which keeps its
fresh initialisation when its shape differs. Anything else that does not fit is an error, so a
wrong checkpoint is never half-loaded silently. When both sides know their classes, the head's
rows are matched by class label (`match_head_classes`), not by position.
"""

from __future__ import annotations

import torch
from torch import nn

from core.errors import ConfigError


def load_except_head(model: nn.Module, state: dict[str, torch.Tensor], head: str) -> list[str]:
    """Load `state` into `model`; head tensors of another shape are skipped. Returns the skipped keys."""
    own = model.state_dict()
    prefix = head + "."
    skipped = [k for k, v in state.items() if k.startswith(prefix) and k in own and own[k].shape != v.shape]
    kept = {k: v for k, v in state.items() if k not in skipped}
    bad = [k for k, v in kept.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.startswith(prefix)]
    unexpected = [k for k in kept if k not in own]
    if bad or missing or unexpected:
        raise ConfigError(
            "weights do not fit the model outside its head "
            f"(shape mismatch: {bad[:5]}, missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    model.load_state_dict(kept, strict=False)
    return skipped


def match_head_classes(
    model: nn.Module, state: dict[str, torch.Tensor], head: str, source_classes, target_classes
) -> tuple[dict[str, torch.Tensor], list]:
    """`state` with its head's per-class rows rearranged for `target_classes`.

    The row of every class the source was trained on is carried over by label (FER2013's "happy"
    row becomes CK+'s "happy" row wherever each sits); a class the source never saw keeps the
    model's fresh initialisation. Head tensors are recognised by their first dimension being the
    number of classes. Returns the new state and the classes that start fresh.
    """
    own = model.state_dict()
    source = {c: i for i, c in enumerate(source_classes)}
    state = dict(state)
    for key, value in state.items():
        target = own.get(key)
        if (
            key.startswith(head + ".")
            and target is not None
            and value.shape[0] == len(source)
            and target.shape[0] == len(target_classes)
            and value.shape[1:] == target.shape[1:]
        ):
            rows = target.clone()
            for j, c in enumerate(target_classes):
                if c in source:
                    rows[j] = value[source[c]]
            state[key] = rows
    return state, [c for c in target_classes if c not in source]
