"""Settings from environment variables (prefix CDP_), one class per service."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.mongo import embedded_url


class ServiceSettings(BaseSettings):
    """What every service needs; a service subclass only changes defaults."""

    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    service_name: str = "cdp"
    # The default is the embedded SecantusDB of `./suite start` (see
    # services/kit/mongo.py for why it goes without retryable writes); a
    # deployment sets CDP_MONGO_URL and keeps pymongo's retryable writes.
    mongo_url: str = embedded_url()
    mongo_db: str = "cdp"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Partitions per topic when this service creates a topic that is missing.
    kafka_partitions: int = 6
    # Seconds a consumer's start (its group join) may take, and seconds without a started
    # consumer after which the process stops so that its supervisor restarts it (kit/kafka.py).
    kafka_start_timeout: float = Field(default=60.0, gt=0)
    kafka_join_give_up: float = Field(default=300.0, gt=0)
    http_host: str = "0.0.0.0"
    http_port: int = 4000
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50050
    # gRPC server reflection lists every method to anyone who can connect: off unless asked for.
    grpc_reflection: bool = False
    # Where identity answers /internal/authenticate (API keys and operator tokens sent to gRPC).
    identity_http: str = "http://127.0.0.1:4001"
    # Where the peers' gRPC servers are, for services that call one another
    # (profile asks segment for members to tag, messaging reads profiles).
    identity_grpc: str = "127.0.0.1:50051"
    profile_grpc: str = "127.0.0.1:50052"
    segment_grpc: str = "127.0.0.1:50053"
    messaging_grpc: str = "127.0.0.1:50054"
    journey_grpc: str = "127.0.0.1:50055"
    log_level: str = "INFO"
    # Seconds to let in-flight requests and handlers finish on SIGTERM.
    shutdown_grace: float = 5.0
