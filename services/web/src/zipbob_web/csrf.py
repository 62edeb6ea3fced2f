"""CSRF tokens: an HMAC of the session id (OWASP's HMAC-based token pattern).

Every visitor gets a random session id in an HttpOnly cookie; a form carries
HMAC(secret, sid). A cross-site page can neither read the cookie nor compute the
HMAC, and the token needs no server-side state, so any replica can check it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def token_for(key: bytes, session_id: str) -> str:
    digest = hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()
    return digest


def valid(key: bytes, session_id: str | None, presented: str | None) -> bool:
    if not session_id or not presented:
        return False
    return hmac.compare_digest(token_for(key, session_id), presented)
