"""``POST /``: the Knative CloudEvents receiver (image.uploaded and product.deleted).

2xx = done; 400 = not an event we can read; 422 = permanent image failure (image.failed
was emitted); 503 = retryable (S3, broker or result sink unreachable); 500 = S3 refused
(AccessDenied, NoSuchBucket): redelivered like any 5xx, and logged for an operator.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from zipbob_platform.cloudevents import CloudEvent, InvalidEvent, from_http, to_http_binary
from zipbob_platform.event_auth import (
    ForeignObject,
    check_object,
    events_refused_total,
    sender_auth,
    sign_event,
)
from zipbob_platform.objectstore import StorageRejected, StorageUnavailable
from zipbob_platform.problems import PROBLEM_BASE, Problem
from zipbob_platform.tracing import extract_context, tracer
from zipbob_resizer import metrics
from zipbob_resizer.results import ResultDeliveryFailed
from zipbob_resizer.service import DELETED, UPLOADED, BadEventData

RETRY_AFTER_SECONDS = "2"
REQUIRED = frozenset({"product_id", "image_id", "bucket", "key"})


async def receive_event(request: Request) -> Response:
    runtime = request.app.state.container
    await sender_auth(request.app.state, "resizer").check(request.headers, await request.body())
    try:
        event = from_http(request.headers, await request.body())
        _check_original(event, request.app.state.settings.s3.original_bucket)
    except ForeignObject as exc:
        events_refused_total.labels("resizer", "foreign_object").inc()
        raise Problem(403, str(exc), type_=PROBLEM_BASE + "forbidden") from None
    except InvalidEvent as exc:
        raise Problem(400, str(exc), type_=PROBLEM_BASE + "invalid-event") from None
    parent = extract_context({"traceparent": event.traceparent}) if event.traceparent else None
    if event.type == DELETED:
        with tracer("zipbob_resizer").start_as_current_span("delete images", context=parent):
            try:
                await runtime.cleaner.handle(event)
            except BadEventData as exc:
                raise Problem(400, str(exc), type_=PROBLEM_BASE + "invalid-event") from None
            except StorageUnavailable as exc:
                raise _retry_later(exc) from None
            except StorageRejected as exc:
                raise _refused(exc) from None
        return Response(status_code=204)
    with tracer("zipbob_resizer").start_as_current_span("resize image", context=parent):
        try:
            outcome = await runtime.resizer.handle(event)
            sign_event(outcome.event, request.app.state.settings.event_auth)  # signed mode
            if runtime.sender.mode != "reply":
                await runtime.sender.send(outcome.event)
        except BadEventData as exc:
            raise Problem(400, str(exc), type_=PROBLEM_BASE + "invalid-event") from None
        except StorageUnavailable as exc:
            metrics.IMAGES.labels("retry").inc()
            raise _retry_later(exc) from None
        except ResultDeliveryFailed as exc:
            metrics.IMAGES.labels("retry").inc()
            raise _retry_later(exc, after=exc.retry_after) from None
        except StorageRejected as exc:
            metrics.IMAGES.labels("retry").inc()  # 5xx: redelivered once an operator fixes S3
            raise _refused(exc) from None
    if runtime.sender.mode == "reply":
        # Knative forwards only the replies of 2xx answers, so a failure is answered with
        # 200 here too: the image.failed reply is how the catalog learns of it.
        headers, body = to_http_binary(outcome.event)
        return Response(body, status_code=200, headers=headers)
    if outcome.permanent_failure:
        data = outcome.event.data
        raise Problem(
            422, data["detail"], type_=PROBLEM_BASE + "image-rejected", reason=data["reason"]
        )
    return Response(status_code=204)


def _check_original(event: CloudEvent, bucket: str) -> None:
    """image.uploaded must name the original the catalog stores for that image (SPEC 5):
    the resizer reads it with its own credentials and writes variants others will see."""
    data = event.data
    if event.type != UPLOADED or not isinstance(data, dict) or not data.keys() >= REQUIRED:
        return  # validate_uploaded answers incomplete events with 400
    product_id, image_id = str(data.get("product_id", "")), str(data.get("image_id", ""))
    check_object(
        str(data.get("bucket", "")),
        str(data.get("key", "")),
        expected_bucket=bucket,
        expected_key=f"products/{product_id}/{image_id}/original",
    )
    if not product_id or "/" in product_id or "/" in image_id or not image_id:
        raise ForeignObject("product_id and image_id must be plain ids")


def _retry_later(exc: Exception, *, after: float | None = None) -> Problem:
    """503; ``after``: the wait the result sink asked for, passed on to our sender."""
    seconds = str(math.ceil(after)) if after is not None else RETRY_AFTER_SECONDS
    return Problem(
        503, str(exc), type_=PROBLEM_BASE + "retry-later", headers={"Retry-After": seconds}
    )


def _refused(exc: StorageRejected) -> Problem:
    return Problem(500, str(exc), title=exc.title, type_=exc.type_)
