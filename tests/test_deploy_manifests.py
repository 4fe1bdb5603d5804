"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas (offline), name every
service with the ports, probes and consumer groups the code has, and the Grafana dashboard only
queries metrics the code declares."""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.kit import metrics
from services.kit.kafka import Topics
from tools.stack import DEFAULT_PORTS, SERVICES

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
DASHBOARD = ROOT / "deploy" / "monitoring" / "cdp-services.dashboard.json"
CLUSTER_SCOPED = {"Namespace"}

# The two custom resources kubernetes-validate has no schema for: the fields this suite relies on.
CRD_SCHEMAS = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers", "minReplicaCount", "maxReplicaCount"],
                "properties": {
                    "scaleTargetRef": {"type": "object", "required": ["name"]},
                    "minReplicaCount": {"type": "integer", "minimum": 1},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"enum": ["kafka", "cpu", "memory", "prometheus"]},
                                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
    "PodMonitor": {
        "type": "object",
        "required": ["apiVersion", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "spec": {
                "type": "object",
                "required": ["selector", "podMetricsEndpoints"],
                "properties": {
                    "podMetricsEndpoints": {
                        "type": "array",
                        "items": {"type": "object", "required": ["port", "path"]},
                    }
                },
            },
        },
    },
}


def build(directory: pathlib.Path) -> list[dict]:
    """What `kubectl kustomize` makes of the resources and namespace used here (no patches or generators)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    namespace = kustomization.get("namespace")
    for doc in docs:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


OVERLAYS = ["keda", "hpa"]


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schemas(overlay):
    docs = build(K8S / "overlays" / overlay)
    assert docs
    version = kubernetes_validate.latest_version()
    names = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in names, f"{key} twice"
        names.add(key)
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
        else:
            kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_manifest_is_caught():
    (deployment,) = [d for d in build(K8S / "base") if d["kind"] == "Deployment" and d["metadata"]["name"] == "profile"]
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = {"many": True}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_deployment_service_and_budget_with_probes_ports_and_requests(service):
    docs = build(K8S / "base")
    http, grpc_port = DEFAULT_PORTS[f"{service}.http"], DEFAULT_PORTS[f"{service}.grpc"]
    deployment = of_kind(docs, "Deployment")[service]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": http, "grpc": grpc_port}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CDP_HTTP_PORT"] == str(http) and env["CDP_GRPC_PORT"] == str(grpc_port)
    # Readiness and liveness on the standard gRPC health service; start-up waits for /healthz (workers up).
    assert container["readinessProbe"]["grpc"]["port"] == grpc_port
    assert container["livenessProbe"]["grpc"]["port"] == grpc_port
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(http) and annotations["prometheus.io/path"] == "/metrics"
    # The pods' grace outlasts the service's own shutdown grace, so handlers commit before the kill.
    grace = float(env["CDP_SHUTDOWN_GRACE"])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace

    svc = of_kind(docs, "Service")[service]
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {http, grpc_port}
    pdb = of_kind(docs, "PodDisruptionBudget")[service]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_every_config_and_secret_reference_exists():
    docs = build(K8S / "base")
    config = of_kind(docs, "ConfigMap")["cdp-settings"]["data"]
    secrets = of_kind(docs, "Secret")["cdp-secrets"]["stringData"]
    for deployment in of_kind(docs, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["key"] in secrets
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["key"] in config
    # The settings the services read: the peers' gRPC addresses match the Services' ports.
    for service in SERVICES:
        assert config[f"CDP_{service.upper()}_GRPC"] == f"{service}:{DEFAULT_PORTS[service + '.grpc']}"


def _consumer_groups(service: str) -> set[str]:
    """The consumer group names a service's workers module declares (every `*GROUP = "..."`)."""
    tree = ast.parse((ROOT / "services" / service / "workers.py").read_text())
    return {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id.endswith("GROUP") for t in node.targets)
        and isinstance(node.value, ast.Constant)
    }


@pytest.mark.parametrize("service", SERVICES)
def test_keda_scales_each_service_on_the_lag_of_every_consumer_group_it_has(service):
    docs = build(K8S / "overlays" / "keda")
    scaled = of_kind(docs, "ScaledObject")[service]
    assert scaled["spec"]["scaleTargetRef"]["name"] in of_kind(docs, "Deployment")
    kafka = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    assert {t["consumerGroup"] for t in kafka} == _consumer_groups(service)
    assert all(t["topic"] in Topics.all() for t in kafka)
    assert all(int(t["lagThreshold"]) > 0 for t in kafka)
    assert any(t["type"] == "cpu" for t in scaled["spec"]["triggers"])
    # Replicas past the partition count would get no partition: the ceiling is the partition count.
    partitions = int(of_kind(docs, "ConfigMap")["cdp-settings"]["data"]["CDP_KAFKA_PARTITIONS"])
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
    # KEDA makes its own HPA: a second one on the same Deployment would fight it.
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    assert all(h["spec"]["scaleTargetRef"]["name"] != service for h in hpas.values())


def test_the_hpa_overlay_scales_every_deployment_on_cpu():
    docs = build(K8S / "overlays" / "hpa")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler").values()}
    assert set(hpas) == set(of_kind(docs, "Deployment")) == {*SERVICES, "gateway"}
    assert not of_kind(docs, "ScaledObject")
    for hpa in hpas.values():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_the_pod_monitor_scrapes_the_port_serving_metrics():
    monitoring = ROOT / "deploy" / "monitoring"
    (monitor,) = [d for d in yaml.safe_load_all((monitoring / "podmonitor.yaml").read_text()) if d]
    jsonschema.validate(monitor, CRD_SCHEMAS["PodMonitor"])
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    selected = set(monitor["spec"]["selector"]["matchExpressions"][0]["values"])
    assert selected == set(SERVICES)
    for deployment in of_kind(build(K8S / "base"), "Deployment").values():
        if deployment["metadata"]["name"] in selected:
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert endpoint["port"] in {p["name"] for p in container["ports"]}
    kustomization = yaml.safe_load((monitoring / "kustomization.yaml").read_text())
    for generator in kustomization["configMapGenerator"]:
        assert all((monitoring / f).exists() for f in generator["files"])


def _declared_samples() -> set[str]:
    """Every sample name the code can expose: the kit's metrics and each service's own."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.metrics")
    names = set()
    for family in metrics.REGISTRY.collect():
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_count", "_sum"],
            "gauge": [""],
            "summary": ["_count", "_sum", ""],
        }.get(family.type, [""])
        names |= {family.name + s for s in suffixes}
    return names


def test_the_dashboard_queries_only_metrics_the_code_declares():
    dashboard = json.loads(DASHBOARD.read_text())
    declared = _declared_samples()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    used = set()
    for expr in exprs:
        used |= set(re.findall(r"\b((?:cdp|grpc_server|process)_[a-z_]+)\b", expr))
    assert used, "no metric in the dashboard"
    assert used <= declared, f"not declared in the code: {sorted(used - declared)}"
    # Throughput, latency, errors and lag each have a panel; every service's own metrics are shown.
    for needle in (
        "cdp_kafka_consumer_lag_records",
        "cdp_kafka_consumer_records_handled_total",
        "grpc_server_handling_seconds_bucket",
        "cdp_graphql_operation_duration_seconds_bucket",
        "cdp_outbox_oldest_pending_age_seconds",
        "cdp_kafka_consumer_records_dead_lettered_total",
    ):
        assert needle in used
    for service in SERVICES:
        assert any(n.startswith(f"cdp_{service}_") for n in used), service
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
