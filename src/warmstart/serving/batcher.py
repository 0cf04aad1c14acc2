"""Micro-batching: items of concurrent requests share one forward pass and are answered one by one.

The pattern of Triton's dynamic batcher and TorchServe's ``batch_size`` / ``max_batch_delay``: the
first waiting item opens a batch, which closes when it holds ``max_batch_size`` items or when
``max_wait_ms`` has passed since it opened; it then runs once on the worker thread (so the event
loop keeps accepting and parsing requests meanwhile) and each item's future gets its own result.
Items queued while a batch runs go into the next one without waiting, and a batch only waits for
company when the previous one had some (a lone client never pays ``max_wait_ms``).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any, Callable, Sequence

RunBatch = Callable[[list[Any]], Sequence[Any]]


class MicroBatcher:
    """Collects items on the event loop, runs ``run(items) -> results`` on ``executor``."""

    def __init__(self, run: RunBatch, executor: Executor, max_batch_size: int, max_wait_ms: float,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.run = run
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None
        self._busy = False  # a batch is running on the executor
        self._last_size = 0  # items in the previous batch: > 1 means concurrent load

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """Results in item order; an item's result may be an exception instance (the item's own failure)."""
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running (the server is starting or shutting down)")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        for item, future in zip(items, futures):
            self._queue.put_nowait((item, future))
        return list(await asyncio.gather(*futures))

    async def close(self) -> None:
        """Answer what is queued, then stop."""
        if self._queue is not None:
            while not self._queue.empty() or self._busy:
                await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            self._busy = True  # from here until answered, close() waits
            # NOTE: waiting for company only pays under load. After a batch of one (a lone client), the next
            # item runs at once; items that arrive while it runs form the next batch anyway.
            deadline = loop.time() + (self.max_wait if self._last_size > 1 else 0.0)
            while len(batch) < self.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            self._last_size = len(batch)
            live = [(item, future) for item, future in batch if not future.cancelled()]  # client gone
            try:
                if live:
                    await self._run(live)
            finally:
                self._busy = False

    async def _run(self, live: list[tuple[Any, asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        if self.on_batch is not None:
            self.on_batch(len(live))
        try:
            results = await loop.run_in_executor(self.executor, self.run, [item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(live)} items")
        except Exception as error:  # a bug in the batch function: every item of the batch fails with it
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(live, results):
            if not future.done():
                future.set_result(result)
