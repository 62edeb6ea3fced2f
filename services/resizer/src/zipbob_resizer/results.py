"""Where result events go: the HTTP reply (Knative), RabbitMQ, or an HTTP sink (local)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from zipbob_platform.cloudevents import CloudEvent, to_http_binary
from zipbob_resizer.settings import RabbitSettings, ResultSettings


class ResultDeliveryFailed(Exception):
    """The result could not be handed on: answer 5xx so the event is delivered again."""


class ResultSender:
    """Sends result events for the `http` and `rabbitmq` modes; `reply` needs no sending."""

    def __init__(
        self,
        results: ResultSettings,
        rabbitmq: RabbitSettings,
        *,
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.mode = results.delivery
        self._auth_headers = auth_headers or {}  # event sender credential (event_auth)
        self._results = results
        self._rabbitmq = rabbitmq
        self._lock = threading.Lock()
        self._http: Any = None
        self._publisher: Any = None  # the platform's ConfirmedPublisher, built on first use

    async def send(self, event: CloudEvent) -> None:
        if self.mode == "http":
            await asyncio.to_thread(self._post, event)
        elif self.mode == "rabbitmq":
            await self._publish(event)

    def warm_up(self) -> None:
        """Import now what the first send would (called in a thread at start-up)."""
        if self.mode == "http":
            self._http_pool()
        elif self.mode == "rabbitmq":
            import zipbob_platform.messaging  # noqa: F401  (aio-pika: ~0.15 s cold)

    async def connect(self) -> None:
        """Open the result channel before the first event needs it (from the lifespan)."""
        if self.mode == "rabbitmq":
            with contextlib.suppress(Exception):  # a broker still down: the first send retries
                await self._rabbit().connect()

    async def close(self) -> None:
        if self._http is not None:
            self._http.clear()
        if self._publisher is not None:
            await self._publisher.close()

    def _http_pool(self) -> Any:
        # urllib3 rather than aiohttp: botocore has imported it already, where aiohttp
        # would add 0.3 s to the first event of a cold process.
        import urllib3

        with self._lock:
            if self._http is None:
                self._http = urllib3.PoolManager(
                    maxsize=8,
                    timeout=urllib3.Timeout(total=self._results.http_timeout_seconds),
                    retries=False,
                )
            return self._http

    def _post(self, event: CloudEvent) -> None:
        import urllib3.exceptions

        headers, body = to_http_binary(event)
        headers = {**headers, **self._auth_headers}
        try:
            answer = self._http_pool().request(
                "POST", self._results.http_sink, body=body, headers=headers
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ResultDeliveryFailed(f"result sink unreachable: {exc}") from exc
        if answer.status >= 300:
            text = answer.data[:200].decode("utf-8", "replace")
            raise ResultDeliveryFailed(f"result sink answered {answer.status}: {text}")

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
