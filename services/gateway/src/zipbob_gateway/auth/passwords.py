"""argon2id password hashing on a bounded pool sized to the container, not the node.

Each hash takes ``memory_kib`` of memory and a core for tens of milliseconds. Unbounded
(``asyncio.to_thread`` sizes its pool from the node's CPUs), 40 concurrent logins took the
gateway to 498 MiB. Here at most ``min(CPU quota, memory budget / memory per hash)`` run at
once; a bounded number of callers wait a bounded time, the rest get 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter, Gauge

from zipbob_platform.metrics import get_or_create
from zipbob_platform.problems import Problem

from ..settings import PasswordHashingSettings

T = TypeVar("T")

CGROUP_ROOT = Path("/sys/fs/cgroup")
hashes_refused_total = get_or_create(
    Counter, "zipbob_password_hashes_refused_total", "Password hashes refused as overloaded"
)
hashes_waiting = get_or_create(
    Gauge, "zipbob_password_hashes_waiting", "Requests waiting for a password hash slot"
)


def container_cpus(root: Path = CGROUP_ROOT) -> float:
    """The CPU quota of this container (cgroup v2 ``cpu.max``, else v1 CFS quota), else the
    CPUs this process may run on."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(float(quota) / float(period), 0.01)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return max(quota_us / period_us, 0.01)
    except (OSError, ValueError):
        pass
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return float(os.cpu_count() or 1)


def concurrent_hashes(settings: PasswordHashingSettings, cpus: float | None = None) -> int:
    if settings.max_concurrent:
        return settings.max_concurrent
    by_cpu = max(1, math.ceil(container_cpus() if cpus is None else cpus))
    by_memory = max(1, settings.memory_budget_mib * 1024 // settings.memory_kib)
    return min(by_cpu, by_memory)


class PasswordHashing:
    def __init__(self, settings: PasswordHashingSettings, *, workers: int | None = None) -> None:
        self.settings = settings
        self.hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
        )
        self.workers = workers or concurrent_hashes(settings)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(self.workers)
        self._waiting = 0
        # Verified against when the email is unknown, so both paths cost the same time.
        self._dummy_hash = self.hasher.hash("zipbob-timing-equaliser")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._slots.locked():
            if self._waiting >= self.settings.max_waiting:
                raise self._overloaded()
            self._waiting += 1
            hashes_waiting.inc()
            try:
                async with asyncio.timeout(self.settings.max_wait_seconds):
                    await self._slots.acquire()
            except TimeoutError:
                raise self._overloaded() from None
            finally:
                self._waiting -= 1
                hashes_waiting.dec()
        else:
            await self._slots.acquire()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._slots.release()

    def _overloaded(self) -> Problem:
        hashes_refused_total.inc()
        retry = max(1, math.ceil(self.settings.max_wait_seconds))
        return Problem(
            503, "too many sign-ins at once; retry shortly", headers={"Retry-After": str(retry)}
        )

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return (
                self.hasher.verify(stored_hash or self._dummy_hash, password)
                and stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await self._run(self._verify, stored_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


_default: PasswordHashing | None = None


def default_hashing() -> PasswordHashing:
    """For operator commands (admin.py) that run outside the app."""
    global _default
    if _default is None:
        _default = PasswordHashing(PasswordHashingSettings(), workers=1)
    return _default


async def hash_password(password: str) -> str:
    return await default_hashing().hash(password)
