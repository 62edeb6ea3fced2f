"""`python -m zipbob_resizer.dispatcher`: feed the resizer from RabbitMQ until SIGTERM."""

from __future__ import annotations

import signal


def main() -> None:
    from zipbob_platform.logging import configure_logging
    from zipbob_resizer.dispatcher.consumer import Dispatcher
    from zipbob_resizer.settings import load_resizer_settings

    settings = load_resizer_settings(require=("rabbitmq",))
    configure_logging("resizer-dispatcher", settings.logging.level)
    if settings.dispatcher.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.dispatcher.metrics_port, addr=settings.server.host)
    dispatcher = Dispatcher(settings.rabbitmq, settings.dispatcher)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: dispatcher.stop())
    dispatcher.run()


if __name__ == "__main__":
    main()
