"""journey's own metrics (the kit's HTTP, gRPC, Kafka and outbox metrics come on top)."""

from __future__ import annotations

from services.kit.metrics import counter, histogram

ACTIONS_REFUSED = counter(
    "cdp_journey_actions_refused_total",
    "Journey actions a peer refused as invalid (a deleted template, an unknown channel): logged, not retried.",
    ["kind"],
)
TIMERS_CLAIMED = counter("cdp_journey_timers_claimed_total", "Due timers claimed by the scheduler.")
RUNS_MOVED = counter("cdp_journey_runs_moved_total", "Run steps committed, by what woke the run.", ["trigger"])
TIMER_LATENESS = histogram(
    "cdp_journey_timer_lateness_seconds",
    "How long after its due time a timer's step committed.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
