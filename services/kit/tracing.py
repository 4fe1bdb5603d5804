"""OpenTelemetry traces across HTTP -> Kafka -> workers -> gRPC, exported over OTLP/HTTP.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard variable; the
exporter posts to `<endpoint>/v1/traces`). Off means no provider is installed and
every helper here returns before touching OpenTelemetry, so an untraced process
pays one boolean test per record. The other standard variables apply as usual
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_SCHEDULE_DELAY`, ...).

Context crosses Kafka as W3C `traceparent`/`tracestate` record headers, and gRPC as
the same keys in call metadata. A batch handled in one call continues the trace of
its first record and links the others (OpenTelemetry's messaging conventions).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

_state = {"enabled": False, "provider": None}
tracer = trace.get_tracer("cdp")


def configure(service: str) -> None:
    """Install the SDK and the OTLP exporter when an endpoint is configured; otherwise do nothing."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return
    # Imported here: an untraced process never loads the SDK and its exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"cdp-{service}")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _state.update(enabled=True, provider=provider)


def enabled() -> bool:
    return _state["enabled"]


def shutdown() -> None:
    """Flush the spans still queued (blocking: call it off the event loop)."""
    provider = _state["provider"]
    if provider is not None:
        provider.shutdown()


# ----------------------------------------------------------------- Kafka


def record_headers() -> list[tuple[str, bytes]]:
    """The current context as Kafka record headers ([] when tracing is off or no span is current)."""
    return [(k, v.encode()) for k, v in outgoing_headers().items()]


def _context_of(headers) -> otel_context.Context:
    carrier = {}
    for key, value in headers or ():
        if key in ("traceparent", "tracestate"):
            carrier[key] = value.decode("latin-1") if isinstance(value, bytes) else value
    return propagate.extract(carrier)


# Returned when tracing is off: entering it costs a fraction of a generator-based context manager.
_OFF = contextlib.nullcontext()


def consuming(group: str, records: list):
    """A CONSUMER span around handling `records` of one partition (in the trace of the first)."""
    if not _state["enabled"] or not records:
        return _OFF
    return _consuming(group, records)


@contextlib.contextmanager
def _consuming(group: str, records: list) -> Iterator[None]:
    first = records[0]
    links = []
    for record in records[1:]:
        span_context = trace.get_current_span(_context_of(record.headers)).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    with tracer.start_as_current_span(
        f"{first.topic} process",
        context=_context_of(first.headers),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": first.topic,
            "messaging.consumer.group.name": group,
            "messaging.destination.partition.id": str(first.partition),
            "messaging.kafka.offset": first.offset,
            "messaging.batch.message_count": len(records),
        },
    ) as span:
        try:
            yield
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
            raise


def producing(topics: Iterable[str]):
    """A PRODUCER span around a send, so the records' headers name it as their parent."""
    if not _state["enabled"]:
        return _OFF
    return tracer.start_as_current_span(
        f"{','.join(sorted(set(topics)))} publish",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "send"},
    )


# ----------------------------------------------------------------- gRPC and HTTP


def serving(name: str, kind: SpanKind, carrier: dict[str, str], attributes: dict):
    """A SERVER span for an incoming call whose caller's context is in `carrier` (HTTP headers, gRPC metadata).

    Entered, it gives the span, or None when tracing is off.
    """
    if not _state["enabled"]:
        return _OFF
    return tracer.start_as_current_span(name, context=propagate.extract(carrier), kind=kind, attributes=attributes)


def outgoing_headers() -> dict[str, str]:
    """Headers/metadata that carry the current context to a callee ({} when off)."""
    if not _state["enabled"]:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def with_metadata(details: grpc.aio.ClientCallDetails, pairs) -> grpc.aio.ClientCallDetails:
    """The same call with `pairs` added to its metadata (client interceptors: trace context, credential)."""
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    for key, value in pairs:
        metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def _with_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    return with_metadata(details, outgoing_headers().items())


# A CLIENT span per call, with the context in the call's metadata for the server to continue.
# (grpc.aio files an interceptor under its first matching kind only: one class per kind.)
class _UnaryCalls(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        method = _text(client_call_details.method)
        with tracer.start_as_current_span(method.lstrip("/"), kind=SpanKind.CLIENT, attributes=_rpc(method)):
            call = await continuation(_with_context(client_call_details), request)
            await call  # the span covers the whole call; the caller's await gets the same answer
            return call


class _StreamCalls(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        method = _text(client_call_details.method)
        with tracer.start_as_current_span(method.lstrip("/"), kind=SpanKind.CLIENT, attributes=_rpc(method)):
            return await continuation(_with_context(client_call_details), request)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _rpc(method: str) -> dict:
    service, _, name = method.lstrip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def client_interceptors() -> list:
    """Interceptors for a grpc.aio channel that carry the current context to the server (none when off)."""
    return [_UnaryCalls(), _StreamCalls()] if _state["enabled"] else []
