"""``POST /internal/events``: result events over HTTP (local profile, Knative Trigger).

Internal only: the gateway never routes here. 2xx = done (also for duplicates and stale
events), 400 = permanent refusal, 503 = retry later.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from zipbob_catalog.results.service import apply_result
from zipbob_platform.cloudevents import InvalidEvent, from_http
from zipbob_platform.event_auth import ForeignObject, events_refused_total, sender_auth
from zipbob_platform.problems import PROBLEM_BASE, Problem

router = APIRouter(tags=["internal"])


@router.post("/internal/events", include_in_schema=False)
async def receive_event(request: Request) -> JSONResponse:
    # The sender first (its signature, OIDC token or the shared secret), before the event.
    body = await request.body()
    await sender_auth(request.app.state, "catalog").check(request.headers, body)
    try:
        event = from_http(request.headers, body)
        outcome = await apply_result(runtime=request.app.state.container.runtime, event=event)
    except ForeignObject as exc:
        events_refused_total.labels("catalog", "foreign_object").inc()
        raise Problem(403, str(exc), type_=PROBLEM_BASE + "forbidden") from None
    except InvalidEvent as exc:
        raise Problem(400, str(exc), type_=PROBLEM_BASE + "invalid-event") from None
    return JSONResponse({"id": event.id, "outcome": outcome})


@router.get("/internal/status", include_in_schema=False)
async def background_status(request: Request) -> JSONResponse:
    """Broker and outbox state. Readiness deliberately ignores the broker (the outbox
    absorbs outages); the platform's readiness report has no room for informational
    details, so they are shown here."""
    workers = request.app.state.container.workers
    body: dict[str, object] = {"broker": workers.broker_state()}
    if workers.relay is not None:
        pending, lag = await workers.relay.refresh_gauges()
        body["outbox"] = {"pending": pending, "lag_seconds": round(lag, 3)}
    return JSONResponse(body)
