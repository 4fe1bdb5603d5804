"""Session fixtures: real Redis, SecantusDB (Mongo wire) and Tansu (Kafka wire) on free ports.

No mocks: services run as the same child processes `./cdp start` runs, and
tests isolate themselves by using their own workspace ids.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid

import pytest

from tools.stack import SERVICES, Stack

# One internal keyring for the session, set before any stack starts: every stack a test
# starts (some start their own) and the tests' own claims and service credentials share it.
os.environ.setdefault("CDP_INTERNAL_KEYS", f"tests:{secrets.token_urlsafe(32)}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # Messaging retries fast and gives up after 4 attempts in tests (the defaults are 1s base, 8 attempts).
    env = {
        "CDP_SHUTDOWN_GRACE": "3",
        "CDP_RETRY_BASE": "0.2",
        "CDP_RETRY_CAP": "2",
        "CDP_MAX_ATTEMPTS": "4",
        # A provider call times out after 2 s; a message "sending" for 20 s was left by a crash. The
        # lease must also cover the claim and the group commit of the outcome, which take seconds on
        # SecantusDB when three replicas deliver thousands at once (the kill test).
        "CDP_PROVIDER_TIMEOUT": "2",
        "CDP_SENDING_LEASE": "20",
        # The test sinks and providers listen on 127.0.0.1, which the outbound guard refuses by default.
        "CDP_OUTBOUND_ALLOW": "127.0.0.0/8",
    }
    s = Stack.with_free_ports(tmp_path_factory.mktemp("stack"), service_env=env)
    s.start_infra()
    s.started_services = set()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def redis_cluster(stack) -> str:
    """Seed nodes of a two-node Redis Cluster (segment's bitmaps spread over nodes)."""
    return stack.start_redis_cluster(2)


@pytest.fixture(scope="session")
def start_service(stack):
    """Start a service once per session (the default replica) and return the stack."""

    def start(name: str) -> Stack:
        if name not in stack.started_services:
            stack.start_service(name)
            stack.started_services.add(name)
        return stack

    return start


@pytest.fixture(scope="session")
def suite(stack, start_service):
    """Every service of tools.stack.SERVICES and Hive Gateway."""
    for name in SERVICES:
        if name not in stack.started_services:
            stack.start_service(name, wait=False)
            stack.started_services.add(name)
    for name in SERVICES:
        stack._wait(name, lambda n=name: _healthy(stack, n))
    stack.start_gateway()
    return stack


def _healthy(stack: Stack, name: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(stack.http_url(name) + "/healthz", timeout=1) as resp:
        return resp.status == 200


@pytest.fixture(scope="session")
def shop_workspace(suite, tmp_path_factory):
    """The console built and served by the stack, and a shop workspace for it (tests/console_support.py)."""
    from tests.console_support import open_shop

    yield from open_shop(suite, tmp_path_factory)


@pytest.fixture(scope="module")
def sink():
    """A real HTTP server in the test process that records what webhooks receive."""
    from tests.helpers import Sink

    s = Sink()
    yield s
    s.close()


@pytest.fixture
def broker(tmp_path):
    """A Tansu broker of the test's own, for tests that stop it or watch a consumer group alone."""
    from tools.stack import free_port

    s = Stack(tmp_path, {"kafka": free_port()})
    s.start_kafka()
    yield s
    s.stop()


@pytest.fixture
def workspace_id() -> str:
    return f"ws_{uuid.uuid4().hex[:12]}"


def grpc_stub(stack: Stack, service: str, stub_class):
    """A stub whose calls carry the tests' service credential (tests/helpers.grpc_channel)."""
    from tests.helpers import grpc_channel

    return stub_class(grpc_channel(stack.grpc_target(service)))


def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Poll `check` until it returns a truthy value (Kafka paths are asynchronous)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except AssertionError as exc:
            last_error = exc
        time.sleep(interval)
    if last_error:
        raise last_error
    raise AssertionError(f"condition not met within {timeout}s")


async def eventually_async(check, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
