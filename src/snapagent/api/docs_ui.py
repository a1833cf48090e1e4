"""``/docs`` (Swagger UI) and ``/redoc`` served from this installation, never from a CDN.

FastAPI's own pages load their JavaScript, CSS and favicon from public CDNs, which an
air-gapped installation cannot reach. The same UIs ship as files in the ``fastapi-offline``
wheel (Swagger UI 5, ReDoc); we serve those under ``/docs/assets`` and build the two pages with
FastAPI's HTML helpers pointed at them. The app is created with ``docs_url=None,
redoc_url=None`` so these routes are the only ones.

    install_docs_ui(app)
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS", "install_docs_ui"]

DOCS_ASSETS = "/docs/assets"


def _assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_docs_ui(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add the Swagger UI and ReDoc pages and the files they load, all from this origin."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title
    app.mount(DOCS_ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            # No spec validator badge: it would send the schema to a public service.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
