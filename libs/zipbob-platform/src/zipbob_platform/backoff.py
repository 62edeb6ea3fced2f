"""The one backoff between failed attempts: the outbox relays, the AMQP consumer's
reconnects and retries, HTTP event delivery and the ratings rebuild all wait by it.

The n-th consecutive failure waits ``initial * 2 ** (n - 1)``, at most ``cap``, with
``jitter`` (a fraction: 0.2 is +-20 %) so that replicas which failed together do not retry
together; a success resets it. A server's Retry-After is honoured by ``pause``.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial: float,
        cap: float,
        *,
        jitter: float = 0.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if initial <= 0 or cap < initial or not 0 <= jitter < 1:
            raise ValueError(f"bad backoff: initial {initial}, cap {cap}, jitter {jitter}")
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self._uniform = uniform
        self.failures = 0

    @property
    def delay(self) -> float:
        """The wait the failures so far call for, before jitter (0 after a success)."""
        if not self.failures:
            return 0.0
        # min() before the power would overflow: 2 ** 1100 is more than a float holds.
        return min(self.cap, self.initial * 2.0 ** min(self.failures - 1, 64))

    def fail(self, retry_after: float | None = None) -> float:
        """Count one more failure; the wait it calls for (``pause``)."""
        self.failures += 1
        return self.pause(retry_after)

    def pause(self, retry_after: float | None = None) -> float:
        """The wait now: the jittered delay, but never less than a ``retry_after`` the
        other side asked for; at most ``cap`` either way."""
        wait = self.delay
        if self.jitter and wait:
            wait *= self._uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.cap, wait)

    def reset(self) -> None:
        self.failures = 0
