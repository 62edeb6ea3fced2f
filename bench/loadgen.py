"""A bounded async load generator: N workers run a scenario for T seconds (or R requests).

Every request is timed and filed under its endpoint template; the report gives
throughput, p50/p99 and error counts per endpoint. Only loopback targets.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp


@dataclass
class EndpointStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LoadReport:
    name: str
    seconds: float
    endpoints: dict[str, EndpointStats] = field(default_factory=lambda: defaultdict(EndpointStats))

    @property
    def total(self) -> int:
        return sum(len(s.latencies_ms) for s in self.endpoints.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.endpoints.values())

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for endpoint, stats in sorted(self.endpoints.items()):
            count = len(stats.latencies_ms)
            out.append(
                {
                    "mix": self.name,
                    "endpoint": endpoint,
                    "requests": count,
                    "rps": count / self.seconds if self.seconds else 0.0,
                    "p50_ms": stats.percentile(0.50),
                    "p99_ms": stats.percentile(0.99),
                    "mean_ms": statistics.fmean(stats.latencies_ms) if count else float("nan"),
                    "errors": stats.errors,
                    "statuses": dict(stats.statuses),
                }
            )
        return out

    def print(self) -> None:
        print(
            f"\n[{self.name}] {self.total} requests in {self.seconds:.1f}s = "
            f"{self.total / self.seconds:.0f} req/s, errors {self.errors}"
        )
        print(f"  {'endpoint':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for row in self.rows():
            print(
                f"  {row['endpoint']:<44} {row['rps']:>8.1f} {row['p50_ms']:>8.1f} "
                f"{row['p99_ms']:>8.1f} {row['errors']:>7}"
            )
            if row["errors"]:  # which statuses (0: no response) the errors were
                print(f"    statuses: {row['statuses']}")


class Recorder:
    """What a scenario uses to send requests; counts anything unexpected as an error."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, report: LoadReport) -> None:
        host = urlsplit(base_url).hostname or ""
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ValueError(f"load is only ever sent to loopback addresses, not {host!r}")
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.report = report

    async def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> tuple[int, Any]:
        started = time.perf_counter()
        stats = self.report.endpoints[endpoint]
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            stats.errors += 1
            stats.statuses[0] += 1
            return 0, None
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        stats.statuses[status] += 1
        if status not in expect:
            stats.errors += 1
        if body and response.content_type.endswith("json"):
            import json

            return status, json.loads(body)
        return status, body


Scenario = Callable[[Recorder, int], Awaitable[None]]


async def run_load(
    name: str,
    base_url: str,
    scenario: Scenario,
    *,
    workers: int,
    seconds: float,
    max_iterations: int = 1_000_000,
) -> LoadReport:
    """Run ``scenario(recorder, worker_index)`` in a loop on ``workers`` tasks, bounded."""
    report = LoadReport(name, seconds)
    connector = aiohttp.TCPConnector(limit=workers * 2, limit_per_host=workers * 2)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        recorder = Recorder(session, base_url, report)
        deadline = time.monotonic() + seconds
        iterations = 0

        async def worker(index: int) -> None:
            nonlocal iterations
            while time.monotonic() < deadline and iterations < max_iterations:
                iterations += 1
                await scenario(recorder, index)

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(workers)))
        report.seconds = time.monotonic() - started
    return report
