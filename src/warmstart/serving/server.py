"""`warmstart serve` as a function: load a model folder and run the app under uvicorn until SIGTERM.

Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting connections, ``/readyz`` turns 503
on the connections still open, in-flight requests finish (up to ``shutdown_timeout_s``), and only
then do the batchers and the worker thread stop.
"""

from __future__ import annotations

import logging
from pathlib import Path

from warmstart.serving.limits import ServeSettings


def serve(model_dir: Path, settings: ServeSettings, log_level: str = "info") -> None:
    import uvicorn

    from warmstart.serving.app import create_app
    from warmstart.serving.predictor import load_predictor

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    predictor = load_predictor(Path(model_dir))
    app = create_app(predictor, settings)
    state = app.state.warmstart

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            state.draining = True  # /readyz says so while in-flight requests finish
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=settings.shutdown_timeout_s, lifespan="on")
    Server(config).run()
