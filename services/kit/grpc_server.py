"""gRPC server bootstrap: health (grpc.health.v1), reflection, error mapping, graceful stop."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.kit.errors import CdpError, Conflict, InvalidInput, NotFound, Unauthenticated

log = logging.getLogger(__name__)

_STATUS = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Conflict: grpc.StatusCode.ALREADY_EXISTS,
}


@dataclass
class GrpcService:
    """One servicer with the generated `add_..._to_server` and its full name."""

    add_to_server: Callable
    servicer: object
    full_name: str


def maps_errors(method):
    """Turn domain errors into gRPC status codes with the field in the details."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except CdpError as exc:
            code = _STATUS.get(type(exc), grpc.StatusCode.INTERNAL)
            detail = f"{exc.field}: {exc.message}" if exc.field else exc.message
            await context.abort(code, detail)

    return wrapper


def maps_stream_errors(method):
    """maps_errors for a server-streaming method (an async generator)."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            async for item in method(self, request, context):
                yield item
        except CdpError as exc:
            code = _STATUS.get(type(exc), grpc.StatusCode.INTERNAL)
            detail = f"{exc.field}: {exc.message}" if exc.field else exc.message
            await context.abort(code, detail)

    return wrapper


class GrpcServer:
    def __init__(self, port: int, services: list[GrpcService], host: str = "0.0.0.0") -> None:
        self.server = grpc.aio.server()
        self.health = health.aio.HealthServicer()
        names = [s.full_name for s in services]
        for svc in services:
            svc.add_to_server(svc.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
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
