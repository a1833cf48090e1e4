"""What a chat makes of the engine's output: the answer, its sources, stream events, errors.

answer_text(result)        # the end node's ``answer``
collect_sources(result)    # documents that reached an LLM node, deduplicated, as citations
engine_event(event)        # ("node_started", {...}) for SSE, or None for internal events
failure_error(result)      # the SnapAgentError a failed run is reported as (502/504/...)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapagent import errors
from snapagent.llm import errors as provider_errors
from snapagent.workflow import events as ev
from snapagent.workflow.result import NodeStatus, WorkflowRunResult

__all__ = ["SNIPPET_CHARS", "answer_text", "collect_sources", "engine_event", "failure_error"]

SNIPPET_CHARS = 300
ANSWER_OUTPUT = "answer"
ANSWER_NODE_TYPE = "answer"
# The V1 adapters (snapagent.legacy) wrap these node types; their documents count the same.
LLM_NODE_TYPES = frozenset({"llm", "v1_llm"})
# Nodes whose outputs hold retrieved documents (an agent: what its knowledge tools found).
RETRIEVING_NODE_TYPES = frozenset({"knowledge", "v1_knowledge", "agent"})
_DOCUMENT_KEYS = frozenset({"text", "document_id"})


def answer_text(result: WorkflowRunResult) -> str:
    """The end node's ``answer``; without one, what the graph's answer nodes said, in order."""
    value = result.outputs.get(ANSWER_OUTPUT)
    if value is None:
        return "".join(
            str(node.outputs.get("text", ""))
            for node in result.ordered_nodes()
            if node.node_type == ANSWER_NODE_TYPE and node.status is NodeStatus.SUCCEEDED
        )
    return value if isinstance(value, str) else str(value)


def _documents(value: Any, *, nested: bool = True) -> list[dict[str, Any]]:
    """Documents-shaped items of a port value; one level into an object too, because the V1
    adapters carry their shared context (``{"context": [documents], ...}``) as one value."""
    if isinstance(value, Mapping) and nested:
        return [doc for inner in value.values() for doc in _documents(inner, nested=False)]
    if not isinstance(value, list | tuple):
        return []
    return [
        dict(item) for item in value if isinstance(item, Mapping) and item.keys() >= _DOCUMENT_KEYS
    ]


def _citation(doc: dict[str, Any]) -> dict[str, Any]:
    text = str(doc.get("text", ""))
    return {
        "document_id": doc.get("document_id"),
        "document_title": doc.get("document_title"),
        "knowledge_base_id": doc.get("knowledge_base_id"),
        "chunk_id": doc.get("chunk_id"),
        "chunk_index": doc.get("chunk_index"),
        "heading": doc.get("heading"),
        "score": doc.get("score"),
        "snippet": text[:SNIPPET_CHARS],
    }


def collect_sources(result: WorkflowRunResult) -> list[dict[str, Any]]:
    """The documents given to LLM nodes (else retrieved by knowledge nodes or by agents'
    knowledge tools), first seen first."""
    nodes = [n for n in result.ordered_nodes() if n.status is NodeStatus.SUCCEEDED]
    found: list[dict[str, Any]] = []
    for node in nodes:
        if node.node_type in LLM_NODE_TYPES:
            for value in node.inputs.values():
                found += _documents(value)
    if not found:
        for node in nodes:
            if node.node_type in RETRIEVING_NODE_TYPES:
                for value in node.outputs.values():
                    found += _documents(value)
    seen: set[tuple[Any, Any]] = set()
    sources = []
    for doc in found:
        key = (doc.get("document_id"), doc.get("chunk_id") or doc.get("chunk_index"))
        if key not in seen:
            seen.add(key)
            sources.append(_citation(doc))
    return sources


def engine_event(event: ev.WorkflowEvent) -> tuple[str, dict[str, Any]] | None:
    """The SSE form of an engine event; node inputs/outputs stay out of the stream. A node
    inside an iteration/loop body adds ``scope`` (``[["each", 2]]``: item 2 of ``each``)."""
    converted = _engine_event(event)
    scope = getattr(event, "scope", ())
    if converted is not None and scope:
        converted[1]["scope"] = [list(level) for level in scope]
    return converted


def _engine_event(event: ev.WorkflowEvent) -> tuple[str, dict[str, Any]] | None:
    if isinstance(event, ev.TextChunk):
        return "text", {"node_id": event.node_id, "text": event.text}
    if isinstance(event, ev.NodeRunStarted):
        return "node_started", {
            "node_id": event.node_id,
            "node_type": event.node_type,
            "index": event.index,
        }
    if isinstance(event, ev.NodeRunSucceeded):
        return "node_finished", {
            "node_id": event.node_id,
            "node_type": event.node_type,
            "status": "succeeded",
            "elapsed_ms": round(event.elapsed_s * 1000, 3),
            "usage": event.usage.to_dict(),
        }
    if isinstance(event, ev.NodeRunFailed):
        return "node_finished", {
            "node_id": event.node_id,
            "node_type": event.node_type,
            "status": "failed",
            "elapsed_ms": round(event.elapsed_s * 1000, 3),
            "error": event.error.to_dict(),
        }
    if isinstance(event, ev.NodeRunSkipped | ev.NodeRunCancelled):
        status = "skipped" if isinstance(event, ev.NodeRunSkipped) else "cancelled"
        return "node_finished", {
            "node_id": event.node_id,
            "node_type": event.node_type,
            "status": status,
            "reason": event.reason,
        }
    if isinstance(event, ev.NodeRunRetrying):
        return "node_retrying", {
            "node_id": event.node_id,
            "retry": event.retry,
            "delay_s": event.delay_s,
            "error": event.error.to_dict(),
        }
    return None  # run_started / run_finished: the chat sends its own session/message events


def failure_error(result: WorkflowRunResult) -> errors.SnapAgentError:
    """The error a failed (or cancelled) run reports, in the family of what failed it, so the
    one table (`snapagent.api.errors`) gives its status: a provider failure -> 502 (timeouts
    504), a node timeout or run limit -> 504, a definition that cannot run (an unknown model
    id) -> 422, a cancelled run -> 409, anything else -> 500 ``workflow-failed``."""
    error = result.error
    node_id = error.node_id if error else None
    where = f" at node {node_id}" if node_id else ""
    message = f"workflow run {result.run_id} failed{where}: {error.message if error else '?'}"
    cause = error.exception if error else None
    failure = _failure(message, cause, node_id, cancelled=result.status.value == "cancelled")
    failure.details.setdefault("run_id", result.run_id)
    return failure


def _failure(
    message: str, cause: BaseException | None, node_id: str | None, *, cancelled: bool
) -> errors.SnapAgentError:
    if cancelled:
        return errors.ConflictError(message)
    if isinstance(cause, errors.ProviderError):
        kind = (
            provider_errors.ProviderTimeoutError
            if isinstance(cause, TimeoutError)
            else errors.ProviderError
        )
        return kind(
            message, provider=cause.provider, model=cause.model, status_code=cause.status_code
        )
    if isinstance(cause, errors.NodeTimeoutError | TimeoutError):
        return errors.NodeTimeoutError(message, node_id=node_id)
    if isinstance(cause, errors.RunLimitError):
        return errors.RunLimitError(message)
    if isinstance(cause, errors.DefinitionError):
        return errors.DefinitionError(message)
    return errors.NodeExecutionError(message, node_id=node_id)
