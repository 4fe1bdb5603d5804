"""One service process: gRPC server + GraphQL/HTTP on uvicorn + Kafka workers.

Every service's __main__ builds a `Wiring` from a `Runtime` (its clients) and
hands it to `serve()`. Start-up order: clients, indexes, migrations, topics, producer,
servers, workers; shutdown runs it backwards so that in-flight handlers finish
and commit before clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from services.kit import auth, grpc_client, kafka, metrics, mongo, redis_client, tracing
from services.kit.auth import Authenticator, Lookup
from services.kit.clock import Clock, SystemClock
from services.kit.grpc_server import GrpcServer, GrpcService
from services.kit.logs import setup_logging
from services.kit.observed_http import ObservedHttp
from services.kit.outbox import OutboxRelay
from services.kit.outbox_watch import OutboxWatch
from services.kit.remote_auth import identity_lookup
from services.kit.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The clients a service's modules share; built once per process."""

    settings: ServiceSettings
    clock: Clock
    mongo: object
    db: object
    redis: object
    producer: kafka.Producer
    relay: OutboxRelay


@dataclass
class Wiring:
    grpc: list[GrpcService]
    http_routes: list[BaseRoute]
    indexes: list[mongo.IndexSpec] = field(default_factory=list)
    # Rewrites of stored documents into today's form, run once at start-up before anything serves.
    migrations: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    consumers: list[kafka.Consumer] = field(default_factory=list)
    background: list[Callable[[asyncio.Event], Awaitable[None]]] = field(default_factory=list)
    # Run after the workers stopped, before the shared clients close (e.g. HTTP clients).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Who holds an API key or operator token; identity answers it from its own store, the
    # others ask identity over HTTP.
    credential_lookup: Lookup | None = None


class _Uvicorn(uvicorn.Server):
    # Signals are ours: uvicorn would otherwise re-raise them after its own shutdown
    # and cut short the workers' graceful stop.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def build_runtime(settings: ServiceSettings, clock: Clock | None = None) -> Runtime:
    client = mongo.connect(settings.mongo_url, settings.service_name)
    db = client[settings.mongo_db]
    producer = kafka.Producer(settings.kafka_bootstrap, settings.service_name)
    return Runtime(
        settings=settings,
        clock=clock or SystemClock(),
        mongo=client,
        db=db,
        redis=redis_client.connect(settings.redis_url),
        producer=producer,
        relay=OutboxRelay(db, producer, settings.service_name),
    )


async def serve(settings: ServiceSettings, wire: Callable[[Runtime], Wiring]) -> None:
    setup_logging(settings.service_name, settings.log_level)
    tracing.configure(settings.service_name)
    grpc_client.identify(settings.service_name)
    auth.internal_keyring()  # refuses a missing or weak CDP_INTERNAL_KEYS outside dev mode, before anything serves
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    rt = await build_runtime(settings)
    wiring = wire(rt)
    ready = {"ok": False}

    async def healthz(request: Request) -> JSONResponse:
        status = 200 if ready["ok"] and not stopping.is_set() else 503
        return JSONResponse({"service": settings.service_name, "ready": status == 200}, status_code=status)

    await mongo.ensure_indexes(rt.db, wiring.indexes)
    for migrate in wiring.migrations:
        await migrate()
    topics = kafka.Topics.all() + [kafka.dead_letter_topic(c.group_id) for c in wiring.consumers]
    await kafka.ensure_topics(settings.kafka_bootstrap, topics, settings.kafka_partitions)
    await rt.producer.start()

    authenticator = Authenticator(wiring.credential_lookup or identity_lookup(settings.identity_http))
    grpc_server = GrpcServer(
        settings.grpc_port, wiring.grpc, authenticator, settings.grpc_host, settings.grpc_reflection
    )
    await grpc_server.start()
    app = Starlette(routes=[Route("/healthz", healthz), metrics.route(), *wiring.http_routes])
    http = _Uvicorn(
        uvicorn.Config(
            ObservedHttp(app), host=settings.http_host, port=settings.http_port, log_config=None, lifespan="off"
        )
    )
    http_task = asyncio.create_task(http.serve(), name="http")
    for consumer in wiring.consumers:
        consumer.dead_letters = rt.producer
        consumer.start_timeout = settings.kafka_start_timeout
        consumer.give_up_after = settings.kafka_join_give_up
    workers = [asyncio.create_task(c.run(stopping), name=f"consumer:{c.group_id}") for c in wiring.consumers]
    workers.append(asyncio.create_task(rt.relay.run(stopping), name="outbox"))
    workers.append(asyncio.create_task(OutboxWatch(rt.relay).run(stopping), name="outbox-watch"))
    watch = kafka.BrokerWatch(settings.kafka_bootstrap, topics, settings.kafka_partitions, wiring.consumers)
    workers.append(asyncio.create_task(watch.run(stopping), name="broker-watch"))
    workers += [asyncio.create_task(job(stopping), name=getattr(job, "__name__", "job")) for job in wiring.background]

    crashes: list[str] = []

    def crashed(task: asyncio.Task) -> None:
        # A worker that dies would leave its partitions unserved while /healthz
        # says ready; stop the whole process so the supervisor restarts it.
        if not task.cancelled() and task.exception() is not None and not stopping.is_set():
            log.error("worker crashed; stopping", exc_info=task.exception(), extra={"task": task.get_name()})
            crashes.append(task.get_name())
            stopping.set()

    for task in workers:
        task.add_done_callback(crashed)
    while not http.started and not http_task.done():
        await asyncio.sleep(0.05)
    if http_task.done():
        http_task.result()
    ready["ok"] = True
    log.info(
        "service started",
        extra={"http_port": settings.http_port, "grpc_port": grpc_server.port},
    )

    await stopping.wait()
    log.info("service stopping")
    http.should_exit = True
    await grpc_server.stop(settings.shutdown_grace)
    # Workers see `stopping`, finish the record in hand, commit and leave.
    done, pending = await asyncio.wait(workers, timeout=settings.shutdown_grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(http_task, *pending, return_exceptions=True)
    for close in wiring.closers:
        await close()
    # Bounded: with the broker already gone, flushing would wait forever.
    try:
        await asyncio.wait_for(rt.producer.stop(), timeout=settings.shutdown_grace)
    except (TimeoutError, Exception):
        log.warning("producer did not stop cleanly")
    await rt.redis.aclose()
    await rt.mongo.close()
    await asyncio.to_thread(tracing.shutdown)
    log.info("service stopped")
    if crashes:
        # Not a clean stop: a supervisor that restarts on failure only (systemd, compose's
        # on-failure) must see one.
        raise SystemExit(1)
