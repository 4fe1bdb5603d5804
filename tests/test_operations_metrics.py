"""Prometheus metrics at /metrics on every service, moved by real traffic through the real services.

Other tests of the session send traffic to the same processes, so every check
compares a counter before and after this test's own traffic and asks for at
least the increase it caused; the messaging counter, summed over every
messaging replica, for exactly that increase.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from services.kit.kafka import Topics
from services.kit.protos import to_struct
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, new_id

SERVICES = ("identity", "profile", "segment", "messaging")
LAG = "cdp_kafka_consumer_lag_records"
# Generous: on a loaded shared machine, after the messaging crash tests, a stage can take a minute.
TIMEOUT = 120


@pytest.fixture(scope="module")
def services(start_service):
    for name in SERVICES:
        start_service(name)
    return start_service("identity")


def scrape(services, service: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a service's /metrics, keyed by (name, labels)."""
    try:
        resp = httpx.get(services.http_url(service) + "/metrics", timeout=30)
    except httpx.HTTPError as exc:  # a busy service: `eventually` asks again
        raise AssertionError(f"scrape of {service} failed: {exc!r}") from exc
    assert resp.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(services, service: str, before, name: str, by: float = 1, **labels):
    """Wait until the sample grew by at least `by` since `before`; the new scrape."""

    def check():
        now = scrape(services, service)
        return now if value(now, name, **labels) - value(before, name, **labels) >= by else None

    try:
        return eventually(check, timeout=TIMEOUT)
    except AssertionError:
        now = scrape(services, service)
        raise AssertionError(
            f"{service} {name}{labels}: {value(before, name, **labels)} -> {value(now, name, **labels)}"
        ) from None


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_serves_prometheus_text(services, service):
    resp = httpx.get(services.http_url(service) + "/metrics", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(resp.text)}
    for name in (
        "process_cpu_seconds",
        "cdp_http_requests",
        "grpc_server_handled",
        "cdp_graphql_operations",
        "cdp_kafka_consumer_records_handled",
        "cdp_kafka_consumer_lag_records",
        "cdp_kafka_producer_records",
        "cdp_outbox_pending_documents",
        "cdp_outbox_oldest_pending_age_seconds",
        "cdp_outbox_published_documents",
    ):
        assert name in names, f"{service} lacks {name}"
    own = {
        "identity": ["cdp_identity_resolves", "cdp_identity_merges"],
        "profile": ["cdp_profile_events_applied", "cdp_profile_events_skipped"],
        "segment": ["cdp_segment_count_duration_seconds", "cdp_segment_bitmap_memory_bytes"],
        "messaging": ["cdp_messaging_messages", "cdp_messaging_cap_skips", "cdp_messaging_rate_limit_wait_seconds"],
    }[service]
    assert set(own) <= names


def test_no_label_carries_a_person_or_workspace_id(services, workspace_id):
    key = create_workspace(services, workspace_id)
    assert (
        collect(services, key, [{"type": "identify", "userId": "u-secret-1", "messageId": new_id()}]).status_code == 200
    )
    for service in SERVICES:
        text = httpx.get(services.http_url(service) + "/metrics", timeout=5).text
        assert workspace_id not in text and "u-secret-1" not in text


