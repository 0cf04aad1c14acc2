"""What `warmstart serve` accepts: typed settings, the request limits, and the error they raise.

Every limit has a name (``max_texts_per_request``, ``max_chars_per_text``, ``max_body_bytes``) that
appears in the JSON error a client gets, so a 413 says which knob to turn or which input to shrink.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar, Sequence

from warmstart.errors import InputError

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "WARMSTART_API_KEY"


PRECISIONS = ("auto", "fp32", "bf16")  # serve --precision
COMPILE_MODES = ("auto", "on", "off")  # serve --compile


@dataclass(frozen=True)
class ServeSettings:
    """How the server listens, batches and limits requests."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"precision": PRECISIONS, "compile": COMPILE_MODES}

    host: str = "127.0.0.1"  # address to bind; the default (loopback) is reachable from this machine only
    port: int = 8000  # TCP port
    # require this key in the X-API-Key header of every /v1 route (the CLI falls back to $WARMSTART_API_KEY)
    api_key: str | None = None
    max_batch_size: int = 32  # items (texts, pairs, questions) per forward pass
    max_wait_ms: float = 5.0  # how long the first item of a batch waits for company
    max_texts_per_request: int = 64  # texts per request
    max_chars_per_text: int = 10_000  # characters per text
    max_body_bytes: int = 1 << 20  # request body size in bytes
    max_top_k: int = 50  # fill-mask: candidates per mask
    max_images_per_request: int = 16  # image models: images per request
    max_image_bytes: int = 1 << 20  # image models: bytes per encoded PNG/JPEG file
    max_image_pixels: int = 4096 * 4096  # image models: width x height from the file's header, checked before decoding
    shutdown_timeout_s: float = 30.0  # in-flight requests get this long to finish after SIGTERM
    # torch threads for the forward pass; unset: every core (fewer can be faster on a machine shared with other
    # busy processes)
    threads: int | None = None
    # text models: dtype of the weights in the forward pass. auto: bf16 where the CPU computes it natively (its
    # bf16 matmul measures faster than fp32: AVX512-BF16, AMX), else fp32. bf16 is about twice as fast on such
    # CPUs; probabilities differ from fp32 in the second or third decimal. fp32 matches `warmstart evaluate` and
    # transformers to 1e-5. Image models always run fp32
    precision: str = "auto"
    # text models: run the forward pass through torch.compile. auto: where a C++ compiler is installed
    # (TorchInductor builds its CPU kernels with it); a model that fails to compile is then served uncompiled,
    # with a warning. Compiling adds ~15-30 s before /readyz turns ready and served ~20% more requests per
    # second in bench/serve.py. on: a failure is an error
    compile: str = "auto"

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_texts_per_request", "max_chars_per_text", "max_body_bytes", "max_top_k",
                     "max_images_per_request", "max_image_bytes", "max_image_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"serve.{name} must be a positive integer, got {value!r}")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise ValueError(f"serve.max_wait_ms must be between 0 and 10000, got {self.max_wait_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"serve.port must be between 0 and 65535, got {self.port}")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ValueError("serve.api_key must be at least 8 characters (or unset)")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"serve.threads must be a positive integer, got {self.threads!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"serve.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"serve.compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if self.shutdown_timeout_s <= 0:
            raise ValueError(f"serve.shutdown_timeout_s must be positive, got {self.shutdown_timeout_s}")

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def public(self) -> dict[str, int | float]:
        """The limits a client may read from GET /v1/model."""
        return {"max_texts_per_request": self.max_texts_per_request, "max_chars_per_text": self.max_chars_per_text,
                "max_body_bytes": self.max_body_bytes, "max_top_k": self.max_top_k,
                "max_batch_size": self.max_batch_size, "max_wait_ms": self.max_wait_ms,
                "max_images_per_request": self.max_images_per_request, "max_image_bytes": self.max_image_bytes,
                "max_image_pixels": self.max_image_pixels}


class LimitExceeded(Exception):
    """A request over one of the named limits; the app answers ``status`` with the limit's name."""

    def __init__(self, limit: str, maximum: int, got: int, where: str, status: int = 413) -> None:
        super().__init__(f"{where}: {got} is over {limit}={maximum}")
        self.limit, self.maximum, self.got, self.where, self.status = limit, maximum, got, where, status


def check_texts(settings: ServeSettings, field: str, texts: Sequence[str]) -> None:
    """Count and length limits, and text that cannot be tokenized (lone surrogates from JSON escapes)."""

    if len(texts) > settings.max_texts_per_request:
        raise LimitExceeded("max_texts_per_request", settings.max_texts_per_request, len(texts), field)
    for i, text in enumerate(texts):
        if len(text) > settings.max_chars_per_text:
            raise LimitExceeded("max_chars_per_text", settings.max_chars_per_text, len(text), f"{field}[{i}]")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{field}[{i}]: not valid Unicode text (an unpaired surrogate escape such as \\ud800)") from None
