"""Journeys at scale: 100,000 waits due in the same minute, and a campaign to a 100,000-member segment.

Timers: N runs wait at a wait step (written as the service writes them)
with due times spread over one minute starting 20 s after the journey
service is up; the figure is the time from the first due time until every
run has advanced, and the lateness of each step (when it committed minus
when it was due: p50, p99). Floor: the same N compare-and-set updates as
bulk writes of 2,000 straight to the store, with no service.

Campaign: a segment of M members (profiles announced on profile.changed as
profile does) and a campaign to it; the figure is the time from publish
until messaging holds a message for every member. Floor: messaging's own
SendBatch of the same M messages in batches of 1,000 over gRPC.

Both print the store's CPU and commands per run or message (bench/steady.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid

import grpc
import httpx
from pymongo import AsyncMongoClient, UpdateOne

from bench.steady import Meter, per_unit
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from cdp.profile.v1 import events_pb2 as profile_events
from cdp.segment.v1 import segment_pb2, segment_pb2_grpc
from services.journey.model import RunState, Wait
from services.journey.store import INDEXES, run_doc, run_id
from services.kit.kafka import Producer, Topics
from services.kit.protos import to_struct, to_timestamp, to_value
from tools.credentials import aio_channel, claims_token

SPREAD = 60.0
LEAD = 20.0
WAIT_THEN_EXIT = {
    "entry": {"event": {"name": "Bench Seeded"}, "policy": {"mode": "once"}},
    "start": "wait",
    "nodes": {"wait": {"type": "wait", "duration": "1h", "next": "after"}, "after": {"type": "exit"}},
}


def gql(stack, workspace: str, query: str, variables: dict | None = None) -> dict:
    headers = {"authorization": f"Bearer {claims_token(workspace)}"}
    body = httpx.post(stack.http_url("journey") + "/graphql", json={"query": query, "variables": variables or {}},
                      headers=headers, timeout=120).json()  # fmt: skip
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


def publish(stack, workspace: str, definition: dict, name: str) -> str:
    created = gql(stack, workspace, "mutation($n: String!, $d: JSON!) { createJourney(name: $n, definition: $d) { id } }",
                  {"n": name, "d": definition})["createJourney"]["id"]  # fmt: skip
    gql(stack, workspace, "mutation($id: ID!) { publishJourney(id: $id) { version } }", {"id": created})
    return created


def seeded(workspace: str, journey: str, n: int, first_due: dt.datetime) -> list[dict]:
    docs = []
    for i in range(n):
        person = f"bench-{i:07d}"
        due = first_due + dt.timedelta(seconds=SPREAD * i / max(1, n - 1))
        state = RunState(run_id(journey, person, "", 0), workspace, journey, 1, person, "", 1, "waiting", "wait",
                         first_due - dt.timedelta(hours=1), wait=Wait("wait", due))  # fmt: skip
        doc = run_doc(state, None)
        doc["bench_due"] = due
        docs.append(doc)
    return docs


async def finished(db, journey: str) -> int:
    """Runs of `journey` done, from its per-step counters (a few documents): counting the runs
    themselves every half second decoded every one of them on the embedded store, a share of
    the very store CPU this bench measures."""
    total = 0
    async for counter in db["journey_counts"].find({"journey_id": journey}, {"done": 1}):
        total += counter.get("done", 0)
    return total


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


async def timers(stack, runs: int) -> list[str]:
    workspace = f"bench-journey-{uuid.uuid4().hex[:6]}"
    journey = publish(stack, workspace, WAIT_THEN_EXIT, "timers")
    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    db = client[stack.mongo_db]
    out = []
    try:
        # Floor: the same documents, the same compare-and-set updates, in bulk, no service.
        floor_docs = seeded(workspace, journey, runs, dt.datetime.now(dt.UTC))
        floor = db["bench_floor_runs"]
        # With the runs collection's own indexes: on the embedded store a compare-and-set costs
        # about three times as much on a collection with them as on one with only `_id`.
        await floor.create_indexes([spec.model() for spec in INDEXES if spec.collection == "runs"])
        for i in range(0, runs, 5000):
            await floor.insert_many(floor_docs[i : i + 5000], ordered=False)
        started = time.perf_counter()
        for i in range(0, runs, 2000):
            ops = [UpdateOne({"_id": d["_id"], "seq": 1}, {"$set": {"seq": 2, "status": "done", "node": "after"},
                                                              "$unset": {"due_at": ""}})
                   for d in floor_docs[i : i + 2000]]  # fmt: skip
            await floor.bulk_write(ops, ordered=True)
        floor_s = time.perf_counter() - started
        await floor.drop()

        first_due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD)
        docs = seeded(workspace, journey, runs, first_due)
        for i in range(0, runs, 5000):
            await db["runs"].insert_many(docs[i : i + 5000], ordered=False)
        meter = Meter(stack)
        # On stderr as it happens, so a profiler can be pointed at the timed part alone.
        print(f"journey timers: {runs:,} runs seeded, the first due at {first_due:%H:%M:%S} UTC", file=sys.stderr, flush=True)
        await asyncio.sleep(max(0.0, (first_due - dt.datetime.now(dt.UTC)).total_seconds()))
        before = meter.read()
        while await finished(db, journey) < runs:
            await asyncio.sleep(0.5)
        all_done = dt.datetime.now(dt.UTC)
        after = await meter.settled()
        late = [
            (d["moved_at"] - d["bench_due"]).total_seconds()
            async for d in db["runs"].find({"journey_id": journey}, {"moved_at": 1, "bench_due": 1})
        ]
        took = (all_done - first_due).total_seconds()
        out.append(
            f"journey timers: {runs:,} waits due over {SPREAD:.0f} s all advanced {took:.1f} s after the first was due "
            f"(target 60 s); lateness p50 {statistics.median(late):.1f} s, p99 {percentile(late, 99):.1f} s; "
            f"floor (the same compare-and-sets in bulk on a collection indexed as runs, no service) {floor_s:.1f} s: x{(took - SPREAD) / floor_s if took > SPREAD else took / floor_s:.1f} past the spread"
        )
        out.append("  " + per_unit(before, after, runs, "run"))
    finally:
        await client.close()
    return out


async def vip_segment(stack, workspace: str, members: int) -> str:
    producer = Producer(stack.kafka_bootstrap, "bench")
    await producer.start()
    try:
        now = to_timestamp(dt.datetime.now(dt.UTC))
        for i in range(0, members, 2000):
            items = [
                (Topics.PROFILE_CHANGED, f"{workspace}-p{uid}", profile_events.ProfileChanged(
                    workspace_id=workspace, person_id=f"{workspace}-p{uid}", uid=uid, cause_message_id=uuid.uuid4().hex, at=now,
                    changes=[profile_events.FieldChange(path="traits.vip", before=to_value(None), after=to_value(True))]))
                for uid in range(i + 1, min(members, i + 2000) + 1)
            ]  # fmt: skip
            await producer.send_many(items)
    finally:
        await producer.stop()
    async with aio_channel(stack.grpc_target("segment")) as channel:
        stub = segment_pb2_grpc.SegmentServiceStub(channel)
        while True:
            try:
                segment = await stub.CreateSegment(
                    segment_pb2.CreateSegmentRequest(workspace_id=workspace, name="vip", rule="traits.vip = true")
                )
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:  # the trait not seen yet
                    raise
                await asyncio.sleep(0.5)
        while (
            await stub.Count(segment_pb2.CountRequest(workspace_id=workspace, segment_id=segment.id))
        ).count < members:
            await asyncio.sleep(1)
    return segment.id


async def campaign(stack, members: int, sink_url: str) -> list[str]:
    workspace = f"bench-campaign-{uuid.uuid4().hex[:6]}"
    async with aio_channel(stack.grpc_target("messaging")) as channel:
        messaging = messaging_pb2_grpc.MessagingServiceStub(channel)
        await messaging.UpsertChannel(messaging_pb2.Channel(workspace_id=workspace, name="hook", type="webhook",
                                                            config=to_struct({"url": sink_url})))  # fmt: skip
        await messaging.SetPolicy(messaging_pb2.Policy(workspace_id=workspace, quiet_start="00:00", quiet_end="00:00"))
        template = await messaging.CreateTemplate(messaging_pb2.Template(
            workspace_id=workspace, name="bench", channel="webhook", content=messaging_pb2.Content(title="618", body="拼团")))  # fmt: skip
        segment_started = time.perf_counter()
        segment = await vip_segment(stack, workspace, members)
        segment_s = time.perf_counter() - segment_started

        # Floor: messaging's own SendBatch of the same messages.
        started = time.perf_counter()
        for i in range(0, members, 1000):
            batch = [messaging_pb2.SendRequest(workspace_id=workspace, person_id=f"{workspace}-p{uid}", channel="hook",
                                               template_id=template.id, idempotency_key=f"floor-{uid}", campaign_id="floor",
                                               timezone="UTC")
                     for uid in range(i + 1, min(members, i + 1000) + 1)]  # fmt: skip
            await messaging.SendBatch(messaging_pb2.SendBatchRequest(requests=batch), timeout=600)
        floor_s = time.perf_counter() - started

    client = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    db = client[stack.mongo_db]
    try:
        meter = Meter(stack)
        created = gql(stack, workspace, "mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }", {"i": {
            "name": "bench", "segmentId": segment, "channel": "hook", "templateId": template.id, "ratePerSecond": 100000}})  # fmt: skip
        campaign_id = created["createCampaign"]["id"]
        before = meter.read()
        started = time.perf_counter()
        gql(stack, workspace, "mutation($id: ID!) { publishJourney(id: $id) { version } }", {"id": campaign_id})
        while (launch := await db["launches"].find_one({"journey_id": campaign_id})) is None:
            await asyncio.sleep(0.2)
        query = {"workspace": workspace, "campaign_id": launch["_id"]}
        while await db["messages"].count_documents(query) < members:
            await asyncio.sleep(1)
        took = time.perf_counter() - started
        after = await meter.settled()
    finally:
        await client.close()
    return [
        f"campaign: {members:,} members (segment filled in {segment_s:.0f} s) handed to messaging in {took:.1f} s "
        f"({members / took:.0f}/s); floor, messaging's SendBatch of the same messages: {floor_s:.1f} s "
        f"({members / floor_s:.0f}/s): x{took / floor_s:.2f}",
        "  " + per_unit(before, after, members, "message"),
    ]


async def run(stack, runs: int, members: int, sink_url: str) -> list[str]:
    lines = []
    if runs:
        lines += await timers(stack, runs)
    if members:
        lines += await campaign(stack, members, sink_url)
    return lines
