"""Per-request context that logs, errors and outgoing calls read."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("zipbob_request_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return secrets.token_hex(16)  # as unique as a uuid4, a few times cheaper to make


def accept_request_id(incoming: str | None) -> str:
    """Keep a caller's X-Request-ID when it is sane; otherwise mint one (no header injection)."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
