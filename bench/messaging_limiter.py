"""GCRA limiter accuracy: several processes share one rate-limit key and report to a counting sink.

The sink is a TCP server in the calling process that collects one line per
message the limiter let through, stamped by the worker at the grant (stamping
on arrival counted the sink's own lag on a loaded machine as limiter error); the workers are separate
processes, each with several lanes calling `RateLimiter.acquire` in a loop, so
the offered load is far above the rate and the limiter is what holds it. Used
by tests/test_messaging_limiter.py and by the benchmark.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid


def _worker(redis_url: str, port: int, key: str, rate: float, burst: int, start: float, until: float) -> None:
    import redis.asyncio as aioredis

    from services.messaging.limits import RateLimiter

    async def run() -> None:
        redis = aioredis.from_url(redis_url)
        limiter = RateLimiter(redis)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(max(0.0, start - time.time()))

        async def lane() -> None:
            while time.time() < until:
                wait = await limiter.acquire(key, rate, burst)
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                # The grant's own time: a busy sink process reading lines late must not move it.
                writer.write(f"{time.time()}\n".encode())

        # Many lanes per process, so the offered load stays above the rate on a busy machine.
        await asyncio.gather(*(lane() for _ in range(32)))
        await writer.drain()
        writer.close()
        await redis.aclose()

    asyncio.run(run())


async def measure(redis_url: str, rate: float = 1000.0, seconds: float = 10.0, workers: int = 4, burst: int = 50):
    """(messages let through in the window, expected, ratio); the first second (burst, start-up) is not counted.

    A burst of 50 (50 ms at 1,000/s) absorbs the workers' scheduling jitter on a busy machine; in
    steady state GCRA still lets through no more than the rate, plus at most one burst per window.
    """
    arrivals: list[float] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            arrivals.append(float(line))
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    key = f"limiter-test:{uuid.uuid4().hex[:8]}"
    start = time.time() + 2.0
    until = start + 1.0 + seconds + 0.5
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(redis_url, port, key, rate, burst, start, until)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    await asyncio.to_thread(lambda: [p.join() for p in procs])
    await asyncio.sleep(0.3)
    server.close()
    lo = start + 1.0
    inside = sum(1 for t in arrivals if lo <= t < lo + seconds)
    expected = rate * seconds
    return inside, expected, inside / expected
