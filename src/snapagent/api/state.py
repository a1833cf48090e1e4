"""What one running app holds: settings, database, credentials, node registry, knowledge.

Built once by :func:`snapagent.api.app.create_app` and stored on ``app.state.snapagent``;
routes reach it through the ``AppStateDep`` dependency, never through globals, so several apps
(tests, benchmarks) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.services.accounts import Credentials
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.services import ChatModelProvider

__all__ = ["AppState"]


@dataclass(slots=True)
class AppState:
    """Everything request handlers share; ``extras`` is free for other areas' long-lived objects."""

    settings: ServerSettings
    core_settings: CoreSettings
    database: Database
    credentials: Credentials
    node_registry: NodeRegistryV2
    """The V2 registry (frozen): what drafts are validated with; never holds ``v1_*`` types."""
    knowledge: KnowledgeService
    chat_models: ChatModelProvider
    """The configured providers (not observed): chats resolve through it, validation checks
    model ids against it."""
    graph_resources: GraphResources
    extras: dict[str, Any] = field(default_factory=dict)
