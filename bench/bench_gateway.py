"""Gateway benchmark: authenticated GETs through the gateway vs straight to the upstream.

    .venv/bin/python bench/bench_gateway.py [--seconds 10] [--connections 32]

Layout on a 2-core machine: the gateway (one worker) pinned to core 0; a trivial upstream
(uvicorn + uvloop + httptools, minimal ASGI app) and the load generator pinned to core 1.
The load generator is `wrk` when installed (Debian package `wrk`), else a small aiohttp
client (slower, so its figures are a lower bound). Every figure has its baseline from the
same run: the same load sent straight to the upstream.

Gateway variants (the bench user is not throttled: a bench-only limit of 1e6 req/s):
  - limiter on, leased tokens (the shipped design: one Redis round trip per lease)
  - limiter off (what the limiter costs)
  - limiter on, one Redis round trip per request (why the leases)
Needs Redis on 127.0.0.1:6379 (else the embedded fakeredis is started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BODY = b'{"id":"p1","name":"bench product","price":"9.99"}'


# ---------------------------------------------------------------- trivial upstream


async def upstream_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench_gateway:upstream_app",
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        app_dir=str(Path(__file__).parent),
    )


# ---------------------------------------------------------------- processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def spawn(args: list[str], *, core: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    pin = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
    with log.open("ab") as output:
        return subprocess.Popen(
            [*pin, *args], env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------- load generators


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    requests: int = 0
    cpu_us_per_request: float | None = None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process: robust to other load on the machine, unlike req/s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        raise RuntimeError(f"no {label}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, *, connections: int, seconds: float, token: str) -> Result:
    args = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-H", f"Authorization: Bearer {token}", url,
    ]  # fmt: skip
    if shutil.which("taskset"):
        args = ["taskset", "-c", "1", *args]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(
        rps,
        _wrk_ms(out, "50"),
        _wrk_ms(out, "99"),
        int(errors.group(1)) if errors else 0,
        total,
    )


async def _aiohttp_load(url: str, connections: int, seconds: float, token: str) -> Result:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return Result(len(latencies) / elapsed, pick(0.50), pick(0.99), errors, len(latencies))


def run_load(url: str, *, connections: int, seconds: float, token: str) -> Result:
    if shutil.which("wrk"):
        return run_wrk(url, connections=connections, seconds=seconds, token=token)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    return asyncio.run(_aiohttp_load(url, connections, seconds, token))


# ---------------------------------------------------------------- scenario


def redis_url(tmp: Path) -> tuple[str, object | None]:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        if sock.connect_ex(("127.0.0.1", 6379)) == 0:
            return "redis://127.0.0.1:6379/0", None
    from zipbob_devkit.embedded import start_redis

    server = start_redis(log_dir=tmp)
    return server.url, server


def gateway_env(
    tmp: Path,
    *,
    port: int,
    upstream_port: int,
    redis: str,
    key_prefix: str = "bench",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a local-profile gateway proxying catalog and review to one
    upstream (also bench_edge.py)."""
    return {
        **os.environ,
        "ZIPBOB_PROFILE": "local",
        "ZIPBOB_CONFIG_DIR": str(REPO / "config"),
        "ZIPBOB_DATA_DIR": str(tmp / "data"),
        "ZIPBOB_GATEWAY_PORT": str(port),
        "ZIPBOB_CATALOG_PORT": str(upstream_port),
        "ZIPBOB_REVIEW_PORT": str(upstream_port),
        "ZIPBOB_REDIS__URL": redis,
        "ZIPBOB_REDIS__KEY_PREFIX": f"zipbob:{key_prefix}:{uuid.uuid4().hex[:8]}",
        # Bench-only: the load comes from one user; the default 100 req/s would throttle it.
        "ZIPBOB_RATE_LIMITS__CLIENTS__RATE_PER_SECOND": "1000000",
        "ZIPBOB_RATE_LIMITS__CLIENTS__BURST": "1000000",
        "ZIPBOB_TRACING__SAMPLE_RATIO": "0.1",
        **(extra or {}),
    }


def start_gateway(tmp: Path, *, upstream_port: int, redis: str, extra: dict[str, str]):
    port = free_port()
    env = gateway_env(tmp, port=port, upstream_port=upstream_port, redis=redis, extra=extra)
    process = spawn(
        [PYTHON, "-m", "zipbob_gateway"], core=0, env=env, log=tmp / f"gateway-{port}.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz/live")
    return process, base


def login(base: str) -> str:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    password = "bench password 123"
    post_json(
        base + "/api/auth/signup",
        {"email": email, "password": password, "display_name": "Bench", "role": "customer"},
    )
    return post_json(base + "/api/auth/login", {"email": email, "password": password})[
        "access_token"
    ]


