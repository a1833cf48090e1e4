"""`snapagent config check` and the start-up checks behind it (and behind `snapagent serve`).

Every test starts from a clean environment: each variable any settings class reads is removed,
so the machine's own configuration cannot leak in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli.config import env_name, settings_classes
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings
from snapagent.startup_checks import (
    DeploymentSettings,
    ensure_startable,
    find_problems,
)
from snapagent.testing.postgres import free_port

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src" / "snapagent"
GOOD_SECRET = "Zq8vK1mW3pR7tY2uE9sA4dF6gH0jL5xC"
DEAD_PG = "postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/snap"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            monkeypatch.delenv(env_name(cls, name, field), raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SNAPAGENT_DATA_DIR", str(data_dir))
    return data_dir


def _problems(result_output: str) -> dict[str, str]:
    body = json.loads(result_output)
    return {p["setting"]: p["reason"] for p in body["problems"]}


# -- the command ------------------------------------------------------------------------------


def test_embedded_default_would_start_and_lists_every_setting(clean_env: Path) -> None:
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.stdout
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            assert env_name(cls, name, field) in result.stdout
    assert "SNAPAGENT_DATA_DIR" in result.stdout
    assert str(clean_env) in result.stdout
    assert not clean_env.exists(), "config check must not create the data directory"


def test_every_settings_class_of_the_product_is_found() -> None:
    found = settings_classes()
    assert found[:3] == (CoreSettings, DeploymentSettings, ServerSettings)
    names = {cls.__name__ for cls in found}
    assert {"ProviderSettings", "KnowledgeSettings", "ChatSettings", "ExecutionSettings"} <= names
    assert len(names) == len(found)
    declared = 0
    for path in SRC.rglob("*.py"):
        declared += len(re.findall(r"^class \w+\(.*BaseSettings.*\):", path.read_text(), re.M))
    assert len(found) == declared


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-topsecret-value")
    monkeypatch.setenv("SNAPAGENT_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://bob:pa55word@llm.internal/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://eve:pa55word@host:port/")
    monkeypatch.setenv("DATABASE_URL", DEAD_PG.format(port=free_port()))
    for args in (["config", "check"], ["config", "check", "--json"]):
        result = runner.invoke(app, args)
        assert "OPENAI_BASE_URL" in result.output
        for secret in ("topsecret", GOOD_SECRET, "pa55word", "hunter2"):
            assert secret not in result.output
    body = json.loads(runner.invoke(app, ["config", "check", "--json", "--offline"]).stdout)
    shown = {s["env"]: s for s in body["settings"]}
    assert shown["ANTHROPIC_API_KEY"]["value"] == "set"
    assert shown["ANTHROPIC_API_KEY"]["source"] == "environment"
    assert shown["OPENAI_API_KEY"]["value"] == "unset"
    assert shown["SNAPAGENT_JWT_SECRET"]["value"] == "set"
    assert shown["OPENAI_BASE_URL"]["value"] == "https://bob:***@llm.internal/v1"
    assert shown["ANTHROPIC_BASE_URL"]["value"] == "<malformed URL, hidden>"
    assert shown["DATABASE_URL"]["value"].startswith("postgresql+asyncpg://app:***@127.0.0.1:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SNAPAGENT_PORT", "eighty"), ("SNAPAGENT_LLM_MAX_ATTEMPTS", "99"), ("SNAPAGENT_ENV", "prod")],
)
def test_a_malformed_value_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2, result.output
    assert f"invalid value: {variable}:" in result.stderr
    assert "Traceback" not in result.output


def test_production_without_secret_or_database_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_ENV", "production")
    result = runner.invoke(app, ["config", "check", "--json"])
    assert result.exit_code == 1
    problems = _problems(result.stdout)
    assert set(problems) == {"SNAPAGENT_JWT_SECRET", "DATABASE_URL"}
    assert "PostgreSQL" in problems["DATABASE_URL"]
    assert json.loads(result.stdout)["would_start"] is False


def test_unreachable_database_refuses_and_offline_skips_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", DEAD_PG.format(port=free_port()))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1
    assert "refuses to start: DATABASE_URL: database is unavailable" in result.stderr
    assert "hunter2" not in result.output
    assert runner.invoke(app, ["config", "check", "--offline"]).exit_code == 0


def test_a_default_model_without_its_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_DEFAULT_MODEL", "anthropic:claude-sonnet-4-5")
    monkeypatch.setenv("SNAPAGENT_EMBEDDING_MODEL", "nonsense")
    result = runner.invoke(app, ["config", "check", "--json"])
    assert result.exit_code == 1
    problems = _problems(result.stdout)
    assert set(problems) == {"ANTHROPIC_API_KEY", "SNAPAGENT_EMBEDDING_MODEL"}
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    monkeypatch.setenv("SNAPAGENT_EMBEDDING_MODEL", "local")
    assert runner.invoke(app, ["config", "check"]).exit_code == 0


# -- the checks themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (None, "must be set"),
        ("short-but-random-Q1", "at least 32"),
        ("change-me-to-a-long-random-string-please", "placeholder"),
        ("x" * 48, "not random"),
    ],
)
async def test_bad_jwt_secrets_are_refused_in_production(
    secret: str | None, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", DEAD_PG.format(port=free_port()))
    problems = await find_problems(ServerSettings(jwt_secret=secret), CoreSettings())
    by_setting = {p.setting: p.reason for p in problems}
    assert reason in by_setting["SNAPAGENT_JWT_SECRET"]


async def test_embedded_default_needs_nothing() -> None:
    assert await find_problems(ServerSettings(), CoreSettings()) == []
    production = DeploymentSettings(env="production")
    assert await find_problems(ServerSettings(), CoreSettings(), production) != []


@pytest.mark.postgres
async def test_reachable_postgres_with_a_real_secret_starts(postgres_url: str) -> None:
    core = CoreSettings(database_url=postgres_url)
    await ensure_startable(ServerSettings(jwt_secret=GOOD_SECRET), core)


def test_serve_refuses_before_creating_anything(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_ENV", "production")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "refusing to start: SNAPAGENT_JWT_SECRET: must be set" in result.stderr
    assert "DATABASE_URL: production needs PostgreSQL" in result.stderr
    assert not (clean_env / "jwt_secret").exists()


def test_only_secrets_are_masked_and_cors_headers_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_CORS_HEADERS", '["Authorization","X-Trace"]')
    body = json.loads(runner.invoke(app, ["config", "check", "--json", "--offline"]).stdout)
    shown = {s["env"]: s["value"] for s in body["settings"]}
    assert shown["SNAPAGENT_CORS_HEADERS"] == ["Authorization", "X-Trace"]
    assert shown["SNAPAGENT_CORS_METHODS"][0] == "GET"
    masked = {env for env, value in shown.items() if value in ("set", "unset")}
    assert {"ANTHROPIC_API_KEY", "OPENAI_API_KEY"} <= masked
    secret_words = ("API_KEY", "SECRET", "PASSWORD", "TOKEN", "CREDENTIALS")
    assert all(any(word in env for word in secret_words) for env in masked), masked


def test_the_generated_jwt_secret_is_reported_in_use(clean_env: Path) -> None:
    def shown() -> dict[str, str]:
        result = runner.invoke(app, ["config", "check", "--json", "--offline"])
        return {s["env"]: s for s in json.loads(result.stdout)["settings"]}

    before = shown()["SNAPAGENT_JWT_SECRET"]
    assert before["value"] == f"unset (the first start generates {clean_env / 'jwt_secret'})"
    clean_env.mkdir()
    (clean_env / "jwt_secret").write_text("g" * 64)
    after = shown()["SNAPAGENT_JWT_SECRET"]
    assert after["value"] == f"set (generated, {clean_env / 'jwt_secret'})"
    assert after["source"] == "data directory"
    assert "g" * 64 not in runner.invoke(app, ["config", "check"]).output
    text = runner.invoke(app, ["config", "check", "--offline"]).stdout
    assert re.search(r"SNAPAGENT_JWT_SECRET\s+= set \(generated, .*\(from data directory\)", text)
