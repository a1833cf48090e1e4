"""What one running app holds: settings, database, credentials, registries, services.

Built once, typed, by :func:`snapagent.api.app.create_app` (the composition root) and stored on
``app.state.snapagent``; routes reach it through the ``AppStateDep`` dependency, never through
globals or string keys, so several apps (tests, benchmarks) can live in one process. Nothing
here is built lazily by a route.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapagent.db.rate_limiter import DatabaseRateLimiter
from snapagent.db.session import Database
from snapagent.interop.converter import DocumentConverter
from snapagent.observability.install import Observability
from snapagent.server_settings import ServerSettings
from snapagent.services.account_guard import AccountGuard
from snapagent.services.accounts import CredentialCache, Credentials
from snapagent.services.chat import ChatService
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.runtime import BotRuntime
from snapagent.settings import CoreSettings
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.services import ChatModelProvider

__all__ = ["AppState"]


@dataclass(slots=True, frozen=True)
class AppState:
    """Everything request handlers share."""

    settings: ServerSettings
    core_settings: CoreSettings
    database: Database
    credentials: Credentials
    account_guard: AccountGuard
    """Who may register, and the failed-login and registration throttles."""
    knowledge: KnowledgeService
    chat_models: ChatModelProvider
    """The configured providers (not observed): validation checks model ids against it."""
    graph_resources: GraphResources
    runtime: BotRuntime
    """The engine as chats use it: the frozen V2 and legacy registries, compiled plans."""
    chat: ChatService
    observability: Observability
    rate_limiter: DatabaseRateLimiter | None
    bot_import: DocumentConverter
    """Parses and converts imported bot files in an isolated worker."""
    credential_cache: CredentialCache
    """API keys and users authentication read, kept while unchanged (`lookup_cache`)."""

    @property
    def node_registry(self) -> NodeRegistryV2:
        """The V2 registry (frozen): what drafts are validated with; never a ``v1_*`` type."""
        return self.runtime.registry
