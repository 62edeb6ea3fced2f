"""Build the resizer app: `create_app(settings=None) -> ASGI app` (Starlette for cold start)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.routing import Route

from zipbob_platform.app import install_platform
from zipbob_platform.event_auth import outgoing_headers
from zipbob_resizer.cleanup import ProductCleaner
from zipbob_resizer.imaging.variants import ImageLimits, RenderOptions, VariantSpec
from zipbob_resizer.results import ResultSender
from zipbob_resizer.service import ImageResizer
from zipbob_resizer.settings import ResizerSettings, load_resizer_settings
from zipbob_resizer.storage import ObjectStore
from zipbob_resizer.views import receive_event

log = logging.getLogger("zipbob_resizer")


@dataclass
class ResizerRuntime:
    resizer: ImageResizer
    cleaner: ProductCleaner
    sender: ResultSender
    store: ObjectStore

    def warm_up(self) -> None:
        """Build what the first event needs, in the order it needs it: S3 client, image
        codecs, result channel. Run in a thread at start-up (see __main__); anything not
        ready yet when the first event arrives is built by that event instead."""
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


def create_app(settings: ResizerSettings | None = None) -> Starlette:
    settings = settings or load_resizer_settings()
    store = ObjectStore(settings.s3)
    sender = ResultSender(
        settings.results, settings.rabbitmq, auth_headers=outgoing_headers(settings.event_auth)
    )
    runtime = ResizerRuntime(
        resizer=ImageResizer(
            store=store, options=render_options(settings), resized_bucket=settings.s3.resized_bucket
        ),
        cleaner=ProductCleaner(
            store=store,
            variant_names=tuple(v.name for v in settings.imaging.variants),
            original_bucket=settings.s3.original_bucket,
            resized_bucket=settings.s3.resized_bucket,
        ),
        sender=sender,
        store=store,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await sender.close()

    async def s3_ready() -> None:
        await asyncio.to_thread(store.ping)

    app = Starlette(routes=[Route("/", receive_event, methods=["POST"])], lifespan=lifespan)
    install_platform(app, settings, readiness={"s3": s3_ready})
    app.state.resizer = runtime
    return app
