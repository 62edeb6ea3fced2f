"""Where result events go: the HTTP reply (Knative), RabbitMQ, or an HTTP sink (local).

The HTTP sink is posted to through the platform's one event client (``http_delivery``):
an answer that asks for a retry fails the incoming event (503, the sink's Retry-After
passed on) so it is delivered again; a sink that refuses the result for good (4xx, 3xx)
is not retried: the client logs and counts it as dead-lettered.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from zipbob_platform.cloudevents import CloudEvent, EventHeaders
from zipbob_resizer.settings import RabbitSettings, ResultSettings

if TYPE_CHECKING:
    from zipbob_platform.messaging.http_delivery import EventPoster


class ResultDeliveryFailed(Exception):
    """The result could not be handed on: answer 5xx so the event is delivered again."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ResultSender:
    """Sends result events for the `http` and `rabbitmq` modes; `reply` needs no sending."""

    def __init__(
        self,
        results: ResultSettings,
        rabbitmq: RabbitSettings,
        *,
        event_headers: EventHeaders | None = None,
    ) -> None:
        self.mode = results.delivery
        self._event_headers = event_headers  # event sender credential (event_auth)
        self._results = results
        self._rabbitmq = rabbitmq
        self._http: EventPoster | None = None
        self._publisher: Any = None  # the platform's ConfirmedPublisher, built on first use

    async def send(self, event: CloudEvent) -> None:
        if self.mode == "http":
            await self._post(event)
        elif self.mode == "rabbitmq":
            await self._publish(event)

    def warm_up(self) -> None:
        """Import now what the first send would (called in a thread at start-up)."""
        if self.mode == "http":
            import zipbob_platform.messaging.http_delivery
        elif self.mode == "rabbitmq":
            import zipbob_platform.messaging  # noqa: F401  (aio-pika: ~0.15 s cold)

    async def connect(self) -> None:
        """Open the result channel before the first event needs it (from the lifespan)."""
        if self.mode == "rabbitmq":
            with contextlib.suppress(Exception):  # a broker still down: the first send retries
                await self._rabbit().connect()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._publisher is not None:
            await self._publisher.close()

    def _poster(self) -> EventPoster:
        if self._http is None:
            from zipbob_platform.messaging.http_delivery import EventPoster

            self._http = EventPoster(
                sender="resizer-results",
                timeout_seconds=self._results.http_timeout_seconds,
                event_headers=self._event_headers,
                pool_size=8,
            )
        return self._http

    async def _post(self, event: CloudEvent) -> None:
        from zipbob_platform.messaging.http_delivery import Outcome

        answer = await self._poster().post(self._results.http_sink, event)
        if answer.outcome is Outcome.RETRY:
            raise ResultDeliveryFailed(
                f"result sink: {answer.describe()}", retry_after=answer.retry_after
            )

    def _rabbit(self) -> Any:
        if self._publisher is None:
            from zipbob_platform.messaging import Broker, ConfirmedPublisher

            self._publisher = ConfirmedPublisher(Broker.from_settings(self._rabbitmq))
        return self._publisher

    async def _publish(self, event: CloudEvent) -> None:
        from zipbob_platform.messaging import PublishFailed

        for attempt in (1, 2):  # a stale connection gets one fresh retry
            try:
                await self._rabbit().publish(event)
                return
            except PublishFailed as exc:
                if attempt == 2:
                    raise ResultDeliveryFailed(f"RabbitMQ publish failed: {exc}") from exc
