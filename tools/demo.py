"""The demo workspace: a shop's 90 days (tools/shop.py) loaded through the collection API.

Events go through the collection API exactly as an SDK would send them, with
deterministic messageIds, so loading twice the same day changes nothing
(identity resolves the same persons, profile dedupes by messageId).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import secrets
import time

import grpc
import httpx

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tools import shop
from tools.credentials import grpc_channel
from tools.settling import PipelineLag
from tools.stack import Stack

WORKSPACE = "demo"
WRITE_KEY = "demo-write-key"
SEGMENT_NAME = "VIP women 25-34"
SEGMENT_RULE = 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'
OPERATOR_EMAIL = "admin@demo.local"
CREDENTIALS_FILE = "demo-credentials.json"
# How long the demo waits for the segment service to fold the shop before printing a size.
SEGMENT_WAIT = 360.0


def ensure_workspace(stack: Stack) -> None:
    with grpc_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        try:
            stub.CreateWorkspace(
                identity_pb2.CreateWorkspaceRequest(id=WORKSPACE, name="Demo fresh-food app", write_key=WRITE_KEY)
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise


def ensure_credentials(stack: Stack, data_dir: pathlib.Path) -> dict:
    """The demo workspace's admin operator and secret API key, written to `demo-credentials.json` (0600).

    Made once per data directory: a later start reads the file back as long as its
    key still works (the password cannot be read back from identity, only from it).
    """
    path = pathlib.Path(data_dir) / CREDENTIALS_FILE
    with grpc_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        if path.exists():
            saved = json.loads(path.read_text())
            key_id = saved.get("api_key", "")[len("cdp_sk_") :].partition("_")[0]
            keys = stub.ListApiKeys(identity_pb2.ListApiKeysRequest(workspace_id=WORKSPACE)).keys
            if any(k.id == key_id and not k.HasField("revoked_at") for k in keys):
                return saved
        password = secrets.token_urlsafe(18)
        try:
            stub.AddOperator(
                identity_pb2.AddOperatorRequest(
                    workspace_id=WORKSPACE, email=OPERATOR_EMAIL, password=password, role="admin"
                )
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            # The account exists and keeps its password: the one in the file, if it is still there.
            password = json.loads(path.read_text()).get("operator_password", "") if path.exists() else ""
        created = stub.CreateApiKey(
            identity_pb2.CreateApiKeyRequest(workspace_id=WORKSPACE, name="demo", scopes=["read", "write", "admin"])
        )
    found = {
        "workspace": WORKSPACE,
        "write_key": WRITE_KEY,
        "api_key": created.secret,
        "operator_email": OPERATOR_EMAIL,
        "operator_password": password,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # also when the file existed with looser bits
        json.dump(found, out, indent=2)
    return found


def load(stack: Stack, count: int = 5000, events_per_shopper: int = 4, timeout: float = 600.0) -> dict:
    """Send the demo shop's events, wait until every profile holds them, save the demo segment.

    Returns what was loaded and how long it took: sent (accepted by the
    collection API) and settled (every event stored on its profile).
    """
    ensure_workspace(stack)
    credentials = ensure_credentials(stack, stack.data_dir)
    api_key = credentials["api_key"]
    batch = shop.events(count, count * events_per_shopper, seed=618, prefix=WORKSPACE)
    started = time.monotonic()
    with httpx.Client(base_url=stack.http_url("identity"), auth=(WRITE_KEY, ""), timeout=60) as client:
        for start in range(0, len(batch), 200):
            resp = client.post("/v1/batch", json={"batch": batch[start : start + 200]})
            resp.raise_for_status()
    sent = time.monotonic() - started
    _wait_for_profiles(stack, len(batch), timeout)
    settled = time.monotonic() - started
    segment = _ensure_segment(stack, api_key)
    return {
        "events": len(batch),
        "shoppers": count,
        "segment": segment,
        "sent_s": sent,
        "settled_s": settled,
        "credentials": credentials,
    }


def _wait_for_profiles(stack: Stack, expected: int, timeout: float) -> None:
    """Until the pipeline's groups are caught up (read from Kafka), then the stored events counted once."""
    from pymongo import MongoClient

    async def caught_up() -> None:
        deadline = time.monotonic() + timeout
        async with PipelineLag(stack.kafka_bootstrap) as lag:
            while (await lag.read())[0] > 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("demo events did not reach the profiles in time; see the service logs")
                await asyncio.sleep(0.5)

    with MongoClient(stack.mongo_url) as client:
        events = client[stack.mongo_db]["events"]
        deadline = time.monotonic() + timeout
        while True:
            asyncio.run(caught_up())
            if events.count_documents({"workspace": WORKSPACE}) >= expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("demo events did not reach the profiles in time; see the service logs")
            time.sleep(1.0)


