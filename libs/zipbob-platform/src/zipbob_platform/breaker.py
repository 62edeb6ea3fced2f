"""One circuit breaker for every outbound dependency (gateway upstreams, review → catalog).

closed → open after ``failure_threshold`` consecutive failures → half-open once
``open_seconds`` have passed, where one trial call decides: its success closes the
circuit, its failure opens it again.

Every admitted call must end in exactly one of ``record_success``, ``record_failure`` or
``release`` (no verdict: the caller went away). ``attempt()`` guarantees that, also when the
calling task is cancelled; otherwise a cancelled half-open trial would hold the trial slot
and the breaker would refuse every request from then on.

The clock is injectable (a callable returning monotonic seconds) so tests move time by
hand instead of sleeping.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

from prometheus_client import Gauge

from .metrics import get_or_create

Clock = Callable[[], float]
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

circuit_breaker_open = get_or_create(
    Gauge,
    "zipbob_circuit_breaker_open",
    "1 while the upstream's circuit breaker refuses requests (open or half-open)",
    ("upstream",),
)


class CircuitOpen(Exception):
    """The breaker refused the call; ``retry_after`` is whole seconds until the next trial."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(f"circuit {name!r} is open")
        self.name = name
        self.retry_after = retry_after


class Attempt:
    """One admitted call; say how it went with ``succeeded()`` or ``failed()``."""

    __slots__ = ("_breaker", "decided", "trial")

    def __init__(self, breaker: CircuitBreaker, *, trial: bool) -> None:
        self._breaker = breaker
        self.trial = trial
        self.decided = False

    def succeeded(self) -> None:
        if not self.decided:
            self.decided = True
            self._breaker.record_success()

    def failed(self) -> None:
        if not self.decided:
            self.decided = True
            self._breaker.record_failure()


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        open_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.failures = 0
        self._clock = clock
        self._opened_at: float | None = None
        self._trial_running = False
        self._gauge = circuit_breaker_open.labels(name)
        self._gauge.set(0)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._trial_running or self._clock() - self._opened_at >= self.open_seconds:
            return HALF_OPEN
        return OPEN

    def retry_after(self) -> int:
        """Whole seconds (at least 1) until the breaker lets a trial through."""
        if self._opened_at is None:
            return 1
        remaining = self._opened_at + self.open_seconds - self._clock()
        return max(1, math.ceil(remaining))

    def _admit(self) -> bool | None:
        """None: refused; True: admitted as the half-open trial; False: admitted, closed."""
        state = self.state
        if state == CLOSED:
            return False
        if state == OPEN or self._trial_running:
            return None
        self._trial_running = True
        return True

    def allow(self) -> bool:
        """May a call go out now? In half-open only the single trial may."""
        return self._admit() is not None

    def record_success(self) -> None:
        self.failures = 0
        self._trial_running = False
        if self._opened_at is not None:
            self._opened_at = None
            self._gauge.set(0)

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_running or self.failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._gauge.set(1)
        self._trial_running = False

    def release(self) -> None:
        """The call ended without a verdict (client went away, task cancelled): free the
        trial slot so the next call may try."""
        self._trial_running = False

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Attempt]:
        """Admit one call or raise ``CircuitOpen``; an exit without a verdict (an exception,
        ``CancelledError`` included) releases the trial slot instead of holding it."""
        trial = self._admit()
        if trial is None:
            raise CircuitOpen(self.name, self.retry_after())
        attempt = Attempt(self, trial=trial)
        try:
            yield attempt
        finally:
            if not attempt.decided and attempt.trial:
                self.release()
