"""core: the one way parameters are checked, and the errors it raises."""

import math

import pytest

from core import validation as check
from core.errors import ConfigError


@pytest.mark.parametrize("value", [2.7, "3", True, None, math.inf, math.nan, [3], 1])
def test_number_refuses_what_is_not_an_integer_in_range(value):
    with pytest.raises(ConfigError, match=r"^k must be an integer >= 2, got "):
        check.number("k", value, 2, integer=True)


def test_number_converts_and_allows_null_when_optional():
    assert check.number("k", 3.0, 2, integer=True) == 3 and isinstance(check.number("k", 3.0, 2, integer=True), int)
    assert check.number("lr", 1, 0, low_open=True) == 1.0
    assert check.number("patience", None, 1, integer=True, optional=True) is None
    with pytest.raises(ConfigError, match=r"must be a number > 0 and < 1 \(or null\), got 1"):
        check.number("p", 1, 0, 1, low_open=True, high_open=True, optional=True)


def test_choice_flag_and_numbers():
    assert check.choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ConfigError, match=r"^mode must be one of a \| b, got 'c'$"):
        check.choice("mode", "c", ("a", "b"))
    with pytest.raises(ConfigError, match="must be true or false, got 'yes'"):
        check.flag("align", "yes")
    assert check.numbers("grid", [6, 7], 2, low=1, integer=True) == [6, 7]
    with pytest.raises(ConfigError, match=r"must be a list of 2 numbers, got \[6\]"):
        check.numbers("grid", [6], 2, low=1, integer=True)


def test_config_error_is_a_value_error_whose_key_is_made_into_the_config_path():
    err = ConfigError("must be an integer >= 8, got 4", "size")
    assert isinstance(err, ValueError) and str(err) == "size must be an integer >= 8, got 4"
    assert str(err.under("detector")) == "detector.size must be an integer >= 8, got 4"
    assert str(ConfigError("two choices clash").under("method")) == "two choices clash"
