"""Turning scores into things people read: a confusion-matrix PNG, terminal and Markdown tables, JSON.

Plots use matplotlib's object API (``matplotlib.figure.Figure`` on the Agg canvas), never pyplot,
so nothing leaks global figure state between calls or threads and no display is needed. matplotlib
is the optional ``plot`` extra and is imported only inside the function that draws.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.data.shards import write_json_atomic
from warmstart.errors import InputError

_ANNOTATE_UP_TO = 30  # beyond this many labels the count text is unreadable; colour alone is drawn


def confusion_matrix_png(
    matrix: Any, labels: Sequence[str], out_png: str | os.PathLike[str], title: str = "Confusion matrix"
) -> Path:
    """Draw a confusion matrix (row = true, column = predicted) to ``out_png`` and return its path.

    Colour is the row-normalised share (recall per true class), so rare classes stay visible next
    to frequent ones; each cell's text is the raw count. The file is written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    size = len(labels)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise InputError(f"matrix must be square (true x predicted), got shape {counts.shape}")
    if counts.shape[0] != size:
        raise InputError(f"matrix is {counts.shape[0]}x{counts.shape[0]} but labels names {size} classes")
    if size == 0:
        raise InputError("labels is empty: a confusion matrix needs at least one class")
    rows = counts.sum(axis=1, keepdims=True).astype(np.float64)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)  # empty row -> 0

    side = min(max(4.0, 0.55 * size + 2.5), 24.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set(xticks=range(size), yticks=range(size), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(labels, rotation=45 if size > 4 else 0, ha="right" if size > 4 else "center")
    ax.set_yticklabels(labels)
    if size <= _ANNOTATE_UP_TO:
        font = 10 if size <= 10 else 7
        for i in range(size):
            for j in range(size):
                # White text on dark cells, dark text on light ones, so every count stays legible.
                colour = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, _count(counts[i, j]), ha="center", va="center", color=colour, fontsize=font)

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, out)
    return out


def _count(value: Any) -> str:
    # Integers in full (":g" would print 1234567 as 1.23457e+06); weighted counts to 3 digits.
    return str(int(value)) if float(value).is_integer() else f"{float(value):.3g}"


def _cell(value: Any, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return format(float(value), float_format)
    return str(value)


def _is_numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, Real) and not isinstance(v, bool) for v in present)


def _grid(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], float_format: str
) -> tuple[list[list[str]], list[bool]]:
    if not columns:
        raise InputError("columns is empty: name at least one key of the rows to show")
    numeric = [_is_numeric([row.get(c) for row in rows]) for c in columns]
    cells = [[_cell(row.get(c), float_format) for c in columns] for row in rows]
    return cells, numeric


def format_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], float_format: str = ".4f"
) -> str:
    """An aligned plain-text table: numbers right-aligned, text left-aligned, a missing key blank."""
    cells, numeric = _grid(rows, columns, float_format)
    widths = [max(len(c), *(len(r[k]) for r in cells)) if cells else len(c) for k, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], float_format: str = ".4f"
) -> str:
    """A GitHub-flavoured Markdown table; numeric columns are right-aligned."""
    cells, numeric = _grid(rows, columns, float_format)

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    rule = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    return "\n".join([line(columns), rule, *(line(r) for r in cells)])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        # NOTE: json.dumps would write NaN/Infinity, which strict JSON readers reject; null is portable.
        return float(value) if math.isfinite(value) else None
    return value


def write_metrics_json(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> None:
    """Write scores as strict JSON, atomically: numpy scalars become numbers, NaN and inf become null."""
    write_json_atomic(Path(path), _jsonable(metrics))
