"""Micro-batching: concurrent items share forward passes and each gets its own answer."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from warmstart.errors import InputError
from warmstart.serving.batcher import MicroBatcher


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_items_are_grouped_up_to_the_batch_size():
    seen: list[list[int]] = []

    def double(items):
        seen.append(list(items))
        return [2 * i for i in items]

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(double, pool, max_batch_size=4, max_wait_ms=200)
            batcher.start()
            answers = await asyncio.gather(*(batcher.submit([i]) for i in range(10)), batcher.submit([10, 11, 12]))
            await batcher.close()
            return answers

    answers = _run(scenario())
    assert answers == [[2 * i] for i in range(10)] + [[20, 22, 24]]
    assert [len(b) for b in seen] == [4, 4, 4, 1] and sorted(x for b in seen for x in b) == list(range(13))


def test_a_batch_waits_for_company_only_under_load():
    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(lambda items: items, pool, max_batch_size=64, max_wait_ms=3000)
            batcher.start()
            start = time.perf_counter()
            lone = await batcher.submit(["x"])  # nothing ran before it: no reason to wait
            lone_seconds = time.perf_counter() - start
            await batcher.submit(["a", "b"])  # a batch of two: now there is load
            start = time.perf_counter()
            waited = await batcher.submit(["y"])  # waits max_wait for company, then runs alone
            waited_seconds = time.perf_counter() - start
            await batcher.close()
            return lone, lone_seconds, waited, waited_seconds

    lone, lone_seconds, waited, waited_seconds = _run(scenario())
    # NOTE: bounds far from what a loaded machine could blur: the lone item must not have waited the
    # 3 s, and the waiting one cannot come back sooner than its wait
    assert lone == ["x"] and lone_seconds < 2.5
    assert waited == ["y"] and 2.95 <= waited_seconds < 60


def test_item_errors_stay_with_their_item_and_bugs_fail_the_batch():
    def picky(items):
        if "crash" in items:
            raise RuntimeError("bug")
        return [InputError("bad item") if i == "bad" else i.upper() for i in items]

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(picky, pool, max_batch_size=8, max_wait_ms=20)
            batcher.start()
            mixed = await batcher.submit(["ok", "bad", "fine"])
            with pytest.raises(RuntimeError, match="bug"):
                await batcher.submit(["crash"])
            after = await batcher.submit(["still"])  # the loop survives a failing batch
            await batcher.close()
            return mixed, after

    mixed, after = _run(scenario())
    assert mixed[0] == "OK" and isinstance(mixed[1], InputError) and mixed[2] == "FINE" and after == ["STILL"]


def test_model_runs_off_the_event_loop_thread():
    threads = set()

    def record(items):
        threads.add(threading.current_thread().name)
        return items

    async def scenario():
        with ThreadPoolExecutor(1, thread_name_prefix="model") as pool:
            batcher = MicroBatcher(record, pool, max_batch_size=2, max_wait_ms=1)
            batcher.start()
            await batcher.submit([1, 2, 3])
            await batcher.close()

    _run(scenario())
    assert threads and all(name.startswith("model") for name in threads)


def test_concurrent_http_requests_share_forward_passes(serve_client):
    client = serve_client("classification", max_batch_size=16, max_wait_ms=150)
    texts = [f"the tea number {i} was {'good' if i % 2 else 'bad'}" for i in range(16)]
    alone = {t: client.post("/v1/classify", json={"texts": [t]}).json()["results"][0] for t in texts[:2]}
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda t: client.post("/v1/classify", json={"texts": [t]}), texts))
    assert all(r.status_code == 200 for r in replies)
    for text, reply in zip(texts[:2], replies[:2]):
        for label, p in alone[text]["probabilities"].items():
            assert reply.json()["results"][0]["probabilities"][label] == pytest.approx(p, abs=1e-5)
    metrics = client.get("/metrics").text
    count = float(next(line.split()[-1] for line in metrics.splitlines()
                       if line.startswith('warmstart_batch_size_count{route="classify"}')))
    assert count < 2 + 16  # 18 requests, far fewer forward passes


def test_length_buckets_cut_padding_but_keep_similar_rows_together():
    from warmstart.serving.predictor import length_buckets

    assert length_buckets([10, 12, 11, 9]) == [[1, 2, 0, 3]]  # similar lengths: one pass
    buckets = length_buckets([128, 20, 120, 60, 18, 100])
    assert buckets == [[0, 2, 5], [3], [1, 4]]
    assert sorted(i for b in buckets for i in b) == list(range(6))
