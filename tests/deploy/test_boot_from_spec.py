"""Boot from spec: every container of a ZipBob image, in every rendered overlay and in
docker-compose.yml, started from the venv with its own command, args and env.

What a container would get, it gets: the image's ENTRYPOINT and ENV (from the Dockerfile),
the manifest's command/args/env, Secret refs filled with realistic values by key (the
in-cluster URLs an operator would put there), ConfigMap refs and mounted ConfigMaps
written out. Only three things are translated, because a laptop is not a cluster:
  - backing hosts (mariadb, redis, rabbitmq, mongodb, minio, S3) point at the local test
    servers, with a database and a RabbitMQ vhost of this run only;
  - Service names (gateway, catalog, review, resizer) point at the port of that workload
    in the same overlay;
  - every port a container listens on moves to a free local port (through the variable
    the service reads it from), and mount paths move to a temp dir.
Jobs must exit 0 having migrated (their tables exist); everything else must answer 200 on
its readiness probe path. All processes start at once (Jobs first, as PreSync hooks and
compose's service_completed_successfully do), so the whole run costs one slow start.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import yaml

from zipbob_devkit.embedded import free_port
from zipbob_devkit.testing import add_rabbitmq_vhost, delete_rabbitmq_vhost, rabbitmq_vhost_url

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "k8s"
COMPOSE = REPO_ROOT / "docker-compose.yml"
OVERLAYS = ("dev", "prod")
# dispatcher: its own image (services/dispatcher), compose only, metrics on 8084.
SERVICE_PORTS = {
    "gateway": 8080,
    "catalog": 8081,
    "review": 8082,
    "resizer": 8083,
    "dispatcher": 8084,
    "web": 8085,
}
# Other ports a service listens on, by the variable that moves them (nobody dials them here).
EXTRA_LISTEN_ENV = {"gateway": ["ZIPBOB_MANAGEMENT__PORT"]}
# A deadline, not a timing assertion: on an idle 2-core machine all are ready in ~40 s;
# eight helpers testing at once have pushed single start-ups past two minutes.
READY_DEADLINE = 300.0
MARIADB = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
PG_SCHEMES = ("postgresql", "postgres")


# --- what the image gives a container ----------------------------------------------------


def dockerfile_entrypoint() -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def image_env(service: str) -> dict[str, str]:
    """The runtime stage's ENV of the Dockerfile, with SERVICE and PORT filled in."""
    if service not in SERVICE_PORTS:
        return {}  # an unknown project image: its test fails, naming what to add
    text = (REPO_ROOT / "Dockerfile").read_text().split("AS runtime", 1)[1]
    block = re.search(r"^ENV\s+((?:.*\\\n)*.*)$", text, re.M)
    assert block, "the runtime stage sets no ENV"
    env = {}
    for name, value in re.findall(r"(\w+)=(\S+)", block.group(1).replace("\\\n", " ")):
        value = value.replace("${SERVICE}", service).replace("${PORT}", str(SERVICE_PORTS[service]))
        env[name] = value
    env.pop("PATH", None)
    return env


