"""A small demo workspace: shoppers of a fresh-food app before the 618 festival.

Events go through the collection API exactly as an SDK would send them, with
deterministic messageIds, so loading twice changes nothing (identity resolves
the same persons, profile dedupes by messageId).
"""

from __future__ import annotations

import random
import time

import grpc
import httpx

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tools.stack import Stack

WORKSPACE = "demo"
WRITE_KEY = "demo-write-key"
SEGMENT_NAME = "VIP women 25-34"
SEGMENT_RULE = 'traits.gender = "female" AND traits.age_band = "25-34" AND traits.vip = true'

CITIES = ["上海", "北京", "杭州", "深圳", "成都", "广州"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54"]
OCCUPATIONS = ["white-collar", "student", "self-employed", "retired"]
FRUIT = [("车厘子 Cherries", 129.0), ("榴莲 Durian", 199.0), ("牛油果 Avocado", 39.9), ("蓝莓 Blueberries", 45.0)]


def shoppers(count: int = 300, seed: int = 618) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        gender = rng.choice(["female", "female", "male"])
        age_band = rng.choice(AGE_BANDS)
        vip = rng.random() < (0.5 if gender == "female" and age_band == "25-34" else 0.2)
        out.append(
            {
                "user_id": f"u{n:05d}",
                "device": f"device-{n:05d}",
                "traits": {
                    "gender": gender,
                    "age_band": age_band,
                    "city": rng.choice(CITIES),
                    "occupation": rng.choice(OCCUPATIONS),
                    "vip": vip,
                    "household_main_buyer": rng.random() < 0.6,
                    "price_sensitive": rng.random() < 0.4,
                },
                "orders": rng.choices(range(0, 7), weights=[30, 25, 15, 10, 8, 7, 5])[0] + (2 if vip else 0),
            }
        )
    return out


def events(people: list[dict], seed: int = 618) -> list[dict]:
    rng = random.Random(seed + 1)
    out = []
    for person in people:
        uid, device = person["user_id"], person["device"]
        out.append({"type": "track", "anonymousId": device, "event": "Application Opened", "messageId": f"{uid}-open"})
        out.append(
            {
                "type": "identify",
                "anonymousId": device,
                "userId": uid,
                "traits": person["traits"],
                "messageId": f"{uid}-identify",
            }
        )
        for k in range(person["orders"]):
            name, price = rng.choice(FRUIT)
            qty = rng.randint(1, 3)
            out.append(
                {
                    "type": "track",
                    "anonymousId": device,
                    "userId": uid,
                    "event": "Order Completed",
                    "messageId": f"{uid}-order-{k}",
                    "properties": {
                        "order_id": f"{uid}-{k}",
                        "revenue": round(price * qty, 2),
                        "currency": "CNY",
                        "products": [{"name": name, "price": price, "quantity": qty}],
                    },
                }
            )
    return out


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


def load(stack: Stack, count: int = 300, timeout: float = 120.0) -> dict:
    """Send the demo events, wait until profiles hold them, save the demo segment."""
    ensure_workspace(stack)
    batch = events(shoppers(count))
    with httpx.Client(base_url=stack.http_url("identity"), auth=(WRITE_KEY, ""), timeout=30) as client:
        for start in range(0, len(batch), 100):
            resp = client.post("/v1/batch", json={"batch": batch[start : start + 100]})
            resp.raise_for_status()
    _wait_for_profiles(stack, len(batch), timeout)
    segment = _ensure_segment(stack)
    return {"events": len(batch), "shoppers": count, "segment": segment}


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
