"""`WorkflowVersionService`: a bot's V2 graphs - the draft, publishing, history, restore, diff.

Lifecycle: one editable **draft** per bot (no number, ``revision`` bumped on every save);
**publish** validates it, numbers it (1, 2, 3...) and freezes it, and the previously published
version becomes **archived**. **rollback** makes an earlier version live again in one step: a
copy of it is published under the next number (``source = "rollback"``, its note naming both
versions) - the history only grows. A draft can be **deleted**; published versions cannot.
Saving sends the revision the client edited; if someone saved in between, the save is a
:class:`~snapagent.errors.ConflictError` (409) instead of a lost update. Every guard is a
conditional ``UPDATE`` so two concurrent writers cannot both win, and publishes and rollbacks
of one bot take turns under a lock on the bot (`_lock_releases`), so racing ones leave exactly
one published version (a partial unique index is the last guard).

Saving checks what a graph names against the caller's account (`GraphResources`): a knowledge
base the bot's owner does not own, or a legacy ``v1_*`` node type, is refused at once (422);
validating and publishing add every static problem and every unusable chat model.

    versions = WorkflowVersionService(session, default_registry(), GraphResources(models))
    draft = await versions.current_draft(user, bot_id)
    draft = await versions.update_draft(user, bot_id, draft.id, graph, revision=draft.revision)
    published = await versions.publish(user, bot_id, draft.id)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import utcnow
from snapagent.db.lookup_changes import UNCHANGED
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.pagination import MAX_PAGE_SIZE, SortKey, page_of, paginate
from snapagent.errors import ConflictError, GraphValidationError, NotFoundError
from snapagent.services.graph_limits import default_graph_limits
from snapagent.services.graph_resources import GraphResources
from snapagent.services.workflow_diff import GraphDiff, diff_graphs
from snapagent.workflow.limits import GraphLimits, check_graph_size
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.validation import format_loc, validate_graph

__all__ = [
    "DEFAULT_DRAFT_SOURCE",
    "WorkflowVersionService",
    "get_owned_bot",
    "graph_problems",
    "refresh_default_draft",
]


# The draft (no number) first, then numbers descending: one key, unique per bot. The draft's
# rank is the largest INTEGER (int4) PostgreSQL accepts as a parameter of that column.
_DRAFT_RANK = 2**31 - 1
_VERSION_ORDER = (
    SortKey(func.coalesce(BotWorkflowVersion.version_number, _DRAFT_RANK), True, int),
)


# On statements that can touch only drafts (``status == "draft"`` in their WHERE): chats never
# read a draft, so the request caches need not hear of them (`snapagent.db.lookup_changes`).
_DRAFT_ONLY: Final = {UNCHANGED: True}


def _rank(number: int | None) -> int:
    return _DRAFT_RANK if number is None else number


DEFAULT_DRAFT_SOURCE: Final = "default"
"""``source`` of the draft a new bot is given; it stays so until someone saves the draft."""


async def get_owned_bot(session: AsyncSession, owner: User, bot_id: str) -> Bot:
    """The bot if ``owner`` owns it; otherwise NotFoundError (never reveal that it exists)."""
    bot = await session.get(Bot, bot_id)
    if bot is None or bot.owner_id != owner.id:
        raise NotFoundError(f"bot {bot_id} not found")
    return bot


def _schema_problems(exc: ValidationError) -> list[dict[str, Any]]:
    problems = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        problems.append(
            {
                "code": "schema",
                "message": err.get("msg", "invalid value"),
                "node_id": None,
                "edge_index": loc[1] if len(loc) >= 2 and loc[0] == "edges" else None,
                "path": format_loc(loc),
            }
        )
    return problems


def graph_problems(
    graph: Any, registry: NodeRegistryV2, limits: GraphLimits | None = None
) -> list[dict[str, Any]]:
    """Every problem of a submitted graph, as JSON objects; empty when it is valid.

    A graph over a size limit raises `GraphValidationError` (422) with that problem alone:
    nothing else is checked. CPU-bound: call it off the event loop (the service does)."""
    return _analysed(graph, registry, limits)[0]


def _analysed(
    graph: Any, registry: NodeRegistryV2, limits: GraphLimits | None
) -> tuple[list[dict[str, Any]], WorkflowGraph | None]:
    """The engine's problems and the parsed graph (None when it lacks the schema's shape)."""
    _check_size(graph, limits)
    try:
        parsed = WorkflowGraph.from_json(graph)
    except ValidationError as exc:
        return _schema_problems(exc), None
    return [p.to_dict() for p in validate_graph(parsed, registry)], parsed


def _check_size(graph: Any, limits: GraphLimits | None) -> None:
    too_big = check_graph_size(graph, limits or default_graph_limits())
    if too_big:
        raise GraphValidationError(
            [p.to_dict() for p in too_big], "the graph is over a size limit: " + too_big[0].message
        )


def _parsed(graph: Any, limits: GraphLimits | None = None) -> tuple[dict[str, Any], WorkflowGraph]:
    """The graph as stored and as parsed: it must stay within the size limits and have at
    least the schema's shape (semantics wait for publish)."""
    _check_size(graph, limits)
    try:
        parsed = WorkflowGraph.from_json(graph)
    except ValidationError as exc:
        raise GraphValidationError(
            _schema_problems(exc), "the graph does not have the workflow schema's shape"
        ) from exc
    return parsed.to_json(), parsed


