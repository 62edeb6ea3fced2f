"""Every overlay renders, and every object in it is valid for Kubernetes or its CRD."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

K8S = Path(__file__).resolve().parents[2] / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.30.0"
BUILT_IN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
}
ZIPBOB_WORKLOADS = {"gateway", "catalog", "review", "web"}


def group_of(obj: dict) -> str:
    api_version = obj["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


@cache
def crd_schema(group: str, kind: str, version: str) -> dict:
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    assert path.exists(), f"no JSON schema for {group}/{version} {kind}: copy it to {path}"
    return json.loads(path.read_text())


def object_id(obj: dict) -> str:
    return f"{obj['apiVersion']} {obj['kind']} {obj['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_whole_platform(rendered_overlays, overlay):
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in rendered_overlays[overlay]}
    for name in ZIPBOB_WORKLOADS:
        assert ("Deployment", name) in kinds
        assert ("HorizontalPodAutoscaler", name) in kinds
        assert ("PodDisruptionBudget", name) in kinds
    assert ("Service", "resizer") in kinds  # the Knative Service
    assert ("Trigger", "resizer-image-uploaded") in kinds
    assert ("RabbitmqSource", "zipbob-events") in kinds
    assert ("StatefulSet", "mariadb") in kinds and ("StatefulSet", "mariadb-replica") in kinds
    assert ("StatefulSet", "mongodb") in kinds and ("RabbitmqCluster", "rabbitmq") in kinds
    assert ("Elasticsearch", "zipbob-logs") in kinds and ("Kibana", "zipbob-logs") in kinds
    assert ("HTTPRoute", "gateway") in kinds and ("Certificate", "zipbob-public") in kinds
    assert not [o for o in rendered_overlays[overlay] if o["kind"] == "DaemonSet"], (
        "the log agent is one per cluster (k8s/log-agent), not one per environment"
    )
    assert ("PrometheusRule", "zipbob") in kinds
    assert ("NetworkPolicy", "default-deny") in kinds
    assert not [o for o in rendered_overlays[overlay] if o["kind"] == "Secret"], (
        "secrets are referenced, never rendered from git"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_objects_validate(rendered_overlays, overlay):
    errors = []
    for obj in rendered_overlays[overlay]:
        if group_of(obj) not in BUILT_IN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{object_id(obj)}: {error.message} at {list(error.path)}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_their_crd_schema(rendered_overlays, overlay):
    errors = []
    for obj in rendered_overlays[overlay]:
        group = group_of(obj)
        if group in BUILT_IN_GROUPS:
            continue
        schema = crd_schema(group, obj["kind"], obj["apiVersion"].split("/")[1])
        validator = jsonschema.Draft7Validator(schema)
        errors += [
            f"{object_id(obj)}: {e.message} at {list(e.path)}" for e in validator.iter_errors(obj)
        ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_zipbob_containers_are_non_root_read_only_and_bounded(rendered_overlays, overlay):
    for obj in rendered_overlays[overlay]:
        name = obj["metadata"]["name"]
        if obj["kind"] == "Deployment" and name in ZIPBOB_WORKLOADS:
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            container = pod["containers"][0]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{name} lacks {probe}"
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
            assert {"requests", "limits"} <= set(container["resources"])
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/app/config" in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_by_the_overlay(rendered_overlays, overlay):
    for obj in rendered_overlays[overlay]:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            image = container["image"]
            if "zipbob-" in image:
                assert image.startswith("ghcr.io/") and ":" in image, f"{image} is not pinned"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_carry_the_prod_profile_files(rendered_overlays, overlay):
    for service in ("gateway", "catalog", "review", "resizer", "web"):
        matches = [
            obj
            for obj in rendered_overlays[overlay]
            if obj["kind"] == "ConfigMap"
            and obj["metadata"]["name"].startswith(f"{service}-config-")
        ]
        assert len(matches) == 1, f"one hashed ConfigMap for {service}"
        expected = {
            "application.yaml",
            "application-prod.yaml",
            f"{service}.yaml",
            f"{service}-prod.yaml",
        }
        assert expected <= set(matches[0]["data"])


def test_only_the_gateway_admits_traffic_from_outside(rendered_overlays):
    policies = [o for o in rendered_overlays["prod"] if o["kind"] == "NetworkPolicy"]
    open_to_all = [
        p["metadata"]["name"]
        for p in policies
        for rule in p["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "ipBlock" in peer
    ]
    assert open_to_all == ["gateway-from-anywhere"]
    gateway_policy = next(p for p in policies if p["metadata"]["name"] == "gateway-from-anywhere")
    assert gateway_policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "gateway"
    }


def test_every_kustomization_root_renders(render):
    roots = sorted(
        path.parent
        for path in K8S.rglob("kustomization.yaml")
        if "Component" not in path.read_text()
    )
    for root in roots:
        assert render(root), f"{root} renders nothing"


def test_the_log_agent_validates(render):
    objects = render(K8S / "log-agent")
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "DaemonSet"] == ["log-agent"]
    for obj in objects:
        if group_of(obj) in BUILT_IN_GROUPS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        else:
            schema = crd_schema(group_of(obj), obj["kind"], obj["apiVersion"].split("/")[1])
            jsonschema.Draft7Validator(schema).validate(obj)


def test_the_log_agent_is_least_privileged(render):
    """One agent for the cluster that reads only ZipBob's namespaces, writes as a
    create_doc user (never `elastic`), reads metadata only, at an ordinary priority."""
    objects = render(K8S / "log-agent")
    daemonset = next(o for o in objects if o["kind"] == "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    assert not pod.get("priorityClassName", "").startswith("system-")
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["fluent.conf"]
    paths = re.findall(r"^\s*path (/var/log/containers/\S+)", config, re.MULTILINE)
    assert paths and all(
        re.fullmatch(r"/var/log/containers/\*_zipbob(-dev)?_\*\.log", p) for p in paths
    )
    users = re.findall(r"^\s*user (\S+)", config, re.MULTILINE)
    assert users and set(users) == {"zipbob-log-writer"}, users
    assert "elastic-user" not in str(daemonset)
    role = next(o for o in objects if o["kind"] == "ClusterRole")
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])
    container = pod["containers"][0]["securityContext"]
    assert container["capabilities"]["drop"] == ["ALL"] and container["readOnlyRootFilesystem"]
