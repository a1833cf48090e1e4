"""Accounts, tokens and API keys on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from snapagent.api.schemas.common import Name, RequestModel
from snapagent.db.pagination import Page

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApiKeysPublic",
    "AuthConfigPublic",
    "LoginRequest",
    "PasswordChange",
    "RegisterRequest",
    "TokenPublic",
    "UserPublic",
]


class RegisterRequest(RequestModel):
    email: str = Field(min_length=3, max_length=254, examples=["ada@example.com"])
    password: str = Field(min_length=8, max_length=256)


class LoginRequest(RequestModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class PasswordChange(RequestModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class AuthConfigPublic(BaseModel):
    """What a sign-in page needs to know before anyone is signed in."""

    registration: Literal["open", "closed"] = Field(
        description="open: anyone may register. closed: only an existing account (register "
        "with its Authorization header) or an operator (`snapagent users create`)."
    )
    registration_open: bool = Field(description="registration == 'open', for convenience.")
    password_min_length: int
    password_max_length: int


class UserPublic(BaseModel):
    id: str
    email: str
    created_at: datetime


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    expires_in: int = Field(description="Seconds until the token expires.")


class ApiKeyCreate(RequestModel):
    name: Name = Field(min_length=1, max_length=100, examples=["ci"])


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's public start; identifies it in lists and logs.")
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret. Shown only in this response: store it now.")


class ApiKeysPublic(Page):
    data: list[ApiKeyPublic]
