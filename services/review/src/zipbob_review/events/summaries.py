"""``com.zipbob.review.summary.changed``, published reliably (#13, SPEC 4): an outbox in
MongoDB, no multi-document transaction needed.

Why an outbox rather than a change stream: change streams need a replica set (real
MongoDB standalone has none, and nx-27017 accepts ``watch`` without guaranteeing
resumable tokens), and a change-stream publisher still needs a stored token and a
leader. The outbox is a flag on the per-product document the service already keeps
(``review_versions``: ``{_id: product_id, version}``, bumped after every write):

1. Before a write, an *intent* ``{_id, product_id, at}`` goes into ``review_write_intents``.
2. After the write, ``version`` is incremented and ``unpublished: true`` set in one
   update (repository.bump_version), then the intent is deleted.
3. The relay reads ``unpublished`` documents, computes each product's summary from the
   reviews, publishes it with that ``version`` (confirmed), and clears the flag only if
   ``version`` did not move meanwhile (else the next round publishes the newer one).
4. An intent older than ``stale_write_seconds`` means the service died between its
   write and step 2: the relay bumps that product's version itself.

So a broker outage leaves documents flagged until it is back, and a crash anywhere
leaves a flag or an intent behind. ``version`` only ever grows; the event id is derived
from ``(product_id, version)``, so a re-publish after a crash is a duplicate consumers
recognise, and the catalog applies only versions newer than its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, new_event
from zipbob_platform.messaging.relay import drain as drain_relay
from zipbob_platform.messaging.relay import relay_backoff, retry_after, worth_logging
from zipbob_platform.settings import ConfigError

from ..reviews.models import utc_now
from ..reviews.repository import ReviewRepository
from ..reviews.schemas import RatingSummary
from ..settings import ReviewSettings, SummarySettings

Document = dict[str, Any]

if TYPE_CHECKING:
    from ..reviews.service import ReviewDeps

log = logging.getLogger("zipbob.review.summaries")
EVENT_ID_NAMESPACE = uuid.UUID("0b6f5e2c-3c1d-4f53-9a55-2f3c8b8f6d21")
SWEEP_EVERY_SECONDS = 5.0


class Publisher(Protocol):
    state: str

    async def publish_batch(self, events: Sequence[CloudEvent]) -> tuple[int, Exception | None]: ...

    async def close(self) -> None: ...


def intents_collection(database: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return database["review_write_intents"]


class WriteIntents:
    """Steps 1 and 2's bookkeeping: what the service layer calls around a write."""

    def __init__(
        self, intents: AsyncCollection[Document], *, on_end: Callable[[], None] | None = None
    ):
        self.intents = intents
        self.on_end = on_end  # the relay's wake(): publish now rather than at the next poll

    async def begin(self, product_id: str) -> str:
        token = uuid.uuid4().hex
        await self.intents.insert_one({"_id": token, "product_id": product_id, "at": utc_now()})
        return token

    async def end(self, token: str) -> None:
        await self.intents.delete_one({"_id": token})
        if self.on_end is not None:
            self.on_end()


def summary_event(
    product_id: str, version: int, summary: RatingSummary, *, traceparent: str | None = None
) -> CloudEvent:
    data = {"product_id": product_id, **summary.model_dump(), "version": version}
    event = new_event(events.REVIEW_SUMMARY_CHANGED, events.REVIEW_SOURCE, data, subject=product_id)
    event.id = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{product_id}:{version}"))
    if traceparent:  # the trace of the write that made this version
        event.extensions["traceparent"] = traceparent
    return event


