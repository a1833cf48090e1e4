"""The import report: every node, field and setting that did not carry over exactly.

    report = ImportReport(source="dify", source_version="0.1.5", app_mode="advanced-chat")
    report.add("warning", "vision is not carried over: images are not sent to the model",
               "vision turned off", node_id="1711", field="vision")
    report.to_dict()   # {"source": ..., "items": [{"severity", "node_id", "field", ...}]}

Severities: ``info`` (carried over with a small, harmless difference), ``warning`` (the
behaviour differs; the item says how), ``action`` (it will not work until the user does what
the item says: pick knowledge bases, configure a model, replace a placeholder node).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ImportReport", "ReportItem", "Severity"]

Severity = Literal["info", "warning", "action"]
_ORDER = {"action": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class ReportItem:
    """One thing that was not carried over exactly: why, and what was done instead."""

    severity: Severity
    message: str
    """What did not carry over, and why."""
    action: str
    """What was done instead (and, for ``action`` items, what the user must do)."""
    node_id: str | None = None
    field: str | None = None
    """Where, in the source file's terms (``data.memory.window``, ``features.file_upload``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "node_id": self.node_id,
            "field": self.field,
            "message": self.message,
            "action": self.action,
        }

    def line(self) -> str:
        where = f"[{self.node_id}{'.' + self.field if self.field else ''}] " if self.node_id else ""
        if not self.node_id and self.field:
            where = f"[{self.field}] "
        return f"{self.severity}: {where}{self.message} -> {self.action}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: the source, the node types converted, and every report item."""

    source: str
    """``dify`` or ``snapagent``."""
    source_version: str = ""
    app_mode: str = ""
    items: list[ReportItem] = field(default_factory=list)
    node_types: dict[str, str] = field(default_factory=dict)
    """Source node id -> the SnapAgent node type it became (``placeholder`` when none fits)."""

    def add(
        self,
        severity: Severity,
        message: str,
        action: str,
        *,
        node_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.items.append(ReportItem(severity, message, action, node_id=node_id, field=field))

    def counts(self) -> dict[str, int]:
        found = Counter(item.severity for item in self.items)
        return {severity: found.get(severity, 0) for severity in ("action", "warning", "info")}

    def sorted_items(self) -> list[ReportItem]:
        return sorted(self.items, key=lambda item: _ORDER[item.severity])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_version": self.source_version,
            "app_mode": self.app_mode,
            "counts": self.counts(),
            "node_types": dict(self.node_types),
            "items": [item.to_dict() for item in self.sorted_items()],
        }

    def summary(self) -> str:
        counts = self.counts()
        if not self.items:
            return "everything carried over exactly"
        parts = [f"{n} {name}" for name, n in counts.items() if n]
        return ", ".join(parts)
