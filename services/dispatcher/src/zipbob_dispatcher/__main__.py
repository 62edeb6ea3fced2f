"""`python -m zipbob_dispatcher`: feed the target from RabbitMQ until SIGTERM."""

from __future__ import annotations

import asyncio
import signal


async def _run() -> None:
    from zipbob_dispatcher.consumer import Dispatcher
    from zipbob_dispatcher.settings import load_dispatcher_settings
    from zipbob_platform.logging import configure_logging

    settings = load_dispatcher_settings()
    configure_logging("dispatcher", settings.logging.level)
    if settings.dispatcher.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.dispatcher.metrics_port, addr=settings.server.host)
    from zipbob_platform.cloudevents import static_headers
    from zipbob_platform.event_auth import outgoing_headers

    dispatcher = Dispatcher(
        settings.rabbitmq,
        settings.dispatcher,
        event_headers=static_headers(outgoing_headers(settings.event_auth)),
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    dispatcher.start()
    await stopping.wait()
    await dispatcher.stop()  # unsettled messages are redelivered either way


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
