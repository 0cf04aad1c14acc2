"""What `warmstart serve` accepts: typed settings, the request limits, and the error they raise.

Every limit has a name (``max_texts_per_request``, ``max_chars_per_text``, ``max_body_bytes``) that
appears in the JSON error a client gets, so a 413 says which knob to turn or which input to shrink.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Sequence

from warmstart.errors import InputError

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "WARMSTART_API_KEY"


PRECISIONS = ("auto", "fp32", "bf16")  # serve --precision
COMPILE_MODES = ("auto", "on", "off")  # serve --compile


@dataclass(frozen=True)
class ServeSettings:
    """How the server listens, batches and limits requests."""

    host: str = "127.0.0.1"  # loopback: reachable from this machine only
    port: int = 8000
    api_key: str | None = None  # when set, every /v1 route needs it in the X-API-Key header
    max_batch_size: int = 32  # items (texts, pairs, questions) per forward pass
    max_wait_ms: float = 5.0  # how long the first item of a batch waits for company
    max_texts_per_request: int = 64
    max_chars_per_text: int = 10_000
    max_body_bytes: int = 1 << 20
    max_top_k: int = 50
    max_images_per_request: int = 16
    max_image_bytes: int = 1 << 20  # one encoded PNG/JPEG file
    max_image_pixels: int = 4096 * 4096  # width x height from the file's header, checked before decoding
    shutdown_timeout_s: float = 30.0  # in-flight requests get this long to finish after SIGTERM
    threads: int | None = None  # torch intra-op threads; None: every core (server.default_threads)
    precision: str = "auto"  # text models: one of PRECISIONS; auto = bf16 where the CPU has it
    compile: str = "auto"  # text models: one of COMPILE_MODES; auto = torch.compile where a C++ compiler is found

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
