"""Test servers for messaging: a provider HTTP API that can misbehave on cue, shared fixtures and helpers.

The module fixtures `messaging` (the stack with the service started), `stub`
(its gRPC client) and `db` (its database, tz-aware) are imported by each
messaging test module (as messaging_fixture, stub_fixture, db_fixture).

The provider server is a real HTTP server in the test process; the messaging
service calls it from its own process. It records every request and answers
from a script (status, headers, body, delay), so tests can stage errors, 429
with Retry-After, timeouts and outages. With `dedupe` it behaves like a
provider that honours Idempotency-Key: a repeated key is answered 200 and not
counted again.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pymongo import MongoClient

from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.clock import SystemClock
from services.kit.protos import to_struct
from services.kit.signing import Keyring
from services.messaging.links import Signer
from tests.conftest import eventually, grpc_stub


# Named apart from the fixtures they define, so importing them does not shadow test parameters.
@pytest.fixture(scope="module", name="messaging")
def messaging_fixture(start_service):
    return start_service("messaging")


@pytest.fixture(scope="module", name="stub")
def stub_fixture(messaging):
    return grpc_stub(messaging, "messaging", messaging_pb2_grpc.MessagingServiceStub)


@pytest.fixture(scope="module", name="db")
def db_fixture(messaging):
    client = MongoClient(messaging.mongo_url, tz_aware=True)
    yield client[messaging.mongo_db]
    client.close()


@dataclass
class Answer:
    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True})
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict
    body: object
    at: float


class _Server(ThreadingHTTPServer):
    # A provider's accept queue, not http.server's 5: a worker opens many connections at once.
    request_queue_size = 256


class ProviderServer:
    def __init__(self, dedupe: bool = False) -> None:
        self.requests: list[Request] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.down_until = 0.0
        self.dedupe = dedupe
        self.accepted: Counter = Counter()
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = provider._answer(Request(self.path, headers, body, time.monotonic()))
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, prefix: str, *answers: Answer) -> None:
        with self._lock:
            self.scripts.setdefault(prefix, []).extend(answers)

    def outage(self, seconds: float) -> None:
        """Answer 503 to everything for the next `seconds`."""
        self.down_until = time.monotonic() + seconds

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if time.monotonic() < self.down_until:
                return Answer(503, {"error": "provider down"})
            for prefix, queue in self.scripts.items():
                if request.path.startswith(prefix) and queue:
                    answer = queue.pop(0)
                    break
            else:
                answer = Answer()
            key = request.headers.get("idempotency-key", "")
            if 200 <= answer.status < 300:
                if self.dedupe and key in self.accepted:
                    return Answer(200, {"ok": True, "duplicate": True})
                self.accepted[key] += 1
            return answer

    def at(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def link_signer(stack) -> Signer:
    """Signs links as the stack's messaging service does (tools/stack.py gives it this secret)."""
    return Signer(Keyring.parse(stack.link_secret()), SystemClock())


def no_quiet_hours(stub, workspace: str, **policy) -> None:
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace, quiet_start="00:00", quiet_end="00:00", **policy))


def channel(stub, workspace: str, name: str, type_: str, **config) -> messaging_pb2.Channel:
    return stub.UpsertChannel(
        messaging_pb2.Channel(workspace_id=workspace, name=name, type=type_, config=to_struct(config))
    )


def settled(stub, workspace: str, message_id: str, timeout: float = 30.0) -> messaging_pb2.Message:
    def check():
        msg = stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=workspace, id=message_id))
        return msg if msg.status not in ("queued", "sending", "deferred") else None

    return eventually(check, timeout=timeout)
