"""messaging's own metrics (the kit's HTTP, gRPC, Kafka and outbox metrics come on top)."""

from __future__ import annotations

from services.kit.metrics import counter, histogram

MESSAGES = counter(
    "cdp_messaging_messages_total",
    "Messages the delivery worker acted on, by channel type (webhook, sms, push, email, ...) and the status "
    "it left them in (sent, delivered, failed, skipped, deferred, unknown).",
    ["channel_type", "status"],
)
CAP_SKIPS = counter(
    "cdp_messaging_cap_skips_total", "Messages skipped because a frequency cap was reached.", ["channel_type"]
)
RATE_LIMIT_WAIT = histogram(
    "cdp_messaging_rate_limit_wait_seconds",
    "Waits for a provider rate limit slept in the worker (longer ones defer the message instead).",
    ["channel_type"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)


def count_deliveries(statuses: list[str | None], items: list) -> None:
    """Count a deliver_many answer; `items` are the batch's items that found their channel."""
    types = {it.index: it.channel["type"] for it in items}
    for i, status in enumerate(statuses):
        if status is not None:
            MESSAGES.labels(types.get(i, "unknown"), status).inc()
