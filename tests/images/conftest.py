"""Fixtures: tiny labeled image sets as .npz files."""

from __future__ import annotations

import numpy as np
import pytest
from image_sets import bar_images


@pytest.fixture(scope="session")
def bars_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("bars") / "bars.npz"
    images, labels = bar_images(240)
    np.savez(path, x=images, y=labels)
    return path


@pytest.fixture(scope="session")
def bars_test_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("bars-test") / "bars-test.npz"
    images, labels = bar_images(150, seed=1)
    np.savez(path, x=images, y=labels)
    return path
