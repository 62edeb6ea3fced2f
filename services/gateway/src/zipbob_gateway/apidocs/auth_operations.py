"""What /api/auth/* and the JWKS document (SPEC 3): decorator arguments for auth/views.py."""

from __future__ import annotations

from typing import Any

from zipbob_platform.openapi import HEADERS, errors, operation

from ..auth.schemas import TokenPair, UserRead

USER_EXAMPLE = {
    "id": "8d0e4b7a-1c2f-4a3b-9e5d-6f7a8b9c0d1e",
    "email": "ada@example.com",
    "display_name": "Ada's Woodshop",
    "role": "seller",
}
TOKENS_EXAMPLE = {
    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjVmM2M…",
    "refresh_token": "Zk9wS0F1c3Rp….q3T1mX8wYV…",
    "token_type": "Bearer",
    "expires_in": 900,
}


def _json(model: type[Any], description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": example}},
    }


_REFRESH = {"refresh_token": "Zk9wS0F1c3Rp….q3T1mX8wYV…"}

SIGNUP = operation(
    operation_id="signup",
    summary="Create an account",
    description="`role` is `seller` (registers products) or `customer` (writes reviews). "
    "Then log in for a token.",
    ok={201: _json(UserRead, "The new user.", USER_EXAMPLE)},
    errors_=errors(e409="An account with this email exists.", e422="Invalid: a password "
                   "under 10 characters, a bad email, an unknown role."),
    extra={"requestBody": {"content": {"application/json": {"example": {
        "email": "ada@example.com", "password": "correct horse battery",
        "display_name": "Ada's Woodshop", "role": "seller"}}}}},
)  # fmt: skip
LOGIN = operation(
    operation_id="login",
    summary="Log in: an access token and a refresh token",
    description="The access token lasts `expires_in` seconds; renew it with the refresh "
    "token. `refresh_token` is null while sessions cannot be stored (log in again later).",
    ok={200: _json(TokenPair, "A token pair.", TOKENS_EXAMPLE)},
    errors_=errors(401, 422, e429="Too many failed logins for this email from this address "
                   "(5 a minute); wait `Retry-After` seconds."),
    extra={"requestBody": {"content": {"application/json": {"example": {
        "email": "ada@example.com", "password": "correct horse battery"}}}}},
)  # fmt: skip
REFRESH = operation(
    operation_id="refresh",
    summary="Swap a refresh token for a new pair",
    description="Each refresh token works once. Presenting a used one revokes its whole "
    "family (a stolen token stops working for the thief and the owner).",
    ok={200: _json(TokenPair, "A new token pair; the old refresh token is dead.", TOKENS_EXAMPLE)},
    errors_=errors(422, 503, e401="The refresh token is invalid, expired or was used."),
    extra={"requestBody": {"content": {"application/json": {"example": _REFRESH}}}},
)
LOGOUT = operation(
    operation_id="logout",
    summary="Log out: the refresh token's family ends",
    roles=(),
    ok={204: {"description": "Logged out."}},
    errors_=errors(401, 422, 503),
    extra={"requestBody": {"content": {"application/json": {"example": _REFRESH}}}},
)
ME = operation(
    operation_id="me",
    summary="Who the token belongs to",
    roles=(),
    ok={200: _json(UserRead, "The signed-in user.", USER_EXAMPLE)},
    errors_=errors(401),
)
JWKS_SCHEMA = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty", "kid"],
                "properties": {
                    "kty": {"type": "string"},
                    "kid": {"type": "string"},
                    "alg": {"type": "string"},
                    "use": {"type": "string"},
                    "crv": {"type": "string"},
                    "x": {"type": "string"},
                    "y": {"type": "string"},
                },
            },
        }
    },
}
JWKS = operation(
    operation_id="jwks",
    summary="Public keys that verify access tokens",
    description="ES256 keys by `kid`; cache for five minutes.",
    ok={
        200: {
            "description": "The JSON Web Key Set.",
            "headers": {"Cache-Control": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": JWKS_SCHEMA}},
        }
    },
)
__all__ = ["HEADERS", "JWKS", "LOGIN", "LOGOUT", "ME", "REFRESH", "SIGNUP"]
