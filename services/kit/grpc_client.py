"""Channels for calling a peer service: trace context and this process's service credential on every call."""

from __future__ import annotations

import grpc

from services.kit import tracing
from services.kit.auth import ServiceCredential

_credential: dict[str, ServiceCredential] = {}


def identify(service_name: str) -> None:
    """Set once at start-up: the name this process's service credential carries."""
    _credential["self"] = ServiceCredential(service_name)


def credential() -> ServiceCredential:
    if "self" not in _credential:
        identify("cdp")
    return _credential["self"]


def _with_credential(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    if any(key == "authorization" for key, _ in details.metadata or ()):
        return details  # the caller sends its own (a partner's key passed on)
    return tracing.with_metadata(details, credential().metadata())


# grpc.aio files an interceptor under its first matching kind only: one class per kind.
class _UnaryCredential(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(_with_credential(client_call_details), request)


class _StreamCredential(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(_with_credential(client_call_details), request)


def channel(target: str, **options) -> grpc.aio.Channel:
    """A channel to a peer service (plaintext inside the deployment's network)."""
    interceptors = [_UnaryCredential(), _StreamCredential(), *tracing.client_interceptors()]
    return grpc.aio.insecure_channel(target, interceptors=interceptors, **options)
