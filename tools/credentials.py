"""Credentials for the tools, benchmarks and tests that drive a stack from outside its services.

They sign with the stack's internal keyring (CDP_INTERNAL_KEYS, set by Stack.internal_keys()
for this process), as a service would: a service credential for gRPC, claims for GraphQL.
"""

from __future__ import annotations

import grpc

from services.kit import auth
from services.kit.auth import ALL_SCOPES

_SERVICE: dict[str, auth.ServiceCredential] = {}


def service_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC call metadata with the tools' service credential (acts for any workspace a request names)."""
    if "tools" not in _SERVICE:
        _SERVICE["tools"] = auth.ServiceCredential("tools")
    return _SERVICE["tools"].metadata()


def claims_token(workspace_id: str, scopes=ALL_SCOPES, subject: str = "tools") -> str:
    """A claims token for one workspace, as the gateway would sign it; the gateway and subgraphs take it."""
    return auth.sign_claims(auth.Claims(subject, workspace_id, frozenset(scopes)))


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the service credential to every call that carries no authorization of its own."""

    def _details(self, details):
        metadata = list(details.metadata or ())
        if not any(k == "authorization" for k, _ in metadata):
            metadata += list(service_metadata())
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


def grpc_channel(target: str) -> grpc.Channel:
    """A blocking channel whose calls carry the service credential unless they send their own."""
    return grpc.intercept_channel(grpc.insecure_channel(target), _Metadata())


def aio_channel(target: str, **options) -> grpc.aio.Channel:
    """An asyncio channel whose calls carry the service credential."""
    from services.kit import grpc_client

    grpc_client.identify("tools")
    return grpc_client.channel(target, **options)