def line(label: str, result: Result, baseline: Result | None = None) -> str:
    text = (
        f"  {label:<44} {result.rps:>9,.0f} req/s   p50 {result.p50_ms:6.2f} ms"
        f"   p99 {result.p99_ms:6.2f} ms"
    )
    if baseline is not None:
        text += f"   (+{result.p50_ms - baseline.p50_ms:.2f} ms p50)"
    if result.cpu_us_per_request is not None:
        text += (
            f"   {result.cpu_us_per_request:5.0f} us CPU/req"
            f" (= {1e6 / result.cpu_us_per_request:,.0f} req/s per core)"
        )
    if result.errors:
        text += f"   [{result.errors} non-2xx]"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sequential-seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return

    tmp = Path(tempfile.mkdtemp(prefix="zipbob-bench-gateway-"))
    redis, embedded_redis = redis_url(tmp)
    upstream_port = free_port()
    upstream = spawn(
        [PYTHON, str(Path(__file__).resolve()), "--serve-upstream", str(upstream_port)],
        core=1,
        env=dict(os.environ),
        log=tmp / "upstream.log",
    )
    generator = "wrk (pinned to core 1)" if shutil.which("wrk") else "aiohttp client (core 1)"
    # The first variant is the shipped configuration with prod observability (10 % of
    # requests traced, as config/application-prod.yaml; no per-request access line on the
    # gateway, as config/gateway.yaml). The others each change one thing, to price it.
    variants = [
        ("gateway (prod config)", {}),
        ("  limiter off", {"ZIPBOB_RATE_LIMITS__CLIENTS__ENABLED": "false"}),
        (
            "  limiter: Redis round trip per request",
            {"ZIPBOB_RATE_LIMITS__CLIENTS__LEASE_SECONDS": "0.000000001"},
        ),
        ("  + every request traced (local default)", {"ZIPBOB_TRACING__SAMPLE_RATIO": "1.0"}),
        ("  + platform access log per request", {"ZIPBOB_LOGGING__ACCESS_LOG": "true"}),
    ]
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/")
        direct_url = f"http://127.0.0.1:{upstream_port}/api/products/p1"
        print(f"gateway benchmark: {args.connections} connections x {args.seconds:.0f} s, "
              f"load generator {generator}; gateway on core 0, upstream on core 1")  # fmt: skip
        run_load(direct_url, connections=args.connections, seconds=2, token="warmup")
        direct = run_load(direct_url, connections=args.connections, seconds=args.seconds, token="x")
        direct_seq = run_load(direct_url, connections=1, seconds=args.sequential_seconds, token="x")
        results = []
        for label, extra in variants:
            gateway, base = start_gateway(
                tmp, upstream_port=upstream_port, redis=redis, extra=extra
            )
            try:
                token = login(base)
                url = base + "/api/products/p1"
                run_load(url, connections=args.connections, seconds=2, token=token)  # warm-up
                cpu_before = cpu_seconds(gateway.pid)
                loaded = run_load(
                    url, connections=args.connections, seconds=args.seconds, token=token
                )
                cpu_used = cpu_seconds(gateway.pid) - cpu_before
                loaded.cpu_us_per_request = cpu_used * 1e6 / max(1, loaded.requests)
                sequential = run_load(
                    url, connections=1, seconds=args.sequential_seconds, token=token
                )
                results.append((label, loaded, sequential))
            finally:
                stop(gateway)
        print(f"\n{args.connections} connections, authenticated GET (ES256 bearer):")
        print(line("upstream direct (baseline)", direct))
        for label, loaded, _ in results:
            print(line(label, loaded))
        print("\n1 sequential client:")
        print(line("upstream direct (baseline)", direct_seq))
        for label, _, sequential in results:
            print(line(label, sequential, direct_seq))
        shipped, off, per_request = (r[1] for r in results[:3])
        print(
            "\nrate limiter cost, gateway CPU per request: leased "
            f"{shipped.cpu_us_per_request - off.cpu_us_per_request:+.0f} us, Redis per request "
            f"{per_request.cpu_us_per_request - off.cpu_us_per_request:+.0f} us (vs limiter off)"
        )
        load = os.getloadavg()[0]
        print(f"machine load average during the run: {load:.2f} on {os.cpu_count()} cores "
              "(other work on the machine lowers req/s; CPU us/req is not affected)")  # fmt: skip
        print(
            f"targets: >= 4,000 req/s: {'met' if shipped.rps >= 4000 else 'MISSED'}; "
            f"p99 < 25 ms: {'met' if shipped.p99_ms < 25 else 'MISSED'}; "
            f"added p50 < 1 ms: "
            f"{'met' if results[0][2].p50_ms - direct_seq.p50_ms < 1 else 'MISSED'}"
        )
    finally:
        stop(upstream)
        if embedded_redis is not None:
            embedded_redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
