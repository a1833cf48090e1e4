"""Rendering node templates (template, llm, answer, http_request, classifier/extractor
instructions) without ever rendering on the event loop's time, with a deadline and bounds.

    template_variables("Context:\\n{{ context }}\\nQ: {{ query }}")  # ["context", "query"]
    text = await render(ctx, "Q: {{ query }}", {"query": "what is {{ 7*7 }}?"}, node_id="llm")
    # -> "Q: what is {{ 7*7 }}?"   (values are substituted, never rendered again)

Two paths (`TemplateRenderer`):

- **Substitution** - text with ``{{ name }}``, ``{{ doc.title }}``, ``{{ row['id'] }}`` and
  nothing else (most prompts): rendered in place, in time linear in the output, the output
  bounded before it is joined (`snapagent.jinja.substitution`). No process hop on the chat
  path.
- **Everything else** (tags, filters, operators, calls): rendered in a worker process of an
  `IsolatedPool` by the bounded sandbox (`snapagent.jinja.bounded`: every value it builds is
  checked), within ``SNAPAGENT_TEMPLATE_TIMEOUT_S`` and the worker's memory limit. A node's own
  ``timeout_s`` stops it sooner: cancelling the render kills the worker.

Reading a template (its syntax, variables and whether it only substitutes) is parsing, which is
slow for long templates: `snapagent.nodes.template_reading` does it in a worker of its own for
those, within ``SNAPAGENT_TEMPLATE_READ_TIMEOUT_S``, for validation and rendering alike.

Every failure is a `NodeExecutionError` (a `NodeTimeoutError` for the deadline) that names
the node and the reason. Retrieved documents rendered with ``{{ context }}`` become numbered,
titled text; in a loop (``{% for d in context %}{{ d.text }}{% endfor %}``) they stay objects.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.errors import DefinitionError, NodeExecutionError, NodeTimeoutError
from snapagent.isolation import (
    IsolatedPool,
    IsolationError,
    OutputTooLargeError,
    ProcessLimits,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.jinja import (
    DocumentList,
    MessageList,
    Substitution,
    TemplateLimitError,
    TemplateLimits,
    looks_like_documents,
    looks_like_messages,
    render_bounded,
)
from snapagent.jinja.worker import prepare_template_worker
from snapagent.nodes.template_reading import TemplateReader
from snapagent.workflow.node import RunContext

__all__ = [
    "DocumentList",
    "MessageList",
    "TemplateRenderer",
    "TemplateSettings",
    "default_renderer",
    "looks_like_documents",
    "looks_like_messages",
    "render",
    "template_variables",
]


class TemplateSettings(BaseSettings):
    """Limits of template rendering (environment: ``SNAPAGENT_TEMPLATE_*``)."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_TEMPLATE_", extra="ignore")

    timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="Longest a template with tags, filters or calls may render (a node's own "
        "timeout_s stops it sooner); past it the worker is killed.",
    )
    max_output_chars: int = Field(
        default=1_000_000,
        ge=1_000,
        le=100_000_000,
        description="Longest rendered text, and longest string any template expression builds.",
    )
    max_items: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="Longest list a template builds, and longest range it loops over.",
    )
    max_int_bits: int = Field(
        default=100_000, ge=64, le=10_000_000, description="Largest integer a template computes."
    )
    workers: int = Field(
        default=2, ge=1, le=64, description="Worker processes rendering templates at once."
    )
    memory_mb: int = Field(
        default=256, ge=64, le=65536, description="Address-space limit of each worker."
    )
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Longest reading (parsing) a long template may take, in its worker; past "
        "it the template is a validation problem.",
    )

    def limits(self) -> TemplateLimits:
        return TemplateLimits(self.max_output_chars, self.max_items, self.max_int_bits)


def template_variables(source: str, field: str | None = None) -> list[str]:
    """The variables a template reads (its input ports). Bad syntax is a `DefinitionError`
    whose ``details["path"]`` is ``field`` (``config.prompt``), so validation points at it."""
    try:
        return list(default_renderer().reader.read(source).variables)
    except DefinitionError as exc:
        if field is None:
            raise
        raise DefinitionError(
            f"{field}: {exc.message}", details={**exc.details, "path": field}
        ) from None


