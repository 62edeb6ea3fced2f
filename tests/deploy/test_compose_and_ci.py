"""docker-compose.yml, the Dockerfiles, the GitHub workflows and the ArgoCD manifests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "catalog", "review", "resizer", "web")
COMPOSE = REPO_ROOT / "docker-compose.yml"
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def check_jsonschema(builtin: str, *files: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", builtin]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True, timeout=60)


def test_compose_file_follows_the_compose_spec():
    result = check_jsonschema("vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_follow_the_github_workflow_schema():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_whole_stack_with_health_gated_start():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    expected = {*SERVICES, "resizer-dispatcher", "mariadb", "mongodb", "redis", "rabbitmq",
                "minio", "minio-buckets", "prometheus", "grafana"}  # fmt: skip
    assert expected <= set(services)
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] in {
                "service_healthy", "service_completed_successfully",
            }, f"{name} -> {dependency}"  # fmt: skip
            target = services[dependency]
            if condition["condition"] == "service_healthy":
                built = "build" in target or target.get("image", "").startswith("zipbob/")
                assert "healthcheck" in target or built, f"{dependency} has no healthcheck"
    for backing in ("mariadb", "mongodb", "redis", "rabbitmq", "minio", "prometheus", "grafana"):
        assert "healthcheck" in services[backing], backing


def test_compose_requires_every_secret():
    text = COMPOSE.read_text()
    required = [
        "MARIADB_ROOT_PASSWORD",
        "REDIS_PASSWORD",
        "RABBITMQ_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "ZIPBOB_JWT_PRIVATE_KEYS",
        "GRAFANA_ADMIN_PASSWORD",
    ]
    for variable in required:
        assert re.search(r"\$\{" + variable + r":\?[^}]+\}", text), f"{variable} not required"
    assert not re.search(r"\$\{\w*(PASSWORD|SECRET|KEYS)\w*:-", text), "no default secrets"


def test_dockerfile_is_multi_stage_slim_non_root_and_healthchecked():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", dockerfile, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage build"
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", dockerfile).group(1)
    final_stage = dockerfile.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in final_stage
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final_stage)
    user = re.findall(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert "HEALTHCHECK" in final_stage and "/healthz/live" in final_stage
    assert 'ENTRYPOINT ["python", "-m", "zipbob_platform.entrypoint"]' in final_stage
    assert "ZIPBOB_SERVICE=${SERVICE}" in final_stage
    assert "COPY requirements.lock" in dockerfile and "libs/zipbob-platform" in dockerfile


def test_every_image_is_built_from_the_one_dockerfile_with_its_service_and_port():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    builds = {name: spec["build"] for name, spec in compose["services"].items() if "build" in spec}
    ports = {"gateway": "8080", "catalog": "8081", "review": "8082", "resizer": "8083",
             "web": "8085"}  # fmt: skip
    ports["dispatcher"] = "8084"  # services/dispatcher: its /metrics port
    assert {b["args"]["SERVICE"] for b in builds.values()} == {*SERVICES, "dispatcher"}
    for build in builds.values():
        assert build["dockerfile"] == "Dockerfile"
        assert build["args"]["PORT"] == ports[build["args"]["SERVICE"]]
    release = (REPO_ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "file: Dockerfile" in release and "SERVICE=${{ matrix.service }}" in release


def test_the_container_entry_point_runs_the_named_service():
    refused = subprocess.run(
        [sys.executable, "-m", "zipbob_platform.entrypoint"],
        env={"ZIPBOB_SERVICE": "nonsense", "PATH": "/usr/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "ZIPBOB_SERVICE must be one of" in refused.stderr


def test_docker_context_keeps_the_shared_package_and_lock():
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for wanted in ("!requirements.lock", "!libs/zipbob-platform/src/**", "!services/*/src/**"):
        assert wanted in ignore


@pytest.mark.parametrize("root", ["argocd", "argocd/apps"])
def test_argocd_manifests_validate(render, root):
    objects = render(REPO_ROOT / root)
    schemas = REPO_ROOT / "k8s" / "schemas" / "argoproj.io"
    for obj in objects:
        if obj["apiVersion"] == "v1":  # argocd-cm, the Application health check
            kubernetes_validate.validate(obj, "1.30.0", strict=True)
            continue
        schema = json.loads((schemas / f"{obj['kind'].lower()}_v1alpha1.json").read_text())
        jsonschema.validate(obj, schema)


def test_argocd_syncs_platform_before_services_with_self_healing(render):
    applications = render(REPO_ROOT / "argocd" / "apps")
    waves = {}
    for app in applications:
        policy = app["spec"]["syncPolicy"]["automated"]
        assert policy == {"prune": True, "selfHeal": True}
        assert (REPO_ROOT / app["spec"]["source"]["path"] / "kustomization.yaml").exists()
        waves[app["metadata"]["name"]] = int(
            app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        )
    for env in ("dev", "prod"):
        assert waves[f"zipbob-platform-{env}"] < waves[f"zipbob-services-{env}"]


def test_migrations_are_presync_hooks(rendered_overlays):
    jobs = {o["metadata"]["name"]: o for o in rendered_overlays["prod"] if o["kind"] == "Job"}
    for name in ("gateway-migrate", "catalog-migrate"):
        assert jobs[name]["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
