"""`BotTransferService`: import a bot from a Dify DSL or SnapAgent YAML file, export one.

    transfer = BotTransferService(session, registry, resources, knowledge, converter)
    result = await transfer.import_bot(user, data, format="auto", model_override="offline")
    result.bot_id, result.version_id, result.report      # a new bot whose draft holds the graph
    export = await transfer.export_bot(user, bot_id, format="snapagent")
    export.filename, export.text                          # YAML

An import converts the file in an isolated worker (`snapagent.interop.converter`), then on the
server: checks the graph's size, replaces models this server cannot use (Dify files; reported),
gives every knowledge base the graph needs a knowledge base of the importer (the same one when
the importer owns it, else one with the same name, else a new empty one - reported), validates,
and creates the bot with its draft in one transaction. `preview_import` (a dry run)
creates nothing. Every change to the file's content is an item of the report.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.errors import (
    ConflictError,
    InputValidationError,
    PayloadTooLargeError,
    SnapAgentError,
)
from snapagent.interop.conversion import MODEL_NODE_TYPES, ImportFormat, ImportOptions
from snapagent.interop.converted import ConvertedBot, KnowledgeNeed
from snapagent.interop.converter import DocumentConverter
from snapagent.interop.dify.writer import write_dify
from snapagent.interop.dumping import dump_yaml
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.native import knowledge_ids, map_knowledge_ids, write_native
from snapagent.interop.report import ImportReport
from snapagent.legacy.validation import load_v1_workflow
from snapagent.names import clean_name
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.workflow_versions import WorkflowVersionService, get_owned_bot
from snapagent.workflow.limits import check_graph_size
from snapagent.workflow.node import NodeRegistryV2

__all__ = ["BotExport", "BotTransferService", "ImportPreview", "ImportResult"]

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A created bot, its draft, the report, and the graph as imported."""

    bot_id: str
    version_id: str
    report: dict[str, Any]
    graph: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """A dry run: the report and the graph an import would create."""

    report: dict[str, Any]
    graph: dict[str, Any]
    name: str


@dataclass(frozen=True, slots=True)
class BotExport:
    filename: str
    text: str
    report: dict[str, Any] | None = None


