"""Handle one image.uploaded event: download, resize, upload, say how it went.

Idempotent by construction: variant keys depend only on the product and image ids, the
pipeline is deterministic, and the result event's id is derived from the input event's
id, so a redelivered event rewrites the same objects and repeats the same result event,
which consumers drop as a duplicate. Concurrent duplicates in one process share one run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from zipbob_platform import events
from zipbob_platform.cloudevents import CloudEvent, new_event
from zipbob_platform.objectstore import ObjectMissing, ObjectStore, variant_key
from zipbob_resizer import metrics

UPLOADED = events.IMAGE_UPLOADED
RESIZED = events.IMAGE_RESIZED
FAILED = events.IMAGE_FAILED
DELETED = events.PRODUCT_DELETED  # handled by cleanup.ProductCleaner
SOURCE = events.RESIZER_SOURCE
RESULT_ID_NAMESPACE = uuid.UUID("6f1c2a52-57a4-4c50-9d0e-3b7c5d1e2a90")
REQUIRED_FIELDS = ("product_id", "image_id", "bucket", "key")

log = logging.getLogger("zipbob_resizer")


class BadEventData(ValueError):
    """The event is a CloudEvent but not one we can act on (400)."""


@dataclass(frozen=True)
class Outcome:
    event: CloudEvent
    permanent_failure: bool


def result_event_id(input_event_id: str) -> str:
    return str(uuid.uuid5(RESULT_ID_NAMESPACE, input_event_id))


def validate_uploaded(event: CloudEvent) -> dict[str, Any]:
    if event.type != UPLOADED:
        raise BadEventData(f"unexpected event type {event.type!r}, want {UPLOADED} or {DELETED}")
    data = event.data
    if not isinstance(data, dict):
        raise BadEventData("event data must be a JSON object")
    missing = [name for name in REQUIRED_FIELDS if not isinstance(data.get(name), str | int)]
    if missing:
        raise BadEventData(f"event data lacks {', '.join(missing)}")
    return {**data, "product_id": str(data["product_id"]), "image_id": str(data["image_id"])}


class ImageResizer:
    def __init__(self, *, store: ObjectStore, options: Any, resized_bucket: str) -> None:
        self._store = store
        self._options = options
        self._resized_bucket = resized_bucket
        self._in_flight: dict[str, asyncio.Future[Outcome]] = {}

    async def handle(self, event: CloudEvent) -> Outcome:
        """Run once per event id at a time; a concurrent duplicate waits for the first."""
        running = self._in_flight.get(event.id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._in_flight[event.id] = future
        try:
            outcome = await self._handle(event)
            future.set_result(outcome)
            return outcome
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: the duplicate (if any) re-raises it
            raise
        finally:
            del self._in_flight[event.id]

    async def _handle(self, event: CloudEvent) -> Outcome:
        from zipbob_resizer.imaging.errors import ImageRejected

        data = validate_uploaded(event)
        ids = {"product_id": data["product_id"], "image_id": data["image_id"]}
        started = time.perf_counter()
        try:
            original = await asyncio.to_thread(
                self._store.get, bucket=data["bucket"], key=data["key"]
            )
        except ObjectMissing as exc:
            return self._failed(event, ids, "original_missing", str(exc))
        metrics.STAGE_SECONDS.labels("download").observe(time.perf_counter() - started)
        metrics.BYTES.labels("in").inc(len(original))
        try:
            result = await asyncio.to_thread(_render, original, self._options)
        except ImageRejected as exc:
            return self._failed(event, ids, exc.reason, exc.detail)
        for stage, seconds in result.stage_seconds.items():
            metrics.STAGE_SECONDS.labels(stage).observe(seconds)
        started = time.perf_counter()
        variants = await asyncio.gather(
            *(asyncio.to_thread(self._upload, ids, variant) for variant in result.variants)
        )
        metrics.STAGE_SECONDS.labels("upload").observe(time.perf_counter() - started)
        if not await asyncio.to_thread(self._store.exists, bucket=data["bucket"], key=data["key"]):
            return await self._withdraw(event, ids, [meta["key"] for _, meta in variants])
        payload = {**ids, "variants": dict(variants)}
        metrics.IMAGES.labels("resized").inc()
        log.info("image resized", extra={"image_id": ids["image_id"], "bytes_in": len(original)})
        return Outcome(self._result(event, RESIZED, payload), permanent_failure=False)

    def _upload(self, ids: dict[str, str], variant: Any) -> tuple[str, dict[str, Any]]:
        key = variant_key(variant=variant.name, **ids)
        self._store.put(
            bucket=self._resized_bucket,
            key=key,
            data=variant.data,
            content_type=variant.content_type,
        )
        metrics.BYTES.labels("out").inc(len(variant.data))
        return variant.name, {
            "bucket": self._resized_bucket,
            "key": key,
            "width": variant.width,
            "height": variant.height,
            "bytes": len(variant.data),
            "content_type": variant.content_type,
        }

    async def _withdraw(self, event: CloudEvent, ids: dict[str, str], keys: list[str]) -> Outcome:
        """The original went away while we resized: product.deleted overtook this event.

        Its cleanup deletes the original before the variants, so either it removed the
        variants after we wrote them, or we see the original gone here and remove them
        ourselves; no variant of a deleted product survives either order.
        """
        await asyncio.to_thread(self._store.delete, bucket=self._resized_bucket, keys=keys)
        log.info("original deleted while resizing", extra={"image_id": ids["image_id"]})
        detail = "the original was deleted while resizing; its variants were removed"
        return self._failed(event, ids, "original_missing", detail)

    def _failed(self, event: CloudEvent, ids: dict[str, str], reason: str, detail: str) -> Outcome:
        metrics.IMAGES.labels("failed").inc()
        log.warning("image refused", extra={"image_id": ids["image_id"], "reason": reason})
        payload = {**ids, "reason": reason, "detail": detail}
        return Outcome(self._result(event, FAILED, payload), permanent_failure=True)

    @staticmethod
    def _result(cause: CloudEvent, type_: str, data: dict[str, Any]) -> CloudEvent:
        event = new_event(type_, SOURCE, data, subject=cause.subject, id_=result_event_id(cause.id))
        if cause.traceparent and "traceparent" not in event.extensions:
            event.extensions["traceparent"] = cause.traceparent
        return event


def _render(data: bytes, options: Any) -> Any:
    from zipbob_resizer.imaging.pipeline import render_variants

    return render_variants(data, options)
