"""IDX files, the MNIST family's array format (raw or gzip-compressed), read and written.

Format (LeCun et al., "THE MNIST DATABASE of handwritten digits", file formats section): two zero
bytes, one type byte (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double), one
byte with the number of dimensions, then each dimension as a big-endian 32-bit integer, then the
values in C order, big-endian. Images are ``idx3`` (N, rows, cols), labels ``idx1`` (N,).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from warmstart.errors import InputError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype: code for code, dtype in IDX_TYPES.items()}


def is_idx_name(path: Path) -> bool:
    """A name MNIST-family files use: ``*-ubyte``, ``*.idx``, ``*-idx3-ubyte.gz`` ..."""
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(("-ubyte", ".idx", "ubyte")) or ".idx" in name or "-idx" in name


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot be read ({error}); is it a truncated or mislabelled .gz file?") from error


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file; a wrong magic number, bad dimensions or a short file name the file."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        magic = data[:4].hex() if len(data) >= 4 else data.hex()
        raise InputError(
            f"{path}: not an IDX file (magic number 0x{magic or '?'}; expected 0x0000 then a type byte "
            f"in {[hex(c) for c in IDX_TYPES]} and the number of dimensions)"
        )
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    if ndim == 0:
        raise InputError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if any(d == 0 for d in dims):
        raise InputError(f"{path}: IDX dimensions {dims} include 0")
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header
    if body != expected:
        raise InputError(
            f"{path}: IDX header says {dims} values of {dtype.itemsize} byte(s) ({expected:,} bytes) but the file holds "
            f"{body:,}; the file is {'truncated' if body < expected else 'longer than its header says'}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("=")) if dtype.itemsize > 1 else array.copy()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz)."""
    path = Path(path)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = _CODES.get(big.dtype)
    if code is None:
        raise ValueError(f"IDX has no type for {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def labels_beside(images: Path) -> Path | None:
    """The MNIST-style labels file next to an images file (``X-images-idx3-ubyte`` -> ``X-labels-idx1-ubyte``)."""
    name = images.name
    for a, b in (("images-idx3", "labels-idx1"), ("images", "labels")):
        if a in name:
            candidate = images.with_name(name.replace(a, b))
            if candidate.is_file():
                return candidate
    return None