def _parse(graph: Any) -> dict[str, Any]:
    return _parsed(graph)[0]


async def refresh_default_draft(session: AsyncSession, bot_id: str, graph: dict[str, Any]) -> None:
    """Replace the bot's draft with ``graph`` if nobody has edited the generated one yet.

    Keeps a new bot's draft in step with its knowledge bases until the user takes over.
    Stages the change; the caller commits.
    """
    await session.execute(
        update(BotWorkflowVersion)
        .where(
            BotWorkflowVersion.bot_id == bot_id,
            BotWorkflowVersion.status == "draft",
            BotWorkflowVersion.source == DEFAULT_DRAFT_SOURCE,
        )
        .values(
            graph=_parse(graph),
            revision=BotWorkflowVersion.revision + 1,
            updated_at=utcnow(),
        )
        .execution_options(**_DRAFT_ONLY)
    )


class WorkflowVersionService:
    """Use cases of ``bot_workflow_versions``; every method checks the caller owns the bot."""

    def __init__(
        self,
        session: AsyncSession,
        registry: NodeRegistryV2,
        resources: GraphResources | None = None,
        limits: GraphLimits | None = None,
    ) -> None:
        self.session = session
        self.registry = registry
        # Knowledge bases are always checked; model ids when a provider is given.
        self.resources = resources or GraphResources()
        self.limits = limits or default_graph_limits()

    # -- reading --------------------------------------------------------------------------

    async def list_versions(
        self, owner: User, bot_id: str, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[BotWorkflowVersion], str | None]:
        """A page of versions: the draft first, then newest first; and the next cursor."""
        bot = await self._bot(owner, bot_id)
        query = paginate(
            select(BotWorkflowVersion).where(BotWorkflowVersion.bot_id == bot.id),
            _VERSION_ORDER,
            limit=limit,
            cursor=cursor,
        )
        rows = list(await self.session.scalars(query))
        return page_of(rows, limit=limit, key=lambda v: (_rank(v.version_number),))

    async def current_draft(self, owner: User, bot_id: str) -> BotWorkflowVersion | None:
        """The bot's draft, if it has one."""
        bot = await self._bot(owner, bot_id)
        return await self._draft(bot.id)

    async def get(self, owner: User, bot_id: str, version_id: str) -> BotWorkflowVersion:
        bot = await self._bot(owner, bot_id)
        version = await self.session.get(BotWorkflowVersion, version_id)
        if version is None or version.bot_id != bot.id:
            raise NotFoundError(f"workflow version {version_id} not found")
        return version

    async def numbered(self, owner: User, bot_id: str, number: int) -> BotWorkflowVersion:
        """The bot's version ``number`` (1, 2, ...); NotFoundError naming it otherwise."""
        bot = await self._bot(owner, bot_id)
        version = await self.session.scalar(
            select(BotWorkflowVersion).where(
                BotWorkflowVersion.bot_id == bot.id, BotWorkflowVersion.version_number == number
            )
        )
        if version is None:
            raise NotFoundError(f"bot {bot.name!r} has no version {number}")
        return version

    async def published(self, bot_id: str) -> BotWorkflowVersion | None:
        """The version chat runs (no ownership check: callers already hold the bot)."""
        found: BotWorkflowVersion | None = await self.session.scalar(
            select(BotWorkflowVersion).where(
                BotWorkflowVersion.bot_id == bot_id, BotWorkflowVersion.status == "published"
            )
        )
        return found

    async def validate(self, graph: Any) -> list[dict[str, Any]]:
        """The engine's problems of ``graph``. Parsing and validating run in a thread (the size
        limits bound them), never on the event loop."""
        problems, _parsed_graph = await self._analyse(graph)
        return problems

    async def _analyse(self, graph: Any) -> tuple[list[dict[str, Any]], WorkflowGraph | None]:
        return await asyncio.to_thread(_analysed, graph, self.registry, self.limits)

    async def validate_for_bot(self, owner: User, bot_id: str, graph: Any) -> list[dict[str, Any]]:
        """Every problem of ``graph``, checked in the context of one of the caller's bots:
        the engine's, then what it names (knowledge bases, chat models, legacy types)."""
        bot = await self._bot(owner, bot_id)
        problems, parsed = await self._analyse(graph)
        if parsed is None:
            return problems  # the schema problems say it all
        return problems + await self._resource_problems(bot, parsed, models=True)

    async def _resource_problems(
        self, bot: Bot, graph: WorkflowGraph, *, models: bool
    ) -> list[dict[str, Any]]:
        return await self.resources.problems(
            self.session,
            bot.owner_id,
            graph,
            self.registry,
            default_model=bot.default_model,
            models=models,
        )

    async def _checked(self, bot: Bot, graph: Any) -> dict[str, Any]:
        """A user's graph in its stored form: within the size limits and of the schema's shape
        (checked in a thread), naming nothing its owner may not use."""
        stored, parsed = await asyncio.to_thread(_parsed, graph, self.limits)
        await self._check_saved(bot, parsed)
        return stored

    async def _check_saved(self, bot: Bot, graph: WorkflowGraph) -> None:
        """A draft may be unfinished, but never names what its owner may not use."""
        problems = await self._resource_problems(bot, graph, models=False)
        if problems:
            raise GraphValidationError(
                problems, "the graph names knowledge bases or node types it may not use"
            )

    async def diff(self, owner: User, bot_id: str, from_id: str, to_id: str) -> GraphDiff:
        before = await self.get(owner, bot_id, from_id)
        after = await self.get(owner, bot_id, to_id)
        return diff_graphs(before.graph, after.graph)

    # -- writing --------------------------------------------------------------------------

    def add_draft(
        self, bot: Bot, user: User, graph: dict[str, Any], *, source: str, note: str = ""
    ) -> BotWorkflowVersion:
        """Stage a draft for ``bot`` in the current transaction (the caller commits). For
        graphs the server made; a user's graph goes through `_checked`."""
        return self._stage_draft(bot, user, _parse(graph), source, note)

    async def stage_checked_draft(
        self, bot: Bot, user: User, graph: Any, *, source: str, note: str = ""
    ) -> BotWorkflowVersion:
        """Stage a draft of a user's graph (checked like a save: size, schema, what it names)
        in the current transaction; the caller commits. For a bot staged in the same
        transaction (an import)."""
        stored = await self._checked(bot, graph)
        return self._stage_draft(bot, user, stored, source, note)

    def _stage_draft(
        self, bot: Bot, user: User, stored: dict[str, Any], source: str, note: str
    ) -> BotWorkflowVersion:
        draft = BotWorkflowVersion(
            bot_id=bot.id,
            status="draft",
            graph=stored,
            revision=1,
            source=source,
            note=note,
            created_by=user.id,
        )
        self.session.add(draft)
        return draft

    async def create_draft(
        self, owner: User, bot_id: str, graph: Mapping[str, Any] | None = None, note: str = ""
    ) -> BotWorkflowVersion:
        """A new draft from ``graph``, else a copy of the published version. 409 if one exists."""
        bot = await self._bot(owner, bot_id)
        if await self._draft(bot.id) is not None:
            raise ConflictError("this bot already has a draft; edit or publish it")
        if graph is None:
            published = await self.published(bot.id)
            if published is None:
                raise ConflictError("no graph given and no published version to copy")
            stored, source = published.graph, f"copy:{published.version_number}"
        else:
            stored, source = await self._checked(bot, dict(graph)), "editor"
        draft = self._stage_draft(bot, owner, stored, source, note)
        await self._commit("this bot already has a draft; edit or publish it")
        return draft

    async def update_draft(
        self,
        owner: User,
        bot_id: str,
        version_id: str,
        graph: Mapping[str, Any],
        *,
        revision: int,
        note: str | None = None,
    ) -> BotWorkflowVersion:
        """Save ``graph`` into the draft if ``revision`` is still current (else 409)."""
        version = await self.get(owner, bot_id, version_id)
        stored = await self._checked(await self._bot(owner, bot_id), graph)
        values: dict[str, Any] = {"graph": stored, "source": "editor"}
        if note is not None:
            values["note"] = note
        return await self._guarded_save(version, revision, values)

    async def refresh_default_draft(self, bot: Bot, graph: dict[str, Any]) -> None:
        """See :func:`refresh_default_draft`."""
        await refresh_default_draft(self.session, bot.id, graph)

    async def restore(
        self, owner: User, bot_id: str, version_id: str, *, revision: int | None = None
    ) -> BotWorkflowVersion:
        """Copy a past version's graph into the draft (creating the draft if there is none)."""
        source = await self.get(owner, bot_id, version_id)
        if source.status == "draft":
            raise ConflictError("this version is the draft itself; nothing to restore")
        note = f"restored from version {source.version_number}"
        draft = await self._draft(source.bot_id)
        if draft is None:
            bot = await self._bot(owner, bot_id)
            created = self._stage_draft(bot, owner, source.graph, "restore", note)
            await self._commit("this bot already has a draft; edit or publish it")
            return created
        values = {"graph": source.graph, "note": note, "source": "restore"}
        return await self._guarded_save(draft, revision or draft.revision, values)

    async def publish(
        self, owner: User, bot_id: str, version_id: str, *, revision: int | None = None
    ) -> BotWorkflowVersion:
        """Validate the draft, give it the next number and archive the previous release."""
        version = await self.get(owner, bot_id, version_id)
        if version.status != "draft":
            raise ConflictError(f"version {version.version_number} is already {version.status}")
        if revision is not None and revision != version.revision:
            raise ConflictError(_stale(revision, version.revision))
        validated = version.revision
        problems = await self.validate_for_bot(owner, bot_id, version.graph)
        if problems:
            raise GraphValidationError(problems, "the draft cannot be published: fix its problems")
        await self._lock_releases(version.bot_id)
        await self.session.refresh(version)  # as it is now that releases wait for us
        if version.status != "draft":
            number = version.version_number
            await self.session.rollback()
            raise ConflictError(f"version {number} was published meanwhile")
        if version.revision != validated:
            await self.session.rollback()
            raise ConflictError("the draft changed while publishing; reload and try again")
        now = utcnow()
        try:
            last = await self._archive_published(version.bot_id, now)
            result = await self.session.execute(
                update(BotWorkflowVersion)
                .where(
                    BotWorkflowVersion.id == version.id,
                    BotWorkflowVersion.status == "draft",
                    BotWorkflowVersion.revision == version.revision,
                )
                .values(
                    status="published",
                    version_number=last + 1,
                    published_by=owner.id,
                    published_at=now,
                    updated_at=now,
                )
            )
        except IntegrityError as exc:  # the unique indexes, should the lock ever be bypassed
            await self.session.rollback()
            raise ConflictError("another publish of this bot happened at the same time") from exc
        if _rowcount(result) != 1:
            await self.session.rollback()
            raise ConflictError("the draft changed while publishing; reload and try again")
        await self._commit("another publish of this bot happened at the same time; retry")
        await self.session.refresh(version)
        return version

    async def rollback(
        self, owner: User, bot_id: str, version_id: str, *, note: str | None = None
    ) -> BotWorkflowVersion:
        """Make an earlier version live again: a copy of it is published under the next
        number (``source = "rollback"``); the version live until now is archived."""
        target = await self.get(owner, bot_id, version_id)
        if target.status == "draft":
            raise ConflictError("a draft was never live: publish it instead of rolling back to it")
        if target.status == "published":
            raise ConflictError(f"version {target.version_number} is already the live version")
        # Published once means valid then; only what no longer compiles is refused (fast).
        problems = await self.validate(target.graph)
        if problems:
            raise GraphValidationError(
                problems, f"version {target.version_number} no longer validates; fix it in a draft"
            )
        await self._lock_releases(target.bot_id)
        now = utcnow()
        current = await self.published(target.bot_id)
        if current is not None and current.id == target.id:  # rolled back to it meanwhile
            number = target.version_number
            await self.session.rollback()
            raise ConflictError(f"version {number} is already the live version")
        last = await self._archive_published(target.bot_id, now)
        was = f" (replacing version {current.version_number})" if current is not None else ""
        copy = BotWorkflowVersion(
            bot_id=target.bot_id,
            version_number=last + 1,
            status="published",
            graph=target.graph,
            revision=1,
            source="rollback",
            note=note if note else f"rollback to version {target.version_number}{was}",
            created_by=owner.id,
            published_by=owner.id,
            published_at=now,
        )
        self.session.add(copy)
        await self._commit("another publish of this bot happened at the same time; retry")
        await self.session.refresh(copy)
        return copy

    async def delete_draft(self, owner: User, bot_id: str, version_id: str) -> None:
        """Delete the draft (409 for a published or archived version: history stays)."""
        version = await self.get(owner, bot_id, version_id)
        if version.status != "draft":
            raise ConflictError(
                f"version {version.version_number} is {version.status}: only a draft can be "
                "deleted (roll back to another version instead)"
            )
        result = await self.session.execute(
            delete(BotWorkflowVersion)
            .where(BotWorkflowVersion.id == version.id, BotWorkflowVersion.status == "draft")
            .execution_options(**_DRAFT_ONLY)
        )
        if _rowcount(result) != 1:
            await self.session.rollback()
            raise ConflictError("the draft was published meanwhile; nothing was deleted")
        await self.session.commit()

    async def _lock_releases(self, bot_id: str) -> None:
        """Start the transaction in which the bot's live version changes: publishes and
        rollbacks of one bot take turns from here to their commit. The reads so far end
        first (on SQLite, a transaction that begins with a write waits for the database's
        write lock instead of failing on a stale snapshot)."""
        await self.session.commit()
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(select(Bot.id).where(Bot.id == bot_id).with_for_update())
            return
        await self.session.execute(
            update(Bot)
            .where(Bot.id == "")
            .values(name=Bot.name)
            # Matches no row: it only takes the write lock.
            .execution_options(synchronize_session=False, **{UNCHANGED: True})
        )

    async def _archive_published(self, bot_id: str, now: Any) -> int:
        """Archive the live version (under `_lock_releases`); the highest number used."""
        last = await self.session.scalar(
            select(func.max(BotWorkflowVersion.version_number)).where(
                BotWorkflowVersion.bot_id == bot_id
            )
        )
        await self.session.execute(
            update(BotWorkflowVersion)
            .where(BotWorkflowVersion.bot_id == bot_id, BotWorkflowVersion.status == "published")
            .values(status="archived", updated_at=now)
        )
        return int(last or 0)

    # -- helpers --------------------------------------------------------------------------

    async def _bot(self, owner: User, bot_id: str) -> Bot:
        return await get_owned_bot(self.session, owner, bot_id)

    async def _draft(self, bot_id: str) -> BotWorkflowVersion | None:
        found: BotWorkflowVersion | None = await self.session.scalar(
            select(BotWorkflowVersion).where(
                BotWorkflowVersion.bot_id == bot_id, BotWorkflowVersion.status == "draft"
            )
        )
        return found

    async def _guarded_save(
        self, version: BotWorkflowVersion, revision: int, values: dict[str, Any]
    ) -> BotWorkflowVersion:
        if version.status != "draft":
            raise ConflictError(
                f"version {version.version_number} is {version.status}; only a draft can change"
            )
        result = await self.session.execute(
            update(BotWorkflowVersion)
            .where(
                BotWorkflowVersion.id == version.id,
                BotWorkflowVersion.status == "draft",
                BotWorkflowVersion.revision == revision,
            )
            .values(revision=revision + 1, updated_at=utcnow(), **values)
            .execution_options(**_DRAFT_ONLY)
        )
        if _rowcount(result) != 1:
            await self.session.rollback()
            await self.session.refresh(version)
            if version.status != "draft":
                raise ConflictError("the draft was published meanwhile; create a new draft")
            raise ConflictError(_stale(revision, version.revision))
        await self.session.commit()
        await self.session.refresh(version)
        return version

    async def _commit(self, conflict_message: str) -> None:
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(conflict_message) from exc


def _stale(sent: int, current: int) -> str:
    return (
        f"the draft was saved again after revision {sent}, which you edited (it is now at "
        f"revision {current}: saved from another tab, client or editor); reload it and apply "
        "your change again"
    )


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count
