"""analytics' own metrics (the kit's HTTP, gRPC and Kafka metrics come on top)."""

from __future__ import annotations

from services.kit.metrics import counter, histogram

ROWS = counter("cdp_analytics_rows_inserted_total", "Rows written into the engine, by table.", ["table"])
INSERT_SECONDS = histogram(
    "cdp_analytics_insert_seconds",
    "Time of one micro-batch insert into the engine, by table.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
QUERY_SECONDS = histogram(
    "cdp_analytics_query_seconds",
    "Time to answer one model (trends, funnel, retention, paths, campaign), engine and shaping included.",
    ["model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TILES = counter("cdp_analytics_tiles_total", "Dashboard tiles answered, from the cache or computed.", ["source"])
