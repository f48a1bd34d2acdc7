"""The one way parameter values are checked: each helper returns the value (converted where
stated) or raises a `ConfigError` whose key is the parameter's name and whose text says what is
allowed, e.g. "k must be an integer >= 2, got 2.7".

Classes check their parameters where scikit-learn's estimators do (in `fit`, or in a
`check_params()` the runner calls before any data is read) or, for the plain objects a config file
builds (loaders, detectors, protocols), in `__init__`. A caller that knows where the value sits in
the config adds that with `ConfigError.under`.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from core.errors import ConfigError


def choice(name: str, value, allowed: Collection):
    """`value` if it is one of `allowed`, else a ConfigError listing them."""
    if isinstance(value, (list, dict)) or value not in allowed:
        raise ConfigError(f"must be one of {' | '.join(map(str, allowed))}, got {value!r}", name)
    return value


def number(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    integer: bool = False,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
):
    """`value` as an int (`integer`) or float within the bounds, or None when `optional` allows it.

    Booleans and values that are not exactly an integer (2.7, "3") are refused, never truncated.
    """
    if value is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    bounds = [
        f"{'>' if low_open else '>='} {low:g}" if low > -math.inf else "",
        f"{'<' if high_open else '<='} {high:g}" if high < math.inf else "",
    ]
    wanted = " ".join([kind, " and ".join(b for b in bounds if b)]).strip() + (" (or null)" if optional else "")
    try:
        valid = not isinstance(value, (bool, str)) and math.isfinite(float(value))
        converted = (int(value) if integer else float(value)) if valid else None
        valid = valid and converted == float(value)
    except (TypeError, ValueError, OverflowError):
        valid = False
    if valid:
        valid = (low < converted if low_open else low <= converted) and (
            converted < high if high_open else converted <= high
        )
    if not valid:
        raise ConfigError(f"must be {wanted}, got {value!r}", name)
    return converted


def flag(name: str, value) -> bool:
    """`value` if it is a boolean (YAML true / false), else a ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}", name)
    return value


def numbers(name: str, value, length: int, **bounds) -> list:
    """A list of exactly `length` numbers, each checked by `number` with `bounds`."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) != length:
        raise ConfigError(f"must be a list of {length} numbers, got {value!r}", name)
    return [number(name, v, **bounds) for v in value]


def check_params(estimator, key: str = "") -> None:
    """`check_params()` of `estimator` and of every estimator nested in it, before any data is read.

    An estimator of ours checks its own parameters in `check_params()` (its `fit` calls it too);
    this walks the nesting, so a bad value deep inside a method fails at once, its key written as
    the config path below `key`: a Pipeline's step is `steps.<name>`, a FeatureUnion's part
    `transformer_list.<i>.1`, any other nested estimator its parameter name. scikit-learn's own
    estimators declare their constraints (`_parameter_constraints`) and check them in `fit` with
    `_validate_params()`; that is called here too, when present, so their bad values fail as early.
    """
    own = getattr(estimator, "check_params", None)
    if callable(own):
        try:
            own()
        except ConfigError as exc:
            raise exc.under(key) from None
    elif hasattr(estimator, "_parameter_constraints") and callable(getattr(estimator, "_validate_params", None)):
        try:
            estimator._validate_params()
        except ValueError as exc:  # scikit-learn's InvalidParameterError
            raise ConfigError(f"{key}: {exc}" if key else str(exc)) from None
    for name, child in _nested(estimator):
        check_params(child, f"{key}.{name}" if key else name)


def _nested(estimator) -> list[tuple[str, object]]:
    """(config path, estimator) of the estimators directly inside `estimator`."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(estimator, Pipeline):
        return [(f"steps.{name}", step) for name, step in estimator.steps]
    if isinstance(estimator, FeatureUnion):
        return [(f"transformer_list.{i}.1", part) for i, (_, part) in enumerate(estimator.transformer_list)]
    if not hasattr(estimator, "get_params"):
        return []
    return [
        (name, value)
        for name, value in estimator.get_params(deep=False).items()
        if hasattr(value, "get_params") and not isinstance(value, type)
    ]
