"""Password hashing and access tokens, configured once per app.

Passwords are hashed with argon2id. The async methods (:meth:`Credentials.hash`,
:meth:`Credentials.verify`) run through the app's :class:`HashingGate`: off the event loop, at
most ``SNAPAGENT_PASSWORD_HASH_CONCURRENCY`` at once (each holds the argon2 memory cost while it
runs), 429 when the short queue is full. Access tokens are HS256 JWTs with an expiry and the
user's *token version* (claim ``ver``): raising the version on the user's row (password change,
"log out everywhere") revokes every token issued before, checked for free on each request
because the user's row is read anyway.

    credentials = Credentials(secret="s" * 32, token_ttl=timedelta(hours=1))
    digest = await credentials.hash("correct horse")
    assert await credentials.verify(digest, "correct horse")
    token = credentials.issue_token(user.id, user.token_version)
    claims = credentials.read_claims(token.access_token)      # TokenClaims(user_id, version)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from snapagent.db.base import utcnow
from snapagent.errors import AuthenticationError
from snapagent.server_settings import ServerSettings, resolve_jwt_secret
from snapagent.services.password_hashing import HashingGate

__all__ = ["AccessToken", "Credentials", "TokenClaims"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    expires_at: datetime
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid access token says: whose it is and the token version it was issued at."""

    user_id: str
    version: int


class Credentials:
    """See the module docstring.

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
        gate: HashingGate | None = None,
    ) -> None:
        self._secret = secret
        self.token_ttl = token_ttl
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self.gate = gate or HashingGate(concurrency=2, max_waiting=16, wait_s=3.0)
        # Verified against when the email is unknown, so timing does not reveal accounts.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))

    @classmethod
    def from_settings(cls, settings: ServerSettings, data_dir: Path) -> Credentials:
        """The app's credentials: the configured (or stored) secret, hashing cost and bounds."""
        return cls(
            secret=resolve_jwt_secret(settings, data_dir),
            token_ttl=timedelta(minutes=settings.token_expiry_minutes),
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            gate=HashingGate(
                concurrency=settings.password_hash_concurrency,
                max_waiting=settings.password_hash_queue,
                wait_s=settings.password_hash_wait_s,
            ),
        )

    def hash_password(self, password: str) -> str:
        """Synchronous (CLI, scripts); request handlers use :meth:`hash`."""
        return self._hasher.hash(password)

    def verify_password(self, password_hash: str | None, password: str) -> bool:
        """Synchronous (CLI, scripts); request handlers use :meth:`verify`."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    async def hash(self, password: str) -> str:
        return await self.gate.run(self.hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password and for no stored hash (same cost either way)."""
        return await self.gate.run(self.verify_password, password_hash, password)

    def issue_token(self, user_id: str, version: int = 0) -> AccessToken:
        now = utcnow()
        expires = now + self.token_ttl
        claims = {"sub": user_id, "ver": version, "iat": now, "exp": expires, "typ": "access"}
        return AccessToken(jwt.encode(claims, self._secret, algorithm="HS256"), expires)

    def read_claims(self, token: str) -> TokenClaims:
        """The claims of a valid, unexpired access token (not yet checked against the user)."""
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
        # Tokens issued before token versions existed carry none: version 0, the default.
        version = claims.get("ver", 0)
        if (
            claims.get("typ") != "access"
            or not isinstance(claims.get("sub"), str)
            or not isinstance(version, int)
        ):
            raise AuthenticationError("access token is invalid")
        return TokenClaims(str(claims["sub"]), version)

    def read_token(self, token: str) -> str:
        """The user id inside a valid, unexpired access token."""
        return self.read_claims(token).user_id