def test_an_event_moves_the_pipeline_counters_and_lag_drains(services, workspace_id):
    key = create_workspace(services, workspace_id)
    before = {s: scrape(services, s) for s in SERVICES}
    events = [
        {"type": "identify", "userId": "u1", "traits": {"city": "上海"}, "messageId": new_id()},
        {
            "type": "track",
            "userId": "u1",
            "event": "Order Completed",
            "properties": {"revenue": 9},
            "messageId": new_id(),
        },
    ]
    assert collect(services, key, events).status_code == 200

    ident = grew(
        services,
        "identity",
        before["identity"],
        "cdp_http_requests_total",
        route="/v1/batch",
        method="POST",
        code="200",
    )
    grew(services, "identity", before["identity"], "cdp_kafka_producer_records_total", 2, topic=Topics.EVENTS_RAW)
    grew(
        services,
        "identity",
        before["identity"],
        "cdp_kafka_consumer_records_handled_total",
        2,
        group="identity.resolver",
        topic=Topics.EVENTS_RAW,
    )
    ident = grew(services, "identity", before["identity"], "cdp_identity_resolves_total", outcome="created")
    assert value(ident, "cdp_identity_resolves_total", outcome="existing") >= value(
        before["identity"], "cdp_identity_resolves_total", outcome="existing"
    )
    grew(services, "profile", before["profile"], "cdp_profile_events_applied_total", 2)
    grew(
        services,
        "profile",
        before["profile"],
        "cdp_kafka_consumer_records_handled_total",
        2,
        group="profile.events",
        topic=Topics.EVENTS_RESOLVED,
    )
    # profile.changed goes out through profile's outbox, and segment indexes it.
    grew(services, "profile", before["profile"], "cdp_outbox_published_documents_total", 2)
    grew(
        services,
        "segment",
        before["segment"],
        "cdp_kafka_consumer_records_handled_total",
        2,
        group="segment.index",
        topic=Topics.PROFILE_CHANGED,
    )

    # Lag per group and partition is exposed by the member holding the partition, and drains to 0.
    def drained():
        samples = scrape(services, "profile")
        lags = {k: v for k, v in samples.items() if k[0] == "cdp_kafka_consumer_lag_records"}
        ours = {dict(k[1])["partition"]: v for k, v in lags.items() if ("group", "profile.events") in k[1]}
        return ours and all(v == 0 for v in ours.values())

    eventually(drained, timeout=TIMEOUT)
    # Once drained, nothing waits in profile's outbox either.
    eventually(lambda: value(scrape(services, "profile"), "cdp_outbox_pending_documents") == 0, timeout=TIMEOUT)


