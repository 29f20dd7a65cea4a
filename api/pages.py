"""The pages a browser opens: the playground at ``/`` and the API docs at ``/docs`` and ``/redoc``.

Everything they load comes from this server: the playground's HTML, CSS and JavaScript ship in
``api/static/``, the Swagger UI and ReDoc bundles in the ``fastapi-offline`` package (the ``api`` extra;
``swagger-ui-bundle`` has no ReDoc). FastAPI's own docs pages load both from a CDN, so they are switched
off in ``create_app`` and replaced here. No page needs a key: the playground asks for one when the API does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from rag.types import DEFAULT_SEARCH_MODE, SearchMode

PLAYGROUND_DIR = Path(__file__).parent / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
PLAYGROUND_URL = "/static/playground"
DOCS_ASSETS_URL = "/static/docs"
REDOC_JS_URL = "/static/redoc/redoc.standalone.js"
# ReDoc's sidebar shows a logo from its CDN; an empty image takes its place (the link text stays).
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
# The playground needs nothing but its own files and the API: the browser refuses anything else.
PLAYGROUND_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
MODES_PLACEHOLDER = "<!-- SEARCH_MODES: the server writes rag.types.SearchMode here, the default selected -->"
# Swagger UI sends the spec to validator.swagger.io for its badge unless told not to.
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_pages(app: FastAPI) -> None:
    """Mount the static folders and add the page routes (left out of the OpenAPI document)."""
    app.mount(PLAYGROUND_URL, StaticFiles(directory=PLAYGROUND_DIR), name="playground")
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{DOCS_ASSETS_URL}/favicon.png"

    @app.get(REDOC_JS_URL, include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(offline_redoc_bundle(), media_type="text/javascript")

    @app.get("/", include_in_schema=False)
    async def playground() -> HTMLResponse:
        headers = {"Content-Security-Policy": PLAYGROUND_POLICY}
        return HTMLResponse(playground_html(), headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=favicon,
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=REDOC_JS_URL,
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )


@cache
def playground_html() -> str:
    """The playground page with its mode picker filled from ``SearchMode`` (the default selected), so the
    page never lists modes of its own."""

    def option(mode: SearchMode) -> str:
        selected = " selected" if mode is DEFAULT_SEARCH_MODE else ""
        return f'<option value="{mode}"{selected}>{mode}</option>'

    page = (PLAYGROUND_DIR / "index.html").read_text(encoding="utf-8")
    return page.replace(MODES_PLACEHOLDER, "\n            ".join(option(mode) for mode in SearchMode))


@cache
def offline_redoc_bundle() -> bytes:
    """fastapi-offline's ReDoc bundle with its one remote asset (the sidebar logo) replaced."""
    bundle = (DOCS_ASSETS_DIR / "redoc.standalone.js").read_bytes()
    return bundle.replace(REDOC_CDN_LOGO, EMPTY_IMAGE)
