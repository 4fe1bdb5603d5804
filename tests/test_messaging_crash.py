"""Never lost, never twice: a delivery worker SIGKILLed mid-send, a 30-second provider outage, priority lanes.

Real processes throughout: three messaging replicas share the delivery
consumer groups, the provider is an HTTP server in this test process.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections import Counter

from cdp.messaging.v1 import messaging_pb2
from tests.conftest import eventually
from tests.messaging_support import (  # noqa: F401 (module fixtures)
    Answer,
    ProviderServer,
    channel,
    db_fixture,
    messaging_fixture,
    no_quiet_hours,
    stub_fixture,
)
from tools.stack import free_port

# The issue asks for 20,000 (CDP_TEST_KILL_SENDS=20000): since delivery is batched that run takes
# 2 min 45 s alone here (it took over 20 minutes before). After the rest of the messaging suite
# (its leftover backlogs and retries share SecantusDB) 10,000 took 6 minutes, so the default
# stays 5,000. The kill and the checks are the same.
SENDS = int(os.environ.get("CDP_TEST_KILL_SENDS", "5000"))
BATCH = 1000


def replica(stack, name: str) -> str:
    return stack.start_service("messaging", name=name, CDP_HTTP_PORT=str(free_port()), CDP_GRPC_PORT=str(free_port()))


def send_batch(stub, ws: str, channel_name: str, keys: list[str], category: str = "marketing") -> list[str]:
    requests = [
        messaging_pb2.SendRequest(
            workspace_id=ws,
            person_id=f"p{i % 500}",
            channel=channel_name,
            idempotency_key=key,
            category=category,
            timezone="UTC",
            content=messaging_pb2.Content(title="补货提醒", body=f"#{key}"),
        )
        for i, key in enumerate(keys)
    ]
    return [m.id for m in stub.SendBatch(messaging_pb2.SendBatchRequest(requests=requests), timeout=120).messages]


def test_provider_outage_of_30_seconds_loses_nothing_and_retries_resume(stub, db, workspace_id):
    ws = workspace_id
    provider = ProviderServer()
    try:
        no_quiet_hours(stub, ws)
        # Enough attempts to outlast the outage at the test stack's 2-second backoff cap.
        channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}", max_attempts=40)
        provider.outage(30)
        started = time.monotonic()
        keys = [f"o{i:03d}" for i in range(200)]
        send_batch(stub, ws, "hook", keys)

        try:
            eventually(lambda: db.messages.count_documents({"workspace": ws, "status": "sent"}) == 200, timeout=120)
        except AssertionError:
            left = Counter((d["status"], d.get("status_reason", "")[:80]) for d in db.messages.find({"workspace": ws}))
            raise AssertionError(f"not every message sent after the outage: {left.most_common(5)}") from None
        assert set(provider.accepted) == set(keys) and max(provider.accepted.values()) == 1
        failures = [r for r in provider.at(f"/{ws}") if r.at < started + 30]
        successes = [r for r in provider.at(f"/{ws}") if r.at >= started + 30]
        assert failures, "the outage was hit"
        assert len(successes) == 200, "after the outage each message went exactly once"
        assert db.messages.count_documents({"workspace": ws, "status": {"$ne": "sent"}}) == 0
    finally:
        provider.close()


def test_transactional_lane_is_not_delayed_by_a_marketing_backlog(stub, db, workspace_id):
    ws = workspace_id
    provider = ProviderServer()
    try:
        no_quiet_hours(stub, ws)
        channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}")
        provider.script(f"/{ws}/slow", *[Answer(200, delay=0.05) for _ in range(2000)])
        channel(stub, ws, "slow", "webhook", url=f"{provider.url}/{ws}/slow")
        for i in range(0, 2000, BATCH):
            send_batch(stub, ws, "slow", [f"m{j:04d}" for j in range(i, i + BATCH)])
        eventually(lambda: len(provider.at(f"/{ws}/slow")) >= 50, timeout=60)

        t0 = time.monotonic()
        (order,) = send_batch(stub, ws, "hook", ["order-1001-paid"], category="transactional")
        eventually(lambda: db.messages.find_one({"_id": order, "status": "sent"}), timeout=30, interval=0.05)
        took = time.monotonic() - t0
        backlog = db.messages.count_documents({"workspace": ws, "channel": "slow", "status": "queued"})
        assert backlog > 500, "the marketing backlog was still there"
        # Behind the backlog it would wait for ~1,900 slow sends; on its own lane it waits for its own.
        assert took < 15, f"the transactional message waited {took:.1f}s"
    finally:
        # The backlog's rest would go on to the closed provider for minutes and fail there, in the
        # counters of whatever test runs next: settle it here (the claim skips a message not queued).
        db.messages.update_many(
            {"workspace": ws, "status": {"$in": ["queued", "deferred"]}},
            {"$set": {"status": "skipped", "status_reason": "test over"}},
        )
        provider.close()


def test_sigkill_of_a_delivery_worker_mid_run_delivers_every_message_exactly_once(messaging, stub, db, workspace_id):
    ws = workspace_id
    sink = ProviderServer(dedupe=True)  # honours Idempotency-Key, as the channel declares
    try:
        no_quiet_hours(stub, ws)
        channel(stub, ws, "hook", "webhook", url=f"{sink.url}/{ws}", idempotent=True)
        victim = replica(messaging, "messaging-victim")
        replica(messaging, "messaging-peer")
        keys = [f"k{i:05d}" for i in range(SENDS)]
        for i in range(0, SENDS, BATCH):
            send_batch(stub, ws, "hook", keys[i : i + BATCH])

        eventually(lambda: len(sink.accepted) >= SENDS // 5, timeout=300, interval=0.05)
        killed_at = dt.datetime.now(dt.UTC)
        messaging.stop_process(victim, signal.SIGKILL)
        in_flight = {d["idempotency_key"] for d in db.messages.find({"workspace": ws, "status": "sending"})}
        # A claim the victim sent just before it died may still be applied by SecantusDB after that
        # read: it too was left "sending" by the crash. Look again before the lease (20 s) runs out.
        time.sleep(3)
        left = db.messages.find({"workspace": ws, "status": "sending", "sending_at": {"$lt": killed_at}})
        in_flight |= {d["idempotency_key"] for d in left}

        # SecantusDB (a Python server) bounds the pace on a shared 2-core machine: allow 15 messages/s.
        eventually(lambda: len(sink.accepted) >= SENDS, timeout=max(600, SENDS / 15), interval=0.5)
        # The sends the crash left "sending" are recorded only after the lease (20 s), a reconcile pass
        # and the peer's delivery of the repeat, behind whatever backlog the loaded machine has.
        statuses: Counter = Counter()

        def all_sent() -> bool:
            statuses.clear()
            statuses.update(d["status"] for d in db.messages.find({"workspace": ws}, {"status": 1}))
            return statuses["sent"] == SENDS

        try:
            eventually(all_sent, timeout=300, interval=1.0)
        except AssertionError:
            raise AssertionError(f"not all recorded sent after 300 s: {dict(statuses)}") from None
        time.sleep(2)

        assert set(sink.accepted) == set(keys), "none lost"
        assert max(sink.accepted.values()) == 1, "none delivered twice"
        raw = Counter(r.headers["idempotency-key"] for r in sink.at(f"/{ws}"))
        resent = {k for k, n in raw.items() if n > 1}
        # Only messages a crash left "sending" are sent again, with their key, so the provider dropped the repeat.
        assert resent <= in_flight, resent - in_flight
        print(f"\n{SENDS} sends, worker killed at {SENDS // 5}+: {len(in_flight)} in flight, {len(resent)} re-sent")
    finally:
        sink.close()
