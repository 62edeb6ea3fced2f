"""``python -m zipbob_catalog.relay``: the outbox relay alone, without the HTTP API.

Run several for availability: rows are claimed with SKIP LOCKED and per-product order is
kept (see outbox/repository.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from zipbob_catalog.background import make_relay
from zipbob_catalog.runtime import CatalogRuntime
from zipbob_catalog.settings import load_catalog_settings
from zipbob_platform.logging import configure_logging


async def _run() -> None:
    settings = load_catalog_settings()
    configure_logging(settings.service, settings.logging.level)
    runtime = CatalogRuntime.build(settings)
    relay = make_relay(runtime)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, relay.stop)
    try:
        await relay.run_forever()
    finally:
        await relay.publisher.close()
        await runtime.close()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
