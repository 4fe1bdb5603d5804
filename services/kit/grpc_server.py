"""gRPC server bootstrap: credentials, health (grpc.health.v1), reflection on request, error mapping, graceful stop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.kit import auth, metrics, tracing
from services.kit.auth import Access, Authenticator
from services.kit.errors import CdpError, Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthenticated

log = logging.getLogger(__name__)

_STATUS = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    Conflict: grpc.StatusCode.ALREADY_EXISTS,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclass
class GrpcService:
    """One servicer with the generated `add_..._to_server` and its full name."""

    add_to_server: Callable
    servicer: object
    full_name: str


async def _abort(context, exc: CdpError) -> None:
    detail = f"{exc.field}: {exc.message}" if exc.field else exc.message
    # By class and its bases: a domain's own kind of error (identity's Suppressed) keeps its family's code.
    code = next((c for cls, c in _STATUS.items() if isinstance(exc, cls)), grpc.StatusCode.INTERNAL)
    await context.abort(code, detail)


def maps_errors(method):
    """Turn domain errors into gRPC status codes with the field in the details."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except CdpError as exc:
            await _abort(context, exc)

    return wrapper


def maps_stream_errors(method):
    """maps_errors for a server-streaming method (an async generator)."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            async for item in method(self, request, context):
                yield item
        except CdpError as exc:
            await _abort(context, exc)

    return wrapper


# The claims of the call being served, set by the interceptor once it has checked them
# (the handler runs in the same task, so it sees them): who an audit record names.
_CALLER: contextvars.ContextVar[auth.Claims] = contextvars.ContextVar("grpc_caller")


def caller() -> auth.Claims:
    """Who sent the gRPC call being served (only inside a handler the interceptor checked)."""
    return _CALLER.get()


# Probes and load balancers call these without a credential.
_OPEN_SERVICES = frozenset({"grpc.health.v1.Health", reflection.SERVICE_NAME, "grpc.reflection.v1.ServerReflection"})


def access_table(services: list[GrpcService]) -> dict[str, Access]:
    """`/package.Service/Method` -> what it needs, from each servicer method's `auth.needs` mark.

    Fails the start when a method of a served service is unmarked: a new RPC
    cannot go out open by omission.
    """
    table = {}
    for svc in services:
        descriptor = descriptor_pool.Default().FindServiceByName(svc.full_name)
        for method in descriptor.methods:
            access = getattr(getattr(svc.servicer, method.name, None), "__cdp_access__", None)
            if access is None:
                raise RuntimeError(f"{svc.full_name}/{method.name} has no auth.needs(...) mark")
            table[f"/{svc.full_name}/{method.name}"] = access
    return table


def _workspaces_named(request, field: str | None) -> list[str]:
    """The workspace(s) a request acts on: a string field, or the `workspace_id` of each item of a list."""
    if field is None:
        return []
    value = getattr(request, field)
    if isinstance(value, str):
        return [value]
    return sorted({item.workspace_id for item in value}) or [""]


class _Authenticated(grpc.aio.ServerInterceptor):
    """Every call but health checks carries `authorization: Bearer <credential>` that covers its workspace.

    A claims token (the service credential, or claims the gateway signed) is checked
    here; a secret API key is resolved through identity (cached briefly). The
    workspace is the one the request names in its `workspace_field`.
    """

    def __init__(self, authenticator: Authenticator, table: dict[str, Access]) -> None:
        self.authenticator = authenticator
        self.table = table

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        full = handler_call_details.method
        if handler is None or full.lstrip("/").rpartition("/")[0] in _OPEN_SERVICES:
            return handler
        access = self.table.get(full)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization")

        async def check(request, context) -> None:
            try:
                if access is None:
                    raise Forbidden("this method is not open to callers", "method")
                token = auth.bearer_of(header if isinstance(header, str) else None)
                named = _workspaces_named(request, access.workspace_field)
                claims = await self.authenticator.claims_for(token, named[0] if named else None)
                if access.service_only and not claims.is_service:
                    raise Forbidden("only a service credential may call this method", "authorization")
                claims.require(access.scope)
                for workspace in named:
                    claims.workspace_for(workspace)
                _CALLER.set(claims)
            except CdpError as exc:
                await _abort(context, exc)

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary(request, context):
                await check(request, context)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                await check(request, context)
                async for item in inner_stream(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        return None  # no other kind is served: refuse rather than pass unchecked


class _Observed(grpc.aio.ServerInterceptor):
    """Counts and times every call by method and status code, in a SERVER span when tracing is on."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not (handler.unary_unary or handler.unary_stream):
            return handler  # reflection's bidirectional stream: not worth a series
        full = handler_call_details.method.lstrip("/")
        service, _, method = full.rpartition("/")
        carrier = {k: v for k, v in handler_call_details.invocation_metadata or () if isinstance(v, str)}
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

        def finish(started: float, context, span, error: BaseException | None) -> None:
            code = _code_of(context, error)
            metrics.GRPC_HANDLED.labels(service, method, code.name).inc()
            metrics.GRPC_DURATION.labels(service, method).observe(time.perf_counter() - started)
            if span is not None:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code not in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    span.set_status(Status(StatusCode.ERROR, code.name))

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary(request, context):
                started, error = time.perf_counter(), None
                with tracing.serving(full, SpanKind.SERVER, carrier, attributes) as span:
                    try:
                        return await inner(request, context)
                    except BaseException as exc:
                        error = exc
                        raise
                    finally:
                        finish(started, context, span, error)

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)

        inner = handler.unary_stream

        async def stream(request, context):
            started, error = time.perf_counter(), None
            with tracing.serving(full, SpanKind.SERVER, carrier, attributes) as span:
                try:
                    if inspect.isasyncgenfunction(inner):
                        async for item in inner(request, context):
                            yield item
                    else:
                        await inner(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    finish(started, context, span, error)

        return grpc.unary_stream_rpc_method_handler(stream, handler.request_deserializer, handler.response_serializer)


def _code_of(context, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()  # set by abort() or set_code(); None on a plain return
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    # A call cut short (client gone, server stopping) ends in CancelledError, which is no Exception.
    return grpc.StatusCode.CANCELLED if isinstance(error, asyncio.CancelledError) else grpc.StatusCode.UNKNOWN


class GrpcServer:
    def __init__(
        self,
        port: int,
        services: list[GrpcService],
        authenticator: Authenticator,
        host: str = "0.0.0.0",
        reflect: bool = False,
    ) -> None:
        # Observed outermost, so refused calls are counted (UNAUTHENTICATED, PERMISSION_DENIED) too.
        interceptors = [_Observed(), _Authenticated(authenticator, access_table(services))]
        # No SO_REUSEPORT (gRPC's default on Linux): a second server on a taken port must fail to
        # start, not share the port with another service and answer its calls "Method not found".
        self.server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
        self.health = health.aio.HealthServicer()
        names = [s.full_name for s in services]
        for svc in services:
            svc.add_to_server(svc.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if reflect:
            reflection.enable_server_reflection(
                [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
                self.server,
            )
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        self.names = names

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        # Report NOT_SERVING first so load balancers drain before the port closes.
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
