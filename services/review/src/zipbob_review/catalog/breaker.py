"""A small circuit breaker: after N straight failures, refuse calls for a while."""

from __future__ import annotations

import time


class CircuitBreaker:
    """closed → (N failures) → open → (after open_seconds) half-open: one trial call.

    The trial's success closes the circuit; its failure opens it again.
    """

    def __init__(self, *, failure_threshold: int, open_seconds: float) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.open_seconds:
            return "half-open"
        return "open"

    def retry_after_seconds(self) -> int:
        if self.opened_at is None:
            return 1
        remaining = self.open_seconds - (time.monotonic() - self.opened_at)
        return max(1, int(remaining + 0.999))

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_running or self.failures >= self.failure_threshold:
            self.opened_at = time.monotonic()
        self._trial_running = False
