"""Reading the X-Forwarded-For chain of an ASGI request (the gateway's client address, the
web console's pass-through of it)."""

from __future__ import annotations

from collections.abc import Iterable


def forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every hop of every ``X-Forwarded-For`` field, in order, blanks dropped."""
    return [
        hop.strip()
        for name, value in headers
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
