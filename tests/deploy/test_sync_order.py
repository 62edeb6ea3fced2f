"""Hooks and waves that hold: walk each environment's objects in ArgoCD's order and fail
when an object needs something (ServiceAccount, Secret, ConfigMap, custom resource kind,
operator-made Secret) that only exists at a later step.

Order: the child Applications by their sync wave (argocd/apps; the root waits for a child
to be Healthy only because argocd/ ships the Application health check), then inside one
Application by phase (PreSync, Sync, PostSync) and wave. Objects of one step are applied
together, so needs within a step are fine (controllers retry until the object appears).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_render import render

REPO_ROOT = Path(__file__).resolve().parents[2]
PHASES = {"PreSync": 0, "Sync": 1, "PostSync": 2}
# Created by hand (or External Secrets) before bootstrapping; docs/deployment.md lists them.
EXTERNAL_SECRETS = {
    "gateway-secrets", "catalog-secrets", "review-secrets", "resizer-secrets", "web-secrets",
    "mariadb-credentials", "mongodb-credentials", "redis-credentials",
    "rabbitmq-zipbob-user", "minio-credentials", "zipbob-log-writer",
    "zipbob-log-writer-role", "log-writer-prod", "log-writer-dev",
}  # fmt: skip
# Cluster prerequisites (operators and their CRDs), installed before argocd/ is applied.
OPERATOR_GROUPS = {
    "rabbitmq.com", "eventing.knative.dev", "sources.knative.dev", "serving.knative.dev",
    "monitoring.coreos.com", "elasticsearch.k8s.elastic.co", "kibana.k8s.elastic.co",
    "gateway.networking.k8s.io", "cert-manager.io",
}  # fmt: skip
# Also prerequisites: cert-manager's ClusterIssuers (public ACME, and the internal CA).
ALWAYS_THERE = {
    ("ServiceAccount", "default"),
    ("ClusterIssuer", "letsencrypt"),
    ("ClusterIssuer", "zipbob-internal-ca"),
}


def step_of(obj: dict) -> tuple[int, int]:
    annotations = obj["metadata"].get("annotations", {})
    phase = annotations.get("argocd.argoproj.io/hook", "Sync").split(",")[0]
    assert phase in PHASES, f"{obj['kind']}/{obj['metadata']['name']}: hook {phase}?"
    return PHASES[phase], int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def provides(obj: dict) -> set[tuple[str, str]]:
    """What exists once this object is applied (and what its operator then creates)."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    made = {(kind, name)}
    if kind == "Elasticsearch":
        made |= {("Secret", f"{name}-es-elastic-user"), ("Secret", f"{name}-es-http-certs-public")}
    if kind == "RabbitmqCluster":
        made |= {("Secret", f"{name}-default-user")}
    if kind == "Certificate":
        made |= {("Secret", obj["spec"]["secretName"])}
    return made


def pod_spec(obj: dict) -> dict | None:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    if obj["kind"] in kinds or obj["apiVersion"].startswith("serving.knative.dev/"):
        return obj["spec"]["template"]["spec"]
    return None


