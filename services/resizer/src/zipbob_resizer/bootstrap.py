"""Build the resizer's container from settings, inside the app's lifespan: the object store,
the resizer and the cleaner over it, and the result sender (closed at shutdown). A warm-up
thread then builds what the first event needs while the server starts (cold start)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

from zipbob_platform.cloudevents import static_headers
from zipbob_platform.event_auth import outgoing_headers
from zipbob_platform.health import ReadinessCheck
from zipbob_platform.objectstore import ObjectStore
from zipbob_resizer.cleanup import ProductCleaner
from zipbob_resizer.imaging.variants import ImageLimits, RenderOptions, VariantSpec
from zipbob_resizer.results import ResultSender
from zipbob_resizer.service import ImageResizer
from zipbob_resizer.settings import ResizerSettings

log = logging.getLogger("zipbob_resizer")


@dataclass(frozen=True)
class ResizerRuntime:
    resizer: ImageResizer
    cleaner: ProductCleaner
    sender: ResultSender
    store: ObjectStore

    def warm_up(self) -> None:
        """Build what the first event needs, in the order it needs it: S3 client, image
        codecs, result channel. Anything not ready yet when the first event arrives is
        built by that event instead."""
        try:
            self.store.warm_up()
            from PIL import Image

            import zipbob_resizer.imaging.pipeline  # noqa: F401

            Image.preinit()  # the JPEG and PNG plugins Image.open would import
            self.sender.warm_up()
        except Exception:  # never fatal: the request path builds the same things again
            log.warning("warm-up failed", exc_info=True)


def render_options(settings: ResizerSettings) -> RenderOptions:
    imaging = settings.imaging
    return RenderOptions(
        variants=tuple(VariantSpec(v.name, v.max_width, v.max_height) for v in imaging.variants),
        quality=imaging.quality,
        limits=ImageLimits(max_pixels=imaging.max_pixels, max_bytes=imaging.max_bytes),
    )


def build_runtime(settings: ResizerSettings) -> ResizerRuntime:
    store = ObjectStore(settings.s3)
    return ResizerRuntime(
        resizer=ImageResizer(
            store=store, options=render_options(settings), resized_bucket=settings.s3.resized_bucket
        ),
        cleaner=ProductCleaner(
            store=store,
            variant_names=tuple(v.name for v in settings.imaging.variants),
            original_bucket=settings.s3.original_bucket,
            resized_bucket=settings.s3.resized_bucket,
        ),
        sender=ResultSender(
            settings.results,
            settings.rabbitmq,
            event_headers=static_headers(outgoing_headers(settings.event_auth)),
        ),
        store=store,
    )


@contextlib.asynccontextmanager
async def bootstrap(settings: ResizerSettings) -> AsyncIterator[ResizerRuntime]:
    runtime = build_runtime(settings)
    threading.Thread(target=runtime.warm_up, name="warm-up", daemon=True).start()
    connecting = asyncio.create_task(runtime.sender.connect())  # the result channel, early
    try:
        yield runtime
    finally:
        connecting.cancel()
        await runtime.sender.close()


def readiness(runtime: ResizerRuntime) -> dict[str, ReadinessCheck]:
    async def s3() -> None:
        await asyncio.to_thread(runtime.store.ping, bucket=runtime.store.settings.resized_bucket)

    return {"s3": s3}
