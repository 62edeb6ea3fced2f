"""The one way to consume CloudEvents from RabbitMQ, on the service's own event loop.

For each message the handler is awaited (inside a consumer span continuing the
event's trace), then:
- it returned: ack;
- it raised ``RejectEvent`` (or the message is no readable CloudEvent): reject without
  requeue, so the broker moves it to ``<queue>.dlq`` (see topology);
- it raised anything else, or timed out: wait a backoff that doubles per consecutive
  failure (capped), then requeue it, so a database outage becomes a slow retry rather
  than a hot loop or a lost event.
Each queue is read in order; ``concurrency`` handlers run at once across all queues
(1 keeps each queue's order, except that a requeued message comes back behind those
already prefetched: handlers must not rely on strict order, and ours compare versions
or record event ids). A lost connection is re-opened with backoff forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from ..backoff import Backoff
from ..cloudevents import CloudEvent, InvalidEvent, from_amqp
from ..tracing import consumer_span
from .topology import Broker, QueueSpec, connect, declare_queue, underlay

log = logging.getLogger("zipbob.messaging")
EventHandler = Callable[[CloudEvent], Awaitable[Any]]
# outcome ("handled" | "dead_lettered" | "retry"), the handler's result or error
Observer = Callable[[str, Any], None]


class RejectEvent(Exception):
    """Raised by a handler: this event can never be handled; dead-letter it."""


class EventConsumer:
    def __init__(
        self,
        *,
        broker: Broker,
        queues: Sequence[QueueSpec],
        handler: EventHandler,
        prefetch: int = 10,
        concurrency: int = 1,
        handler_timeout: float = 60.0,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
        observe: Observer | None = None,
        name: str = "consumer",
    ) -> None:
        self.broker = broker
        self.queues = list(queues)
        self.handler = handler
        self.prefetch = prefetch
        self.concurrency = concurrency
        self.handler_timeout = handler_timeout
        self.retry_initial = retry_initial_seconds
        self.retry_max = retry_max_seconds
        self.observe = observe
        self.name = name
        self.state = "starting"
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._retries = Backoff(retry_initial_seconds, retry_max_seconds)
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name=f"{self.name}-amqp")

    async def stop(self, *, within_seconds: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, within_seconds)

    async def run_forever(self) -> None:
        reconnect = Backoff(self.retry_initial, self.retry_max, jitter=0.2)
        while not self._stopping.is_set():
            pause = 0.0
            try:
                await self._session()
            except Exception as exc:
                if self.connected.is_set():
                    reconnect.reset()  # it was up: a new outage starts from the first wait
                pause = reconnect.fail()
                self.state = f"disconnected: {type(exc).__name__}"
                log.warning("%s lost RabbitMQ (%r); reconnecting in %.1fs", self.name, exc, pause)
            finally:
                self.connected.clear()
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    async def _session(self) -> None:
        connection: AbstractConnection = await connect(self.broker)
        inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        workers: list[asyncio.Task[None]] = []
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            for spec in self.queues:
                queue = await declare_queue(channel, self.broker, spec)
                await queue.consume(inbox.put)
            workers = [
                asyncio.create_task(self._work(inbox), name=f"{self.name}-worker")
                for _ in range(self.concurrency)
            ]
            self.state = "connected"
            self.connected.set()
            log.info("%s consuming %s", self.name, [q.name for q in self.queues])
            stopping = asyncio.ensure_future(self._stopping.wait())
            lost = underlay(connection).closing  # aiormq's future: waited on, never cancelled
            try:
                await asyncio.wait([stopping, lost], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if not self._stopping.is_set():
                raise ConnectionError("RabbitMQ closed the connection")
        finally:
            for _ in workers:
                inbox.put_nowait(None)  # each worker finishes its message, then stops
            if workers:
                # Stopping: in-flight handlers finish. Connection lost: their acks cannot
                # reach the broker anyway, so reconnecting does not wait long for them.
                grace = self.handler_timeout if self._stopping.is_set() else 5.0
                _, late = await asyncio.wait(workers, timeout=grace)
                for worker in late:
                    worker.cancel()
            # Unsettled deliveries go back to the queue with the connection.
            with contextlib.suppress(Exception):
                await connection.close()

    # ---- messages ------------------------------------------------------------------------

    async def _work(self, inbox: asyncio.Queue[AbstractIncomingMessage | None]) -> None:
        while (message := await inbox.get()) is not None:
            if self._stopping.is_set():
                return  # unsettled: redelivered with the connection's close
            await self._handle(message)

    async def _call(self, event: CloudEvent) -> Any:
        with consumer_span(f"consume {event.type}", event.traceparent):
            async with asyncio.timeout(self.handler_timeout):
                return await self.handler(event)

    def _observe(self, outcome: str, detail: Any) -> None:
        if self.observe is not None:
            with contextlib.suppress(Exception):
                self.observe(outcome, detail)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            event = from_amqp(message.headers, message.body, message.content_type)
            result = await self._call(event)
        except (RejectEvent, InvalidEvent) as exc:
            log.warning("%s dead-lettering a message: %s", self.name, exc)
            self._observe("dead_lettered", exc)
            await message.reject(requeue=False)
            return
        except asyncio.CancelledError:
            raise  # stopping: the broker redelivers the unsettled message
        except Exception as exc:
            delay = self._retries.fail()
            log.warning(
                "%s could not handle a message (%r); requeueing it in %.1fs",
                self.name,
                exc,
                delay,
            )
            self._observe("retry", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            await message.nack(requeue=True)
            return
        self._retries.reset()
        self._observe("handled", result)
        await message.ack()
