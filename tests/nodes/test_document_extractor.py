"""document_extractor: files of the turn read by the knowledge parsers in an isolated worker;
bad files, limits, failures under each strategy, timeouts and records."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from snapagent.errors import UnsupportedMediaError
from snapagent.knowledge.file_reader import IsolatedDocumentReader
from snapagent.nodes import default_registry
from snapagent.nodes.settings import get_node_settings
from snapagent.workflow import RunStatus, ServiceContainer, WorkflowExecutorV2, WorkflowGraph
from snapagent.workflow.services import FileText

FILES = Path(__file__).resolve().parents[1] / "knowledge" / "files"


def attach(name: str, data: bytes, content_type: str | None = None) -> dict[str, Any]:
    return {"name": name, "content_type": content_type, "data": base64.b64encode(data).decode()}


def graph(**settings: Any) -> WorkflowGraph:
    read = {"id": "read", "type": "document_extractor", "config": {"separator": "\n---\n"},
            "inputs": {"files": {"selector": ["sys", "files"]}}, **settings}  # fmt: skip
    text = {"source": "read", "source_port": "text", "target": "end", "target_port": "answer"}
    return WorkflowGraph.from_json(
        {
            "nodes": [
                {"id": "start", "type": "start"},
                read,
                {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
            ],
            "edges": [{"source": "start", "target": "read"}, text],
        }
    )


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_node_settings.cache_clear()
    yield
    get_node_settings.cache_clear()


@pytest.fixture
async def reader() -> AsyncIterator[IsolatedDocumentReader]:
    reader = IsolatedDocumentReader.create(max_chars=5_000, timeout_s=30)
    yield reader
    await reader.close()


class FakeReader:
    """Answers from a table, or fails / hangs, so the node's own logic is tested alone."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.read_names: list[str] = []

    async def read(self, data: bytes, name: str, content_type: str | None = None) -> FileText:
        self.read_names.append(name)
        if self.hang:
            await asyncio.sleep(30)
        if name.endswith(".exe"):
            raise UnsupportedMediaError(f"{name!r} is an executable")
        return FileText(name, name.upper(), data.decode())


async def run(reader: Any, files: Any, **settings: Any) -> Any:
    services = ServiceContainer(documents=reader)
    executor = WorkflowExecutorV2(default_registry(), services)
    return await executor.run(graph(**settings), {"query": "q"}, {"files": files})


async def test_real_files_are_read_in_a_worker(reader: IsolatedDocumentReader) -> None:
    html = (FILES / "page_ko.html").read_bytes()
    markdown = (FILES / "guide_ko.md").read_bytes()
    result = await run(
        reader, [attach("page.html", html, "text/html"), attach("guide.md", markdown)]
    )

    assert result.status is RunStatus.SUCCEEDED, result.error
    outputs = result.nodes["read"].outputs
    assert len(outputs["texts"]) == 2
    assert result.outputs["answer"] == "\n---\n".join(outputs["texts"])
    assert outputs["files"][1] == {
        "name": "guide.md",
        "title": "스냅에이전트 사용 안내",
        "chars": len(outputs["texts"][1]),
    }
    # The parse ran in another process: the server's own process never imported the parsers'
    # work for it, and a second call reuses the warm worker.
    again = await run(reader, attach("guide.md", markdown))
    assert again.nodes["read"].outputs["texts"] == [outputs["texts"][1]]


async def test_unreadable_files_fail_the_node_naming_them(reader: IsolatedDocumentReader) -> None:
    binary = await run(reader, [attach("tool.exe", b"MZ\x90\x00" + bytes(200))])
    assert binary.status is RunStatus.FAILED
    message = binary.nodes["read"].error.message  # type: ignore[union-attr]
    assert message.startswith("node 'read': cannot read file 'tool.exe':")

    empty = await run(reader, [attach("empty.txt", b"  ")])
    assert "the file is empty" in empty.error.message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"name": "a.txt", "data": "not base64!!"}, "data is not valid base64"),
        ({"name": "a.txt"}, "files[0] needs a name and base64 data"),
        ("just text", "files[0] must be an object"),
        ([attach("a.txt", b"x")] * 3, "3 files, over its limit of 2"),
        (attach("big.txt", b"x" * 5000), "larger than 4096 bytes"),
    ],
)
async def test_bad_and_oversized_files(
    files: Any, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_DOCUMENT_MAX_FILES", "2")
    monkeypatch.setenv("SNAPAGENT_DOCUMENT_MAX_BYTES", "4096")
    fake = FakeReader()
    result = await run(fake, files)
    assert result.status is RunStatus.FAILED
    assert reason in result.nodes["read"].error.message  # type: ignore[union-attr]
    assert fake.read_names == []  # refused before anything was parsed


async def test_no_files_is_empty_text_and_one_file_needs_no_list() -> None:
    fake = FakeReader()
    assert (await run(fake, [])).outputs == {"answer": ""}
    assert (await run(fake, attach("a.txt", b"alpha"))).outputs == {"answer": "alpha"}


@pytest.mark.parametrize("strategy", ["default_value", "fail_branch"])
async def test_failures_follow_the_error_strategy(strategy: str) -> None:
    settings: dict[str, Any] = {"error_strategy": strategy}
    if strategy == "default_value":
        settings["default_outputs"] = {"text": "(no file)"}
    result = await run(FakeReader(), [attach("x.exe", b"MZ")], **settings)
    assert result.nodes["read"].error is not None
    if strategy == "default_value":
        assert result.outputs == {"answer": "(no file)"}
    else:  # the fail branch is not wired: the end node has nothing to show
        assert result.nodes["read"].outputs["error"]["type"] == "NodeExecutionError"


async def test_a_slow_reader_is_stopped_by_the_nodes_timeout() -> None:
    result = await run(FakeReader(hang=True), [attach("a.txt", b"x")], timeout_s=0.05)
    assert result.status is RunStatus.FAILED
    assert result.nodes["read"].error.type == "NodeTimeoutError"  # type: ignore[union-attr]


async def test_without_a_reader_the_node_says_so() -> None:
    executor = WorkflowExecutorV2(default_registry(), ServiceContainer())
    result = await executor.run(graph(), {}, {"files": [attach("a.txt", b"x")]})
    assert "no document reader is configured" in result.error.message  # type: ignore[union-attr]
