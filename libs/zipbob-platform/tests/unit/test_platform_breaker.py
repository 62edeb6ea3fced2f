"""The circuit breaker's state machine on a fake clock (time moves only when we say so)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from zipbob_platform.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("zipbob_circuit_breaker_open", {"upstream": name})


def test_opens_after_consecutive_failures_and_lets_one_trial_through(clock) -> None:
    breaker = CircuitBreaker("unit-a", failure_threshold=3, open_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    assert gauge("unit-a") == 1
    assert breaker.retry_after() == 10
    clock.advance(9.2)
    assert breaker.state == OPEN and breaker.retry_after() == 1
    clock.advance(0.8)
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the single trial
    assert not breaker.allow()
    breaker.record_failure()  # the trial failed: open again, for a full period
    assert breaker.state == OPEN and breaker.retry_after() == 10
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow()
    assert gauge("unit-a") == 0


def test_released_trial_frees_the_slot(clock) -> None:
    breaker = CircuitBreaker("unit-b", failure_threshold=1, open_seconds=1, clock=clock)
    breaker.record_failure()
    clock.advance(1)
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_attempt_records_the_verdict_and_refuses_when_open(clock) -> None:
    breaker = CircuitBreaker("unit-c", failure_threshold=1, open_seconds=5, clock=clock)
    with breaker.attempt() as attempt:
        attempt.failed()
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen) as refused, breaker.attempt():
        pass
    assert refused.value.retry_after == 5
    clock.advance(5)
    with breaker.attempt() as attempt:
        assert attempt.trial
        attempt.succeeded()
    assert breaker.state == CLOSED


async def test_a_cancelled_half_open_trial_does_not_hold_the_slot(clock) -> None:
    breaker = CircuitBreaker("unit-d", failure_threshold=1, open_seconds=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    entered = asyncio.Event()

    async def trial_that_hangs() -> None:
        with breaker.attempt() as attempt:
            entered.set()
            await asyncio.Event().wait()  # an upstream that never answers
            attempt.succeeded()

    task = asyncio.create_task(trial_that_hangs())
    await entered.wait()
    assert not breaker.allow()  # the trial is out: nobody else may go
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == HALF_OPEN
    with breaker.attempt() as attempt:  # the next caller becomes the trial
        assert attempt.trial
        attempt.succeeded()
    assert breaker.state == CLOSED


def test_an_exception_without_a_verdict_releases_only_a_trial(clock) -> None:
    breaker = CircuitBreaker("unit-e", failure_threshold=2, open_seconds=5, clock=clock)
    with pytest.raises(KeyError), breaker.attempt():
        raise KeyError("a bug, not an upstream failure")
    assert breaker.state == CLOSED and breaker.failures == 0
