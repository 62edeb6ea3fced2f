"""The public API through the gateway: the only thing the console talks to (SPEC 3).

One ``httpx.AsyncClient`` per process. Errors come back as ``ApiError`` holding the
problem+json the API answered, so pages can show its ``detail`` and per-field messages.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
from starlette.types import Scope

from zipbob_platform.context import current_request_id
from zipbob_platform.forwarded import forwarded_hops

# The X-Forwarded-For chain of the browser request being served (see forwarded_chain).
browser_forwarded_for: ContextVar[str | None] = ContextVar("browser_forwarded_for", default=None)
PROXY_TOKEN_HEADER = "X-ZipBob-Proxy-Token"  # noqa: S105 - a header name
FIELD_LABELS = {"display_name": "Name", "email": "Email", "password": "Password"}


@dataclass
class ApiError(Exception):
    status: int
    title: str
    detail: str
    field_errors: dict[str, str] = field(default_factory=dict)
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    @property
    def message(self) -> str:
        """One sentence for a person: the API's detail, without field paths we show inline."""
        if self.status == 429:
            wait = f" Try again in {self.retry_after} s." if self.retry_after else ""
            return f"Too many attempts.{wait}"
        if self.status in (502, 503, 504):
            return "The shop is not reachable right now; please try again in a moment."
        if self.field_errors:
            return "Please correct the fields marked below."
        return self.detail or self.title


def _field_errors(body: dict[str, Any]) -> dict[str, str]:
    """{"errors": [{"loc": ["body", "price"], "msg": ...}]} -> {"price": "..."}."""
    found: dict[str, str] = {}
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        loc = [str(part) for part in error.get("loc") or [] if part not in ("body", "query")]
        name = loc[0] if loc else ""
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if name and name not in found:
            found[name] = message
    return found


def error_from(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or ""),
        field_errors=_field_errors(body),
        retry_after=response.headers.get("retry-after"),
    )


def forwarded_chain(scope: Scope) -> str | None:
    """The X-Forwarded-For of a browser request, to send back to the gateway with our calls.

    Browsers reach the console only through the gateway (in Kubernetes its NetworkPolicy
    admits the gateway and Prometheus, nothing else; compose publishes no port for it), and
    the gateway never passes a client's own X-Forwarded-For on: it writes the chain it
    vouches for, ending with its own peer (the browser, or the ingress in front of it). So
    the header is the gateway's word. We hand it back whole rather than only its last hop:
    behind an ingress the last hop is the ingress, and the gateway's walk over the whole
    chain finds the same browser again. (In `make run` the console's port is open to any
    local process, which could name its own address through it: a developer's machine.)"""
    return ", ".join(forwarded_hops(scope["headers"])) or None


class GatewayClient:
    def __init__(self, base_url: str, *, timeout: float, proxy_token: str = "") -> None:
        self.proxy_token = proxy_token
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, IO[bytes], str]] | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        request_id = current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        forwarded_for = browser_forwarded_for.get()
        if forwarded_for:
            # On behalf of a browser: the gateway limits its address, not ours (it believes
            # the header only with the token: edge.TrustedProxies).
            headers["X-Forwarded-For"] = forwarded_for
            if self.proxy_token:
                headers[PROXY_TOKEN_HEADER] = self.proxy_token
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return await self.http.request(
            method, path, params=clean, json=json, data=data, files=files, headers=headers
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer (None for 204); an ApiError for anything else."""
        response = await self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
