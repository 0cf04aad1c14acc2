"""Image sources -> one (N, C, H, W) array plus optional labels: folders, arrays, IDX, named sets.

A source is one string: a folder of PNG/JPEG files (one subfolder per class, or flat and
unlabeled), a ``.npz`` / ``.npy`` array file, an IDX file of the MNIST family (raw or ``.gz``;
labels are found beside images as ``*-labels-idx1-ubyte``), or ``dataset:fashion-mnist[:SPLIT]``.
Pixels stay ``uint8`` where the source has them (60,000 28x28 images are 47 MB), else ``float32``
in [0, 1]. Unreadable or truncated image files are skipped and counted, or fatal
(``images.on_bad_file``); mixed sizes without ``images.size``, an empty class folder and a bad
IDX header are errors that name the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from warmstart.config import ImageSettings
from warmstart.errors import InputError
from warmstart.images import fashion_mnist
from warmstart.images.idx import is_idx_name, labels_beside, read_idx

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DATASET_PREFIX = "dataset:"
_IMAGE_KEYS = ("x", "images", "x_train", "data", "X", "arr_0")
_LABEL_KEYS = ("y", "labels", "y_train", "targets", "label", "arr_1")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")


@dataclass
class ImageSet:
    """Images of one source, as one array; ``labels`` index ``class_names``."""

    pixels: np.ndarray  # (N, C, H, W) uint8, or float32 in [0, 1]
    labels: np.ndarray | None  # (N,) int64, or None for unlabeled sources
    class_names: list[str] | None
    source: str
    skipped: list[str] = field(default_factory=list)  # "file: reason" of unreadable files left out

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def channels(self) -> int:
        return self.pixels.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[2], self.pixels.shape[3]


# ---- one dispatch ---------------------------------------------------------------------------------


def read_source(spec: str, settings: ImageSettings, labeled: bool = False) -> ImageSet:
    """The images of ``spec`` shaped by ``settings``; ``labeled``: a source without labels is an error."""
    if spec.startswith(DATASET_PREFIX):
        found = _read_named(spec[len(DATASET_PREFIX):], labeled)
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            found = read_folder(path, settings)
        elif not path.is_file():
            raise InputError(f"image source {path} does not exist: check the path (relative paths start at {Path.cwd()})")
        elif path.suffix.lower() in (".npz", ".npy"):
            found = read_arrays(path, settings)
        elif is_idx_name(path):
            found = read_idx_images(path, labeled)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            raise InputError(f"{path}: a single image; pass the folder that holds it (one subfolder per class for labels)")
        else:
            raise InputError(
                f"{path}: unsupported image source; use a folder of PNG/JPEG files, a .npz/.npy array, an IDX file "
                "(*-ubyte or *-ubyte.gz) or dataset:fashion-mnist"
            )
    if labeled and found.labels is None:
        raise InputError(
            f"{spec}: holds no labels; fine-tuning needs one subfolder per class, a .npz with a labels array "
            "(images.label_key) or IDX images with their *-labels-idx1-ubyte file beside them"
        )
    return shape_images(found, settings)


def _read_named(name: str, labeled: bool) -> ImageSet:
    dataset, _, split = name.partition(":")
    if dataset != fashion_mnist.NAME:
        raise InputError(f"unknown image data set {dataset!r}; known: {fashion_mnist.NAME}")
    images, labels = fashion_mnist.files(split or "train")
    found = read_idx_images(images, labeled=True, labels_path=labels)
    found.class_names = list(fashion_mnist.CLASS_NAMES)
    found.source = f"{DATASET_PREFIX}{name}"
    return found


# ---- IDX --------------------------------------------------------------------------------------


def read_idx_images(path: Path, labeled: bool = False, labels_path: Path | None = None) -> ImageSet:
    array = read_idx(path)
    if array.ndim == 3:
        array = array[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif array.ndim == 4 and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    else:
        raise InputError(f"{path}: IDX array of shape {array.shape} is not images (N, rows, cols[, channels])")
    pixels = _unit_or_uint8(array, path)
    labels_path = labels_path or labels_beside(path)
    labels = names = None
    if labels_path is not None:
        raw = read_idx(labels_path)
        if raw.ndim != 1 or len(raw) != len(pixels):
            raise InputError(f"{labels_path}: {raw.shape} labels for {len(pixels)} images in {path}")
        labels, names = _label_ids(raw)
    elif labeled:
        raise InputError(f"{path}: no labels file beside it (expected {path.name.replace('images', 'labels')})")
    return ImageSet(np.ascontiguousarray(pixels), labels, names, str(path))


# ---- arrays -----------------------------------------------------------------------------------


def read_arrays(path: Path, settings: ImageSettings) -> ImageSet:
    try:
        loaded = np.load(path, allow_pickle=False)  # NOTE: never unpickle a file a user hands us
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be read as a NumPy array file ({error})") from error
    labels = names = None
    if isinstance(loaded, np.ndarray):
        array = loaded
    else:
        with loaded:
            keys = list(loaded.files)
            image_key = settings.array_key or (keys[0] if len(keys) == 1 else next((k for k in _IMAGE_KEYS if k in keys), None))
            if image_key not in keys:
                raise InputError(f"{path}: no images array {image_key or ''!r} among {keys}; set images.array_key")
            label_key = settings.label_key or next((k for k in _LABEL_KEYS if k in keys and k != image_key), None)
            if settings.label_key and settings.label_key not in keys:
                raise InputError(f"{path}: no labels array {settings.label_key!r} among {keys}")
            array = loaded[image_key]
            if label_key is not None:
                raw = loaded[label_key]
                if raw.ndim != 1 or len(raw) != len(array):
                    raise InputError(f"{path}: labels {label_key!r} of shape {raw.shape} for {len(array)} images")
                labels, names = _label_ids(raw)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)  # channels last -> first
    elif not (array.ndim == 4 and array.shape[1] in (1, 3)):
        raise InputError(f"{path}: array of shape {array.shape} is not images; expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3")
    return ImageSet(np.ascontiguousarray(_unit_or_uint8(array, path)), labels, names, str(path))


def _unit_or_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise InputError(f"{path}: images of dtype {array.dtype} (or empty); expected numbers")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise InputError(f"{path}: images hold NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise InputError(f"{path}: pixel values span [{low:g}, {high:g}]; expected [0, 1] or [0, 255]")
    return values / 255.0 if high > 1.0 else values


def _label_ids(raw: np.ndarray) -> tuple[np.ndarray, list[str]]:
    values = [str(int(v)) if np.issubdtype(raw.dtype, np.integer) else str(v) for v in raw.tolist()]
    names = sorted(set(values), key=lambda v: (len(v), v) if v.lstrip("-").isdigit() else (10**9, v))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), names


# ---- folders ----------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_folder(root: Path, settings: ImageSettings) -> ImageSet:
    """One subfolder per class (its name is the label), or a flat folder of unlabeled images."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _image_files(root)
    if classes and loose:
        raise InputError(
            f"{root}: holds both image files ({loose[0].name}, ...) and class folders ({classes[0].name}, ...); "
            "put every image in a class folder, or use a flat folder for unlabeled images"
        )
    entries: list[tuple[Path, int | None]] = []
    if classes:
        for index, folder in enumerate(classes):
            files = _image_files(folder)
            if not files:
                raise InputError(f"{folder}: label folder with no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove it")
            entries.extend((f, index) for f in files)
    else:
        if not loose:
            raise InputError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) and no class folders")
        entries = [(f, None) for f in loose]
    from PIL import Image, UnidentifiedImageError

    arrays, labels, skipped = [], [], []
    first_size: tuple[Path, tuple[int, int]] | None = None
    for path, label in entries:
        try:
            with Image.open(path) as image:
                image.load()  # decode now: a truncated file fails here, not later in training
                gray = image.mode in _GRAY_MODES
                image = image.convert("L" if gray else "RGB")
                if settings.size is not None:
                    image = image.resize((settings.size, settings.size), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            if settings.on_bad_file == "error":
                raise InputError(f"{path}: unreadable image ({error}); remove it or set images.on_bad_file=skip") from error
            skipped.append(f"{path}: {error}")
            continue
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
        if first_size is None:
            first_size = (path, array.shape[1:])
        elif array.shape[1:] != first_size[1]:
            raise InputError(
                f"{path} is {array.shape[2]}x{array.shape[1]} but {first_size[0]} is {first_size[1][1]}x{first_size[1][0]}: "
                "images differ in size; set images.size to resize them all"
            )
        arrays.append(array)
        labels.append(label)
    if not arrays:
        raise InputError(f"{root}: none of its {len(entries)} image files could be read (first: {skipped[0]})")
    channels = 3 if any(a.shape[0] == 3 for a in arrays) else 1
    pixels = np.stack([np.repeat(a, 3, axis=0) if a.shape[0] < channels else a for a in arrays])
    if classes:
        present = sorted(set(labels))
        if len(present) < len(classes):
            empty = [classes[i].name for i in range(len(classes)) if i not in present]
            raise InputError(f"{root}: every image of class folder(s) {empty} was unreadable")
        return ImageSet(pixels, np.array(labels, dtype=np.int64), [c.name for c in classes], str(root), skipped)
    return ImageSet(pixels, None, None, str(root), skipped)


# ---- channels and size ------------------------------------------------------------------------


def shape_images(found: ImageSet, settings: ImageSettings) -> ImageSet:
    """Convert channels and resize as ``settings`` ask (folders are resized while reading already)."""
    pixels = found.pixels
    if settings.channels is not None and pixels.shape[1] != settings.channels:
        pixels = to_channels(pixels, settings.channels)
    if settings.size is not None and pixels.shape[2:] != (settings.size, settings.size):
        pixels = resize(pixels, settings.size)
    found.pixels = pixels
    return found


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    if channels == 3:
        return np.repeat(pixels, 3, axis=1)
    # ITU-R 601-2 luma, as Pillow's convert("L")
    luma = pixels[:, 0] * 0.299 + pixels[:, 1] * 0.587 + pixels[:, 2] * 0.114
    return (np.clip(np.round(luma), 0, 255).astype(np.uint8) if pixels.dtype == np.uint8 else luma.astype(np.float32))[:, None]


def resize(pixels: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of every image to size x size, keeping the dtype."""
    out = []
    for start in range(0, len(pixels), chunk):
        x = torch.from_numpy(np.ascontiguousarray(pixels[start : start + chunk])).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(y.round().clamp(0, 255).to(torch.uint8).numpy() if pixels.dtype == np.uint8 else y.clamp(0, 1).numpy())
    return np.concatenate(out)


def combine(sets: list[ImageSet]) -> ImageSet:
    """Several sources of one shape as one set (labels kept only when every source has the same classes)."""
    if len(sets) == 1:
        return sets[0]
    first = sets[0]
    for other in sets[1:]:
        if other.pixels.shape[1:] != first.pixels.shape[1:]:
            raise InputError(
                f"{other.source} holds {tuple(other.pixels.shape[1:])} images (C, H, W), {first.source} "
                f"{tuple(first.pixels.shape[1:])}; set images.channels and images.size to bring them to one shape"
            )
    float_ = any(s.pixels.dtype != np.uint8 for s in sets)
    pixels = np.concatenate([s.pixels.astype(np.float32) / 255.0 if float_ and s.pixels.dtype == np.uint8 else s.pixels
                             for s in sets])
    same = all(s.labels is not None and s.class_names == first.class_names for s in sets)
    labels = np.concatenate([s.labels for s in sets]) if same else None  # type: ignore[misc]
    return ImageSet(pixels, labels, first.class_names if same else None, " + ".join(s.source for s in sets),
                    [k for s in sets for k in s.skipped])


def load_images(sources: list[str], settings: ImageSettings, labeled: bool = False) -> ImageSet:
    """Every source read and shaped by ``settings``, as one set; skipped files are reported once."""
    found = combine([read_source(s, settings, labeled) for s in sources])
    if found.skipped:
        print(f"  note: skipped {len(found.skipped)} unreadable image file(s) (first: {found.skipped[0]}); "
              "images.on_bad_file=error makes them fatal")
    return found
