"""The workflows: actions pinned by commit SHA with their version beside it, downloaded tools
checked against a checksum, CI building every image, release gated on CI, prod following a
release tag and dev following main with a tag that is actually pushed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SERVICES = {"gateway", "catalog", "review", "resizer", "web"}


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(data: dict) -> list[dict]:
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_actions_are_pinned_by_commit_sha_with_the_version_in_a_comment(name):
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", text, re.MULTILINE)
    assert uses, f"{name} uses no action?"
    for action, rest in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), (
            f"{name}: {action} not by SHA"
        )
        assert re.search(r"#\s*v?\d+\.\d+(\.\d+)?", rest), (
            f"{name}: {action} has no version comment"
        )


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_downloaded_tools_are_checked_against_a_checksum(name):
    for step in steps(workflow(name)):
        script = step.get("run", "")
        if re.search(r"\b(curl|wget)\b", script):
            assert re.search(r"sha256sum (--check|-c)", script), f"{name}: {step.get('name')}"


def test_ci_builds_every_image_from_what_goes_into_it_without_pushing():
    ci = workflow("ci.yml")
    paths = set(ci["on"]["pull_request"]["paths"])
    for wanted in (
        "Dockerfile",
        ".dockerignore",
        "libs/**",
        "services/**",
        "config/**",
        "requirements.lock",
    ):
        assert wanted in paths, f"CI does not run when {wanted} changes"
    assert "v*.*.*" in ci["on"]["push"]["tags"], (
        "CI must run on release tags (release waits for it)"
    )
    images = ci["jobs"]["images"]
    assert {item["service"] for item in images["strategy"]["matrix"]["include"]} == SERVICES
    build = next(
        s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action@")
    )
    assert build["with"]["push"] is False and build["with"]["file"] == "Dockerfile"
    assert "type=gha" in build["with"]["cache-from"] and "type=gha" in build["with"]["cache-to"]


def test_ci_runs_the_review_suite_against_mongo_7():
    test = workflow("ci.yml")["jobs"]["test"]
    assert test["services"]["mongodb"]["image"].startswith("mongo:7")
    assert test["env"]["ZIPBOB_TEST_MONGO_URL"].startswith("mongodb://127.0.0.1:27017")
    assert any("make test" in s.get("run", "") for s in test["steps"])


def test_release_runs_only_after_ci_passed_on_that_commit():
    release = workflow("release.yml")
    assert set(release["on"]) == {"workflow_run"}, "no push or manual trigger may bypass CI"
    assert release["on"]["workflow_run"] == {"workflows": ["CI"], "types": ["completed"]}
    gate = release["jobs"]["version"]["if"]
    assert "workflow_run.conclusion == 'success'" in gate and "event == 'push'" in gate
    for name, job in release["jobs"].items():
        if name != "version":
            assert "version" in job["needs"], f"{name} does not wait for the gate"
    for step in steps(release):
        if (
            step.get("uses", "").startswith("actions/checkout@")
            and step.get("with", {}).get("ref") != "main"
        ):
            assert step["with"]["ref"] == "${{ needs.version.outputs.sha }}", (
                "builds the CI'd commit"
            )


def test_prod_follows_a_release_tag_and_dev_follows_main_with_a_pushed_tag():
    kubectl = shutil.which("kubectl")
    assert kubectl, "scripts/check_test_services.py makes sure kubectl is installed"
    apps = [
        doc
        for path in sorted((REPO_ROOT / "argocd" / "apps").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    revisions = {app["metadata"]["name"]: app["spec"]["source"]["targetRevision"] for app in apps}
    for name, revision in revisions.items():
        if name.endswith("-prod"):
            assert re.fullmatch(r"v\d+\.\d+\.\d+", revision), (
                f"{name} follows {revision}, not a tag"
            )
        else:
            assert revision == "main", f"{name} follows {revision}"
    prod_versions = {revisions["zipbob-platform-prod"], revisions["zipbob-services-prod"]}
    assert len(prod_versions) == 1
    version = prod_versions.pop().removeprefix("v")
    release = (WORKFLOWS / "release.yml").read_text()
    rendered = {
        overlay: subprocess.run(
            [kubectl, "kustomize", str(REPO_ROOT / "k8s" / "overlays" / overlay / "services")],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        for overlay in ("dev", "prod")
    }  # fmt: skip
    for service in SERVICES:
        prod = re.findall(rf"image: \S+/zipbob-{service}:(\S+)", rendered["prod"])
        assert set(prod) == {version}, f"prod's zipbob-{service} is {prod}, not release {version}"
        dev = set(re.findall(rf"image: \S+/zipbob-{service}:(\S+)", rendered["dev"]))
        assert len(dev) == 1
        tag = dev.pop()
        pushed = (tag == "main" and '"$IMAGE:main"' in release) or tag.startswith("sha-")
        assert pushed, f"dev runs zipbob-{service}:{tag}, a tag the release workflow never pushes"
    assert "kustomize edit set image" in release and "targetRevision" in release
