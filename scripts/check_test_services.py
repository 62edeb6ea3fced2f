"""Before `make test`: the integration suites need PostgreSQL, MariaDB, Redis and RabbitMQ,
and some suites need command-line tools (promtool and prometheus for the monitoring tests,
kubectl for rendering the Kustomize overlays, Debian's chromium for the browser tests).

Servers: use them where they already run on localhost; otherwise start them with Docker
Compose (docker-compose.test.yml) when a Docker engine is there; otherwise stop with a
message that names what is missing and how to get it. Tools: stop the same way, naming
each missing tool and the package that brings it. Never let a suite skip or fail for a
missing server or tool.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

SERVERS = {
    "PostgreSQL": (5432, "postgres"),
    "MariaDB": (3306, "mariadb"),
    "Redis": (6379, "redis"),
    "RabbitMQ": (5672, "rabbitmq"),
}
HOW_TO_GET = """\
Either start them yourself on localhost with these credentials:
  PostgreSQL 127.0.0.1:5432 user postgres, trust auth
  MariaDB    127.0.0.1:3306 user root, empty password
  Redis      127.0.0.1:6379
  RabbitMQ   127.0.0.1:5672 guest/guest
(Debian/Ubuntu: apt-get install postgresql mariadb-server redis-server rabbitmq-server;
 macOS: brew install postgresql mariadb redis rabbitmq)
or install Docker and run `make test` again: it starts them with docker-compose.test.yml."""


# tool -> how to get it (Debian/Ubuntu first; .ci/run installs the same packages).
TOOLS = {
    "promtool": "apt-get install prometheus (macOS: brew install prometheus)",
    "prometheus": "apt-get install prometheus (macOS: brew install prometheus)",
    "kubectl": "apt-get install kubectl, see https://kubernetes.io/docs/tasks/tools/ "
    "(macOS: brew install kubectl)",
    "chromium": "apt-get install chromium (the web console's browser tests drive it; "
    "macOS: brew install --cask chromium)",
}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def missing() -> list[str]:
    return [name for name, (port, _) in SERVERS.items() if not listening(port)]


def docker_engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return probe.returncode == 0


def check_tools() -> int:
    tools = missing_tools()
    if not tools:
        return 0
    lines = "\n".join(f"  {tool:<11} {TOOLS[tool]}" for tool in tools)
    print(
        f"make test needs {', '.join(tools)} on PATH and cannot install them itself:\n{lines}",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    if check_tools():
        return 1
    absent = missing()
    if not absent:
        return 0
    if docker_engine_available():
        services = [SERVERS[name][1] for name in absent]
        print(f"starting {', '.join(absent)} with docker compose ...", flush=True)
        subprocess.run(
            ["docker", "compose", "-f", "docker-compose.test.yml", "up", "-d", "--wait", *services],
            check=True,
        )
        deadline = time.monotonic() + 120
        while missing() and time.monotonic() < deadline:
            time.sleep(1)
        absent = missing()
        if not absent:
            return 0
    print(
        f"make test needs {', '.join(absent)} on localhost and cannot start them here "
        f"(no Docker engine).\n{HOW_TO_GET}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
