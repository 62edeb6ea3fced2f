"""Background work living in the catalog process: relay, results consumer, sweeper."""

from __future__ import annotations

import asyncio
import contextlib

from zipbob_catalog.outbox.publishers import HttpSinkPublisher, Publisher, RabbitPublisher
from zipbob_catalog.outbox.relay import OutboxRelay
from zipbob_catalog.results.consumer import ResultsConsumer
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.sweeper import OrphanSweeper
from zipbob_platform.cloudevents import static_headers
from zipbob_platform.event_auth import outgoing_headers, signing_publisher


def make_publisher(runtime: CatalogRuntime) -> Publisher:
    settings = runtime.settings
    publisher: Publisher
    if settings.outbox.transport == "http":
        publisher = HttpSinkPublisher(
            settings.outbox, event_headers=static_headers(outgoing_headers(settings.event_auth))
        )
    else:
        publisher = RabbitPublisher(settings.rabbitmq)
    return signing_publisher(publisher, settings.event_auth)  # signed mode: zipbobsig


def make_relay(runtime: CatalogRuntime) -> OutboxRelay:
    return OutboxRelay(
        engine=runtime.engine,
        sessions=runtime.sessions,
        publisher=make_publisher(runtime),
        settings=runtime.settings.outbox,
    )


class BackgroundWorkers:
    def __init__(self, runtime: CatalogRuntime) -> None:
        self.runtime = runtime
        self.relay: OutboxRelay | None = None
        self.consumer: ResultsConsumer | None = None
        self.sweeper: OrphanSweeper | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        settings = self.runtime.settings
        if settings.outbox.relay_enabled:
            self.relay = make_relay(self.runtime)
            self.runtime.on_events_committed.listen(self.relay.wake)
            self._tasks.append(asyncio.create_task(self.relay.run_forever(), name="outbox-relay"))
        if settings.results.consume_rabbitmq:
            self.consumer = ResultsConsumer(runtime=self.runtime, settings=settings.rabbitmq)
            self.consumer.start()
        if settings.sweeper.enabled:
            self.sweeper = OrphanSweeper(self.runtime)
            self._tasks.append(asyncio.create_task(self.sweeper.run_forever(), name="sweeper"))

    def broker_state(self) -> dict[str, str]:
        state = {}
        if self.relay is not None:
            state["outbox_publisher"] = self.relay.publisher.state
        if self.consumer is not None:
            state["results_consumer"] = self.consumer.state
        return state

    async def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, 10)
        if self.relay is not None:
            await self.relay.publisher.close()
