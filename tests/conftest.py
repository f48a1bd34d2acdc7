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


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one CPU thread for a module's tests (small models train faster so, and two test processes or
    a training run in the background do not make OpenMP threads wait for each other), then as it was."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