def _ensure_segment(stack: Stack, api_key: str) -> dict:
    def gql(query: str, variables: dict | None = None) -> dict:
        resp = httpx.post(
            stack.gateway_url,
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {api_key}"},
        )
        resp.raise_for_status()
        return resp.json()["data"]

    for segment in gql("{ segments { id name } }")["segments"]:
        if segment["name"] == SEGMENT_NAME:
            break
    else:
        segment = _create_segment(stack, api_key)
    # Bitmaps follow profile.changed asynchronously: first the segment service catches up with
    # what profile announced, then the count must hold still (a count read earlier was a fraction).
    # Segment folds the shop's stream after profile (about two minutes on the bench machine).
    settled = _wait_for_segment(stack, timeout=SEGMENT_WAIT)
    deadline = time.monotonic() + 30
    last = -1
    while time.monotonic() < deadline:
        size = gql("query($id: ID!) { segment(id: $id) { size } }", {"id": segment["id"]})["segment"]["size"]
        if size == last and size > 0:
            break
        last = size
        time.sleep(1.0)
    return {**segment, "size": last, "settled": settled}


def _wait_for_segment(stack: Stack, timeout: float) -> bool:
    """Until the segment service's group has committed every record of its topics, twice in a row
    a second apart (profile's outbox relay hands its changes to Kafka a moment after they commit)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.kit.kafka import Topics
    from services.segment.workers import GROUP

    async def behind(reader: AIOKafkaConsumer) -> int:
        tps = [
            TopicPartition(t, p)
            for t in (Topics.PROFILE_CHANGED, Topics.EVENTS_RESOLVED)
            for p in reader.partitions_for_topic(t) or ()
        ]
        end = await reader.end_offsets(tps)
        committed = {tp: (await reader.committed(tp)) or 0 for tp in tps}
        return sum(max(0, end[tp] - committed[tp]) for tp in tps)

    async def run() -> bool:
        reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=GROUP, enable_auto_commit=False)
        await reader.start()
        try:
            deadline, caught_up = time.monotonic() + timeout, 0
            while caught_up < 2 and time.monotonic() < deadline:
                caught_up = caught_up + 1 if await behind(reader) == 0 else 0
                await asyncio.sleep(1.0)
            return caught_up >= 2
        finally:
            await reader.stop()

    return asyncio.run(run())


def _create_segment(stack: Stack, api_key: str, timeout: float = 30.0) -> dict:
    """Create the demo segment once the segment service has seen the traits its rule names.

    Every profile holding its events does not mean profile.changed has reached the
    segment service yet, and a rule may name only fields it has seen: until then
    createSegment answers an error, so it is asked again.
    """
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.post(
            stack.gateway_url,
            json={
                "query": "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id name } }",
                "variables": {"n": SEGMENT_NAME, "r": SEGMENT_RULE},
            },
            headers={"authorization": f"Bearer {api_key}"},
        )
        resp.raise_for_status()
        body = resp.json()
        if not body.get("errors"):
            return body["data"]["createSegment"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo segment could not be created: {body['errors'][0]['message']}")
        time.sleep(0.5)
