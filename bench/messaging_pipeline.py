"""Messages per second through the whole messaging pipeline, against the sink driven directly.

Pipeline: SendBatch over gRPC -> messages + outbox in one transaction -> outbox
relay -> messages.outbound -> one delivery worker process (policy checks, caps,
GCRA rate limit, claim, webhook POST, outcome + status event in one
transaction) -> the counting sink. Limits and caps are switched on but set so
that they do not bind. Baseline: one client POSTing the same number of webhook
bodies straight to the sink (64 in flight), the floor any pipeline pays.

Limiter accuracy: four worker processes share one GCRA key at 1,000/s and
report each message the limiter lets through to a counting sink
(bench/messaging_limiter.py); the count over the window (after a one-second
warm-up) against rate x window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
import uuid

import aiohttp
import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient

from bench import messaging_limiter
from bench.steady import Meter, Reading, cpu_seconds, per_unit
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.mongo import CommandCounts
from services.kit.protos import to_struct
from services.messaging.messages import QUEUED
from services.messaging.store import INDEXES, chunks
from tools.credentials import aio_channel
from tools.stack import free_port


def start_sink() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.messaging_sink", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/stats", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def sink_stats(url: str) -> dict:
    return httpx.get(url + "/stats", timeout=30).json()


async def baseline(url: str, n: int) -> float:
    """The sink driven by one aiohttp client, the same client library the worker's providers use.

    (httpx's AsyncClient, used here before, reached about 100/s with 64 in flight
    against this sink: it measured httpx, not the floor.)
    """
    body = {"messageId": "x", "content": {"title": "补货提醒", "body": "bench"}, "category": "marketing"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client:
        sem = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with sem:
                headers = {"Idempotency-Key": f"b{i}"}
                async with client.post(url + "/base", json=body, headers=headers) as response:
                    response.raise_for_status()
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def pipeline(stack, sink: str, n: int, meter: Meter, persons: int = 1000) -> dict:
    ws = f"bench_{uuid.uuid4().hex[:8]}"
    channel = aio_channel(stack.grpc_target("messaging"))
    stub = messaging_pb2_grpc.MessagingServiceStub(channel)
    # Limits and caps on, not binding: 100,000/s and 1,000 a day per person.
    await stub.UpsertChannel(
        messaging_pb2.Channel(
            workspace_id=ws,
            name="hook",
            type="webhook",
            config=to_struct({"url": sink + "/pipe", "rate": 100000, "burst": 1000}),
        )
    )
    await stub.SetPolicy(
        messaging_pb2.Policy(
            workspace_id=ws,
            quiet_start="00:00",
            quiet_end="00:00",
            caps=[messaging_pb2.Cap(channel="hook", category="marketing", limit=1000, days=1)],
        )
    )
    httpx.delete(sink + "/stats")
    first = await meter.settled()
    # Readings while messages arrive at the sink: the window is the second half of them.
    readings: list[tuple[int, Reading]] = []
    done = asyncio.Event()

    async def sample() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while not done.is_set():
                count = (await client.get(sink + "/count")).json()["count"]
                readings.append((count, meter.read()))
                if count >= n:
                    return
                await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    for i in range(0, n, 1000):
        requests = [
            messaging_pb2.SendRequest(
                workspace_id=ws,
                person_id=f"p{j % persons}",
                channel="hook",
                idempotency_key=f"{ws}-{j}",
                timezone="Asia/Shanghai",
                content=messaging_pb2.Content(title="补货提醒", body=f"第 {j} 条"),
            )
            for j in range(i, min(n, i + 1000))
        ]
        await stub.SendBatch(messaging_pb2.SendBatchRequest(requests=requests), timeout=300)
    accepted = time.perf_counter() - started
    await sampler
    total = time.perf_counter() - started
    done.set()
    last = await meter.settled()
    stats = sink_stats(sink)
    times = sorted(stats["times"])
    await channel.close()
    half = next(i for i, (count, _) in enumerate(readings) if count >= n // 2)
    (c0, r0), (c1, r1) = readings[half], readings[-1]
    return {
        "ws": ws,
        "accepted_per_s": n / accepted,
        "end_to_end_per_s": n / total,
        "delivery_per_s": n / max(1e-9, times[-1] - times[0]),
        "window": (c1 - c0, (c1 - c0) / max(1e-9, r1.at - r0.at), r0, r1),
        "whole": (first, last),
        "unique": stats["unique"],
        "count": stats["count"],
    }


def stage_times(stack) -> str:
    """What the worker logged about where its time went (services.messaging.delivery.StageTimes)."""
    totals: dict[str, float] = {}
    messages = batches = 0
    log = stack.data_dir / "logs" / "messaging.log"
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if '"delivery stages' not in line:
            continue
        entry = json.loads(line)
        messages += entry["messages"]
        batches += entry["batches"]
        for stage, ms in entry["stages"].items():
            totals[stage] = totals.get(stage, 0.0) + ms * entry["messages"]
    if not messages:
        return "  (no stage times logged)"
    per = "  ".join(f"{stage} {ms / messages:.2f}" for stage, ms in totals.items())
    return f"  worker stages, ms per message ({messages:,} messages in {batches:,} batches): {per}"


async def store_floor(stack, ws: str, n: int, streams: int = 4) -> tuple[float, Reading, Reading]:
    """The pipeline's document writes for `n` messages, batched, with no service: (msgs/s, readings).

    The same message documents (read back from the run) into a fresh collection
    with the messages indexes; per 1,000 messages, in one transaction, the
    messages and their outbound announcements (one grouped outbox document,
    as the sender writes them); then the claim (update_many of 50 ids) and its
    read; then, in one transaction, the outcome (update_many of 50 ids) and the
    status announcements (one grouped document); each outbox document deleted
    after. `streams` batches run side by side, as the pipeline's sends and
    deliveries do. The least the store asks for the writes the pipeline makes.
    """
    counts = CommandCounts()
    client = AsyncMongoClient(stack.mongo_url, event_listeners=[counts])
    db = client["bench_floor"]
    await db.drop_collection("messages")
    await db.drop_collection("outbox")
    await db["messages"].create_indexes([spec.model() for spec in INDEXES if spec.collection == "messages"])
    docs = await client[stack.mongo_db]["messages"].find({"workspace": ws}).limit(n).to_list(None)
    for doc in docs:
        doc.update(status=QUEUED, workspace="floor")
        for name in ("sending_at", "sent_at", "claim", "provider_id", "delivered_at"):
            doc.pop(name, None)
    payloads = [{"topic": "t", "key": "k", "payload": b"x" * 200} for _ in range(1000)]
    now = dt.datetime.now(dt.UTC)

    async def one_batch(batch: list[dict]) -> None:
        ids = [d["_id"] for d in batch]
        group = {"_id": ObjectId(), "items": payloads[: len(batch)]}
        async def send(session) -> None:
            await db["messages"].insert_many(batch, session=session)
            await db["outbox"].insert_one(dict(group), session=session)

        # with_transaction retries a transient write conflict between the side-by-side batches, as the
        # pipeline's own transactions do.
        async with client.start_session() as session:
            await session.with_transaction(send)
        await db["outbox"].delete_many({"_id": {"$in": [group["_id"]]}})
        for chunk in chunks(ids):
            query = {"_id": {"$in": chunk}, "workspace": "floor", "status": QUEUED}
            await db["messages"].update_many(query, {"$set": {"status": "sending", "sending_at": now}})
            await db["messages"].find({"_id": {"$in": chunk}}).to_list(None)
        group["_id"] = ObjectId()
        async def outcome(session) -> None:
            for chunk in chunks(ids):
                query = {"_id": {"$in": chunk}, "status": "sending"}
                await db["messages"].update_many(query, {"$set": {"status": "sent", "sent_at": now}}, session=session)
            await db["outbox"].insert_one(dict(group), session=session)

        async with client.start_session() as session:
            await session.with_transaction(outcome)
        await db["outbox"].delete_many({"_id": {"$in": [group["_id"]]}})

    batches = [docs[i : i + 1000] for i in range(0, len(docs), 1000)]
    meter = Meter(stack, local=counts, services=False)
    before = meter.read()
    for i in range(0, len(batches), streams):
        await asyncio.gather(*(one_batch(b) for b in batches[i : i + streams]))
    after = meter.read()
    await client.drop_database("bench_floor")
    await client.close()
    return len(docs) / (after.at - before.at), before, after


async def run(stack, n: int = 20_000, limiter_seconds: float = 10.0) -> list[str]:
    proc, sink = start_sink()
    try:
        base = await baseline(sink, min(n, 5000))
        # INFO, whatever the bench's level: the worker logs where its time goes (stage_times).
        # The sink listens on 127.0.0.1, which the outbound guard refuses unless allowed.
        stack.start_service("messaging", CDP_LOG_LEVEL="INFO", CDP_OUTBOUND_ALLOW="127.0.0.0/8")
        meter = Meter(stack)
        pids = {name: stack.procs[name].pid for name in ("messaging", "mongo", "redis", "kafka")}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        got = await pipeline(stack, sink, n, meter)
        cpu = {name: (cpu_seconds(pid) - before[name]) * 1000 / n for name, pid in pids.items()}
        await asyncio.sleep(0.5)
        stages = stage_times(stack)
        stack.stop_process("messaging")  # the floor runs with no service beside it
        floor, f0, f1 = await store_floor(stack, got["ws"], n)
        inside, expected, ratio = await messaging_limiter.measure(stack.redis_url, 1000.0, limiter_seconds, workers=4)
    finally:
        proc.terminate()
        proc.wait()
    window_n, window_rate, w0, w1 = got["window"]
    first, last = got["whole"]
    return [
        f"messaging pipeline, {n:,} webhook messages, 1 worker process, limits and caps on (not binding),"
        " store past 20,000 writes:",
        f"  sink driven directly (1 client, 64 in flight)   {base:8.0f} msgs/s",
        f"  SendBatch accepted (message + outbox committed) {got['accepted_per_s']:8.0f} msgs/s",
        f"  delivered, first to last arrival at the sink    {got['delivery_per_s']:8.0f} msgs/s"
        f"   {got['delivery_per_s'] / base:.3f}x the direct rate",
        f"  delivered, last window ({window_n:,} messages)     {window_rate:8.0f} msgs/s per worker"
        f"   {window_rate / base:.3f}x the direct rate, {window_rate / floor:.2f}x the store floor;"
        " target 1,000/s or 1/1.5 of the floor",
        f"    {per_unit(w0, w1, window_n, 'message (window)')}",
        f"  end to end, first send to last delivery         {got['end_to_end_per_s']:8.0f} msgs/s"
        f"   {got['end_to_end_per_s'] / base:.3f}x the direct rate",
        f"    {per_unit(first, last, n, 'message (whole run, outbox included)')}; target at most 4 docs written",
        f"  store floor, same writes batched, no service    {floor:8.0f} msgs/s",
        f"    {per_unit(f0, f1, n, 'message (floor)')}",
        f"  each message once at the sink: {got['unique']:,} keys in {got['count']:,} requests",
        stages,
        "  CPU per message, send and delivery together (ms): "
        + "  ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
        + f"   (2 cores: at most {2000 / sum(cpu.values()):,.0f} msgs/s with nothing else running)",
        f"GCRA limiter, 4 processes sharing one key at 1,000/s, {limiter_seconds:.0f} s window:",
        f"  {inside:,} allowed against {expected:,.0f} expected   {ratio:.4f} of the rate ({(ratio - 1) * 100:+.2f}%)",
    ]
