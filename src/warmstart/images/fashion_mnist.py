"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the Debian package ``dataset-fashion-mnist``.

The package installs the four IDX files of the original release under
``/usr/share/datasets/fashion-mnist/``: ``train-images-idx3-ubyte.gz`` (60,000 28x28 grayscale
images), ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz`` (10,000 test images). As an input it is named
``dataset:fashion-mnist`` (the training images) or ``dataset:fashion-mnist:train|test``.
"""

from __future__ import annotations

import os
from pathlib import Path

from warmstart.datasets import debian
from warmstart.datasets.recipe import DatasetUnavailable
from warmstart.errors import InputError

NAME = "fashion-mnist"
PACKAGE = "dataset-fashion-mnist"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SOURCE_ENV = "WARMSTART_FASHION_MNIST_SOURCE"
INSTALL = f"apt-get install -y {PACKAGE}   (as root; run apt-get update first on a fresh machine)"
OWN_FILES = (f"set {SOURCE_ENV}=DIR where DIR holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
             "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or pass those files as inputs)")
SPLITS = {"train": "train", "test": "t10k"}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _folder() -> Path:
    return Path(os.environ[SOURCE_ENV]).expanduser() if os.environ.get(SOURCE_ENV) else SYSTEM_DIR


def _complete(folder: Path) -> bool:
    return all((folder / f"{prefix}-{kind}-ubyte.gz").is_file()
               for prefix in SPLITS.values() for kind in ("images-idx3", "labels-idx1"))


def locate(ensure_installed: bool = True) -> Path:
    """The folder with the four IDX files; installs the Debian package first where allowed (root)."""
    folder = _folder()
    if _complete(folder):
        return folder
    if ensure_installed and folder == SYSTEM_DIR and debian.is_root():
        try:
            debian.install(PACKAGE)
        except debian.AptError as err:
            raise DatasetUnavailable(NAME, str(err), install=INSTALL, own_files=OWN_FILES) from err
        if _complete(folder):
            return folder
    problem = f"{folder} does not hold the four Fashion-MNIST IDX files"
    if folder == SYSTEM_DIR and not debian.is_root():
        problem += f" ({PACKAGE} is not installed, and installing it needs root)"
    raise DatasetUnavailable(NAME, problem, install=INSTALL, own_files=OWN_FILES)


def files(split: str = "train", ensure_installed: bool = True) -> tuple[Path, Path]:
    """(images, labels) IDX paths of ``split`` (train | test)."""
    if split not in SPLITS:

        raise InputError(f"data set {NAME!r} has no split {split!r}; its splits: {', '.join(SPLITS)}")
    folder = locate(ensure_installed)
    prefix = SPLITS[split]
    return folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
