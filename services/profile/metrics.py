"""profile's own metrics (the kit's HTTP, gRPC, Kafka and outbox metrics come on top)."""

from __future__ import annotations

from services.kit.metrics import counter

EVENTS_APPLIED = counter(
    "cdp_profile_events_applied_total", "Resolved events folded into a profile (each once, by messageId)."
)
EVENTS_SKIPPED = counter(
    "cdp_profile_events_skipped_total",
    "Resolved events not applied: already applied before (a redelivery) or of a forgotten person.",
)
