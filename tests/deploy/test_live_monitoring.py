"""Live: the running services export every metric the dashboards and alerts use, and a real
Prometheus scraping them answers every dashboard query."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pika
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING = REPO_ROOT / "k8s" / "monitoring"
SERVICES = ("gateway", "catalog", "review", "resizer")
DISPATCHER = "resizer-dispatcher"
RABBITMQ_URL = os.environ.get("ZIPBOB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RATE_WINDOW = "30s"

pytestmark = pytest.mark.slow


def metric_names_in(expr: str) -> set[str]:
    """Same parser as test_monitoring_static (kept local: test modules cannot import each other)."""
    words = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
             "unless", "bool", "offset", "inf", "nan"}  # fmt: skip
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    return {
        m.group(1)
        for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", text)
        if not m.group(2) and m.group(1).lower() not in words and ":" not in m.group(1)
    }


def dashboard_queries() -> list[tuple[str, str, str]]:
    queries = []
    for path in sorted((MONITORING / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                queries.append((path.stem, panel["title"], target["expr"]))
    return queries


def zipbob_rule_expressions() -> list[str]:
    groups = yaml.safe_load((MONITORING / "rules" / "zipbob.rules.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def exported_names(metrics_text: str) -> tuple[set[str], set[str]]:
    """(names declared by # TYPE, including their sample suffixes; names with samples)."""
    declared, sampled = set(), set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            declared.add(name)
            if kind == "counter":
                declared.add(name if name.endswith("_total") else f"{name}_total")
            if kind == "histogram":
                declared.update(f"{name}{s}" for s in ("_bucket", "_count", "_sum"))
        elif line and not line.startswith("#"):
            sampled.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return declared | sampled, sampled


def small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((640, 480)).save(out, "JPEG")
    return out.getvalue()


def generate_traffic(gateway: str) -> None:
    """A seller signs up, logs in, registers a product; everybody browses. Bounded, local."""
    email = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    password = "a-long-password-1"
    with httpx.Client(base_url=gateway, timeout=10) as client:
        client.post(
            "/api/auth/signup",
            json={"email": email, "password": password, "display_name": "Seller", "role": "seller"},
        )
        client.post("/api/auth/login", json={"email": email, "password": "wrong-password-1"})
        login = client.post("/api/auth/login", json={"email": email, "password": password})
        headers = {}
        if login.status_code == 200:
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        product = client.post(
            "/api/products",
            headers=headers,
            json={
                "name": "Mug",
                "description": "A mug",
                "price": "9.90",
                "currency": "EUR",
                "stock": 3,
                "category": "kitchen",
            },
        )
        product_id = product.json().get("id") if product.status_code == 201 else uuid.uuid4()
        # A photo, so the resizer (and the outbox and result paths) see traffic too.
        client.post(
            f"/api/products/{product_id}/images",
            headers=headers,
            files={"image": ("p.jpg", small_jpeg(), "image/jpeg")},
        )
        for _ in range(3):
            client.get("/api/products", params={"size": 5})
            client.get(f"/api/products/{product_id}")
            client.get(f"/api/products/{product_id}/reviews")
            client.get(f"/api/products/{product_id}/reviews/summary")
        client.get("/api/auth/me", headers=headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def platform_with_traffic(running_platform, dispatcher):
    generate_traffic(running_platform["gateway"])
    return {**running_platform, DISPATCHER: dispatcher}


@pytest.fixture(scope="module")
def dispatcher(running_platform, tmp_path_factory):
    """The RabbitMQ dispatcher (dev/compose only, so `make run` has none), on the
    real broker with an exchange of its own, feeding the running resizer."""
    port = free_port()
    exchange = f"zipbob.events.live-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_RABBITMQ__URL": RABBITMQ_URL,
        "ZIPBOB_RABBITMQ__EXCHANGE": exchange,
        "ZIPBOB_DISPATCHER_METRICS_PORT": str(port),
        "ZIPBOB_RESIZER_PORT": running_platform["resizer"].rsplit(":", 1)[1],
    }
    log = (tmp_path_factory.mktemp("dispatcher") / "dispatcher.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "zipbob_dispatcher"],
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/metrics", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dispatcher did not serve /metrics; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        connection.channel().exchange_delete(exchange)
        connection.close()


@pytest.fixture(scope="module")
def running_services(platform_with_traffic) -> list[str]:
    return [s for s in (*SERVICES, DISPATCHER) if s in platform_with_traffic]


@pytest.fixture(scope="module")
def scraped_metrics(platform_with_traffic, running_services) -> dict[str, str]:
    return {
        service: httpx.get(f"{platform_with_traffic[service]}/metrics", timeout=10).text
        for service in running_services
    }


def test_the_platform_runs_every_service(running_services):
    assert running_services == [*SERVICES, DISPATCHER]


@pytest.fixture(scope="module")
def prometheus(platform_with_traffic, running_services, tmp_path_factory):
    """The Debian prometheus binary, scraping the services every second, on a free port."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is needed for the live dashboard test: apt-get install prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(MONITORING / "rules" / "zipbob.rules.yml")],
        "scrape_configs": [
            {"job_name": s, "static_configs": [{"targets": [platform_with_traffic[s][7:]]}]}
            for s in running_services
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={workdir / 'prometheus.yml'}",
         f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                up = httpx.get(f"{url}/api/v1/query", params={"query": "sum(up)"}, timeout=2)
                result = up.json()["data"]["result"] if up.status_code == 200 else []
                if result and float(result[0]["value"][1]) == len(running_services):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"Prometheus never scraped all services; see {workdir / 'prometheus.log'}")
        generate_traffic(platform_with_traffic["gateway"])
        time.sleep(6)  # a few more scrapes (the photo's resize is asynchronous)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_every_dashboard_and_alert_metric_is_exported_by_a_running_service(scraped_metrics):
    exported: set[str] = set()
    for text in scraped_metrics.values():
        exported |= exported_names(text)[0]
    used = {n for _, _, e in dashboard_queries() for n in metric_names_in(e)}
    used |= {n for e in zipbob_rule_expressions() for n in metric_names_in(e)}
    # RabbitMQ's own series (rabbitmq_*, its exporter) are not a ZipBob service's to export.
    missing = sorted(
        n for n in used - {"up"} if n not in exported and not n.startswith("rabbitmq_")
    )
    assert not missing, f"used by dashboards/alerts but exported by no service: {missing}"


def test_prometheus_answers_every_dashboard_query(prometheus, scraped_metrics, capsys):
    sampled: set[str] = set()
    for text in scraped_metrics.values():
        sampled |= exported_names(text)[1]
    with_data, empty, failures = [], [], []
    for board, title, expr in dashboard_queries():
        query = expr.replace("$__rate_interval", RATE_WINDOW)
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10)
        body = answer.json()
        if body.get("status") != "success":
            failures.append(f"{board} / {title}: {body.get('error')}")
            continue
        has_data = bool(body["data"]["result"])
        (with_data if has_data else empty).append(f"{board} / {title}")
        # A query must have data when every series it reads has samples and it does not
        # filter on a label value that needs a rare event (5xx, failed, retry, ...).
        plain = not re.search(r'\w+(=~|=|!=)"(?!gateway|catalog|review|resizer|0\.5)', query)
        if not has_data and plain and metric_names_in(query) <= sampled | {"up"}:
            failures.append(f"{board} / {title}: no data although its series exist: {query}")
    with capsys.disabled():
        print(f"\ndashboard queries with data: {len(with_data)}, empty: {len(empty)}")
        for name in empty:
            print(f"  empty (valid PromQL, no such events yet): {name}")
    assert not failures, "\n".join(failures)
    assert len(with_data) >= len(dashboard_queries()) // 2


def test_recording_rules_evaluate_against_live_data(prometheus):
    answer = httpx.get(f"{prometheus}/api/v1/rules", params={"type": "record"}, timeout=10).json()
    rules = [rule for group in answer["data"]["groups"] for rule in group["rules"]]
    assert rules and all(rule["health"] == "ok" for rule in rules), rules
