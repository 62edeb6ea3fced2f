"""Edge benchmark (issue 12): normal browsing while rude clients attack the gateway.

    .venv/bin/python bench/bench_edge.py [--seconds 10] [--slow 300] [--logins 100]

One gateway process (shipped limits, config/gateway.yaml) in front of a trivial upstream,
on loopback. Normal traffic: authenticated GET /api/products/p1 from a few concurrent
clients, measured first alone, then again while an attacker process keeps ``--slow``
slow-body connections open (POST /api/auth/login and POST /api/products that announce
1000 bytes and send one; each reconnects as soon as it is cut off) and sprays ``--logins``
failed logins per second at random emails. Printed: the normal clients' p50/p99 and error
rate in both phases, what the attackers got, and the gateway's peak RSS against its
Kubernetes memory limit (k8s/base/gateway/deployment.yaml). Bounded: about 40 s. A
refused slow client reconnects after 50 ms, so the attack is also a flood of refusals.
The bench user is not throttled (bench-only client limit, as in bench_gateway.py); the
attackers are limited by what is under test (auth limits, body timeouts, in-flight caps).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_gateway import (
    PYTHON,
    cpu_seconds,
    free_port,
    gateway_env,
    login,
    redis_url,
    spawn,
    stop,
    wait_http,
)

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def k8s_memory_limit_mib() -> int:
    text = (REPO / "k8s/base/gateway/deployment.yaml").read_text()
    limits = text.split("limits:", 1)[1]
    match = re.search(r"memory:\s*(\d+)Mi", limits)
    return int(match.group(1)) if match else 512


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- normal clients


async def browse(url: str, token: str, *, seconds: float, clients: int) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.get(url, headers=headers) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(clients)))
    latencies.sort()

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    total = len(latencies)
    return {
        "requests": total,
        "rps": total / seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "error_rate": errors / max(1, total),
    }


# ---------------------------------------------------------------- the attacker process


async def attack(port: int, token: str, *, slow: int, logins: int, seconds: float) -> dict:
    import aiohttp

    outcomes: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def slow_body(index: int) -> None:
        path, auth = (
            ("/api/auth/login", b"")
            if index % 2
            else ("/api/products", b"Authorization: Bearer " + token.encode() + b"\r\n")
        )
        head = (
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 1000\r\n" + auth + b"\r\n{"
        )
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                outcomes["slow: connect failed"] += 1
                await asyncio.sleep(0.1)
                continue
            try:
                writer.write(head)
                await writer.drain()
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    answer = await reader.read(200)
                status = answer.split(b" ", 2)[1].decode() if answer else "closed"
                outcomes[f"slow {path}: {status}"] += 1
            except TimeoutError:
                outcomes[f"slow {path}: still hanging at the end"] += 1
            except OSError:
                outcomes[f"slow {path}: reset"] += 1
            finally:
                writer.close()
            await asyncio.sleep(0.05)

    async def spray(session: aiohttp.ClientSession) -> None:
        interval = 1.0 / logins
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            body = {"email": f"victim-{random.randrange(10**9)}@example.com", "password": "x" * 12}
            try:
                async with session.post(f"http://127.0.0.1:{port}/api/auth/login", json=body) as r:
                    await r.read()
                    outcomes[f"login: {r.status}"] += 1
            except (aiohttp.ClientError, TimeoutError):
                outcomes["login: failed"] += 1

        next_at = time.monotonic()
        while time.monotonic() < deadline:
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*pending, return_exceptions=True)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        await asyncio.gather(spray(session), *(slow_body(i) for i in range(slow)))
    return dict(outcomes)


# ---------------------------------------------------------------- scenario


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--attack", help=argparse.SUPPRESS)  # port:token:seconds (child)
    args = parser.parse_args()
    if args.attack:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})  # the attacker on core 1; the gateway pinned to 0
        port, token, seconds = args.attack.split(":")
        result = asyncio.run(
            attack(int(port), token, slow=args.slow, logins=args.logins, seconds=float(seconds))
        )
        print(json.dumps(result))
        return

    tmp = Path(tempfile.mkdtemp(prefix="zipbob-bench-edge-"))
    redis, embedded_redis = redis_url(tmp)
    upstream_port = free_port()
    upstream = spawn(
        [PYTHON, str(HERE / "bench_gateway.py"), "--serve-upstream", str(upstream_port)],
        core=1,
        env=dict(os.environ),
        log=tmp / "upstream.log",
    )
    port = free_port()
    env = gateway_env(
        tmp,
        port=port,
        upstream_port=upstream_port,
        redis=redis,
        key_prefix="bench-edge",
        extra={"ZIPBOB_LOGGING__ACCESS_LOG": "false", "ZIPBOB_LOGGING__LEVEL": "WARNING"},
    )
    gateway = spawn([PYTHON, "-m", "zipbob_gateway"], core=0, env=env, log=tmp / "gateway.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/")
        wait_http(base + "/healthz/live")
        token, attacker = login(base), login(base)
        url = base + "/api/products/p1"
        asyncio.run(browse(url, token, seconds=2, clients=args.clients))  # warm-up
        rss_idle = status_kib(gateway.pid, "VmRSS")
        cpu_before = cpu_seconds(gateway.pid)
        calm = asyncio.run(browse(url, token, seconds=args.seconds, clients=args.clients))
        calm["gateway_cpu"] = (cpu_seconds(gateway.pid) - cpu_before) / args.seconds
        attack_seconds = args.seconds + 6  # starts first, so the attack is at full strength
        attacker_process = subprocess.Popen(
            [
                PYTHON,
                str(Path(__file__).resolve()),
                f"--attack={port}:{attacker}:{attack_seconds}",
                f"--slow={args.slow}",
                f"--logins={args.logins}",
            ],
            stdout=subprocess.PIPE,
            cwd=HERE,
        )
        time.sleep(4)
        cpu_before = cpu_seconds(gateway.pid)
        stormy = asyncio.run(browse(url, token, seconds=args.seconds, clients=args.clients))
        stormy["gateway_cpu"] = (cpu_seconds(gateway.pid) - cpu_before) / args.seconds
        out, _ = attacker_process.communicate(timeout=attack_seconds + 30)
        outcomes = json.loads(out.decode().strip().splitlines()[-1])
        peak = status_kib(gateway.pid, "VmHWM") / 1024
        limit = k8s_memory_limit_mib()
        print(
            f"edge benchmark: {args.clients} normal clients x {args.seconds:.0f} s, authenticated "
            f"GET; attack = {args.slow} slow-body connections + {args.logins} failed logins/s "
            "(loopback, gateway pinned to core 0, shared machine)"
        )
        for label, r in (("without attack", calm), ("under attack", stormy)):
            print(
                f"  normal browse {label:<15} {r['rps']:>7,.0f} req/s   p50 {r['p50_ms']:6.2f} ms"
                f"   p99 {r['p99_ms']:7.2f} ms   errors {r['error_rate']:.2%}"
                f"   gateway CPU {r['gateway_cpu']:.0%} of a core"
            )
        print("  attackers got:")
        for name, count in sorted(outcomes.items()):
            print(f"    {name:<48} {count:>7}")
        print(
            f"  gateway RSS: {rss_idle / 1024:.0f} MiB idle, peak {peak:.0f} MiB; "
            f"k8s limit {limit} MiB: {'under' if peak < limit else 'OVER'}"
        )
        print(f"  machine load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    finally:
        stop(gateway)
        stop(upstream)
        if embedded_redis is not None:
            embedded_redis.stop()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
