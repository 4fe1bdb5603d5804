"""Prometheus metrics: one registry per process, served at /metrics on the service's HTTP port.

Every metric of a process is declared through `counter`, `gauge` and
`histogram` here (the kit's own below, a service's in `services/<name>/metrics.py`),
so they all land in `REGISTRY` and nowhere else. Names follow Prometheus
conventions: `cdp_` prefix, the unit in the name (`_seconds`, `_bytes`), `_total`
for counters. Labels are bounded sets (topic, consumer group, partition, gRPC
method, status, channel): never a person, message or workspace id, which would
make one time series per shopper. The service itself is the scrape target's `job`
label (the Kubernetes Service name), so no metric carries it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# `_created` series double the output and no dashboard here reads them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Latency buckets from 1 ms to 10 s: request handlers, Kafka batches and Redis scripts alike.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def counter(name: str, documentation: str, labels: Iterable[str] = ()) -> Counter:
    return Counter(name, documentation, tuple(labels), registry=REGISTRY)


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> Gauge:
    return Gauge(name, documentation, tuple(labels), registry=REGISTRY)


def histogram(name: str, documentation: str, labels: Iterable[str] = (), buckets=LATENCY_BUCKETS) -> Histogram:
    return Histogram(name, documentation, tuple(labels), registry=REGISTRY, buckets=buckets)


# Scrapers live inside the deployment's network; identity's HTTP port also faces the world
# (the collection API), so /metrics answers only these sources (CDP_METRICS_ALLOW overrides).
DEFAULT_SCRAPERS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def _scrapers() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    spec = os.environ.get("CDP_METRICS_ALLOW", "").strip() or DEFAULT_SCRAPERS
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


async def _metrics(request: Request) -> Response:
    try:
        source = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        source = None
    if source is None or not any(source in network for network in _scrapers()):
        return Response("metrics are served to the deployment's own network only\n", status_code=403)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def route() -> Route:
    return Route("/metrics", _metrics)


# ----------------------------------------------------------------- the kit's own

HTTP_REQUESTS = counter(
    "cdp_http_requests_total",
    "HTTP requests answered, by route template (not the path: tokens live in paths), method and status code.",
    ["route", "method", "code"],
)
HTTP_DURATION = histogram("cdp_http_request_duration_seconds", "Time to answer an HTTP request.", ["route", "method"])

GRAPHQL_OPERATIONS = counter(
    "cdp_graphql_operations_total",
    "GraphQL operations executed by this subgraph, by type, root field and outcome (ok, error).",
    ["type", "operation", "outcome"],
)
GRAPHQL_DURATION = histogram(
    "cdp_graphql_operation_duration_seconds",
    "Time to execute a GraphQL operation, by type and root field.",
    ["type", "operation"],
)

# Names as in grpc-ecosystem's go-grpc-prometheus, so stock gRPC dashboards read them.
GRPC_HANDLED = counter(
    "grpc_server_handled_total",
    "gRPC calls completed on the server, by service, method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_DURATION = histogram(
    "grpc_server_handling_seconds", "Time to complete a gRPC call on the server.", ["grpc_service", "grpc_method"]
)

KAFKA_HANDLED = counter(
    "cdp_kafka_consumer_records_handled_total",
    "Kafka records a consumer group handled (committed after), by group and topic.",
    ["group", "topic"],
)
KAFKA_FAILURES = counter(
    "cdp_kafka_consumer_handler_failures_total",
    "Failed attempts at handling a Kafka record (each retry counts), by group and topic.",
    ["group", "topic"],
)
KAFKA_DEAD_LETTERED = counter(
    "cdp_kafka_consumer_records_dead_lettered_total",
    "Kafka records parked on dlq.<group> because they could never be handled.",
    ["group", "topic"],
)
KAFKA_START_FAILURES = counter(
    "cdp_kafka_consumer_start_failures_total",
    "Attempts of a consumer group member to (re)join its group that failed or timed out, by group.",
    ["group"],
)
KAFKA_BATCH_DURATION = histogram(
    "cdp_kafka_consumer_batch_duration_seconds",
    "Time to handle one fetched partition batch, by group and topic.",
    ["group", "topic"],
)
KAFKA_LAG = gauge(
    "cdp_kafka_consumer_lag_records",
    "Records on a partition not yet handled by its consumer group (high watermark minus position), "
    "reported by the group member that holds the partition.",
    ["group", "topic", "partition"],
)
KAFKA_PRODUCED = counter(
    "cdp_kafka_producer_records_total", "Kafka records the broker acknowledged, by topic.", ["topic"]
)
KAFKA_PRODUCE_FAILURES = counter(
    "cdp_kafka_producer_failures_total", "Sends that failed (not acknowledged), by topic.", ["topic"]
)

OUTBOX_PENDING = gauge(
    "cdp_outbox_pending_documents", "Outbox documents written by a transaction and not yet published."
)
OUTBOX_OLDEST_AGE = gauge(
    "cdp_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox document: how far the relay is behind (0 when none is pending).",
)
