"""Which paths the FastAPI control app answers: /api/auth/*, the JWKS, /api/openapi.json
and /api/docs, health and metrics. They are answered there, never proxied."""

from __future__ import annotations

from .apidocs.views import is_docs_path

AUTH_PREFIX = "/api/auth/"
CONTROL_PATHS = frozenset({"/.well-known/jwks.json", "/healthz/live", "/healthz/ready", "/metrics"})


def is_control_path(path: str) -> bool:
    return path.startswith(AUTH_PREFIX) or path in CONTROL_PATHS or is_docs_path(path)
