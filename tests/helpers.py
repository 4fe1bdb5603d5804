"""Small helpers the integration tests share (clients, not fakes)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx
from aiokafka import AIOKafkaConsumer
from google.protobuf.message import DecodeError

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from tools.credentials import claims_token, grpc_channel, service_metadata  # noqa: F401 (tests import them here)
from tools.stack import Stack


def create_workspace(stack: Stack, workspace_id: str) -> str:
    """Create a workspace through identity's gRPC API; returns its write key."""
    with grpc_channel(stack.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        ws = stub.CreateWorkspace(identity_pb2.CreateWorkspaceRequest(id=workspace_id, write_key=f"wk-{workspace_id}"))
    return ws.write_keys[0]


def lookup(stub, workspace_id: str, id_type: str, value: str) -> identity_pb2.Person | None:
    """identity's Lookup, with None for NOT_FOUND."""
    try:
        return stub.Lookup(
            identity_pb2.LookupRequest(
                workspace_id=workspace_id, identifier=common_pb2.Identifier(type=id_type, value=value)
            )
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def basic_auth(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def collect(stack: Stack, write_key: str, events: list[dict], path: str = "/v1/batch") -> httpx.Response:
    body = {"batch": events} if path == "/v1/batch" else events[0]
    return httpx.post(stack.http_url("identity") + path, headers=basic_auth(write_key), json=body, timeout=30)


def graphql(
    url: str, workspace_id: str, query: str, variables: dict | None = None, headers: dict | None = None
) -> dict:
    """POST a GraphQL document as a caller with every scope in `workspace_id` (unless `headers` say otherwise).

    The credential is a claims token, which the gateway and the subgraphs both accept.
    """
    sent = {"authorization": f"Bearer {claims_token(workspace_id)}", "x-workspace-id": workspace_id}
    resp = httpx.post(
        url, headers={**sent, **(headers or {})}, json={"query": query, "variables": variables or {}}, timeout=30
    )
    resp.raise_for_status()
    return resp.json()


def read_topic(stack: Stack, topic: str, message_type, seconds: float = 5.0, until=None) -> list:
    """Every message on a topic (from the start) seen within `seconds`, parsed.

    Stops early once `until(messages)` is true. Uses a fresh consumer group so
    it never disturbs the services' own offsets (no group: nothing to join).
    """

    async def run() -> list:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        out = []
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        msg = message_type()
                        try:
                            msg.ParseFromString(record.value)
                        except DecodeError:
                            continue  # e.g. the garbage test_dead_letters puts on a topic
                        out.append(msg)
                if until is not None and until(out):
                    break
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def new_id(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def produce(stack: Stack, items: list[tuple[str, str, object]]) -> None:
    """Produce protobuf messages [(topic, key, message)] and wait for the broker's ack."""
    from services.kit.kafka import Producer

    async def run() -> None:
        producer = Producer(stack.kafka_bootstrap, "tests")
        await producer.start()
        try:
            await producer.send_many(items)
        finally:
            await producer.stop()

    asyncio.run(run())


def mongo_db(stack: Stack):
    from pymongo import MongoClient

    return MongoClient(stack.mongo_url, tz_aware=True)[stack.mongo_db]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


class Sink:
    """Records every POST; paths under /fail answer 500, everything else 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with sink._lock:
                    sink.received.append(Received(self.path, headers, json.loads(body)))
                status, answer = (500, b"sink says no") if self.path.startswith("/fail") else (200, b"ok")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
