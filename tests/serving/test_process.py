"""The real `warmstart serve` process on a loopback port: many concurrent clients, then SIGTERM.

The model is fine-tuned here for a few steps on a tiny sentiment rule, so the process serves what
`warmstart finetune` writes. Every answer must equal the in-process prediction for that text alone.
"""

import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

httpx = pytest.importorskip("httpx")

GOOD, BAD = ("great", "good", "love"), ("awful", "bad", "stale")
FILLER = "the a tea coffee cookie bread sauce package price dog cat food bag box store order".split()


def _sentences(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 9))]
        label = rng.choice(["good", "bad"])
        words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD if label == "good" else BAD))
        rows.append({"text": " ".join(words), "label": label})
    return rows


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory, tokenizer_dir):
    from warmstart.config import load_config
    from warmstart.training.finetune import finetune

    root = tmp_path_factory.mktemp("served")
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in _sentences(96, 0)))
    tiny = ["model.hidden_size=32", "model.num_hidden_layers=2", "model.num_attention_heads=2",
            "model.intermediate_size=64", "training.precision=fp32", "training.progress=false",
            "training.batch_size=16", "optimizer.lr=3e-3"]
    job = load_config("finetune", None, {"task": "classification", "train": str(train), "init": "random",
                                         "tokenizer": str(tokenizer_dir), "output": str(root / "run"),
                                         "epochs": 2, "max_length": 32}, tiny)
    finetune(job)
    return root / "run" / "best"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early ({process.returncode}):\n{process.stderr.read()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


@pytest.mark.slow
def test_real_server_answers_concurrent_clients_then_exits_cleanly_on_sigterm(fine_tuned):
    from warmstart.serving.predictor import ClassifyItem, TextPredictor

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # max-wait 300 ms: batches gather company, and a request is surely in flight when SIGTERM comes
    process = subprocess.Popen(
        [sys.executable, "-m", "warmstart", "serve", str(fine_tuned), "--port", str(port), "--max-wait-ms", "300",
         "--threads", "1", "--precision", "fp32", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(base, process)
        local = TextPredictor(fine_tuned)
        texts = [r["text"] for r in _sentences(40, 1)]
        expected = {t: local.classify([ClassifyItem(t)])[0] for t in texts}
        rng = random.Random(2)
        requests = [rng.sample(texts, rng.randint(1, 4)) for _ in range(64)]

        def ask(batch):
            with httpx.Client(base_url=base, timeout=30) as client:
                return batch, client.post("/v1/classify", json={"texts": batch})

        start = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, requests))
        assert time.monotonic() - start < 60
        for batch, reply in answers:
            assert reply.status_code == 200, reply.text
            for text, result in zip(batch, reply.json()["results"]):
                assert result["label"] == expected[text]["label"]
                for label, p in expected[text]["probabilities"].items():
                    assert result["probabilities"][label] == pytest.approx(p, abs=1e-5)
        metrics = httpx.get(f"{base}/metrics").text
        assert 'warmstart_requests_total{route="/v1/classify",status="200"} 64.0' in metrics
        assert "_5xx" not in metrics and 'status="500"' not in metrics

        # graceful shutdown: a request waiting in the batcher when SIGTERM arrives is still answered
        assert ask(texts[:2])[1].status_code == 200  # a batch of two: the next lone item waits 300 ms for company
        late: dict = {}
        thread = threading.Thread(target=lambda: late.update(reply=ask([texts[0]])[1], answered=time.monotonic()))
        thread.start()
        time.sleep(0.1)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        assert late["reply"].status_code == 200 and late["answered"] > signalled  # it was in flight
        assert late["reply"].json()["results"][0]["label"] == expected[texts[0]]["label"]
        assert process.wait(30) == 0
        log = process.stderr.read()
        assert "Traceback" not in log, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
