"""The local profile's stand-in for the broker: CloudEvents POSTed to subscribed sinks.

Binary mode, the way Knative Triggers deliver, through the platform's one HTTP event
client (``http_delivery``). An event counts as delivered once every sink that wants its
type took it or refused it for good (a 4xx: dead-lettered there, logged and counted); a
sink that asks for a retry makes the whole event retry, which idempotent consumers absorb.
Same ``publish_batch`` contract as ConfirmedPublisher, so an outbox relay can use either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..cloudevents import CloudEvent, EventHeaders
from .http_delivery import DeliveryFailed, EventPoster, Outcome


@dataclass(frozen=True)
class Subscription:
    """One consumer, like a Knative Trigger: a sink and the event types it wants
    (empty = every type)."""

    url: str
    types: tuple[str, ...] = ()

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


class HttpSinkPublisher:
    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        *,
        sender: str,
        timeout_seconds: float,
        event_headers: EventHeaders | None = None,
    ) -> None:
        self.subscriptions = list(subscriptions)
        self.poster = EventPoster(
            sender=sender, timeout_seconds=timeout_seconds, event_headers=event_headers
        )
        self.state = "idle"

    async def publish_batch(self, events: Sequence[CloudEvent]) -> tuple[int, Exception | None]:
        delivered = 0
        for event in events:
            for sink in (s.url for s in self.subscriptions if s.wants(event.type)):
                answer = await self.poster.post(sink, event)
                if answer.outcome is Outcome.RETRY:
                    self.state = f"retrying: {answer.describe()}"
                    return delivered, DeliveryFailed(answer)
            self.state = "delivering"
            delivered += 1
        return delivered, None

    async def publish(self, event: CloudEvent) -> None:
        _, error = await self.publish_batch([event])
        if error is not None:
            raise error

    async def close(self) -> None:
        await self.poster.close()
