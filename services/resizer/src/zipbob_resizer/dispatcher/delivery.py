"""POST one event to the resizer and decide what the broker should do with the message."""

from __future__ import annotations

import enum
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from zipbob_platform.cloudevents import InvalidEvent, from_amqp, to_http_binary


class Verdict(enum.Enum):
    ACK = "delivered"  # 2xx, or a permanent image failure the resizer already reported
    DEAD_LETTER = "dead_lettered"  # unreadable, refused as malformed, or out of attempts


# 422: the resizer refused the image and emitted image.failed itself; nothing to retry.
HANDLED_FAILURE = 422


def retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def post_event(url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 503  # unreachable or killed mid-request: retry like Knative does


def deliver(
    *,
    headers: Mapping[str, Any] | None,
    body: bytes,
    content_type: str | None,
    target_url: str,
    max_attempts: int,
    backoff_initial: float,
    backoff_max: float,
    timeout: float,
    post: Callable[[str, Mapping[str, str], bytes, float], int] = post_event,
    sleep: Callable[[float], None] = time.sleep,
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[Verdict, int]:
    """Returns the verdict and the number of attempts made."""
    try:
        event = from_amqp(headers, body, content_type)
    except InvalidEvent:
        return Verdict.DEAD_LETTER, 0
    http_headers, http_body = to_http_binary(event)
    http_headers = {**http_headers, **(extra_headers or {})}
    delay = backoff_initial
    for attempt in range(1, max_attempts + 1):
        status = post(target_url, http_headers, http_body, timeout)
        if 200 <= status < 300 or status == HANDLED_FAILURE:
            return Verdict.ACK, attempt
        if not retryable(status):
            return Verdict.DEAD_LETTER, attempt
        if attempt < max_attempts:
            sleep(delay)
            delay = min(delay * 2, backoff_max)
    return Verdict.DEAD_LETTER, max_attempts
