"""Which paths the FastAPI control app answers: /api/auth/*, the JWKS, health and metrics."""

from __future__ import annotations

AUTH_PREFIX = "/api/auth/"
CONTROL_PATHS = frozenset({"/.well-known/jwks.json", "/healthz/live", "/healthz/ready", "/metrics"})


def is_control_path(path: str) -> bool:
    return path.startswith(AUTH_PREFIX) or path in CONTROL_PATHS
