"""`python -m zipbob_resizer`: serve on $PORT (Knative) or server.port (8083)."""

from __future__ import annotations


def main() -> None:
    from zipbob_platform.server import serve
    from zipbob_resizer.main import create_app
    from zipbob_resizer.settings import load_resizer_settings

    settings = load_resizer_settings()
    # Cold start: the lifespan's warm-up thread builds the S3 client, the image codecs and
    # the result channel while uvicorn starts, rather than the first event.
    serve(create_app(settings), settings, port_env="PORT")


if __name__ == "__main__":
    main()