def test_lag_shows_records_waiting_for_a_consumer(services):
    """A burst on events.resolved shows up as profile lag before it drains (the ScaledObject's signal)."""
    from tests.test_profile import resolved

    workspace = f"ws_lag_{new_id()}"
    items = [(f"p_lag{i}", resolved(workspace, f"p_lag{i}", 1, properties={"revenue": 1})) for i in range(400)]

    async def burst():
        producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap, linger_ms=20)
        await producer.start()
        try:
            futures = [
                await producer.send(Topics.EVENTS_RESOLVED, m.SerializeToString(), key=k.encode()) for k, m in items
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    before = scrape(services, "profile")
    asyncio.run(burst())
    peak, deadline = 0.0, time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        samples = scrape(services, "profile")
        lags = [
            v
            for k, v in samples.items()
            if k[0] == "cdp_kafka_consumer_lag_records" and ("group", "profile.events") in k[1]
        ]
        peak = max(peak, sum(lags))
        applied = value(samples, "cdp_profile_events_applied_total") - value(before, "cdp_profile_events_applied_total")
        if applied >= 400 and lags and sum(lags) == 0:
            break
        time.sleep(0.05)
    assert applied >= 400
    assert sum(lags) == 0, "the lag did not drain"
    assert peak > 0, "400 records arrived and no scrape saw any lag"


def test_grpc_calls_are_counted_by_method_and_code(services, workspace_id):
    before = scrape(services, "identity")
    stub = grpc_stub(services, "identity", identity_pb2_grpc.IdentityServiceStub)
    with pytest.raises(grpc.RpcError) as err:
        stub.Lookup(identity_pb2.LookupRequest(workspace_id=workspace_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    labels = {"grpc_service": "cdp.identity.v1.IdentityService", "grpc_method": "Lookup"}
    after = grew(services, "identity", before, "grpc_server_handled_total", grpc_code="INVALID_ARGUMENT", **labels)
    assert value(after, "grpc_server_handling_seconds_count", **labels) > value(
        before, "grpc_server_handling_seconds_count", **labels
    )


def test_graphql_operations_are_counted_by_root_field_never_by_client_name(services, workspace_id):
    before = scrape(services, "segment")
    url = services.http_url("segment") + "/graphql"
    data = graphql(
        url,
        workspace_id,
        'query MadeUpName123 { previewSegment(rule: "DID \\"App Opened\\" IN LAST 1 DAYS") { count } }',
    )
    assert data["data"]["previewSegment"]["count"] == 0
    after = grew(
        services,
        "segment",
        before,
        "cdp_graphql_operations_total",
        type="query",
        operation="previewSegment",
        outcome="ok",
    )
    assert value(after, "cdp_segment_count_duration_seconds_count", kind="preview") > value(
        before, "cdp_segment_count_duration_seconds_count", kind="preview"
    )
    resp = httpx.post(url, json={"query": "{ noSuchField }"}, headers={"x-workspace-id": workspace_id}, timeout=10)
    assert resp.json()["errors"]
    after = scrape(services, "segment")
    assert "MadeUpName123" not in httpx.get(services.http_url("segment") + "/metrics").text
    assert "noSuchField" not in httpx.get(services.http_url("segment") + "/metrics").text
    assert value(after, "cdp_graphql_operations_total", type="query", operation="unknown", outcome="error") >= 1


def test_dead_lettered_records_are_counted(services):
    before = scrape(services, "identity")

    async def garbage():
        producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(Topics.EVENTS_RAW, b"\xff\xfenot protobuf", key=b"garbage")
        finally:
            await producer.stop()

    asyncio.run(garbage())
    grew(
        services,
        "identity",
        before,
        "cdp_kafka_consumer_records_dead_lettered_total",
        group="identity.resolver",
        topic=Topics.EVENTS_RAW,
    )


def messages_by_replica(services) -> dict[str, Counter]:
    """cdp_messaging_messages_total of every running messaging replica, by (channel_type, status).

    The crash and scaling tests start more replicas; the delivery group spreads partitions over
    all of them, so whichever holds a message's partition counts it, and only the sum is known.
    """
    replicas = {}
    for name, url in services.replica_urls("messaging").items():
        try:
            text = httpx.get(url + "/metrics", timeout=30).text
        except httpx.HTTPError as exc:  # a busy replica: `eventually` asks again
            raise AssertionError(f"scrape of {name} failed: {exc!r}") from exc
        counts = Counter()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "cdp_messaging_messages_total":
                    counts[(s.labels["channel_type"], s.labels["status"])] += s.value
        replicas[name] = counts
    return replicas


def test_messages_are_counted_by_channel_type_and_status(services, sink, workspace_id):
    stub = grpc_stub(services, "messaging", messaging_pb2_grpc.MessagingServiceStub)
    for name, path, config in (("hook", "ok", {}), ("broken", "fail", {"max_attempts": 2})):
        stub.UpsertChannel(
            messaging_pb2.Channel(
                workspace_id=workspace_id,
                name=name,
                type="webhook",
                config=to_struct({"url": f"{sink.url}/{path}/{workspace_id}", **config}),
            )
        )
    stub.SetPolicy(messaging_pb2.Policy(workspace_id=workspace_id, quiet_start="00:00", quiet_end="00:00"))

    def quiet():
        # The counters are per process, not per workspace: an earlier test's sends still in flight
        # would be counted here, so start from a moment when nothing moves.
        first = messages_by_replica(services)
        time.sleep(2)
        return first if messages_by_replica(services) == first else None

    before = eventually(quiet, timeout=TIMEOUT)
    # Three persons: keys spread the records over partitions, so over replicas.
    for n, channel in enumerate(("hook", "hook", "broken")):
        stub.Send(
            messaging_pb2.SendRequest(
                workspace_id=workspace_id,
                person_id=f"p{n}",
                channel=channel,
                category="transactional",
                idempotency_key=new_id(),
                content=messaging_pb2.Content(title="Order shipped", body="On its way"),
            )
        )
    # Two sent; the broken channel's 500 is retried once (deferred), then given up (failed).
    expected = Counter({("webhook", "sent"): 2, ("webhook", "deferred"): 1, ("webhook", "failed"): 1})

    def delta() -> Counter:
        now = messages_by_replica(services)
        assert now.keys() == before.keys(), f"messaging replicas changed mid-test: {sorted(before)} -> {sorted(now)}"
        moved = Counter()
        for name, counts in now.items():
            for labels, n in counts.items():
                if n != before[name][labels]:
                    moved[labels] += n - before[name][labels]
        return moved

    eventually(lambda: len(sink.at(f"/ok/{workspace_id}")) == 2 and len(sink.at(f"/fail/{workspace_id}")) == 2, TIMEOUT)
    try:
        eventually(lambda: delta() == expected, timeout=TIMEOUT)
    except AssertionError:
        raise AssertionError(f"counted {dict(delta())}, expected {dict(expected)}") from None
    # Exact, not at least: nothing is counted twice (a second replica, a redelivered record).
    time.sleep(2)
    assert delta() == expected
