"""The one backoff (zipbob_platform.backoff): doubling, capped, jittered, Retry-After."""

from __future__ import annotations

import pytest

from zipbob_platform.backoff import Backoff


def test_doubles_from_initial_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    assert backoff.delay == 0.0 and backoff.pause() == 0.0
    assert [backoff.fail() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.failures == 6
    backoff.reset()
    assert backoff.failures == 0 and backoff.fail() == 0.5


def test_a_very_long_outage_stays_at_the_cap() -> None:
    backoff = Backoff(0.2, 30.0)
    for _ in range(5_000):  # 2 ** 4999 would overflow a float
        last = backoff.fail()
    assert last == 30.0


def test_jitter_spreads_the_wait_within_its_fraction() -> None:
    seen: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        seen.append((low, high))
        return high

    backoff = Backoff(1.0, 10.0, jitter=0.2, uniform=uniform)
    assert backoff.fail() == pytest.approx(1.2)
    assert seen == [(0.8, 1.2)]
    backoff.failures = 4  # 8 s, jittered up to 9.6
    assert backoff.pause() == pytest.approx(9.6)
    backoff.failures = 5  # 16 s: the cap wins over the jitter
    assert backoff.pause() == 10.0


def test_retry_after_is_a_floor_and_the_cap_a_ceiling() -> None:
    backoff = Backoff(0.2, 5.0)
    assert backoff.fail(retry_after=2.0) == 2.0
    assert backoff.fail(retry_after=0.1) == 0.4
    assert backoff.fail(retry_after=3600.0) == 5.0


@pytest.mark.parametrize(("initial", "cap", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.0)])
def test_nonsense_is_refused(initial: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="bad backoff"):
        Backoff(initial, cap, jitter=jitter)
