"""Opaque, validated page cursors (SPEC 3): where the next page starts, in one sort.

A cursor is base64url(JSON) + "." + a 12-byte BLAKE2b tag over the payload and the query's
filters. It is not a secret (it only says where a listing of public data continues), so
the tag is a checksum, not a signature: it turns a truncated, edited or foreign cursor
(one made for other filters or another sort) into a 422 instead of a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from zipbob_catalog.products.errors import InvalidCursor

_TAG_BYTES = 12
_MAX_CURSOR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Cursor:
    """``after``: the sort key of the last row shown (keyset sorts); ``offset``/``snapshot``:
    the position in the ranked candidate list and when that list was cut (relevance)."""

    sort: str
    page: int
    after: tuple[Any, ...] = ()
    offset: int = 0
    snapshot: str | None = None
    # The listing's total as its first page counted it: later pages repeat it instead of
    # counting again (a walk shows one total; the count is most of a page's cost).
    total: int | None = None
    total_exact: bool = True


def _tag(payload: bytes, scope: str) -> bytes:
    return hashlib.blake2b(payload + b"\x00" + scope.encode(), digest_size=_TAG_BYTES).digest()


def encode_cursor(cursor: Cursor, *, scope: str) -> str:
    body = {"s": cursor.sort, "p": cursor.page}
    if cursor.after:
        body["a"] = list(cursor.after)
    if cursor.offset:
        body["o"] = cursor.offset
    if cursor.snapshot is not None:
        body["t"] = cursor.snapshot
    if cursor.total is not None:
        body["n"] = cursor.total
        body["x"] = cursor.total_exact
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (
        base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(_tag(payload, scope)).rstrip(b"=").decode()
    )


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_cursor(text: str, *, scope: str, sort: str, key_arity: int) -> Cursor:
    """Raises InvalidCursor for anything but a cursor this listing issued."""
    if len(text) > _MAX_CURSOR_CHARS or text.count(".") != 1:
        raise InvalidCursor("the cursor is malformed")
    encoded_payload, encoded_tag = text.split(".")
    try:
        payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
    except (binascii.Error, ValueError):
        raise InvalidCursor("the cursor is malformed") from None
    if tag != _tag(payload, scope):
        raise InvalidCursor("the cursor does not belong to this listing (filters or sort differ)")
    try:
        body = json.loads(payload)
        cursor = Cursor(
            sort=body["s"],
            page=int(body["p"]),
            after=tuple(body.get("a", ())),
            offset=int(body.get("o", 0)),
            snapshot=body.get("t"),
            total=None if body.get("n") is None else int(body["n"]),
            total_exact=body.get("x", True),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidCursor("the cursor is malformed") from None
    if not isinstance(cursor.total_exact, bool) or (cursor.total or 0) < 0:
        raise InvalidCursor("the cursor is malformed")
    if cursor.sort != sort or cursor.page < 2 or cursor.offset < 0:
        raise InvalidCursor("the cursor does not belong to this listing (filters or sort differ)")
    if len(cursor.after) != key_arity:
        raise InvalidCursor("the cursor is malformed")
    return cursor
