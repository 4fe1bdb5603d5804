"""The demo workspace: a shop's 90 days (tools/shop.py) loaded through the collection API.

Events go through the collection API exactly as an SDK would send them, with
deterministic messageIds, so loading twice the same day changes nothing
(identity resolves the same persons, profile dedupes by messageId).
"""

from __future__ import annotations

import time

import grpc
import httpx

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tools import shop
from tools.stack import Stack

WORKSPACE = "demo"
WRITE_KEY = "demo-write-key"
SEGMENT_NAME = "VIP women 25-34"
SEGMENT_RULE = 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'


def ensure_workspace(stack: Stack) -> None:
    with grpc.insecure_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        try:
            stub.CreateWorkspace(
                identity_pb2.CreateWorkspaceRequest(id=WORKSPACE, name="Demo fresh-food app", write_key=WRITE_KEY)
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise


def load(stack: Stack, count: int = 400, events_per_shopper: int = 4, timeout: float = 600.0) -> dict:
    """Send the demo shop's events, wait until every profile holds them, save the demo segment.

    Returns what was loaded and how long it took: sent (accepted by the
    collection API) and settled (every event stored on its profile).
    """
    ensure_workspace(stack)
    batch = shop.events(count, count * events_per_shopper, seed=618, prefix=WORKSPACE)
    started = time.monotonic()
    with httpx.Client(base_url=stack.http_url("identity"), auth=(WRITE_KEY, ""), timeout=60) as client:
        for start in range(0, len(batch), 200):
            resp = client.post("/v1/batch", json={"batch": batch[start : start + 200]})
            resp.raise_for_status()
    sent = time.monotonic() - started
    _wait_for_profiles(stack, len(batch), timeout)
    settled = time.monotonic() - started
    segment = _ensure_segment(stack)
    return {"events": len(batch), "shoppers": count, "segment": segment, "sent_s": sent, "settled_s": settled}


def _wait_for_profiles(stack: Stack, expected: int, timeout: float) -> None:
    from pymongo import MongoClient

    with MongoClient(stack.mongo_url) as client:
        events = client[stack.mongo_db]["events"]
        deadline = time.monotonic() + timeout
        while events.count_documents({"workspace": WORKSPACE}) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError("demo events did not reach the profiles in time; see the service logs")
            time.sleep(0.5)


def _ensure_segment(stack: Stack) -> dict:
    def gql(query: str, variables: dict | None = None) -> dict:
        resp = httpx.post(
            stack.gateway_url,
            json={"query": query, "variables": variables or {}},
            headers={"x-workspace-id": WORKSPACE},
        )
        resp.raise_for_status()
        return resp.json()["data"]

    for segment in gql("{ segments { id name } }")["segments"]:
        if segment["name"] == SEGMENT_NAME:
            break
    else:
        segment = gql(
            "mutation($n: String!, $r: String!) { createSegment(name: $n, rule: $r) { id name } }",
            {"n": SEGMENT_NAME, "r": SEGMENT_RULE},
        )["createSegment"]
    # Bitmaps follow profile.changed asynchronously: wait until the count settles.
    deadline = time.monotonic() + 30
    last = -1
    while time.monotonic() < deadline:
        size = gql("query($id: ID!) { segment(id: $id) { size } }", {"id": segment["id"]})["segment"]["size"]
        if size == last and size > 0:
            break
        last = size
        time.sleep(1.0)
    return {**segment, "size": last}
