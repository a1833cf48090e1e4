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
    email: str = Field(
        min_length=3,
        max_length=254,
        examples=["ada@example.com"],
        description="The account's email address, its sign-in name (unique; 3-254 characters).",
    )
    password: str = Field(
        min_length=8,
        max_length=256,
        description="The new account's password, 8-256 characters; only its hash is stored.",
    )


class LoginRequest(RequestModel):
    email: str = Field(
        min_length=1, max_length=254, description="The email address the account registered with."
    )
    password: str = Field(min_length=1, max_length=256, description="The account's password.")


class PasswordChange(RequestModel):
    current_password: str = Field(
        min_length=1, max_length=256, description="The password in use now, to prove it is you."
    )
    new_password: str = Field(
        min_length=8,
        max_length=256,
        description="The password to use from now on, 8-256 characters.",
    )


class AuthConfigPublic(BaseModel):
    """What a sign-in page needs to know before anyone is signed in."""

    registration: Literal["open", "closed"] = Field(
        description="open: anyone may register. closed: only an existing account (register "
        "with its Authorization header) or an operator (`snapagent users create`)."
    )
    registration_open: bool = Field(description="registration == 'open', for convenience.")
    password_min_length: int = Field(description="Fewest characters a new password may have.")
    password_max_length: int = Field(description="Most characters a password may have.")


class UserPublic(BaseModel):
    id: str = Field(description="The account's id.")
    email: str = Field(description="The account's email address (its sign-in name).")
    created_at: datetime = Field(description="When the account was created (UTC).")


class TokenPublic(BaseModel):
    access_token: str = Field(
        description="A JWT to send as `Authorization: Bearer <access_token>` on later requests."
    )
    token_type: str = Field(
        default="bearer", description="Always `bearer`: how to present `access_token`."
    )
    expires_at: datetime = Field(description="When the token stops being accepted (UTC).")
    expires_in: int = Field(description="Seconds until the token expires.")


class ApiKeyCreate(RequestModel):
    name: Name = Field(
        min_length=1,
        max_length=100,
        examples=["ci"],
        description="A label for the key (1-100 characters), to tell your keys apart.",
    )


class ApiKeyPublic(BaseModel):
    id: str = Field(description="The key's id (use it to revoke the key).")
    name: str = Field(description="The label given when the key was created.")
    prefix: str = Field(description="The key's public start; identifies it in lists and logs.")
    created_at: datetime = Field(description="When the key was created (UTC).")
    last_used_at: datetime | None = Field(
        description="When a request last authenticated with the key (UTC, updated at most once a "
        "minute); null if never."
    )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret. Shown only in this response: store it now.")


class ApiKeysPublic(Page):
    data: list[ApiKeyPublic] = Field(description="Your API keys on this page (never the secrets).")
