"""Developer tooling stays out of the images: the Dockerfile's install command, followed through
every dependency it pulls in, never reaches the devkit or the embedded test servers."""

from __future__ import annotations

import re
import shlex
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "catalog", "review", "resizer")
# What `make install` adds for development and tests only.
DEV_ONLY = frozenset(
    canonicalize_name(n)
    for n in ("zipbob-devkit", "moto", "fakeredis", "lupa", "nx-27017", "pytest", "flask")
)


def _install_arguments() -> list[str]:
    """The arguments of the build stage's `pip install`, line continuations joined."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    commands = [line for line in dockerfile.splitlines() if re.match(r"RUN\s+pip install\b", line)]
    assert len(commands) == 1, f"expected one `RUN pip install` in the Dockerfile: {commands}"
    words = shlex.split(commands[0].split("&&", 1)[0])[3:]
    return words


def _local_projects(service: str) -> tuple[list[Path], list[str]]:
    """(local project directories, every other argument) of the install for ``service``."""
    projects, others = [], []
    words = iter(_install_arguments())
    for word in words:
        if word in ("--constraint", "-c"):
            next(words)  # a constraints file pins versions, it installs nothing
            continue
        word = word.replace("${SERVICE}", service)
        if word.startswith(("./", "/src/")):
            projects.append(REPO_ROOT / word.removeprefix("/src/").removeprefix("./"))
        else:
            others.append(word)
    return projects, others


def _project_name_and_requirements(project: Path) -> tuple[str, list[str]]:
    import tomllib

    data = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return data["name"], list(data.get("dependencies", []))


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, as installed in this venv."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (a platform-specific extra); nothing below it to follow
        for raw in dist.requires or []:
            sub = Requirement(raw)
            extras = req.extras or set()
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(Requirement(str(sub).split(";", 1)[0]))
    return seen


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_install_command_never_reaches_the_devkit(service: str) -> None:
    projects, others = _local_projects(service)
    assert projects, "the Dockerfile installs the platform and the service from the context"
    assert not [w for w in others if not w.startswith("-")], f"unexpected install args {others}"
    assert not {"-r", "--requirement", "-e", "--editable"} & set(others)
    names, requirements = set(), []
    for project in projects:
        assert "devkit" not in project.name, f"the Dockerfile installs {project}"
        name, deps = _project_name_and_requirements(project)
        names.add(canonicalize_name(name))
        requirements += deps
    assert {"zipbob-platform", f"zipbob-{service}"} <= names
    pulled_in = _closure(requirements) | names
    assert not pulled_in & DEV_ONLY, f"the {service} image would contain {pulled_in & DEV_ONLY}"


def test_the_docker_context_leaves_the_devkit_out() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore or "**" in ignore, "the context is an allow-list"
    assert not [line for line in ignore if line.startswith("!") and "devkit" in line]
    assert not [line for line in ignore if line.startswith("!libs/*") or line == "!libs/**"]


def test_the_runtime_packages_do_not_depend_on_dev_servers() -> None:
    for project in [REPO_ROOT / "libs" / "zipbob-platform", *(REPO_ROOT / "services").iterdir()]:
        if not (project / "pyproject.toml").is_file():
            continue
        _, deps = _project_name_and_requirements(project)
        named = {canonicalize_name(Requirement(d).name) for d in deps}
        assert not named & DEV_ONLY, f"{project.name} depends on {named & DEV_ONLY}"
