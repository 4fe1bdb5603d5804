"""ASGI middleware: every HTTP request counted and timed by route, and traced when tracing is on."""

from __future__ import annotations

import contextlib
import time

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.applications import Starlette
from starlette.routing import Match

from services.kit import metrics, tracing

# Probes and scrapes would fill traces with noise; they are still counted.
_UNTRACED = {"/healthz", "/metrics"}


class ObservedHttp:
    def __init__(self, app: Starlette) -> None:
        self.app = app

    def _route(self, scope) -> str:
        # The route's template (`/t/o/{token}`), never the path: paths carry signed tokens.
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route.path
        return "unmatched"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, method = self._route(scope), scope["method"]
        answered = {"code": 500}

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                answered["code"] = message["status"]
            await send(message)

        if route in _UNTRACED:
            spanning = contextlib.nullcontext()
        else:
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k.startswith(b"trace")}
            attributes = {"http.request.method": method, "http.route": route}
            spanning = tracing.serving(f"{method} {route}", SpanKind.SERVER, carrier, attributes)
        started = time.perf_counter()
        with spanning as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                code = answered["code"]
                metrics.HTTP_REQUESTS.labels(route, method, str(code)).inc()
                metrics.HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)
                if span is not None:
                    span.set_attribute("http.response.status_code", code)
                    if code >= 500:
                        span.set_status(Status(StatusCode.ERROR))
