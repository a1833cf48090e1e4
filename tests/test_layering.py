"""`snapagent.workflow` is a pure library: importing it pulls in no web framework, database
layer or model provider SDK (import-linter checks the static imports; this checks runtime)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "anthropic",
    "openai",
    "boto3",
    "botocore",
    "snapagent.api",
    "snapagent.db",
    "snapagent.services",
    "snapagent.llm",
    "snapagent.knowledge",
)


def test_workflow_and_nodes_import_no_framework_database_or_provider_sdk() -> None:
    code = (
        "import sys, snapagent.workflow, snapagent.nodes, snapagent.testing\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} "
        f"or any(m == f or m.startswith(f + '.') for f in {FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