class BotTransferService:
    """Use cases of moving bots in and out; every method is scoped to the caller."""

    def __init__(
        self,
        session: AsyncSession,
        registry: NodeRegistryV2,
        resources: GraphResources,
        knowledge: KnowledgeService,
        converter: DocumentConverter,
    ) -> None:
        self.session = session
        self.registry = registry
        self.versions = WorkflowVersionService(session, registry, resources)
        self.resources = resources
        self.knowledge = knowledge
        self.converter = converter

    # -- import -----------------------------------------------------------------------------

    async def import_bot(
        self,
        owner: User,
        data: bytes,
        *,
        format: ImportFormat = "auto",
        model_override: str | None = None,
    ) -> ImportResult:
        """Create a bot from the file; its draft holds the converted graph."""
        bot = await self._convert(data, format, model_override)
        ids = await self._knowledge_bases(owner, bot)
        graph = map_knowledge_ids(bot.graph, lambda token: ids.get(token, token))
        if bot.legacy_workflow:
            bot.legacy_workflow = map_knowledge_ids(
                bot.legacy_workflow, lambda token: ids.get(token, token)
            )
        report = bot.report.to_dict()
        report["problems"] = await self.versions.validate(graph)
        created, draft = await self._create(owner, bot, graph, ids)
        return ImportResult(created.id, draft.id, report, graph)

    async def preview_import(
        self,
        owner: User,
        data: bytes,
        *,
        format: ImportFormat = "auto",
        model_override: str | None = None,
    ) -> ImportPreview:
        """What `import_bot` would do, creating nothing (knowledge bases stay unresolved)."""
        bot = await self._convert(data, format, model_override)
        await self._knowledge_preview(owner, bot)
        report = bot.report.to_dict()
        report["problems"] = await self.versions.validate(bot.graph)
        return ImportPreview(report, bot.graph, bot.name)

    async def _convert(
        self, data: bytes, format: ImportFormat, model_override: str | None
    ) -> ConvertedBot:
        limit = self.converter.settings.max_bytes
        if len(data) > limit:
            raise PayloadTooLargeError(f"the file is {len(data):,} bytes; the limit is {limit:,}")
        override = (model_override or "").strip() or None
        if override is not None and (error := self.resources.model_error(override)):
            raise InputValidationError(
                f"model {override!r} cannot be used: {error}", field="model_override"
            )
        # Converting may take a while (a big file, a busy worker): hold no database connection
        # meanwhile, or a burst of imports would starve every other request of connections.
        # Objects already loaded (the caller's user) stay readable.
        await self.session.close()
        options = ImportOptions(
            format=format,
            model_override=override,
            node_types=frozenset(self.registry.type_keys),
            limits=self.converter.limits(),
            graph_limits=self.versions.limits,
        )
        bot = await self.converter.convert(data, options)
        too_big = check_graph_size(bot.graph, self.versions.limits)
        if too_big:
            raise ImportFormatError(f"the imported workflow is too large: {too_big[0].message}")
        if override is None:
            self._usable_models(bot)
        return bot

    def _usable_models(self, bot: ConvertedBot) -> None:
        """Models this server cannot use: a Dify import falls back to the bot's default model
        (reported); a SnapAgent export keeps them (reported: configure the provider)."""
        report = bot.report
        checked: dict[str, str | None] = {}

        def usable(model: str) -> bool:
            if model not in checked:
                checked[model] = self.resources.model_error(model)
            return checked[model] is None

        def visit(value: Any, depth: int = 0) -> Any:
            if depth > 40:
                return value
            if isinstance(value, list):
                return [visit(item, depth + 1) for item in value]
            if not isinstance(value, dict):
                return value
            out = {k: visit(v, depth + 1) for k, v in value.items()}
            config = out.get("config")
            model = config.get("model") if isinstance(config, dict) else None
            if out.get("type") in MODEL_NODE_TYPES and isinstance(model, str) and not usable(model):
                assert isinstance(config, dict)
                if bot.keep_models:
                    report.add(
                        "action",
                        f"model {model!r} cannot be used on this server: {checked[model]}",
                        "kept: configure its provider, or pick another model",
                        node_id=str(out.get("id")),
                        field="config.model",
                    )
                else:
                    out["config"] = {k: v for k, v in config.items() if k != "model"}
                    report.add(
                        "warning",
                        f"model {model!r} cannot be used on this server: {checked[model]}",
                        "the node uses the bot's default model (configure the provider and "
                        "pick the model again to use it)",
                        node_id=str(out.get("id")),
                        field="config.model",
                    )
            return out

        bot.graph = visit(bot.graph)
        if bot.default_model and not usable(bot.default_model):
            if not bot.keep_models:
                report.add(
                    "info",
                    f"the app's main model {bot.default_model!r} cannot be used on this server",
                    "the bot uses the server's default model",
                    field="default_model",
                )
            bot.default_model = None

    async def _owned(self, owner: User) -> dict[str, KnowledgeBase]:
        rows = await self.session.scalars(
            select(KnowledgeBase).where(KnowledgeBase.owner_id == owner.id)
        )
        return {kb.id: kb for kb in rows}

    async def _knowledge_preview(self, owner: User, bot: ConvertedBot) -> None:
        owned = await self._owned(owner)
        names = {kb.name for kb in owned.values()}
        for need in bot.knowledge:
            if need.reuse_id in owned or need.name in names:
                continue
            bot.report.add(
                "action",
                f"knowledge base {need.name!r} would be created empty (dry run)",
                "upload its documents after the import",
            )

    async def _knowledge_bases(self, owner: User, bot: ConvertedBot) -> dict[str, str]:
        """token -> the id of the importer's knowledge base for each need."""
        owned = await self._owned(owner)
        by_name = {kb.name: kb.id for kb in owned.values()}
        ids: dict[str, str] = {}
        for need in bot.knowledge:
            if need.reuse_id and need.reuse_id in owned:
                ids[need.token] = need.reuse_id
                continue
            if need.reuse_id and need.name in by_name:
                ids[need.token] = by_name[need.name]
                bot.report.add(
                    "info",
                    f"knowledge base {need.name!r} is not yours on this server",
                    "your knowledge base with the same name is used",
                )
                continue
            created = await self._create_knowledge_base(owner, need, set(by_name))
            by_name[created[1]] = created[0]
            ids[need.token] = created[0]
            if need.reuse_id:
                bot.report.add(
                    "action",
                    f"knowledge base {need.name!r} is not on this server",
                    f"an empty knowledge base {created[1]!r} was created: upload its documents",
                )
        return ids

    async def _create_knowledge_base(
        self, owner: User, need: KnowledgeNeed, taken: set[str]
    ) -> tuple[str, str]:
        base = clean_name(need.name)[:180] or "Imported knowledge"
        name, number = base, 2
        while name in taken:
            name, number = f"{base} ({number})", number + 1
        embedding = need.embedding_model
        for attempt in (embedding, None) if embedding else (None,):
            try:
                kb = await self.knowledge.create_knowledge_base(
                    owner.id, name, description=need.description, embedding_model=attempt
                )
            except InputValidationError:
                continue  # an embedding model this server lacks: the default one instead
            except ConflictError:
                name = f"{base} ({number})"
                number += 1
                kb = await self.knowledge.create_knowledge_base(
                    owner.id, name, description=need.description, embedding_model=attempt
                )
            return kb.id, kb.name
        raise ImportFormatError(f"could not create knowledge base {name!r}")

    async def _create(
        self, owner: User, bot: ConvertedBot, graph: dict[str, Any], ids: dict[str, str]
    ) -> tuple[Bot, BotWorkflowVersion]:
        legacy = None
        if bot.legacy_workflow is not None:
            try:
                legacy = await asyncio.to_thread(
                    lambda: load_v1_workflow(bot.legacy_workflow).to_json()
                )
            except SnapAgentError as exc:
                bot.report.add(
                    "warning",
                    f"the bot's legacy (V1) workflow is not valid here: {exc}",
                    "left out",
                    field="legacy_workflow",
                )
        created = Bot(
            owner_id=owner.id,
            name=clean_name(bot.name)[:200] or "Imported bot",
            description=bot.description,
            default_model=bot.default_model,
            knowledge_base_ids=[ids.get(t, t) for t in bot.knowledge_base_ids],
            use_workflow_v2=bot.use_workflow_v2 or legacy is None,
            v2_rollout_percent=bot.v2_rollout_percent,
            workflow=legacy,
        )
        self.session.add(created)
        await self.session.flush()
        note = f"imported from {bot.report.source}"
        if bot.report.source_version:
            note += f" {bot.report.source_version}"
        try:
            draft = await self.versions.stage_checked_draft(
                created, owner, graph, source=f"import:{bot.report.source}", note=note
            )
        except SnapAgentError:
            await self.session.rollback()
            raise
        await self.session.commit()
        return created, draft

    # -- export -----------------------------------------------------------------------------

    async def export_bot(
        self, owner: User, bot_id: str, *, format: str = "snapagent", version_id: str | None = None
    ) -> BotExport:
        bot = await get_owned_bot(self.session, owner, bot_id)
        version = await self._version(owner, bot, version_id)
        graph = version.graph
        stem = _SLUG.sub("-", bot.name).strip("-.")[:60] or "bot"
        if format == "dify":
            document, report = write_dify(
                bot={"name": bot.name, "description": bot.description}, graph=graph
            )
            text = _with_report(await asyncio.to_thread(dump_yaml, document), report)
            return BotExport(f"{stem}.dify.yml", text, report.to_dict())
        if format != "snapagent":
            raise InputValidationError("format must be snapagent or dify", field="format")
        kb_ids = knowledge_ids(
            [graph, bot.workflow, {"knowledge_base_ids": bot.knowledge_base_ids}]
        )
        owned = await self._owned(owner)
        knowledge = [
            {
                "id": kb_id,
                "name": owned[kb_id].name,
                "description": owned[kb_id].description,
                "embedding_model": owned[kb_id].embedding_model,
            }
            for kb_id in kb_ids
            if kb_id in owned
        ]
        document = write_native(
            bot={
                "name": bot.name,
                "description": bot.description,
                "default_model": bot.default_model,
                "use_workflow_v2": bot.use_workflow_v2,
                "v2_rollout_percent": bot.v2_rollout_percent,
                "knowledge_base_ids": [kb for kb in bot.knowledge_base_ids if kb in owned],
            },
            graph=graph,
            version={
                "version_number": version.version_number,
                "status": version.status,
                "note": version.note,
            },
            knowledge_bases=knowledge,
            legacy_workflow=bot.workflow,
        )
        text = await asyncio.to_thread(dump_yaml, document)
        return BotExport(f"{stem}.snapagent.yml", text)

    async def _version(self, owner: User, bot: Bot, version_id: str | None) -> BotWorkflowVersion:
        if version_id:
            return await self.versions.get(owner, bot.id, version_id)
        versions, _ = await self.versions.list_versions(owner, bot.id, limit=1)  # the draft first
        if not versions:
            raise ConflictError("this bot has no workflow version to export")
        return versions[0]


def _with_report(text: str, report: ImportReport) -> str:
    """The YAML with what did not carry over as comments at the top (Dify ignores them)."""
    if not report.items:
        return text
    lines = ["# Exported from SnapAgent. Not carried over exactly:"]
    lines += [f"# - {item.line()}".replace("\n", " ") for item in report.sorted_items()]
    return "\n".join(lines) + "\n" + text
