"""Accounts and credentials: registration, login, password change, token revocation, API keys.

Password hashing and token signing live in :mod:`snapagent.services.credentials` (re-exported
here); the public's limits - open or closed registration, failed-login and registration
throttles - in :mod:`snapagent.services.account_guard`. API keys look like
``sa_<12 hex>_<secret>``: the ``sa_<12 hex>`` prefix finds the row, the SHA-256 of the whole key
proves it. ``authenticate`` accepts either kind of bearer credential; an access token is valid
only while its token version equals the user's (a password change or "log out everywhere" raises
the user's), API keys until they are revoked.

    credentials = Credentials(secret="s" * 32, token_ttl=timedelta(hours=1))
    accounts = AccountService(session, credentials)
    user = await accounts.register("ada@example.com", "correct horse")
    token = await accounts.login("ada@example.com", "correct horse")
    assert (await accounts.authenticate(token.access_token)).id == user.id
    await accounts.revoke_tokens(user)          # token is refused from now on, on every replica

With a ``cache`` (`CredentialCache`: the API's, one per process) ``authenticate`` answers from
snapshots of the key and user it read before, as long as no write to users or API keys
committed anywhere since (`snapagent.services.lookup_cache`); the caller then gets a fresh
detached ``User`` built from the snapshot, never a shared object.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from snapagent.db.base import utcnow
from snapagent.db.lookup_changes import UNCHANGED
from snapagent.db.models.accounts import User
from snapagent.db.models.api_keys import ApiKey
from snapagent.db.pagination import MAX_PAGE_SIZE, SortKey, page_of, paginate
from snapagent.errors import AuthenticationError, ConflictError, InputValidationError, NotFoundError
from snapagent.names import readable_name
from snapagent.services.account_guard import AccountGuard, LoginAttempt
from snapagent.services.credentials import AccessToken, Credentials, TokenClaims
from snapagent.services.lookup_cache import LookupCache
from snapagent.services.password_hashing import HashingBusyError

__all__ = [
    "API_KEY_PREFIX",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "AccessToken",
    "AccountService",
    "CredentialCache",
    "Credentials",
    "IssuedApiKey",
    "TokenClaims",
    "UserSnapshot",
]

API_KEY_PREFIX = "sa_"
_PREFIX_BYTES = 6
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MAX_API_KEY_NAME = 100
# Writing last_used_at on every request would turn each read into a write; a minute is precise
# enough for "when was this key last used".
_LAST_USED_GRANULARITY = timedelta(minutes=1)
_REVOKED = (
    "access token was revoked (the password changed, or the account logged out everywhere); "
    "log in again"
)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A freshly created key: ``secret`` exists only here and is never stored."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """A user's row as authentication read it (immutable, shared between requests)."""

    id: str
    email: str
    password_hash: str | None
    created_at: datetime
    token_version: int

    @classmethod
    def of(cls, user: User) -> UserSnapshot:
        return cls(user.id, user.email, user.password_hash, user.created_at, user.token_version)

    def as_user(self) -> User:
        """A new detached ``User`` (a request may change its copy; the snapshot stays)."""
        return User(
            id=self.id,
            email=self.email,
            password_hash=self.password_hash,
            created_at=self.created_at,
            token_version=self.token_version,
        )


@dataclass(frozen=True, slots=True)
class _KeySnapshot:
    """An active API key that matched, with its user."""

    key_id: str
    last_used_at: datetime | None
    user: UserSnapshot


CredentialCache = LookupCache[tuple[str, str], UserSnapshot | _KeySnapshot]
"""Users by ``("user", id)`` and active API keys by ``("key", SHA-256 of the whole key)``:
a hit on a key proves its secret as the stored hash did."""


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InputValidationError("not a valid email address", field="email")
    return email


def _check_new_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputValidationError(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field=field
        )


