"""Accounts and credentials: registration, login, access tokens and API keys.

Passwords are hashed with argon2id (hashing runs in a worker thread: it is deliberately slow
and would otherwise stall the event loop). Access tokens are HS256 JWTs with an expiry. API
keys look like ``sa_<8 hex>_<secret>``: the ``sa_<8 hex>`` prefix finds the row, the SHA-256 of
the whole key proves it. ``authenticate`` accepts either kind of bearer credential.

    credentials = Credentials(secret="s" * 32, token_ttl=timedelta(hours=1))
    accounts = AccountService(session, credentials)
    user = await accounts.register("ada@example.com", "correct horse")
    token = await accounts.login("ada@example.com", "correct horse")
    assert (await accounts.authenticate(token.access_token)).id == user.id
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import utcnow
from snapagent.db.models.accounts import User
from snapagent.db.models.api_keys import ApiKey
from snapagent.errors import AuthenticationError, ConflictError, InputValidationError, NotFoundError
from snapagent.names import readable_name
from snapagent.server_settings import ServerSettings, resolve_jwt_secret

__all__ = ["API_KEY_PREFIX", "AccessToken", "AccountService", "Credentials", "IssuedApiKey"]

API_KEY_PREFIX = "sa_"
_PREFIX_BYTES = 6
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MAX_API_KEY_NAME = 100
# Writing last_used_at on every request would turn each read into a write; a minute is precise
# enough for "when was this key last used".
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    expires_at: datetime
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A freshly created key: ``secret`` exists only here and is never stored."""

    key: ApiKey
    secret: str


class Credentials:
    """Password hashing and token signing, configured once per app.

    >>> c = Credentials(secret="s" * 32, token_ttl=timedelta(minutes=5), time_cost=1,
    ...                 memory_kib=64, parallelism=1)
    >>> c.verify_password(c.hash_password("pw-123456"), "pw-123456")
    True
    """

    def __init__(
        self,
        *,
        secret: str,
        token_ttl: timedelta,
        time_cost: int = 3,
        memory_kib: int = 65536,
        parallelism: int = 4,
    ) -> None:
        self._secret = secret
        self.token_ttl = token_ttl
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verified against when the email is unknown, so timing does not reveal accounts.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))

    @classmethod
    def from_settings(cls, settings: ServerSettings, data_dir: Path) -> Credentials:
        """The app's credentials: the configured (or stored) secret and hashing cost."""
        return cls(
            secret=resolve_jwt_secret(settings, data_dir),
            token_ttl=timedelta(minutes=settings.token_expiry_minutes),
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_password(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def issue_token(self, user_id: str) -> AccessToken:
        now = utcnow()
        expires = now + self.token_ttl
        claims = {"sub": user_id, "iat": now, "exp": expires, "typ": "access"}
        return AccessToken(jwt.encode(claims, self._secret, algorithm="HS256"), expires)

    def read_token(self, token: str) -> str:
        """The user id inside a valid, unexpired access token."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("access token has expired; log in again") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("access token is invalid") from exc
        if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
            raise AuthenticationError("access token is invalid")
        return str(claims["sub"])


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InputValidationError("not a valid email address", field="email")
    return email


class AccountService:
    """Use cases of users and their credentials; commits its own transactions."""

    def __init__(self, session: AsyncSession, credentials: Credentials) -> None:
        self.session = session
        self.credentials = credentials

    async def register(self, email: str, password: str) -> User:
        email = _normalise_email(email)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InputValidationError(
                f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
            )
        if await self._find_user(email) is not None:
            raise ConflictError("an account with this email already exists")
        password_hash = await asyncio.to_thread(self.credentials.hash_password, password)
        user = User(email=email, password_hash=password_hash)
        self.session.add(user)
        try:
            await self.session.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await self.session.rollback()
            raise ConflictError("an account with this email already exists") from exc
        return user

    async def login(self, email: str, password: str) -> AccessToken:
        user = await self._find_user(email.strip().lower())
        stored = user.password_hash if user is not None else None
        ok = await asyncio.to_thread(self.credentials.verify_password, stored, password)
        if user is None or not ok:
            raise AuthenticationError("email or password is incorrect")
        return self.credentials.issue_token(user.id)

    async def authenticate(self, bearer: str) -> User:
        """The user behind an access token or an API key."""
        if bearer.startswith(API_KEY_PREFIX):
            return await self._authenticate_api_key(bearer)
        user = await self.session.get(User, self.credentials.read_token(bearer))
        if user is None:
            raise AuthenticationError("access token is invalid")
        return user

    async def create_api_key(self, user: User, name: str) -> IssuedApiKey:
        name = readable_name(name, max_length=MAX_API_KEY_NAME)
        user_id = user.id  # a rollback below expires `user`; keep what we need
        # 48-bit public prefixes: a collision is rare but possible, so retry on the unique index.
        for _attempt in range(3):
            prefix = f"{API_KEY_PREFIX}{secrets.token_hex(_PREFIX_BYTES)}"
            secret = f"{prefix}_{secrets.token_urlsafe(32)}"
            key = ApiKey(user_id=user_id, name=name, prefix=prefix, key_hash=_hash_key(secret))
            self.session.add(key)
            try:
                await self.session.commit()
            except IntegrityError:
                await self.session.rollback()
                continue
            return IssuedApiKey(key=key, secret=secret)
        raise ConflictError("could not allocate a unique API key prefix; try again")

    async def list_api_keys(self, user: User) -> list[ApiKey]:
        rows = await self.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id)
        )
        return list(rows)

    async def revoke_api_key(self, user: User, key_id: str) -> None:
        key = await self.session.get(ApiKey, key_id)
        if key is None or key.user_id != user.id or key.revoked_at is not None:
            raise NotFoundError(f"API key {key_id} not found")
        key.revoked_at = utcnow()
        await self.session.commit()

    async def _find_user(self, email: str) -> User | None:
        found: User | None = await self.session.scalar(
            select(User).where(func.lower(User.email) == email)
        )
        return found

    async def _authenticate_api_key(self, secret: str) -> User:
        # The hex id runs up to the first "_" after "sa_" (hex has none), whatever its length.
        prefix = API_KEY_PREFIX + secret[len(API_KEY_PREFIX) :].split("_", 1)[0]
        key = await self.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if (
            key is None
            or key.revoked_at is not None
            or not hmac.compare_digest(key.key_hash, _hash_key(secret))
        ):
            raise AuthenticationError("API key is invalid or revoked")
        user = await self.session.get(User, key.user_id)
        if user is None:
            raise AuthenticationError("API key is invalid or revoked")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
            key.last_used_at = now
            await self.session.commit()
        return user
