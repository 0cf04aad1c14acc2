"""`warmstart serve` as a function: load a model folder and run the app under uvicorn until SIGTERM.

Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting connections, ``/readyz`` turns 503
on the connections still open, in-flight requests finish (up to ``shutdown_timeout_s``), then the
batchers and the worker thread stop and the process exits with status 0.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from warmstart.serving.limits import ServeSettings


def default_threads() -> int:
    """Cores for torch: every core this process may use.

    NOTE: measured with MiniLM in bf16, 32 clients on the same 2-core machine (bench/serve.py's load):
    2 threads answered 91 req/s, 1 thread 67 (the event loop's HTTP and JSON work fits between
    forward passes). On a machine shared with other busy processes, fewer threads (--threads) can be faster.
    """
    return max(1, len(os.sched_getaffinity(0)))


def serve(model_dir: Path, settings: ServeSettings, log_level: str = "info") -> None:
    import uvicorn

    from warmstart.serving.app import create_app
    from warmstart.serving.predictor import load_predictor

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    import torch

    torch.set_num_threads(settings.threads or default_threads())
    predictor = load_predictor(Path(model_dir), settings.precision, settings.compile)
    app = create_app(predictor, settings)
    state = app.state.warmstart

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            state.draining = True  # /readyz says so while in-flight requests finish
            super().handle_exit(sig, frame)
            # NOTE: uvicorn re-raises a captured signal after its graceful shutdown, so the process would
            # die by SIGTERM; a shutdown that finished every request is a clean exit (status 0) instead.
            getattr(self, "_captured_signals", []).clear()

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=settings.shutdown_timeout_s, lifespan="on")
    Server(config).run()
