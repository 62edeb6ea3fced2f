"""The local profile's stand-in for the broker: CloudEvents POSTed to subscribed sinks.

Binary mode, the way Knative Triggers deliver. An event counts as delivered once every
sink that wants its type took it; a sink that fails makes the whole event retry, which
idempotent consumers absorb. Same ``publish_batch`` contract as ConfirmedPublisher, so
an outbox relay can use either.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from ..cloudevents import CloudEvent, to_http_binary

log = logging.getLogger("zipbob.messaging")


@dataclass(frozen=True)
class Subscription:
    """One consumer, like a Knative Trigger: a sink and the event types it wants
    (empty = every type)."""

    url: str
    types: tuple[str, ...] = ()

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


class SinkRefused(Exception):
    pass


class HttpSinkPublisher:
    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        *,
        timeout_seconds: float,
        auth_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.subscriptions = list(subscriptions)
        # The sender's credential the receivers check (zipbob_platform.event_auth).
        self.auth_headers = dict(auth_headers or {})
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.state = "idle"
        self._session: aiohttp.ClientSession | None = None

    async def publish_batch(self, events: Sequence[CloudEvent]) -> tuple[int, Exception | None]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        delivered = 0
        for event in events:
            for sink in (s.url for s in self.subscriptions if s.wants(event.type)):
                error = await self._post(self._session, sink, event)
                if error is not None:
                    return delivered, error
            self.state = "delivering"
            delivered += 1
        return delivered, None

    async def publish(self, event: CloudEvent) -> None:
        _, error = await self.publish_batch([event])
        if error is not None:
            raise error

    async def _post(
        self, session: aiohttp.ClientSession, sink: str, event: CloudEvent
    ) -> Exception | None:
        headers, body = to_http_binary(event)
        headers = {**headers, **self.auth_headers}
        try:
            async with session.post(sink, data=body, headers=headers) as response:
                status = response.status
                detail = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.state = f"unreachable: {sink}: {type(exc).__name__}"
            return exc
        if status >= 500 or status in (408, 429):
            self.state = f"retrying: {sink}: HTTP {status}"
            return SinkRefused(f"{sink} answered {status}: {detail}")
        if status >= 400:
            # Knative semantics: a 4xx is permanent, retrying cannot help.
            log.warning("%s refused event %s permanently: %s %s", sink, event.id, status, detail)
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
