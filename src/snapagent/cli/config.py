"""`snapagent config check`: print the effective configuration and whether it would start.

    snapagent config check              # every setting, its environment variable, value, source
    snapagent config check --json       # the same as JSON (for scripts and CI)
    snapagent config check --offline    # do not connect to the database

Secrets (JWT secret, API keys, passwords, tokens) are never printed: they show as ``set`` or
``unset``; URLs show with their password replaced by ``***``; everything else (CORS headers
included) shows as it is. With no ``SNAPAGENT_JWT_SECRET`` the embedded default signs with a
secret generated into ``<data_dir>/jwt_secret``: that is reported as in use (or as what the first
start will generate), never as ``unset``. Exit codes: 0 the configuration would start, 1 it
would refuse to start (each problem names its setting), 2 a value is malformed (e.g.
``SNAPAGENT_PORT=abc``), also naming the setting.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

import snapagent
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings
from snapagent.startup_checks import ConfigProblem, DeploymentSettings, find_problems

__all__ = ["env_name", "register", "render_value", "settings_classes"]

_SETTINGS_CLASS = re.compile(r"^class (\w+)\([^)]*\bBaseSettings\b[^)]*\):", re.MULTILINE)
_FIRST = (CoreSettings, DeploymentSettings, ServerSettings)


@lru_cache(maxsize=1)
def settings_classes() -> tuple[type[BaseSettings], ...]:
    """Every settings class of the product: core, deployment and server first, then by module.

    Found by reading the package's own sources, so a class another area adds is printed and
    checked without anyone having to register it here.
    """
    root = Path(snapagent.__file__).parent
    found: list[type[BaseSettings]] = list(_FIRST)
    for path in sorted(root.rglob("*.py")):
        names = _SETTINGS_CLASS.findall(path.read_text(encoding="utf-8"))
        if not names:
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = importlib.import_module(".".join(parts))
        for name in names:
            cls = getattr(module, name)
            if cls not in found:
                found.append(cls)
    return tuple(found)


MASKED_SET, MASKED_UNSET = "set", "unset"
# Only values that grant access; lists such as CORS headers are configuration, not secrets.
_SECRET_NAME_ENDINGS = ("secret", "api_key", "password", "token", "credentials")
_JWT_SECRET_ENV = "SNAPAGENT_JWT_SECRET"

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def env_name(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The environment variable that sets ``field`` (the documented alias, else prefix+name)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or name.endswith(_SECRET_NAME_ENDINGS)


def _redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # malformed (bad port, bracket): it might still hold a password
        return "<malformed URL, hidden>"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def render_value(name: str, value: Any) -> Any:
    """A value safe to print: secrets as set/unset, URL passwords as ***, paths as text."""
    if _is_secret(name, value):
        return MASKED_SET if value else MASKED_UNSET
    if isinstance(value, str) and "://" in value:  # any URL may carry user:password@
        return _redact_url(value)
    if value is None or isinstance(value, bool | int | float | str | list):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class SettingLine:
    """One printed setting: its class, environment variable, safe value and where it came from."""

    group: str
    env: str
    value: Any
    source: str  # "environment", "default" or "data directory" (the generated JWT secret)


def _read(
    cls: type[BaseSettings],
) -> tuple[BaseSettings | None, list[SettingLine], list[ConfigProblem]]:
    group = f"{cls.__module__}.{cls.__qualname__}"
    fields = cls.model_fields
    try:
        settings = cls()
    except ValidationError as exc:
        by_name = {name: env_name(cls, name, f) for name, f in fields.items()}
        problems = [
            # Never echo the input: the malformed value may be a secret.
            ConfigProblem(by_name.get(str(err["loc"][0]), str(err["loc"][0])), err["msg"])
            for err in exc.errors()
        ]
        return None, [], problems
    lines = [
        SettingLine(
            group,
            env_name(cls, name, field),
            render_value(name, getattr(settings, name)),
            "environment" if name in settings.model_fields_set else "default",
        )
        for name, field in fields.items()
    ]
    return settings, lines, []


def _jwt_secret_in_use(lines: list[SettingLine], core: CoreSettings) -> list[SettingLine]:
    """Report the generated secret the server signs with when none is configured."""
    path = core.data_dir / "jwt_secret"
    if path.exists():
        shown = f"{MASKED_SET} (generated, {path})"
    else:
        shown = f"{MASKED_UNSET} (the first start generates {path})"
    return [
        SettingLine(ln.group, ln.env, shown, "data directory" if path.exists() else ln.source)
        if ln.env == _JWT_SECRET_ENV and ln.value == MASKED_UNSET
        else ln
        for ln in lines
    ]


def _print_text(
    lines: list[SettingLine], invalid: list[ConfigProblem], startup: list[ConfigProblem]
) -> None:
    group = None
    width = max((len(line.env) for line in lines), default=0)
    for line in lines:
        if line.group != group:
            group = line.group
            typer.echo(f"[{group}]")
        shown = "(none)" if line.value is None else line.value
        marker = "" if line.source == "default" else f"  (from {line.source})"
        typer.echo(f"  {line.env:<{width}} = {shown}{marker}")
    for problem in invalid:
        typer.echo(f"invalid value: {problem}", err=True)
    for problem in startup:
        typer.echo(f"refuses to start: {problem}", err=True)
    if not invalid and not startup:
        typer.echo("configuration OK: the server would start")


@config_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not connect to the database.")
    ] = False,
) -> None:
    """Print the effective configuration (secrets masked); fail if it would not start."""
    lines: list[SettingLine] = []
    invalid: list[ConfigProblem] = []
    loaded: dict[type[BaseSettings], BaseSettings] = {}
    for cls in settings_classes():
        settings, class_lines, problems = _read(cls)
        lines += class_lines
        invalid += problems
        if settings is not None:
            loaded[cls] = settings
    startup: list[ConfigProblem] = []
    if not invalid:
        core, server = loaded[CoreSettings], loaded[ServerSettings]
        deployment = loaded[DeploymentSettings]
        assert isinstance(core, CoreSettings)
        assert isinstance(server, ServerSettings)
        assert isinstance(deployment, DeploymentSettings)
        lines = _jwt_secret_in_use(lines, core)
        startup = asyncio.run(find_problems(server, core, deployment, check_database=not offline))
    if as_json:
        body = {
            "settings": [
                {"group": ln.group, "env": ln.env, "value": ln.value, "source": ln.source}
                for ln in lines
            ],
            "invalid": [{"setting": p.setting, "reason": p.reason} for p in invalid],
            "problems": [{"setting": p.setting, "reason": p.reason} for p in startup],
            "would_start": not invalid and not startup,
        }
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        _print_text(lines, invalid, startup)
    if invalid:
        raise typer.Exit(code=2)
    if startup:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