class SummaryRelay:
    def __init__(
        self,
        *,
        repository: ReviewRepository,
        intents: AsyncCollection[Document],
        publisher: Publisher,
        settings: SummarySettings,
    ) -> None:
        self.repository = repository
        self.versions = repository.versions
        self.intents = intents
        self.publisher = publisher
        self.settings = settings
        self.backoff = relay_backoff(settings.max_backoff_seconds)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_sweep = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def consecutive_failures(self) -> int:
        return self.backoff.failures

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="summary-relay")

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 10)
        await self.publisher.close()

    async def prepare(self) -> None:
        await self.versions.create_index([("unpublished", ASCENDING)], name="by_unpublished")
        await self.intents.create_index([("at", ASCENDING)], name="by_at")

    async def sweep_once(self, *, now: datetime | None = None) -> int:
        """Step 4: finish the bookkeeping of writers that died mid-write."""
        cutoff = (now or utc_now()) - timedelta(seconds=self.settings.stale_write_seconds)
        stale = await self.intents.find({"at": {"$lt": cutoff}}).to_list(length=1000)
        for intent in stale:
            await self.repository.bump_version(intent["product_id"])
            await self.intents.delete_one({"_id": intent["_id"]})
        if stale:
            log.warning("finished %d interrupted review writes", len(stale))
        return len(stale)

    async def publish_once(self) -> tuple[int, Exception | None]:
        """Step 3 for one batch; returns (published, error)."""
        documents = (
            await self.versions.find({"unpublished": True})
            .limit(self.settings.batch_size)
            .to_list(length=self.settings.batch_size)
        )
        if not documents:
            return 0, None
        pending: list[tuple[str, int, CloudEvent]] = []
        for document in documents:
            product_id, version = str(document["_id"]), int(document["version"])
            counts = await self.repository.rating_counts(product_id)
            summary = RatingSummary.from_counts(counts)
            event = summary_event(
                product_id, version, summary, traceparent=document.get("traceparent")
            )
            pending.append((product_id, version, event))
        delivered, error = await self.publisher.publish_batch([e for _, _, e in pending])
        for product_id, version, _ in pending[:delivered]:
            await self.versions.update_one(
                {"_id": product_id, "version": version},
                {"$set": {"unpublished": False, "published_version": version}},
            )
        return delivered, error

    async def drain(self, *, within_seconds: float = 30.0) -> None:
        """Publish until nothing is flagged (tests, graceful shutdown)."""
        await drain_relay(self.publish_once, within_seconds=within_seconds)

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await self.prepare()  # MongoDB may be down: the service's own start-up retries
        while not self._stopping.is_set():
            error: Exception | None
            self._wake.clear()  # a write finishing from here on wakes the wait below
            try:
                if loop.time() - self._last_sweep >= SWEEP_EVERY_SECONDS:
                    self._last_sweep = loop.time()
                    await self.sweep_once()
                delivered, error = await self.publish_once()
            except Exception as exc:  # MongoDB down: same treatment as the broker
                delivered, error = 0, exc
            pause = 0.0
            if error is not None:
                pause = self.backoff.fail(retry_after(error))
                if worth_logging(self.consecutive_failures):
                    log.warning(
                        "summary publish failed (%d in a row), retrying in %.1fs: %r",
                        self.consecutive_failures,
                        pause,
                        error,
                    )
            else:
                self.backoff.reset()
            if error is None and delivered >= self.settings.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), pause or self.settings.poll_interval_seconds
                )

    def wake(self) -> None:
        """A write finished: publish now (never cutting a backoff short)."""
        if not self.consecutive_failures:
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()


def start_summary_relay(
    settings: ReviewSettings, database: AsyncDatabase[Document], deps: ReviewDeps
) -> SummaryRelay | None:
    """Wire the outbox into ``deps`` and start its relay (None when disabled)."""
    summaries = settings.review.events.summaries
    if not summaries.enabled:
        return None
    if summaries.transport == "http" and not (
        summaries.http_subscriptions and all(s.url for s in summaries.http_subscriptions)
    ):
        raise ConfigError(
            "review",
            [
                "review.events.summaries: the http transport needs a sink URL for every "
                "subscription (in Kubernetes K_SINK, from the review-events SinkBinding)"
            ],
        )
    intents = intents_collection(database)
    if summaries.transport == "http":
        from zipbob_platform.cloudevents import static_headers
        from zipbob_platform.event_auth import outgoing_headers
        from zipbob_platform.messaging.http_sink import HttpSinkPublisher, Subscription

        publisher: Publisher = HttpSinkPublisher(
            [Subscription(s.url, tuple(s.types)) for s in summaries.http_subscriptions],
            sender="review-summaries",
            timeout_seconds=summaries.http_timeout_seconds,
            # The catalog checks the sender (local: the shared secret); none for K_SINK.
            event_headers=static_headers(outgoing_headers(settings.event_auth)),
        )
    else:
        from zipbob_platform.messaging import Broker, ConfirmedPublisher

        publisher = ConfirmedPublisher(Broker.from_settings(settings.rabbitmq))
    from zipbob_platform.event_auth import signing_publisher

    publisher = signing_publisher(publisher, settings.event_auth)  # signed mode: zipbobsig
    relay = SummaryRelay(
        repository=deps.repository, intents=intents, publisher=publisher, settings=summaries
    )
    deps.repository.intents = WriteIntents(intents, on_end=relay.wake)
    relay.start()
    return relay