class AccountService:
    """Use cases of users and their credentials; commits its own transactions.

    Without a ``guard`` (the CLI, the demo seed) nothing is throttled and registration is never
    closed: those callers are the operator.
    """

    def __init__(
        self,
        session: AsyncSession,
        credentials: Credentials,
        guard: AccountGuard | None = None,
        *,
        cache: CredentialCache | None = None,
    ) -> None:
        self.session = session
        self.credentials = credentials
        self.guard = guard
        self.cache = cache

    async def register(self, email: str, password: str) -> User:
        """Create an account (no policy: see :meth:`sign_up` for the public's way in)."""
        email = _normalise_email(email)
        _check_new_password(password)
        if await self._find_user(email) is not None:
            raise ConflictError("an account with this email already exists")
        await self.session.commit()  # no connection held while the password hash waits and runs
        password_hash = await self.credentials.hash(password)
        user = User(email=email, password_hash=password_hash)
        self.session.add(user)
        try:
            await self.session.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await self.session.rollback()
            raise ConflictError("an account with this email already exists") from exc
        return user

    async def sign_up(
        self, email: str, password: str, *, client: str | None, creator: User | None
    ) -> User:
        """Registration over HTTP: refused when closed (unless ``creator``, an existing
        account, asks), counted per ``client`` address."""
        self.credentials.gate.refuse_if_full()
        if self.guard is not None:
            await self.guard.registration_attempt(client, creator)
        return await self.register(email, password)

    async def login(self, email: str, password: str, *, client: str | None = None) -> AccessToken:
        email = email.strip().lower()
        self.credentials.gate.refuse_if_full()  # before any database work: floods stay cheap
        attempt = await self._attempt(email, client)
        user = await self._find_user(email)
        await self.session.commit()  # no connection held while the password hash waits and runs
        ok = await self._verify(attempt, user.password_hash if user else None, password)
        if user is None or not ok:
            raise AuthenticationError("email or password is incorrect")
        return self.credentials.issue_token(user.id, user.token_version)

    async def authenticate(self, bearer: str) -> User:
        """The user behind an access token or an API key."""
        if bearer.startswith(API_KEY_PREFIX):
            return await self._authenticate_api_key(bearer)
        claims = self.credentials.read_claims(bearer)
        # The row is read anyway; comparing its version is the whole cost of revocation.
        user = await self.user_snapshot(claims.user_id)
        if user is None:
            raise AuthenticationError("access token is invalid")
        if user.token_version != claims.version:
            raise AuthenticationError(_REVOKED)
        return user.as_user()

    async def user_snapshot(self, user_id: str) -> UserSnapshot | None:
        """The user with this id as it is now (from the cache while nothing changed)."""
        key = ("user", user_id)
        if self.cache is not None:
            found = self.cache.get(key)
            if isinstance(found, UserSnapshot):
                return found
        tag = self.cache.tag() if self.cache is not None else None
        user = await self.session.get(User, user_id)
        if user is None:
            return None
        snapshot = UserSnapshot.of(user)
        if self.cache is not None:
            self.cache.put(key, tag, snapshot)
        return snapshot

    async def change_password(
        self, user: User, current: str, new: str, *, client: str | None = None
    ) -> AccessToken:
        """Check ``current`` (a wrong one counts as a failed login), store ``new`` and revoke
        every access token issued before; returns a fresh token for the caller."""
        _check_new_password(new, field="new_password")
        await self.session.commit()  # authentication's read: no connection held while hashing
        attempt = await self._attempt(user.email, client)
        if not await self._verify(attempt, user.password_hash, current):
            raise InputValidationError("current password is incorrect", field="current_password")
        version = await self._new_token_version(
            user, password_hash=await self.credentials.hash(new)
        )
        return self.credentials.issue_token(user.id, version)

    async def revoke_tokens(self, user: User) -> None:
        """Log out everywhere: every access token issued so far stops working (API keys do
        not; revoke those one by one)."""
        await self._new_token_version(user)

    async def set_password(self, email: str, password: str) -> User:
        """The operator's reset (CLI): no current password; earlier tokens are revoked."""
        _check_new_password(password)
        user = await self.get_user(email)
        await self._new_token_version(user, password_hash=await self.credentials.hash(password))
        return user

    async def get_user(self, email: str) -> User:
        user = await self._find_user(email.strip().lower())
        if user is None:
            raise NotFoundError(f"no account with email {email.strip()!r}")
        return user

    async def list_users(self) -> list[User]:
        return list(await self.session.scalars(select(User).order_by(User.created_at, User.id)))

    async def _attempt(self, email: str, client: str | None) -> LoginAttempt | None:
        return None if self.guard is None else await self.guard.login_attempt(email, client)

    async def _verify(
        self, attempt: LoginAttempt | None, password_hash: str | None, password: str
    ) -> bool:
        """Check a password; the attempt counts as failed only if it was checked and wrong."""
        try:
            ok = await self.credentials.verify(password_hash, password)
        except HashingBusyError:
            if attempt is not None:
                await attempt.not_checked()
            raise
        if ok and attempt is not None:
            await attempt.succeeded()
        return ok

    async def _new_token_version(self, user: User, **values: str) -> int:
        """One atomic ``token_version + 1`` (concurrent revocations never lose one)."""
        version: int = (
            await self.session.execute(
                update(User)
                .where(User.id == user.id)
                .values(token_version=User.token_version + 1, **values)
                .returning(User.token_version)
                .execution_options(synchronize_session=False)
            )
        ).scalar_one()
        await self.session.commit()
        set_committed_value(user, "token_version", version)
        for name, value in values.items():
            set_committed_value(user, name, value)
        return version

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

    async def api_key_page(
        self, user: User, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[ApiKey], str | None]:
        """A page of the user's active API keys, newest first, and the next page's cursor."""
        order = (
            SortKey(ApiKey.created_at, descending=True, kind=datetime),
            SortKey(ApiKey.id, descending=True),
        )
        query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        rows = list(await self.session.scalars(paginate(query, order, limit=limit, cursor=cursor)))
        return page_of(rows, limit=limit, key=lambda key: (key.created_at, key.id))

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
        key_hash = _hash_key(secret)
        cache_key = ("key", key_hash)
        cached = self.cache.get(cache_key) if self.cache is not None else None
        if isinstance(cached, _KeySnapshot):
            await self._note_use(cache_key, cached)
            return cached.user.as_user()
        tag = self.cache.tag() if self.cache is not None else None
        found = await self._find_api_key(secret, key_hash)
        if self.cache is not None:
            self.cache.put(cache_key, tag, found)
        await self._note_use(cache_key, found)
        return found.user.as_user()

    async def _note_use(self, cache_key: tuple[str, str], key: _KeySnapshot) -> None:
        """Write the key's last use when the stored one is older than the granularity."""
        now = utcnow()
        if key.last_used_at is not None and now - key.last_used_at <= _LAST_USED_GRANULARITY:
            return
        if self.cache is not None:  # first, so that concurrent requests do not write it too
            self.cache.replace(cache_key, _KeySnapshot(key.key_id, now, key.user))
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.key_id)
            .values(last_used_at=now)
            # Authentication reads no last-use time: the caches need not hear of it.
            .execution_options(synchronize_session=False, **{UNCHANGED: True})
        )
        await self.session.commit()

    async def _find_api_key(self, secret: str, key_hash: str) -> _KeySnapshot:
        # The hex id runs up to the first "_" after "sa_" (hex has none), whatever its length.
        prefix = API_KEY_PREFIX + secret[len(API_KEY_PREFIX) :].split("_", 1)[0]
        # The key with its user in one statement (authentication runs on every request).
        row = (
            await self.session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == prefix)
            )
        ).first()
        if row is None:
            raise AuthenticationError("API key is invalid or revoked")
        key, user = row
        if key.revoked_at is not None or not hmac.compare_digest(key.key_hash, key_hash):
            raise AuthenticationError("API key is invalid or revoked")
        return _KeySnapshot(key.id, key.last_used_at, UserSnapshot.of(user))
