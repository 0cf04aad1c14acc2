"""Tiny checkpoints of every text kind, and in-process clients of `warmstart serve` apps over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_models import pretrained_checkpoint, task_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("httpx")  # TestClient

KINDS = ("classification", "pair_classification", "regression", "multilabel", "token_classification", "qa",
         "masked_lm")


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving-models")
    return {kind: pretrained_checkpoint(root / kind, tokenizer_dir) if kind == "masked_lm"
            else task_checkpoint(root / kind, tokenizer_dir, kind) for kind in KINDS}


@pytest.fixture()
def serve_client(model_dirs):
    """make(kind, **settings) -> a TestClient with the app's lifespan running (batchers started)."""
    from fastapi.testclient import TestClient

    from warmstart.serving.app import create_app
    from warmstart.serving.limits import ServeSettings
    from warmstart.serving.predictor import load_predictor

    clients = []

    def make(kind: str, **settings):
        client = TestClient(create_app(load_predictor(model_dirs[kind]), ServeSettings(**settings)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
