"""`DocumentExtractorNodeV2`: the text of files attached to the chat turn.

    {"id": "read", "type": "document_extractor",
     "inputs": {"files": {"selector": ["sys", "files"]}}}

A file is ``{"name": "report.pdf", "content_type": "application/pdf", "data": "<base64>"}``
(what the chat API puts in ``sys.files`` for the files of a turn; ``snapagent run-workflow
--file PATH`` does the same). ``files`` may be one file or a list. Each is read by the
knowledge parsers (PDF, DOCX, HTML, Markdown, text) in an isolated worker process with memory,
CPU and time limits (`ServiceContainer.documents`). Outputs: ``text`` (every file's text, in
order, joined by ``separator``), ``texts`` (one per file) and ``files`` (``{"name", "title",
"chars"}`` each). A file that cannot be read fails the node, naming it and why.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from snapagent.errors import NodeExecutionError, SnapAgentError
from snapagent.nodes.settings import get_node_settings
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["DocumentExtractorNodeData", "DocumentExtractorNodeV2"]


class DocumentExtractorNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_files: int | None = Field(
        default=None, ge=1, le=100, description="Refuse more files (empty: the operator's limit)."
    )
    separator: str = Field(
        default="\n\n", max_length=100, description="Put between the files' texts in 'text'."
    )


class DocumentExtractorNodeV2(BaseNodeV2[DocumentExtractorNodeData]):
    """Reads files (base64 data) to text with the knowledge parsers, out of process."""

    type_key = "document_extractor"
    config_model = DocumentExtractorNodeData
    title = "Document extractor"
    category = "knowledge"
    default_config: ClassVar[Mapping[str, Any]] = {}
    description = "The text of files attached to the chat turn (PDF, DOCX, HTML, Markdown, text)."

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=(
                PortDefinition(
                    name="files",
                    description="a file {name, content_type, data (base64)} or a list of them",
                ),
            ),
            outputs=(
                PortDefinition(name="text", type=PortType.STRING),
                PortDefinition(name="texts", type=PortType.ARRAY_STRING),
                PortDefinition(name="files", type=PortType.ARRAY_OBJECT),
            ),
        )

    def _fail(self, message: str) -> NodeExecutionError:
        return NodeExecutionError(f"node {self.node_id!r}: {message}", node_id=self.node_id)

    def _decode(self, position: int, item: Any, max_bytes: int) -> tuple[str, str | None, bytes]:
        if not isinstance(item, Mapping):
            raise self._fail(f"files[{position}] must be an object with name and data")
        name, data = item.get("name"), item.get("data")
        content_type = item.get("content_type")
        if not isinstance(name, str) or not name or not isinstance(data, str):
            raise self._fail(f"files[{position}] needs a name and base64 data")
        if len(data) > max_bytes * 4 // 3 + 4:  # refuse before decoding a huge string
            raise self._fail(f"file {name!r} is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise self._fail(f"file {name!r}: data is not valid base64") from None
        if len(raw) > max_bytes:
            raise self._fail(f"file {name!r} is larger than {max_bytes} bytes")
        return name, content_type if isinstance(content_type, str) else None, raw

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        given = inputs["files"]
        files = [] if given is None else given if isinstance(given, list) else [given]
        settings = get_node_settings()
        limit = min(
            self.config.max_files or settings.document_max_files, settings.document_max_files
        )
        if len(files) > limit:
            raise self._fail(f"{len(files)} files, over its limit of {limit}")
        texts: list[str] = []
        described: list[dict[str, Any]] = []
        for position, item in enumerate(files):
            name, content_type, raw = self._decode(position, item, settings.document_max_bytes)
            try:
                found = await ctx.services.documents.read(raw, name, content_type)
            except SnapAgentError as exc:
                raise self._fail(f"cannot read file {name!r}: {exc.message}") from None
            texts.append(found.text)
            described.append({"name": name, "title": found.title, "chars": len(found.text)})
        return {"text": self.config.separator.join(texts), "texts": texts, "files": described}
