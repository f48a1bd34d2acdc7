"""Shared fixtures. Real-data tests read FERBENCH_DATA (CI sets it to ../shared/data) and skip otherwise."""

import os
from pathlib import Path

import pytest

REAL_DATA = Path(os.environ.get("FERBENCH_DATA", "data"))


def real_data_dir(name: str) -> Path:
    """The real data set folder `name` under FERBENCH_DATA, or skip the test with the reason."""
    path = REAL_DATA / name
    if not path.is_dir():
        pytest.skip(
            f"real data set '{name}' not found at {path.resolve()} "
            f"(set FERBENCH_DATA to the folder holding fer2013/, jaffe/, ckplus/)"
        )
    return path
