"""Circuit breaker per upstream: closed -> open after N consecutive failures -> half-open
after a cool-down, where one probe request decides between closed and open again."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from zipbob_platform.metrics import get_or_create

circuit_breaker_open = get_or_create(
    Gauge,
    "zipbob_circuit_breaker_open",
    "1 while the upstream's circuit breaker refuses requests (open or half-open)",
    ("upstream",),
)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, upstream: str, *, failure_threshold: int, open_seconds: float) -> None:
        self.upstream = upstream
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probe_in_flight = False
        self._gauge = circuit_breaker_open.labels(upstream)
        self._gauge.set(0)

    def retry_after(self) -> int:
        remaining = self.opened_at + self.open_seconds - time.monotonic()
        return max(1, int(remaining + 0.999))

    def allow(self) -> bool:
        """May a request go out now? In half-open only the single probe may."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if time.monotonic() - self.opened_at < self.open_seconds:
                return False
            self.state = HALF_OPEN
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self.failures = 0
        self._probe_in_flight = False
        if self.state != CLOSED:
            self.state = CLOSED
            self._gauge.set(0)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = OPEN
            self.opened_at = time.monotonic()
            self._gauge.set(1)

    def release(self) -> None:
        """The request ended without a verdict (client went away): free the probe slot."""
        self._probe_in_flight = False