def _printable(value: Any, room: int) -> str | None:
    """``str(value)`` when that is cheap to bound (text, numbers, documents, messages) and fits
    in ``room`` characters; None for anything else (the worker prints it, with its checks)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        try:
            return str(value)
        except ValueError:  # an int past Python's digit limit: the worker reports it
            return None
    if isinstance(value, DocumentList | MessageList):
        estimate = sum(len(v) for item in value for v in item.values() if isinstance(v, str))
        if estimate + 64 * len(value) <= room:
            return str(value)
    return None


class TemplateRenderer:
    """Renders templates by the path that fits (see the module docstring).

    ``TemplateRenderer(TemplateSettings(timeout_s=1))``; the worker pool starts on the first
    template that needs it. `close()` stops the workers.
    """

    def __init__(self, settings: TemplateSettings | None = None) -> None:
        self.settings = settings or TemplateSettings()
        self.limits = self.settings.limits()
        self._pool: IsolatedPool | None = None
        self.reader = TemplateReader(
            timeout_s=self.settings.read_timeout_s,
            memory_mb=self.settings.memory_mb,
            max_chars=self.settings.max_output_chars,
        )

    @property
    def pool(self) -> IsolatedPool:
        if self._pool is None:
            settings = self.settings
            self._pool = IsolatedPool(
                name="templates",
                size=settings.workers,
                limits=ProcessLimits(
                    memory_mb=settings.memory_mb,
                    cpu_s=settings.timeout_s,
                    max_output_bytes=settings.max_output_chars * 4 + 4096,  # UTF-8
                ),
                # Lower priority (a render at 100% CPU yields to the server), then seccomp.
                initializer=prepare_template_worker,
            )
        return self._pool

    async def render(self, source: str, values: Mapping[str, Any], *, node_id: str) -> str:
        try:
            plan = (await self.reader.read_async(source)).substitution
        except DefinitionError as exc:
            raise NodeExecutionError(
                f"template of node {node_id!r}: {exc.message}", node_id=node_id
            ) from None
        text = self._substitute(plan, values, node_id) if plan is not None else None
        if text is not None:
            return text
        return await self._render_in_worker(source, values, node_id)

    def _substitute(
        self, plan: Substitution, values: Mapping[str, Any], node_id: str
    ) -> str | None:
        label = f"template of node {node_id!r}"
        try:
            return plan.render(values, max_chars=self.limits.max_chars, printer=_printable)
        except jinja2.UndefinedError as exc:
            raise NodeExecutionError(f"{label}: {exc.message}", node_id=node_id) from None
        except TemplateLimitError as exc:
            raise NodeExecutionError(f"{label} went over a limit: {exc}", node_id=node_id) from None
        except SecurityError as exc:
            raise NodeExecutionError(
                f"{label} tried an unsafe operation: {exc}", node_id=node_id
            ) from None

    async def _render_in_worker(self, source: str, values: Mapping[str, Any], node_id: str) -> str:
        label = f"template of node {node_id!r}"
        timeout_s = self.settings.timeout_s
        try:
            text: str = await self.pool.call(
                render_bounded, source, dict(values), node_id, self.limits, timeout_s=timeout_s
            )
        except WorkerTimeoutError:
            raise NodeTimeoutError(
                f"{label} took longer than {timeout_s:g} s to render "
                "(SNAPAGENT_TEMPLATE_TIMEOUT_S)",
                node_id=node_id,
            ) from None
        except WorkerMemoryError:
            raise NodeExecutionError(
                f"{label} needed more than {self.settings.memory_mb} MiB to render",
                node_id=node_id,
            ) from None
        except OutputTooLargeError:
            raise NodeExecutionError(
                f"{label} rendered more than {self.limits.max_chars} characters",
                node_id=node_id,
            ) from None
        except IsolationError as exc:
            raise NodeExecutionError(
                f"{label} could not be rendered: {exc.message}", node_id=node_id
            ) from None
        return text

    async def close(self) -> None:
        await self.reader.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@lru_cache(maxsize=1)
def default_renderer() -> TemplateRenderer:
    """The process-wide renderer from ``SNAPAGENT_TEMPLATE_*`` (its workers start on first
    use and stop at exit)."""
    renderer = TemplateRenderer()
    atexit.register(_close_at_exit, renderer)
    return renderer


def _close_at_exit(renderer: TemplateRenderer) -> None:
    renderer.reader.close_blocking()
    pool = renderer._pool
    if pool is not None:
        pool.close_blocking()


async def render(ctx: RunContext, source: str, values: Mapping[str, Any], *, node_id: str) -> str:
    """Render one of a node's templates with the run's renderer (the process-wide one unless
    the services name another)."""
    renderer = ctx.services.templates or default_renderer()
    return await renderer.render(source, values, node_id=node_id)
