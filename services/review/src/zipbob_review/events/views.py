"""POST /internal/events: CloudEvents over HTTP (local profile; never routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from zipbob_platform.cloudevents import InvalidEvent, from_http
from zipbob_platform.event_auth import sender_auth
from zipbob_platform.problems import PROBLEM_BASE, Problem

from ..metrics import events_consumed_total
from .handlers import handle_event

router = APIRouter(include_in_schema=False)
MAX_EVENT_BYTES = 256 * 1024


@router.post("/internal/events")
async def receive_event(request: Request) -> JSONResponse:
    # product.deleted wipes a product's reviews: only the authenticated sender may say so.
    body = await request.body()
    if len(body) > MAX_EVENT_BYTES:
        raise Problem(413, "event too large")
    await sender_auth(request.app.state, "review").check(request.headers, body)
    try:
        event = from_http(dict(request.headers), body)
        result = await handle_event(deps=request.app.state.container.deps, event=event)
    except InvalidEvent as exc:
        events_consumed_total.labels("http", "invalid").inc()
        raise Problem(400, str(exc), type_=PROBLEM_BASE + "invalid-event") from None
    events_consumed_total.labels("http", result.outcome).inc()
    return JSONResponse(
        {"id": event.id, "outcome": result.outcome, "reviews_deleted": result.reviews_deleted}
    )
