"""The web console's built assets, served at ``/`` by the same process as the API.

The console (the TypeScript app in ``console/``) is a single-page app built by Vite into
``console/dist``: ``index.html`` plus content-hashed files under ``assets/``. This module serves
that directory without ever shadowing the API:

- It only answers what no route matched (it is the router's fallback), only for GET/HEAD, and
  never under the API's prefixes (``/api``, ``/v1``, ``/docs``, ``/openapi.json``, ``/health``,
  ``/metrics``, ``/mcp``...): an unknown API path keeps its problem+json 404, a wrong method its
  405.
- Client routes (``/bots/abc/editor``) get ``index.html`` (the SPA fallback); a missing file
  under ``assets/`` is a real 404, so a page built against an older deploy fails loudly instead
  of receiving HTML as JavaScript.
- Caching: hashed assets are immutable for a year; everything else (``index.html`` above all) is
  revalidated on every load (``no-cache`` + ETag), so a new deploy is picked up at once.
- A Content-Security-Policy of ``'self'`` means the console can load nothing from another
  origin: air-gapped installations work, and an injected script or beacon has nowhere to go.

With no build at ``SNAPAGENT_CONSOLE_DIR`` (default ``console/dist``, relative to the working
directory like ``SNAPAGENT_DATA_DIR``), ``/`` answers a short page saying how to build it.

    install_console(app, ConsoleSettings(console_dir=Path("console/dist")))
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["API_PREFIXES", "ConsoleSettings", "install_console"]

# Paths the console never answers: the API's own, including routes other parts may add later.
API_PREFIXES = (
    "/api",
    "/v1",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/health",
    "/metrics",
    "/mcp",
)

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
# Mantine and React Flow set inline styles, hence 'unsafe-inline' for styles only; scripts,
# fonts, images and API calls come from this origin alone.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleSettings(BaseSettings):
    """Where the built console lives (environment: ``SNAPAGENT_CONSOLE_DIR``).

    >>> ConsoleSettings(console_dir="/opt/snapagent/console").console_dir.name
    'console'
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    console_dir: Path = Field(
        default=Path("console/dist"),
        description="The console's build output (index.html and assets/); `make console` "
        "builds it. Relative paths are resolved against the working directory.",
    )


def _is_api_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


def _not_built_page(directory: Path) -> Response:
    where = escape(str(directory))
    body = (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>SnapAgent</title>"
        "<body style='font-family: sans-serif; max-width: 40rem; margin: 3rem auto'>"
        "<h1>SnapAgent</h1><p>The web console is not built here: no <code>index.html</code> "
        f"in <code>{where}</code>.</p><p>Build it with <code>make console</code> (or start "
        "with <code>make run</code>, which builds it), or point "
        "<code>SNAPAGENT_CONSOLE_DIR</code> at a built console.</p>"
        "<p>The API is running: see <a href='/docs'>/docs</a>.</p></body></html>"
    )
    return HTMLResponse(body, status_code=404, headers={"Cache-Control": _REVALIDATE})


class ConsoleFallback:
    """The router's fallback: serves the console for unmatched GET/HEAD outside the API."""

    def __init__(self, directory: Path, not_found: ASGIApp) -> None:
        self.directory = directory
        self.not_found = not_found
        self.files = StaticFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or _is_api_path(scope["path"])
        ):
            await self.not_found(scope, receive, send)
            return
        response = await self._response(scope)
        await response(scope, receive, send)

    async def _response(self, scope: Scope) -> Response:
        if not (self.directory / "index.html").is_file():
            return _not_built_page(self.directory)
        path = self.files.get_path(scope)
        is_asset = Path(path).parts[:1] == ("assets",)
        try:
            response = await self.files.get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or is_asset:
                raise
            # A client route (/bots/abc/editor): the app's shell, which routes in the browser.
            response = await self.files.get_response("index.html", scope)
            is_asset = False
        response.headers["Cache-Control"] = _IMMUTABLE if is_asset else _REVALIDATE
        response.headers.update(_SECURITY_HEADERS)
        return response


def install_console(app: FastAPI, settings: ConsoleSettings | None = None) -> None:
    """Serve the built console for whatever the app's routes do not answer."""
    settings = settings or ConsoleSettings()
    app.router.default = ConsoleFallback(settings.console_dir, app.router.default)
