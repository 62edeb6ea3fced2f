"""Which headers cross the gateway, in both directions (RFC 9110 section 7.6.1)."""

from __future__ import annotations

from collections.abc import Sequence

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Replaced by the gateway's own values on the way up.
_REPLACED_UPSTREAM = frozenset({"host", "traceparent", "tracestate", "x-request-id", "forwarded"})
_FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
# Meant for the gateway alone (edge.TrustedProxies): never passed on, whatever its value.
_GATEWAY_ONLY = frozenset({"x-zipbob-proxy-token"})
# The gateway's server adds its own on the way down.
_REPLACED_DOWNSTREAM = frozenset({"date", "server", "x-request-id"})


def _connection_named(headers: list[tuple[bytes, bytes]]) -> frozenset[str]:
    named: set[str] = set()
    for name, value in headers:
        if name == b"connection":
            named.update(t.strip().lower() for t in value.decode("latin-1").split(",") if t)
    return frozenset(named)


def upstream_request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    forwarded_for: str,
    scheme: str,
    request_id: str,
    traceparent: str | None,
) -> list[tuple[str, str]]:
    """``forwarded_for`` is the chain the gateway vouches for (edge.TrustedProxies.resolve:
    the peer alone unless a trusted hop named the client); the client's own
    X-Forwarded-For/-Proto/-Host are never passed on as they came."""
    dropped = HOP_BY_HOP | _REPLACED_UPSTREAM | _connection_named(headers)
    out: list[tuple[str, str]] = []
    host = None
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1")
        if name == "host":
            host = raw_value.decode("latin-1")
        if name in dropped or name in _FORWARDING or name in _GATEWAY_ONLY:
            continue
        out.append((name, raw_value.decode("latin-1")))
    out.append(("x-forwarded-for", forwarded_for))
    out.append(("x-forwarded-proto", scheme))
    if host:
        out.append(("x-forwarded-host", host))
    out.append(("x-request-id", request_id))
    if traceparent:
        out.append(("traceparent", traceparent))
    return out


def downstream_response_headers(
    raw_headers: Sequence[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    connection_named: set[str] = set()
    for name, value in raw_headers:
        if name.lower() == b"connection":
            connection_named.update(
                t.strip().lower() for t in value.decode("latin-1").split(",") if t
            )
    out: list[tuple[bytes, bytes]] = []
    for name, value in raw_headers:
        lower = name.lower()
        text = lower.decode("latin-1")
        if text in HOP_BY_HOP or text in _REPLACED_DOWNSTREAM or text in connection_named:
            continue
        out.append((lower, value))
    return out
