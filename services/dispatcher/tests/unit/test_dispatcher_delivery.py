"""What the dispatcher tells the broker for each answer of the target (Knative's rules)."""

from __future__ import annotations

import pytest

from zipbob_dispatcher.delivery import Verdict, deliver
from zipbob_platform import events
from zipbob_platform.cloudevents import new_event


class Target:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[dict[str, str]] = []

    async def post(self, url: str, headers, body: bytes, request_seconds: float) -> int:
        self.calls.append(dict(headers))
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def _deliver(target: Target, sleeps: Sleeps, attempts: int = 5):
    event = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"product_id": "p"})
    return await deliver(
        event,
        target_url="http://target/",
        max_attempts=attempts,
        backoff_initial=0.5,
        backoff_max=2.0,
        request_seconds=1.0,
        post=target.post,
        sleep=sleeps,
    )


@pytest.mark.parametrize(
    ("statuses", "verdict", "attempts"),
    [
        ((204,), Verdict.ACK, 1),
        ((422,), Verdict.ACK, 1),  # refused for good and already reported by the target
        ((400,), Verdict.DEAD_LETTER, 1),
        ((404,), Verdict.DEAD_LETTER, 1),
        ((503, 429, 408, 200), Verdict.ACK, 4),
        ((500,), Verdict.DEAD_LETTER, 5),
    ],
)
async def test_verdicts(statuses, verdict, attempts) -> None:
    target, sleeps = Target(*statuses), Sleeps()
    got, made, _status = await _deliver(target, sleeps)
    assert (got, made) == (verdict, attempts)
    assert len(target.calls) == attempts


async def test_backoff_doubles_up_to_the_cap_and_headers_are_binary_mode() -> None:
    target, sleeps = Target(503), Sleeps()
    await _deliver(target, sleeps, attempts=5)
    assert sleeps.delays == [0.5, 1.0, 2.0, 2.0]
    assert target.calls[0]["ce-type"] == events.IMAGE_UPLOADED
    assert target.calls[0]["content-type"] == "application/json"
