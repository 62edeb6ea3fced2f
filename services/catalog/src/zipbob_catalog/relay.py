"""``python -m zipbob_catalog.relay``: the outbox relay alone, without the HTTP API.

The container is built the one way, by ``bootstrap`` (schema and all), from the settings
with every background worker but the relay turned off. Run several for availability: rows
are claimed with SKIP LOCKED and per-product order is kept (see outbox/repository.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from zipbob_catalog.bootstrap import bootstrap, relay_only
from zipbob_catalog.settings import load_catalog_settings
from zipbob_platform.logging import configure_logging


async def _run() -> None:
    settings = relay_only(load_catalog_settings())
    configure_logging(settings.service, settings.logging.level)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    async with bootstrap(settings):  # the relay runs as a background worker until then
        await stopping.wait()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