def needs(obj: dict) -> set[tuple[str, str]]:
    wanted: set[tuple[str, str]] = set()
    spec = obj.get("spec", {})
    pod = pod_spec(obj)
    if pod is not None:
        wanted.add(("ServiceAccount", pod.get("serviceAccountName", "default")))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                wanted.add(("Secret", volume["secret"]["secretName"]))
            if "configMap" in volume:
                wanted.add(("ConfigMap", volume["configMap"]["name"]))
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    wanted.add(("Secret", ref["secretKeyRef"]["name"]))
                if "configMapKeyRef" in ref:
                    wanted.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    wanted.add(("ConfigMap", source["configMapRef"]["name"]))
                if "secretRef" in source:
                    wanted.add(("Secret", source["secretRef"]["name"]))
    if "rabbitmqClusterReference" in spec:
        wanted.add(("RabbitmqCluster", spec["rabbitmqClusterReference"]["name"]))
    if obj["kind"] == "User" and "importCredentialsSecret" in spec:
        wanted.add(("Secret", spec["importCredentialsSecret"]["name"]))
    if obj["kind"] == "Permission":
        wanted.add(("User", spec["userReference"]["name"]))
    if obj["kind"] == "Trigger":
        wanted.add(("Broker", spec["broker"]))
    if obj["kind"] == "Broker" and "config" in spec:
        wanted.add((spec["config"]["kind"], spec["config"]["name"]))
    if obj["kind"] == "Kibana":
        wanted.add(("Elasticsearch", spec["elasticsearchRef"]["name"]))
    if obj["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
        wanted.add((obj["roleRef"]["kind"], obj["roleRef"]["name"]))
        for subject in obj.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                wanted.add(("ServiceAccount", subject["name"]))
    if obj["kind"] == "Elasticsearch":
        for entry in spec.get("auth", {}).get("fileRealm", []) + spec.get("auth", {}).get(
            "roles", []
        ):
            wanted.add(("Secret", entry["secretName"]))
        tls = spec.get("http", {}).get("tls", {}).get("certificate", {})
        if "secretName" in tls:
            wanted.add(("Secret", tls["secretName"]))
    if obj["kind"] == "Certificate":
        wanted.add((spec["issuerRef"].get("kind", "Issuer"), spec["issuerRef"]["name"]))
    for ref in (spec.get("subscriber", {}).get("ref"), spec.get("sink", {}).get("ref")):
        if ref and ref.get("namespace") in (None, obj["metadata"].get("namespace")):
            wanted.add((ref["kind"], ref["name"]))
    return wanted


def applications() -> list[dict]:
    return sorted(
        render(REPO_ROOT / "argocd" / "apps"),
        key=lambda app: int(
            app["metadata"]["annotations"].get("argocd.argoproj.io/sync-wave", "0")
        ),
    )


def cluster_wide_apps() -> set[str]:
    return {
        a["metadata"]["name"]
        for a in applications()
        if not any(env in a["spec"]["source"]["path"] for env in ("/dev/", "/prod/"))
    }


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_every_object_finds_what_it_needs_in_argocd_order(environment):
    """One environment's Applications plus the cluster-wide ones, in ArgoCD's order."""
    apps = [
        a
        for a in applications()
        if f"/{environment}/" in a["spec"]["source"]["path"]
        or a["metadata"]["name"] in cluster_wide_apps()
    ]
    steps: list[tuple[tuple[int, int, int], dict, str]] = []
    for app in apps:
        wave = int(app["metadata"]["annotations"].get("argocd.argoproj.io/sync-wave", "0"))
        for obj in render(REPO_ROOT / app["spec"]["source"]["path"]):
            steps.append(((wave, *step_of(obj)), obj, app["metadata"]["name"]))
    steps.sort(key=lambda item: item[0])
    existing = set(ALWAYS_THERE) | {("Secret", name) for name in EXTERNAL_SECRETS}
    problems = []
    index = 0
    while index < len(steps):
        step = steps[index][0]
        batch = [s for s in steps[index:] if s[0] == step]
        index += len(batch)
        for _, obj, _ in batch:
            existing |= provides(obj)
        for _, obj, app in batch:
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            if "." in group and not group.endswith(".k8s.io") and group not in OPERATOR_GROUPS:
                problems.append(
                    f"{app}: {obj['kind']} needs the CRDs of {group}, not a prerequisite"
                )
            for need in sorted(needs(obj) - existing):
                later = next(
                    (f"{s[2]} step {s[0]}" for s in steps if need in provides(s[1])), "nowhere"
                )
                problems.append(
                    f"{app} step {step}: {obj['kind']}/{obj['metadata']['name']} needs "
                    f"{need[0]}/{need[1]}, which exists only at {later}"
                )
    assert not problems, "\n".join(problems)


def test_child_application_waves_wait_for_health():
    """Without the Application health check, the root moves to the next wave at once."""
    objects = render(REPO_ROOT / "argocd")
    config = next(
        (o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "argocd-cm"),
        None,
    )
    assert config is not None, "argocd/ must ship argocd-cm with the Application health check"
    lua = config["data"]["resource.customizations.health.argoproj.io_Application"]
    assert "obj.status.health.status" in lua and "Progressing" in lua
    assert config["metadata"]["namespace"] == "argocd"
    waves = {
        a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for a in applications()
    }
    for env in ("dev", "prod"):
        assert waves[f"zipbob-platform-{env}"] < waves[f"zipbob-services-{env}"]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_elasticsearch_can_be_green(environment):
    """ArgoCD maps a yellow cluster to Degraded, and PostSync hooks wait for Healthy: the
    index template may not ask for more replicas than there are other nodes."""
    objects = render(REPO_ROOT / "k8s" / "overlays" / environment / "platform")
    es = next(o for o in objects if o["kind"] == "Elasticsearch")
    nodes = sum(node_set["count"] for node_set in es["spec"]["nodeSets"])
    setup = next(
        o
        for o in objects
        if o["kind"] == "ConfigMap"
        and o["metadata"]["name"].startswith("elasticsearch-index-setup")
    )
    template = json.loads(setup["data"]["index-template.json"])
    replicas = int(template["template"]["settings"]["index.number_of_replicas"])
    assert replicas <= nodes - 1, f"{environment}: {replicas} replicas on {nodes} node(s) is yellow"
    base = json.loads((REPO_ROOT / "k8s" / "logging" / "index-template.json").read_text())
    base["template"]["settings"]["index.number_of_replicas"] = replicas
    assert template == base, "the overlay's index template drifted from k8s/logging's"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_removing_an_application_keeps_the_data(environment):
    """Deleting the platform Application must not delete the namespace (and its PVCs) or
    the objects whose operators delete their volumes with them."""
    objects = render(REPO_ROOT / "k8s" / "overlays" / environment / "platform")
    keepers = [
        o
        for o in objects
        if o["kind"] in {"Namespace", "RabbitmqCluster", "Elasticsearch"}
        or (o["kind"] == "StatefulSet" and o["spec"].get("volumeClaimTemplates"))
    ]
    assert any(o["kind"] == "Namespace" for o in keepers)
    for obj in keepers:
        options = obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-options", "")
        assert "Delete=false" in options, f"{obj['kind']}/{obj['metadata']['name']}: Delete=false"
        if obj["kind"] == "Namespace":
            assert "Prune=false" in options
        if obj["kind"] == "StatefulSet":
            policy = obj["spec"].get("persistentVolumeClaimRetentionPolicy", {})
            assert policy.get("whenDeleted", "Retain") == "Retain"
