"""Image classification for `warmstart serve`: uploads in, class probabilities out, no HTTP framework logic.

A request carries PNG/JPEG files either as ``multipart/form-data`` parts or as base64 strings in
JSON (``{"images": ["iVBORw0..."]}``). Each image is checked before any pixel is decoded — encoded
size (``max_image_bytes``, 413), format (PNG/JPEG only, 415), width x height from the header
(``max_image_pixels``, 413: a small file can hold a huge image) — then decoded and shaped exactly as
the folder reader does in training (``images.readers.read_folder``: grayscale modes -> 1 channel,
others -> RGB, bilinear resize to the model's size). An image whose channel count differs from the
model's is refused (422) rather than silently converted. ``ImagePredictor`` runs the batch through
``evaluation.image_predict.classify``, the function evaluation and fine-tuning use.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from warmstart.errors import InputError
from warmstart.serving.limits import LimitExceeded, ServeSettings

FORMATS = ("PNG", "JPEG")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")  # as images.readers: decoded as one channel


@dataclass(frozen=True)
class Upload:
    name: str  # where it came from in the request, for error messages: "images[0]" or "file 'shirt.png'"
    data: bytes


@dataclass(frozen=True)
class ImageUploads:
    """What the image route reads from a request: the encoded files, in request order."""

    images: list[Upload]


class UnsupportedMedia(Exception):
    """Not a PNG/JPEG (or not a body type this route reads): answered with 415."""


async def read_image_request(request, settings: ServeSettings) -> ImageUploads:
    """A multipart form (every file part, in order) or a JSON body ``{"images": [base64, ...]}``."""
    from pydantic import ValidationError
    from fastapi.exceptions import RequestValidationError

    from warmstart.serving.schemas import ImageClassifyRequest

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=settings.max_images_per_request + 1, max_fields=16)
        uploads = [Upload(f"file {value.filename!r}" if value.filename else f"part {key!r}", await value.read())
                   for key, value in form.multi_items() if hasattr(value, "read")]
        if not uploads:
            raise InputError("the multipart form holds no file: send the image as a file part, e.g. "
                             "curl -F file=@shirt.png")
        return ImageUploads(uploads)
    if content_type not in ("application/json", ""):
        raise UnsupportedMedia(f"content type {content_type!r}: send multipart/form-data (an image file) or "
                               "application/json ({\"images\": [base64 PNG/JPEG, ...]})")
    try:
        body = ImageClassifyRequest.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in error.errors()]) from None
    uploads = []
    for i, text in enumerate(body.images):
        if len(text) > 4 * settings.max_image_bytes // 3 + 4:  # before decoding: a base64 string is 4/3 its bytes
            raise LimitExceeded("max_image_bytes", settings.max_image_bytes, len(text) * 3 // 4, f"images[{i}]")
        try:
            uploads.append(Upload(f"images[{i}]", base64.b64decode(text.split(",", 1)[-1] if text.startswith("data:")
                                                                   else text, validate=True)))
        except (binascii.Error, ValueError):
            raise InputError(f"images[{i}]: not valid base64 (standard alphabet, padded)") from None
    return ImageUploads(uploads)


def decode_image(upload: Upload, settings: ServeSettings, channels: int, size: int) -> np.ndarray:
    """One encoded PNG/JPEG -> (channels, size, size) uint8, or a 413/415/422 naming the problem."""
    from PIL import Image, UnidentifiedImageError

    if len(upload.data) > settings.max_image_bytes:
        raise LimitExceeded("max_image_bytes", settings.max_image_bytes, len(upload.data), upload.name)
    try:
        image = Image.open(io.BytesIO(upload.data), formats=FORMATS)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UnsupportedMedia(f"{upload.name}: not a PNG or JPEG image") from None
    with image:
        width, height = image.size  # from the header, before decoding
        if width * height > settings.max_image_pixels:
            raise LimitExceeded("max_image_pixels", settings.max_image_pixels, width * height,
                                f"{upload.name} ({width}x{height})")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            raise InputError(f"{upload.name}: truncated or corrupt {image.format} ({error})") from None
        got = 1 if image.mode in _GRAY_MODES else 3
        if got != channels:
            kind = {1: "grayscale (1 channel)", 3: "colour (3 channels, RGB)"}
            raise InputError(f"{upload.name}: a {kind[got]} image (mode {image.mode}); this model takes "
                             f"{kind[channels]} images: convert it first")
        image = image.convert("L" if got == 1 else "RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)


class ImagePredictor:
    """A fine-tuned image classifier and the batch function of the image route."""

    kind = "image_classification"

    def __init__(self, folder: Path) -> None:
        from warmstart.evaluation.image_predict import load_classifier

        self.folder = Path(folder)
        self.classifier = load_classifier(folder)
        self.arch = self.classifier.arch
        self.labels = self.classifier.labels
        prep = self.classifier.preprocessing
        self.channels, self.size = int(prep["channels"]), int(prep["image_size"])

    def describe(self) -> dict[str, Any]:
        return {"model": self.folder.name, "kind": self.kind, "arch": self.arch, "labels": self.labels,
                "max_length": None, "embedding_size": None,
                "image": {"channels": self.channels, "size": self.size}, "precision": "fp32", "compiled": False}

    def warm_up(self) -> None:
        self.classify([np.zeros((self.channels, self.size, self.size), dtype=np.uint8)])

    def classify(self, items: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        from warmstart.evaluation.image_predict import classify

        probabilities = classify(self.classifier, np.stack(items))  # (N, L)
        results = []
        for p in probabilities:
            best = int(p.argmax())
            results.append({"label": self.labels[best], "score": float(p[best]),
                            "probabilities": {n: float(v) for n, v in zip(self.labels, p)}})
        return results
