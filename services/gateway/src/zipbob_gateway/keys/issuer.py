"""Access tokens: short-lived ES256 JWTs with kid, iss, aud, sub, role and jti."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from zipbob_platform.settings import AuthSettings

from .keyring import ALGORITHM, KeyRing


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int
    token_id: str


class AccessTokenIssuer:
    def __init__(self, *, key_ring: KeyRing, auth: AuthSettings, ttl_seconds: int) -> None:
        self.key_ring = key_ring
        self.auth = auth
        self.ttl_seconds = ttl_seconds

    def issue(self, *, user_id: str, role: str, email: str) -> IssuedAccessToken:
        now = int(time.time())
        token_id = uuid.uuid4().hex
        claims = {
            "iss": self.auth.issuer,
            "aud": self.auth.audience,
            "sub": user_id,
            "role": role,
            "email": email,
            "jti": token_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
        }
        key = self.key_ring.active
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return IssuedAccessToken(token=token, expires_in=self.ttl_seconds, token_id=token_id)
