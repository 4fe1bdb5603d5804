"""identity's own metrics (the kit's HTTP, gRPC, Kafka and outbox metrics come on top)."""

from __future__ import annotations

from services.identity.rules import Suppressed
from services.kit.errors import InvalidInput
from services.kit.metrics import counter

RESOLVES = counter(
    "cdp_identity_resolves_total",
    "Identifier sets resolved to a person, by outcome: created (a new person), existing, "
    "not_found (lookup without create), invalid (no usable identifier), "
    "suppressed (an identifier of a forgotten person: the event is dropped).",
    ["outcome"],
)
MERGES = counter(
    "cdp_identity_merges_total",
    "Persons merged, by trigger: event (identifiers an event shared) or manual (the API).",
    ["trigger"],
)
UNMERGES = counter("cdp_identity_unmerges_total", "Merges reversed.")


def count_resolves(results: list) -> None:
    """Count a resolve_many answer: (person, created) pairs and InvalidInput in place of refused items."""
    for result in results:
        if isinstance(result, InvalidInput):
            RESOLVES.labels("suppressed" if isinstance(result, Suppressed) else "invalid").inc()
        elif result[0] is None:
            RESOLVES.labels("not_found").inc()
        else:
            RESOLVES.labels("created" if result[1] else "existing").inc()
