"""OpenTelemetry traces: one event's trace spans collection API -> Kafka -> identity worker -> Kafka -> profile.

The services run in a stack of their own (own Redis, Mongo-wire and Kafka-wire
servers), started with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a small OTLP/HTTP
collector in this test process that records what is posted to /v1/traces. The
session's services have no endpoint set, so they export nothing (tested too).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import basic_auth, create_workspace, grpc_channel, new_id
from tools.stack import Stack


class Collector:
    """Records the spans of every OTLP/HTTP protobuf export it receives."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.posts: list[str] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector._lock:
                    collector.posts.append(self.path)
                    for resource_spans in request.resource_spans:
                        service = next(
                            a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
                        )
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                collector.spans.append(
                                    {
                                        "service": service,
                                        "name": span.name,
                                        "kind": span.kind,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "attributes": {a.key: a.value for a in span.attributes},
                                    }
                                )
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str) -> list[dict]:
        with self._lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory, collector):
    env = {
        "CDP_SHUTDOWN_GRACE": "3",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second, not 5 s
    }
    stack = Stack.with_free_ports(tmp_path_factory.mktemp("traced"), service_env=env)
    stack.start_infra()
    try:
        stack.start_service("identity", wait=False)
        stack.start_service("profile")
        stack._wait("identity", lambda: httpx.get(stack.http_url("identity") + "/healthz").status_code == 200)
        yield stack
    finally:
        stack.stop()


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def test_one_event_is_one_trace_from_the_collection_api_to_the_profile_worker(traced, collector):
    key = create_workspace(traced, f"ws_{new_id()}")
    trace_id, parent = _traceparent()
    event = {"type": "track", "userId": "u-traced", "event": "Order Completed", "properties": {"revenue": 3}}
    resp = httpx.post(
        traced.http_url("identity") + "/v1/batch",
        json={"batch": [{**event, "messageId": new_id()}]},
        headers={**basic_auth(key), "traceparent": parent},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text

    wanted = [
        ("cdp-identity", "POST /v1/batch"),
        ("cdp-identity", "events.raw publish"),
        ("cdp-identity", "events.raw process"),
        ("cdp-identity", "events.resolved publish"),
        ("cdp-profile", "events.resolved process"),
    ]

    def whole():
        spans = collector.trace(trace_id)
        return spans if all(any((s["service"], s["name"]) == w for s in spans) for w in wanted) else None

    try:
        spans = eventually(whole, timeout=120)
    except AssertionError:
        raise AssertionError(f"spans of the trace: {collector.trace(trace_id)}") from None
    assert all(path == "/v1/traces" for path in collector.posts)
    by_name = {(s["service"], s["name"]): s for s in spans}
    # Each hop is the child of the one before it: the context crossed HTTP and both Kafka topics.
    chain = [by_name[w] for w in wanted]
    assert chain[0]["parent"] == parent.split("-")[2]
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["parent"] == before["span_id"], (before["name"], after["name"])
    consumer = by_name[("cdp-profile", "events.resolved process")]
    assert consumer["attributes"]["messaging.consumer.group.name"].string_value == "profile.events"

    # The change's announcement went through profile's outbox and was sent later by the relay:
    # its record still carries this trace, so segment's and journey's consumers continue it.
    def announced() -> list[str]:
        return [p for p in _traceparents(traced, Topics.PROFILE_CHANGED) if p.split("-")[1] == trace_id]

    parents = eventually(announced, timeout=60)
    assert {p.split("-")[2] for p in parents} <= {s["span_id"] for s in spans if s["service"] == "cdp-profile"}


def _traceparents(stack: Stack, topic: str) -> list[str]:
    """The traceparent header of every record on a topic."""

    async def run() -> list[str]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=stack.kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=2000)
        finally:
            await consumer.stop()
        return [
            value.decode()
            for records in batches.values()
            for record in records
            for key, value in record.headers or ()
            if key == "traceparent"
        ]

    return asyncio.run(run())


def test_log_lines_written_in_a_trace_carry_its_id(traced, collector):
    key = create_workspace(traced, f"ws_{new_id()}")
    trace_id, parent = _traceparent()
    # Every identifier blocked: the identity worker logs that it skipped the event, inside the trace.
    resp = httpx.post(
        traced.http_url("identity") + "/v1/track",
        json={"anonymousId": "undefined", "event": "App Opened", "messageId": new_id()},
        headers={**basic_auth(key), "traceparent": parent},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    log = traced.data_dir / "logs" / "identity.log"

    def logged():
        for line in log.read_text().splitlines():
            if line.startswith("{") and "without usable identifiers" in line:
                doc = json.loads(line)
                if doc.get("trace_id") == trace_id:
                    return doc
        return None

    doc = eventually(logged, timeout=120)
    assert len(doc["span_id"]) == 16
    # The line was written in the identity worker's span, which is exported (a moment later) in that trace.
    eventually(lambda: any(s["span_id"] == doc["span_id"] for s in collector.trace(trace_id)), timeout=120)


def test_grpc_server_continues_the_callers_trace(traced, collector):
    trace_id, parent = _traceparent()
    with grpc_channel(traced.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            stub.Lookup(identity_pb2.LookupRequest(workspace_id="ws_x"), metadata=[("traceparent", parent)])

    def served():
        return [s for s in collector.trace(trace_id) if s["name"] == "cdp.identity.v1.IdentityService/Lookup"]

    (span,) = eventually(served, timeout=120)
    assert span["parent"] == parent.split("-")[2]
    assert span["attributes"]["rpc.grpc.status_code"].int_value == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_without_an_endpoint_nothing_is_traced_and_logs_have_no_trace_id(start_service, workspace_id):
    stack = start_service("identity")
    create_workspace(stack, workspace_id)
    text = (stack.data_dir / "logs" / "identity.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and not any("trace_id" in line for line in lines)
