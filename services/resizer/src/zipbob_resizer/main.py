"""Build the resizer app: `create_app(settings=None) -> ASGI app` (Starlette for cold start)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from zipbob_platform.app import create_service_app
from zipbob_resizer.bootstrap import bootstrap, readiness
from zipbob_resizer.settings import ResizerSettings, load_resizer_settings
from zipbob_resizer.views import receive_event


def create_app(settings: ResizerSettings | None = None) -> Starlette:
    app: Starlette = create_service_app(
        settings or load_resizer_settings(),
        bootstrap=bootstrap,
        readiness=readiness,
        routes=[Route("/", receive_event, methods=["POST"])],
    )
    return app
