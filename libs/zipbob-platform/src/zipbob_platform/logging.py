"""JSON lines on stdout: ts, level, service, msg, request_id, trace_id, span_id.

Secrets never reach the output: keys that look like credentials are masked, and
bearer tokens or JWTs inside messages are cut out.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from typing import Any

from opentelemetry import trace

from .context import current_request_id

_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|authorization|api[_-]?key|private)", re.I)
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key)([\"']?\s*[=:]\s*[\"']?)[^\s\"',&}]+"
)
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",  # uvicorn: the same message with ANSI colour codes
}
REDACTED = "[redacted]"


_MAY_HOLD_SECRET = re.compile(r"(?i)eyJ|bearer|pass|secret|token|api.?key")


def scrub(text: str) -> str:
    # One cheap scan first: almost no log line holds anything to mask (hot path: access log).
    if not _MAY_HOLD_SECRET.search(text):
        return text
    text = _BEARER.sub("Bearer " + REDACTED, _JWT_LIKE.sub(REDACTED, text))
    return _ASSIGNED_SECRET.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEYS.search(key) is not None


def _scrub_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            "request_id": current_request_id(),
            "trace_id": format(span_context.trace_id, "032x") if span_context.is_valid else None,
            "span_id": format(span_context.span_id, "016x") if span_context.is_valid else None,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in entry:
                entry[key] = _scrub_value(key, value)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, separators=(",", ":"))


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time of the record (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, libraries') through one JSON handler on stdout."""
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers[:] = []
        lib_logger.propagate = True
    # Our middleware writes one access line per request; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("botocore", "boto3", "urllib3", "pika", "aiormq", "pymongo", "asyncio", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
