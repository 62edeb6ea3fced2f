"""`python -m zipbob_resizer`: serve on $PORT (Knative) or server.port (8083)."""

from __future__ import annotations

import threading


def main() -> None:
    from zipbob_platform.server import serve
    from zipbob_resizer.main import create_app
    from zipbob_resizer.settings import load_resizer_settings

    settings = load_resizer_settings()
    app = create_app(settings)
    # Cold start: the S3 client, the image codecs and the result channel are built while
    # uvicorn starts, rather than by the first event.
    threading.Thread(target=app.state.resizer.warm_up, name="warm-up", daemon=True).start()
    serve(app, settings, port_env="PORT")


if __name__ == "__main__":
    main()