def project_service(image: str) -> str | None:
    """`ghcr.io/zipbob/zipbob-catalog:main` or compose's `zipbob/catalog:local` -> catalog."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if name.startswith("zipbob-") or image.startswith("zipbob/"):
        # Every project image is booted: a new one fails below until it is described here.
        return name.removeprefix("zipbob-")
    return None


# --- the workloads ----------------------------------------------------------------------


@dataclass
class Workload:
    context: str  # dev | prod | compose
    kind: str  # Deployment, Job, ..., compose
    name: str
    container: str
    service: str
    command: list[str]
    env: dict[str, str]  # image ENV + container env, Secrets still as secret:NAME/KEY
    config_files: dict[str, dict[str, str]] = field(default_factory=dict)  # mount -> files
    probe_path: str | None = None  # None: a Job, must exit 0
    listen_env: list[str] = field(default_factory=list)  # variables that carry its ports
    job_db: str | None = None  # the database a migration Job must fill

    @property
    def id(self) -> str:
        return f"{self.context}/{self.kind}/{self.name}/{self.container}"


def pod_spec_of(obj: dict) -> dict | None:
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "Service" and obj["apiVersion"].startswith("serving.knative.dev/"):
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def k8s_env(container: dict, objects: list[dict], namespace: str) -> dict[str, str]:
    config_maps = {
        o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        if "secretRef" in source:
            raise AssertionError("envFrom secretRef: name the keys one by one")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            env[item["name"]] = f"secret:{ref['secretKeyRef']['name']}/{ref['secretKeyRef']['key']}"
        elif "configMapKeyRef" in ref:
            cm = ref["configMapKeyRef"]
            env[item["name"]] = config_maps[cm["name"]][cm["key"]]
        elif "fieldRef" in ref:
            env[item["name"]] = {"metadata.namespace": namespace}.get(
                ref["fieldRef"]["fieldPath"], "node-1"
            )
        else:
            raise AssertionError(f"unsupported env source {ref}")
    return env


def sink_binding_env(obj: dict, objects: list[dict], namespace: str) -> dict[str, str]:
    """What a SinkBinding injects into its subject's containers: K_SINK, the address of its
    sink (a Broker: eventing-rabbitmq's ingress Service)."""
    for binding in (o for o in objects if o["kind"] == "SinkBinding"):
        subject, ref = binding["spec"]["subject"], binding["spec"]["sink"]["ref"]
        if (subject["kind"], subject.get("name")) != (obj["kind"], obj["metadata"]["name"]):
            continue
        assert ref["kind"] == "Broker", f"SinkBinding to a {ref['kind']}: add its address here"
        host = f"{ref['name']}-broker-ingress.{namespace}.svc.cluster.local"
        return {"K_SINK": f"http://{host}/"}
    return {}


def k8s_workloads(overlay: str, objects: list[dict]) -> list[Workload]:
    config_maps = {
        o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
    }
    workloads = []
    for obj in objects:
        pod = pod_spec_of(obj)
        if pod is None:
            continue
        namespace = obj["metadata"].get("namespace", overlay)
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        knative = obj["kind"] == "Service"
        for index, container in enumerate(
            [*pod.get("initContainers", []), *pod.get("containers", [])]
        ):
            service = project_service(container["image"])
            if service is None:
                continue
            env = {**image_env(service), **k8s_env(container, objects, namespace)}
            env |= sink_binding_env(obj, objects, namespace)
            command = container.get("command") or dockerfile_entrypoint()
            command = [*command, *container.get("args", [])]
            files = {}
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    files[mount["mountPath"]] = config_maps[volume["configMap"]["name"]]
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            probe = container.get("readinessProbe", {}).get("httpGet")
            is_job = obj["kind"] == "Job" or index < len(pod.get("initContainers", []))
            listen = [] if is_job else [f"ZIPBOB_{service.upper()}_PORT"]
            if knative:
                # Knative gives the user container $PORT (its one containerPort).
                env["PORT"] = str(next(iter(ports.values()), 8080))
                env.update(K_SERVICE=obj["metadata"]["name"], K_REVISION="r-1", K_CONFIGURATION="c")
                listen = ["PORT"]
            workloads.append(
                Workload(
                    context=overlay,
                    kind="KnativeService" if knative else obj["kind"],
                    name=obj["metadata"]["name"],
                    container=container["name"],
                    service=service,
                    command=command,
                    env=env,
                    config_files=files,
                    probe_path=None if is_job else (probe or {}).get("path", "/healthz/ready"),
                    listen_env=listen,
                    job_db=service if is_job else None,
                )
            )
    return workloads


COMPOSE_SECRETS = {
    "MARIADB_ROOT_PASSWORD": "Zq3-root-7f1c2e",
    "GATEWAY_DB_PASSWORD": "Zq3-gateway-8d0a1b",
    "CATALOG_DB_PASSWORD": "Zq3-catalog-2b9e4c",
    "MONGO_ROOT_PASSWORD": "Zq3-mongo-5c7d3a",
    "REDIS_PASSWORD": "Zq3-redis-1e8f6b",
    "RABBITMQ_PASSWORD": "Zq3-rabbit-9a4c0d",
    "MINIO_ROOT_USER": "zipbob-minio",
    "MINIO_ROOT_PASSWORD": "Zq3-minio-3f2a7e",
    "GRAFANA_ADMIN_PASSWORD": "Zq3-grafana-6d1b8c",
}


def interpolate_compose(text: str, values: dict[str, str]) -> str:
    def value_of(match: re.Match[str]) -> str:
        # A variable .env must set that has no entry above (a new password or shared
        # secret) gets a generated one of the same kind.
        return values.get(match.group(1)) or f"Zq3-{match.group(1).lower()}-{uuid.uuid4().hex[:8]}"

    text = re.sub(r"\$\{(\w+)(?::?[?-][^}]*)?\}", value_of, text.replace("$$", "\0"))
    return text.replace("\0", "$")


def interpolated(node, values: dict[str, str]):
    if isinstance(node, dict):
        return {k: interpolated(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolated(v, values) for v in node]
    return interpolate_compose(node, values) if isinstance(node, str) else node


def compose_workloads(jwt_keys: str) -> list[Workload]:
    values = {**COMPOSE_SECRETS, "ZIPBOB_JWT_PRIVATE_KEYS": jwt_keys}
    compose = interpolated(yaml.safe_load(COMPOSE.read_text()), values)
    workloads = []
    for name, spec in compose["services"].items():
        image = spec.get("image", "")
        service = spec["build"]["args"]["SERVICE"] if "build" in spec else project_service(image)
        if service is None:
            continue
        env = {**image_env(service), **{k: str(v) for k, v in spec.get("environment", {}).items()}}
        command = [*(spec.get("entrypoint") or dockerfile_entrypoint()), *spec.get("command", [])]
        is_job = spec.get("restart") == "no"
        probe_path, listen = "/healthz/ready", [f"ZIPBOB_{service.upper()}_PORT"]
        test = spec.get("healthcheck", {}).get("test", [])
        if "/metrics" in " ".join(test):  # the dispatcher: only a metrics endpoint
            probe_path, listen = "/metrics", ["ZIPBOB_DISPATCHER_METRICS_PORT"]
        workloads.append(
            Workload(
                context="compose",
                kind="compose",
                name=name,
                container=name,
                service=service,
                command=command,
                env=env,
                probe_path=None if is_job else probe_path,
                listen_env=[] if is_job else listen,
                job_db=service if is_job else None,
            )
        )
    return workloads


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return []
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def jwt_private_keys() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps([{"kid": "boot-2026-12", "pem": pem}])


JWT_KEYS = jwt_private_keys()
EVENT_SIGNING_KEY = "Zq3-event-signing-2026-12-7c41e09b5a3d8f26"
EVENT_SIGNING_PREVIOUS_KEY = "Zq3-event-signing-2026-06-1b9d3f70c2e84a55"
RENDERED = {overlay: render(overlay) for overlay in OVERLAYS}
WORKLOADS = [w for o in OVERLAYS for w in k8s_workloads(o, RENDERED[o])] + compose_workloads(
    JWT_KEYS
)


# --- realistic Secret values, then the translation to local servers ------------------------


def secret_value(secret: str, key: str) -> str:
    """What an operator puts in the Secret: in-cluster addresses, real-looking credentials."""
    owner = secret.removesuffix("-secrets")
    values = {
        "database-url": f"mysql+asyncmy://{owner}:Zq3-{owner}-db@mariadb:3306/{owner}?charset=utf8mb4",
        "redis-url": "redis://:Zq3-redis-1e8f6b@redis:6379/0",
        "rabbitmq-url": "amqp://zipbob:Zq3-rabbit-9a4c0d@rabbitmq:5672/%2F",
        "mongo-url": (
            "mongodb://zipbob:Zq3-mongo-5c7d3a@mongodb-0.mongodb:27017,mongodb-1.mongodb:27017,"
            "mongodb-2.mongodb:27017/?replicaSet=rs0&authSource=admin"
        ),
        "jwt-private-keys": JWT_KEYS,
        "s3-access-key-id": "AKIAZIPBOB7EXAMPLE42",
        "s3-secret-access-key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzipbobKEY",
        "events-token": "Zq3-events-4b1f9a0c",
        "web-secret-key": "Zq3-web-session-key-5d2c7e9a1f4b8c03",
        # One value in two Secrets: the web console's credential at the gateway.
        "edge-proxy-token": "Zq3-proxy-token-8e2b6d0f4a1c9e73",
        "web-gateway-proxy-token": "Zq3-proxy-token-8e2b6d0f4a1c9e73",
        # One value in catalog-, review- and resizer-secrets; a rotation in progress, so the
        # previous key is there too (both are accepted, the first one signs).
        "event-auth-signing-key": EVENT_SIGNING_KEY,
        "event-auth-signing-previous-key": EVENT_SIGNING_PREVIOUS_KEY,
    }
    assert key in values, f"no realistic value for key {key!r} of Secret {secret}: add one here"
    return values[key]


@dataclass
class LocalServers:
    run: str  # unique per test run
    vhost: str
    s3_url: str
    mongo_url: str
    ports: dict[tuple[str, str], int]  # (context, workload name) -> port
    databases: set[str] = field(default_factory=set)

    def database(self, context: str, name: str) -> str:
        db = f"zipbob_boot_{self.run}_{context}_{name}".replace("-", "_")
        self.databases.add(db)
        return db

    def service_port(self, context: str, host: str) -> int | None:
        host = host.split(".", 1)[0]
        return self.ports.get((context, host))


BACKING_HOST = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<netloc>[^/\s?#\"']+)(?P<rest>[^\s\"']*)"
)


def translate_url(match: re.Match[str], context: str, servers: LocalServers) -> str:
    scheme, netloc, rest = match.group("scheme"), match.group("netloc"), match.group("rest")
    hosts = [h.rsplit("@", 1)[-1] for h in netloc.split(",")]
    host = hosts[0].split(":", 1)[0]
    short = host.split(".", 1)[0]
    parts = urlsplit(f"{scheme}://x{rest}")
    if (scheme.startswith("mysql") or scheme.startswith(PG_SCHEMES)) and short == "mariadb":
        db = servers.database(context, parts.path.strip("/") or "zipbob")
        return urlunsplit((scheme, f"root@{MARIADB[0]}:{MARIADB[1]}", f"/{db}", parts.query, ""))
    if scheme == "redis" and short == "redis":
        return f"redis://{REDIS[0]}:{REDIS[1]}{parts.path or '/0'}"
    if scheme.startswith("amqp") and short == "rabbitmq":
        return rabbitmq_vhost_url(servers.vhost, host=RABBITMQ[0], port=RABBITMQ[1])
    if scheme == "mongodb" and short.startswith("mongodb"):
        mongo = urlsplit(servers.mongo_url)
        return urlunsplit(("mongodb", mongo.netloc, parts.path or "/", "directConnection=true", ""))
    if scheme in ("http", "https"):
        if short == "minio" or host.endswith(".amazonaws.com"):
            return servers.s3_url + rest
        port = servers.service_port(context, host)
        if port is not None:
            return f"http://127.0.0.1:{port}{rest}"
    return match.group(0)


def translate(text: str, context: str, servers: LocalServers) -> str:
    return BACKING_HOST.sub(lambda m: translate_url(m, context, servers), text)


def process_env(w: Workload, servers: LocalServers, workdir: Path) -> dict[str, str]:
    env = {}
    for name, value in w.env.items():
        if value.startswith("secret:"):
            secret, key = value.removeprefix("secret:").split("/", 1)
            value = secret_value(secret, key)
        env[name] = translate(value, w.context, servers)
    for mount, files in w.config_files.items():
        folder = workdir / mount.strip("/").replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in files.items():
            (folder / file_name).write_text(translate(content, w.context, servers))
        env = {
            k: v.replace(mount, str(folder)) if v.startswith(mount) else v for k, v in env.items()
        }
    if env.get("ZIPBOB_CONFIG_DIR") == "/app/config":  # not mounted: the image's copy
        baked = workdir / "image-config"
        shutil.copytree(REPO_ROOT / "config", baked, ignore=shutil.ignore_patterns("*.py"))
        for path in baked.glob("*.yaml"):
            path.write_text(translate(path.read_text(), w.context, servers))
        env["ZIPBOB_CONFIG_DIR"] = str(baked)
    for name in w.listen_env:
        env[name] = str(servers.ports[(w.context, w.name)])
    if w.listen_env:  # a long-running process: its other listeners move too
        for name in EXTRA_LISTEN_ENV.get(w.service, []):
            env[name] = str(free_port())
    env.update(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", HOME=str(workdir))
    return env


# --- local servers for this run --------------------------------------------------------


def compile_like_the_image() -> None:
    """The Dockerfile compiles the venv's bytecode (and sets PYTHONDONTWRITEBYTECODE), so a
    container never compiles at start. Do the same once here (incremental: a no-op when
    nothing changed); otherwise every booted process compiles thousands of modules."""
    site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    sources = [str(p) for p in (REPO_ROOT / "libs").glob("*/src")]
    sources += [str(p) for p in (REPO_ROOT / "services").glob("*/src")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", str(site), *sources],
        capture_output=True, timeout=600, check=False,
    )  # fmt: skip


async def sql(statements: list[str]) -> list[list[str]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"mysql+asyncmy://root@{MARIADB[0]}:{MARIADB[1]}/")
    results = []
    async with engine.connect() as conn:
        for statement in statements:
            rows = await conn.execute(text(statement))
            results.append([row[0] for row in rows] if rows.returns_rows else [])
    await engine.dispose()
    return results


@dataclass
class Outcome:
    result: str
    seconds: float
    log: Path
    detail: str = ""


class Booted(dict[str, Outcome]):
    """The outcomes by workload id, and where the running workloads listen."""

    servers: LocalServers
    root: Path


def start(w: Workload, servers: LocalServers, root: Path) -> tuple[subprocess.Popen, Path, float]:
    workdir = root / w.id.replace("/", "_")
    workdir.mkdir(parents=True)
    env = process_env(w, servers, workdir)
    command = [sys.executable if part == "python" else part for part in w.command]
    log = workdir / "output.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return process, log, time.monotonic()


def last_lines(log: Path, count: int = 12) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-count:])


def wait_all(started: dict[str, tuple], workloads: dict[str, Workload], servers) -> dict:
    outcomes: dict[str, Outcome] = {}
    deadline = time.monotonic() + READY_DEADLINE
    with httpx.Client(timeout=2) as client:
        while len(outcomes) < len(started):
            for wid, (process, log, began) in started.items():
                if wid in outcomes:
                    continue
                w = workloads[wid]
                code = process.poll()
                elapsed = time.monotonic() - began
                if w.probe_path is None:
                    if code is not None:
                        result = "exit 0" if code == 0 else f"exit {code}"
                        outcomes[wid] = Outcome(result, elapsed, log)
                    continue
                if code is not None:
                    outcomes[wid] = Outcome(f"exited {code}", elapsed, log)
                    continue
                url = f"http://127.0.0.1:{servers.ports[(w.context, w.name)]}{w.probe_path}"
                try:
                    if client.get(url).status_code == 200:
                        outcomes[wid] = Outcome("ready", elapsed, log)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                for wid, (_, log, began) in started.items():
                    outcomes.setdefault(wid, Outcome("not ready", time.monotonic() - began, log))
            time.sleep(0.2)
    return outcomes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_buckets(s3_url: str, contexts: dict[str, list[Workload]], root: Path) -> None:
    """The buckets each environment's settings name, as the bucket Job / Terraform would."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=s3_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
    )  # fmt: skip
    names = set()
    for w in (w for ws in contexts.values() for w in ws):
        for files in w.config_files.values():
            for content in files.values():
                names |= set(re.findall(r"^\s*(?:original|resized)_bucket:\s*(\S+)", content, re.M))
    for path in (REPO_ROOT / "config").glob("*.yaml"):
        names |= set(
            re.findall(r"^\s*(?:original|resized)_bucket:\s*(\S+)", path.read_text(), re.M)
        )
    for w in (w for ws in contexts.values() for w in ws):
        names |= {v for k, v in w.env.items() if k.endswith("_BUCKET")}
    existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
    for name in sorted(names - existing):
        client.create_bucket(Bucket=name)


@pytest.fixture(scope="module")
def boot(request, s3_server, mongo_url, tmp_path_factory):
    if not WORKLOADS or not any(w.context != "compose" for w in WORKLOADS):
        pytest.fail("kubectl is needed to render the overlays (apt-get install kubectl)")
    run = uuid.uuid4().hex[:8]
    ports = {(w.context, w.name): free_port() for w in WORKLOADS}
    servers = LocalServers(run, f"zipbob-boot-{run}", s3_server.url, mongo_url, ports)
    root = tmp_path_factory.mktemp("boot")
    compile_like_the_image()
    add_rabbitmq_vhost(servers.vhost, host=RABBITMQ[0], port=RABBITMQ[1])
    by_context: dict[str, list[Workload]] = {}
    for w in WORKLOADS:
        by_context.setdefault(w.context, []).append(w)
    create_buckets(s3_server.url, by_context, root)
    workloads = {w.id: w for w in WORKLOADS}
    processes: list[subprocess.Popen] = []
    outcomes = Booted()
    outcomes.servers, outcomes.root = servers, root
    try:
        # Resolve every URL once so each database is known, then create them all.
        for w in WORKLOADS:
            process_env(w, servers, root / "dry" / w.id.replace("/", "_"))
        asyncio.run(
            sql(
                [
                    f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4"
                    for db in sorted(servers.databases)
                ]
            )
        )
        for phase in ("jobs", "services"):
            chosen = [
                w
                for w in WORKLOADS
                if (w.probe_path is None) == (phase == "jobs") and w.service in SERVICE_PORTS
            ]
            started = {w.id: start(w, servers, root) for w in chosen}
            processes += [p for p, _, _ in started.values()]
            outcomes |= wait_all(started, workloads, servers)
        for wid, outcome in outcomes.items():
            w = workloads[wid]
            if w.job_db and outcome.result == "exit 0":
                db = servers.database(w.context, w.job_db)
                (tables,) = asyncio.run(
                    sql(
                        [
                            "SELECT table_name FROM information_schema.tables"  # noqa: S608
                            f" WHERE table_schema = '{db}'"
                        ]
                    )
                )
                if "alembic_version" not in tables or len(tables) < 2:
                    outcome.result = "exit 0, no tables"
                outcome.detail = f"{len(tables)} tables in {db}"
        yield outcomes
    finally:
        stop(processes)
        report(request, outcomes, workloads, root)
        asyncio.run(sql([f"DROP DATABASE IF EXISTS `{db}`" for db in sorted(servers.databases)]))
        delete_rabbitmq_vhost(servers.vhost)


def report(request, outcomes: dict[str, Outcome], workloads: dict[str, Workload], root: Path):
    lines = ["", "boot from spec (workload | overlay | result | seconds)", "-" * 72]
    for wid, w in workloads.items():
        o = outcomes.get(wid)
        label = f"{w.kind}/{w.name}" + (f" [{w.container}]" if w.container != w.name else "")
        result = o.result if o else "not started"
        lines.append(f"{label:<48} {w.context:<8} {result:<24} {o.seconds if o else 0:6.1f}")
    table = "\n".join(lines)
    (root / "boot-table.txt").write_text(table + "\n")
    request.config.__dict__.setdefault("zipbob_deploy_report", []).extend(
        [*table.splitlines(), f"(also in {root / 'boot-table.txt'}; logs beside it)"]
    )


@pytest.mark.parametrize("workload", [pytest.param(w, id=w.id) for w in WORKLOADS])
def test_workload_boots_from_its_own_spec(boot, workload):
    assert workload.service in SERVICE_PORTS, (
        f"{workload.id}: project image zipbob-{workload.service} is unknown to the boot test; "
        "add its port to SERVICE_PORTS and its Secret keys to secret_value"
    )
    outcome = boot[workload.id]
    wanted = "exit 0" if workload.probe_path is None else "ready"
    assert outcome.result == wanted, (
        f"{workload.id}: {outcome.result} after {outcome.seconds:.1f}s ({outcome.detail}); "
        f"last lines of {outcome.log}:\n{last_lines(outcome.log)}"
    )


def test_every_project_container_is_booted():
    """Nothing is skipped: each overlay's and compose's project containers are all here."""
    seen = {(w.context, w.service) for w in WORKLOADS}
    for context in (*OVERLAYS, "compose"):
        for service in ("gateway", "catalog", "review", "resizer"):
            assert (context, service) in seen, f"no {service} workload found in {context}"
    jobs = {(w.context, w.name) for w in WORKLOADS if w.probe_path is None}
    for context in (*OVERLAYS, "compose"):
        assert {(context, "gateway-migrate"), (context, "catalog-migrate")} <= jobs


# --- every Trigger's flow, sender to receiver, as configured ----------------------------
#
# For each Trigger of each overlay: the event its filter selects is made by the code that
# sends it in the cluster, configured from the sender's own rendered env (the catalog's
# outbox publisher, the review's summaries publisher, the resizer's reply), reshaped the
# way Knative's Go SDK writes it again (header case, `time` as RFC 3339 UTC), and posted
# to the Trigger's subscriber (Service + uri) on the booted receiver. It must be accepted
# (2xx); unsigned, forged (another key) and tampered copies must be refused with 401.

SENDERS = {"catalog": "catalog", "resizer": "resizer", "review": "review"}  # type segment


def triggers(overlay: str) -> list[dict]:
    return [o for o in RENDERED[overlay] if o["kind"] == "Trigger"]


TRIGGERS = [(overlay, t["metadata"]["name"]) for overlay in OVERLAYS for t in triggers(overlay)]


def running_workload(overlay: str, name: str) -> Workload:
    return next(
        w for w in WORKLOADS if w.context == overlay and w.name == name and w.probe_path is not None
    )


def sender_settings(boot: Booted, overlay: str, service: str, tmp: Path):
    """The sender's settings, loaded from exactly what its container is given."""
    from zipbob_platform.settings import load_settings

    models = {
        "catalog": "zipbob_catalog.settings:CatalogSettings",
        "review": "zipbob_review.settings:ReviewSettings",
        "resizer": "zipbob_resizer.settings:ResizerSettings",
    }
    module, _, attr = models[service].partition(":")
    model = getattr(__import__(module, fromlist=[attr]), attr)
    w = next(w for w in WORKLOADS if w.context == overlay and w.service == service and w.probe_path)
    env = process_env(w, boot.servers, tmp)
    return load_settings(service, model, profile=env.get("ZIPBOB_PROFILE"), env=env)


class Captured:
    """Where the senders' publishers write in this test: the event as it leaves them."""

    def __init__(self) -> None:
        self.events: list = []

    async def publish_batch(self, events):
        self.events.extend(events)
        return len(events), None


def sent_by_the_platform(boot: Booted, overlay: str, event_type: str, tmp: Path):
    from zipbob_platform import events
    from zipbob_platform.cloudevents import new_event
    from zipbob_platform.event_auth import sign_event, signing_publisher

    sender = SENDERS[event_type.split(".")[2]]
    settings = sender_settings(boot, overlay, sender, tmp)
    product_id, image_id = uuid.uuid4().hex, uuid.uuid4().hex
    if sender == "catalog":
        data = {"product_id": product_id, "image_ids": [image_id]}
        if event_type == events.IMAGE_UPLOADED:
            data = {
                "product_id": product_id,
                "image_id": image_id,
                "bucket": settings.s3.original_bucket,
                "key": f"products/{product_id}/{image_id}/original",
                "content_type": "image/jpeg",
            }
        captured = Captured()
        publisher = signing_publisher(captured, settings.event_auth)  # background.py's wrap
        event = new_event(event_type, events.CATALOG_SOURCE, data, subject=product_id)
        asyncio.run(publisher.publish_batch([event]))
        return captured.events[0]
    if sender == "review":
        from zipbob_review.events.summaries import summary_event
        from zipbob_review.reviews.schemas import RatingSummary

        captured = Captured()
        publisher = signing_publisher(captured, settings.event_auth)  # summaries.py's wrap
        summary = RatingSummary.from_counts({5: 2, 3: 1})
        asyncio.run(publisher.publish_batch([summary_event(product_id, 1, summary)]))
        return captured.events[0]
    variant = {
        "bucket": settings.s3.resized_bucket,
        "key": f"products/{product_id}/{image_id}/large.jpg",
        "width": 10, "height": 10, "bytes": 1, "content_type": "image/jpeg",
    }  # fmt: skip
    data = {"product_id": product_id, "image_id": image_id, "variants": {"large": variant}}
    if event_type == events.IMAGE_FAILED:
        data = {"product_id": product_id, "image_id": image_id, "reason": "decode"}
        data["detail"] = "not an image"
    event = new_event(event_type, "/resizer", data, subject=product_id)
    return sign_event(event, settings.event_auth)  # views.py: the reply / the result


def as_knative_delivers(event) -> tuple[dict[str, str], bytes]:
    """Binary mode as eventing-rabbitmq's dispatcher (Go SDK) writes it: `Ce-*` headers and
    `time` re-formatted as RFC 3339 in UTC with a `Z`."""
    from datetime import UTC, datetime

    from zipbob_platform.cloudevents import to_http_binary

    headers, body = to_http_binary(event)
    if "ce-time" in headers:
        moment = datetime.fromisoformat(headers["ce-time"]).astimezone(UTC)
        headers["ce-time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    return {k.title() if k.startswith("ce-") else k: v for k, v in headers.items()}, body


def subscriber_url(boot: Booted, overlay: str, trigger: dict) -> str:
    ref = trigger["spec"]["subscriber"]["ref"]
    receiver = running_workload(overlay, ref["name"])
    path = trigger["spec"]["subscriber"].get("uri", "/")
    return f"http://127.0.0.1:{boot.servers.ports[(overlay, receiver.name)]}{path}"


@pytest.mark.parametrize(("overlay", "name"), [pytest.param(*t, id="/".join(t)) for t in TRIGGERS])
def test_each_trigger_delivers_what_its_sender_signs(boot, overlay, name, tmp_path):
    import copy

    from zipbob_platform.event_auth import SIGNATURE_EXTENSION, EventSigner

    trigger = next(t for t in triggers(overlay) if t["metadata"]["name"] == name)
    receiver = running_workload(overlay, trigger["spec"]["subscriber"]["ref"]["name"])
    assert boot[receiver.id].result == "ready", f"{receiver.id} did not boot"
    url = subscriber_url(boot, overlay, trigger)
    event = sent_by_the_platform(
        boot, overlay, trigger["spec"]["filter"]["attributes"]["type"], tmp_path
    )
    headers, body = as_knative_delivers(event)
    accepted = httpx.post(url, content=body, headers=headers, timeout=30)
    assert 200 <= accepted.status_code < 300, (
        f"{overlay}/{name}: {receiver.id} refused the event its sender signed: "
        f"{accepted.status_code} {accepted.text[:300]}"
    )
    unsigned = copy.deepcopy(event)
    unsigned.extensions.pop(SIGNATURE_EXTENSION, None)
    forged = EventSigner(b"an-attacker-s-own-key-0123456789").sign(copy.deepcopy(unsigned))
    tampered = copy.deepcopy(event)
    tampered.data = {**tampered.data, "product_id": uuid.uuid4().hex}
    for label, bad in (("unsigned", unsigned), ("forged", forged), ("tampered", tampered)):
        headers, body = as_knative_delivers(bad)
        refused = httpx.post(url, content=body, headers=headers, timeout=30)
        assert refused.status_code == 401, (
            f"{overlay}/{name}: a {label} event got {refused.status_code} from {receiver.id}"
        )


def test_the_resizers_reply_is_accepted_by_the_catalog(boot, tmp_path):
    """The chain Knative runs: image.uploaded -> resizer (reply image.failed, the original is
    missing) -> the Broker -> catalog-image-failed's subscriber. The reply is signed by the
    booted resizer process itself."""
    from zipbob_platform import events
    from zipbob_platform.cloudevents import from_http

    for overlay in OVERLAYS:
        uploaded = next(
            t for t in triggers(overlay)
            if t["spec"]["filter"]["attributes"]["type"] == events.IMAGE_UPLOADED
        )  # fmt: skip
        failed = next(
            t for t in triggers(overlay)
            if t["spec"]["filter"]["attributes"]["type"] == events.IMAGE_FAILED
        )  # fmt: skip
        event = sent_by_the_platform(boot, overlay, events.IMAGE_UPLOADED, tmp_path / overlay)
        headers, body = as_knative_delivers(event)
        reply = httpx.post(
            subscriber_url(boot, overlay, uploaded), content=body, headers=headers, timeout=60
        )
        assert reply.status_code == 200, reply.text[:300]
        result = from_http(dict(reply.headers), reply.content)
        assert result.type == events.IMAGE_FAILED
        headers, body = as_knative_delivers(result)
        delivered = httpx.post(
            subscriber_url(boot, overlay, failed), content=body, headers=headers, timeout=30
        )
        assert delivered.status_code == 200, (
            f"{overlay}: {delivered.status_code} {delivered.text[:300]}"
        )
