"""Validation of detector config values: a wrong value fails at construction, naming what is allowed."""

from __future__ import annotations

import math

from benchmark.errors import ConfigError


def choice(key: str, value, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else a ConfigError listing them."""
    if value not in allowed:
        raise ConfigError(f"detector.{key} must be one of {' | '.join(allowed)}, got {value!r}")
    return value


def number(key: str, value, low: float, high: float = math.inf, *, integer: bool = False,
           low_open: bool = False) -> float | int:
    """`value` as a number in [low, high] ((low, high] when `low_open`), else a ConfigError stating the range."""
    kind = "an integer" if integer else "a number"
    bounds = f"{'>' if low_open else '>='} {low}" + ("" if high == math.inf else f" and <= {high}")
    try:
        converted = (int if integer else float)(value)
        valid = not isinstance(value, bool) and converted == float(value)
    except (TypeError, ValueError):
        valid = False
    if not valid or not (low < converted if low_open else low <= converted) or converted > high:
        raise ConfigError(f"detector.{key} must be {kind} {bounds}, got {value!r}")
    return converted


def flag(key: str, value) -> bool:
    """`value` if it is a boolean (YAML true/false), else a ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"detector.{key} must be true or false, got {value!r}")
    return value
