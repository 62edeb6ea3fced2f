"""Request and response bodies of /api/auth (SPEC 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

MIN_PASSWORD_LENGTH = 10


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignupIn(Body):
    email: EmailStr
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    display_name: str = Field(min_length=1, max_length=100)
    role: Literal["seller", "customer"]

    @field_validator("display_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class LoginIn(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(Body):
    refresh_token: str = Field(min_length=1, max_length=512)


class UserRead(BaseModel):
    id: str
    email: str
    display_name: str
    role: str


class TokenPair(BaseModel):
    access_token: str
    # None only while Redis is unreachable: login still works, refreshing does not.
    refresh_token: str | None
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
