"""What stands between the public and the accounts: who may register, and how fast anyone may
guess passwords or create accounts.

- Registration is ``open`` or ``closed`` (``SNAPAGENT_REGISTRATION``). Closed, only an
  existing account (registering with its ``Authorization`` header) or an operator
  (``snapagent users create``) creates users.
- Failed logins are counted per account (the email, whether or not it exists - so the answer
  reveals nothing) and per client address, registrations per client address, in the database
  (:class:`~snapagent.db.rate_limiter.DatabaseRateLimiter`), so every replica shares one count.
  An attempt is counted *before* its password is checked, and taken back when it succeeds: a
  burst of concurrent guesses gets exactly the allowed number of password checks, no more.

    guard = AccountGuard(database, ServerSettings())
    attempt = await guard.login_attempt("ada@example.com", client="203.0.113.9")  # may 429
    ...check the password...
    await attempt.succeeded()            # a login that worked does not count
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from snapagent.db.models.accounts import User
from snapagent.db.rate_limiter import DatabaseRateLimiter
from snapagent.db.session import Database
from snapagent.errors import PermissionDeniedError, RateLimitedError
from snapagent.server_settings import ServerSettings

__all__ = ["REGISTRATION_CLOSED_DETAIL", "AccountGuard", "LoginAttempt"]

REGISTRATION_CLOSED_DETAIL = (
    "registration is closed on this server (SNAPAGENT_REGISTRATION=closed): an existing account "
    "can create users by calling POST /api/v1/auth/register with its Authorization header, and "
    "an operator with `snapagent users create EMAIL`"
)


def _account_key(email: str) -> str:
    # Hashed: the counter table is not a list of the emails people tried.
    return "login:account:" + hashlib.sha256(email.encode()).hexdigest()[:40]


@dataclass(slots=True)
class LoginAttempt:
    """One counted attempt; :meth:`succeeded` (or :meth:`not_checked`) takes it back."""

    limiter: DatabaseRateLimiter | None
    keys: tuple[str, ...]

    async def succeeded(self) -> None:
        """The password was right: the attempt is not a failure."""
        if self.limiter is not None and self.keys:
            await self.limiter.forgive(*self.keys)

    not_checked = succeeded
    """The password was never checked (the server was busy): nothing to count either."""


class AccountGuard:
    """See the module docstring. One per app; counters live in the database."""

    def __init__(self, database: Database, settings: ServerSettings) -> None:
        self.settings = settings
        self._logins = DatabaseRateLimiter(database, window_seconds=settings.login_failure_window_s)
        self._registrations = DatabaseRateLimiter(
            database, window_seconds=settings.registration_window_s
        )

    @property
    def registration_open(self) -> bool:
        return self.settings.registration == "open"

    async def login_attempt(self, email: str, client: str | None) -> LoginAttempt:
        """Count a login attempt of ``email`` from ``client``; raises ``RateLimitedError``
        when the account or the client has failed too often in the current window."""
        limits = [
            (_account_key(email), self.settings.login_failures_per_account, "for this account")
        ]
        if client:
            limits.append(
                (
                    f"login:client:{client}",
                    self.settings.login_failures_per_client,
                    "from this address",
                )
            )
        counted = [(key, limit, who) for key, limit, who in limits if limit > 0]
        if not counted:
            return LoginAttempt(None, ())
        decisions = await self._logins.hit_all([(key, limit) for key, limit, _ in counted])
        for (_, _, who), decision in zip(counted, decisions, strict=True):
            if not decision.allowed:
                wait = int(decision.retry_after)
                raise RateLimitedError(
                    f"too many failed logins {who}; retry after {wait} s", retry_after=wait
                )
        return LoginAttempt(self._logins, tuple(key for key, _, _ in counted))

    async def registration_attempt(self, client: str | None, creator: User | None) -> None:
        """May this request create an account? Raises ``PermissionDeniedError`` (closed) or
        ``RateLimitedError`` (too many registrations from ``client``)."""
        if creator is None and not self.registration_open:
            raise PermissionDeniedError(REGISTRATION_CLOSED_DETAIL)
        limit = self.settings.registrations_per_client
        if client and limit > 0:
            decision = await self._registrations.hit(f"register:client:{client}", limit)
            if not decision.allowed:
                wait = int(decision.retry_after)
                raise RateLimitedError(
                    f"too many registrations from this address; retry after {wait} s",
                    retry_after=wait,
                )
