"""``/api/docs``: Swagger UI from files this package ships (``control_api/static``), never a CDN.

A machine without internet gets the same page, and the page's Content-Security-Policy
(``transport.DOCS_CSP``) allows this origin only. The files are swagger-ui-dist from the npm
registry, unchanged (``static/swagger-ui/README.md`` says which version and how to update it);
the page's own script is ``static/docs.js``, a file rather than an inline script so that the
policy needs no ``'unsafe-inline'`` for scripts.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
SWAGGER_UI_VERSION = "5.36.0"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css?v={version}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui/swagger-ui-bundle.js?v={version}"></script>
<script src="{assets}/docs.js?v={version}"></script>
</body>
</html>
"""


def install_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve Swagger UI at ``/api/docs`` for the document at ``openapi_url``, and its assets."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy that adds a prefix
        page = PAGE.format(
            title=html.escape(app.title),
            assets=html.escape(root + ASSETS_PATH),
            openapi_url=html.escape(root + openapi_url),
            version=SWAGGER_UI_VERSION,
        )
        return HTMLResponse(page)
