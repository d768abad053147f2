"""The API's documentation pages, Swagger UI at `/docs` and ReDoc at `/redoc`, served from
installed files: the scripts and styles come from the `fastapi-offline` package (pinned in
constraints.txt) under `/docs/assets/`, so the pages work offline and load nothing from
another host.

FastAPI's own `get_swagger_ui_html` and `get_redoc_html` start the viewers with an inline
script, which the Content-Security-Policy of every response refuses; here each viewer is
started by a small script from this origin instead. ReDoc injects `<style>` elements
(some while its bundle loads, before a nonce could reach them) and searches in a worker
made from a blob: URL: its page alone allows inline styles and blob: workers. Its sidebar
shows Redocly's logo from Redocly's server; the policy blocks that image (and the browser
logs it), so the page still loads nothing from another host.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from callvault.api._security import content_security_policy

__all__ = ["ASSETS", "mount_docs"]

ASSETS = "/docs/assets"
_VENDOR = Path(str(files("fastapi_offline").joinpath("static")))

# `document.currentScript` is the script element itself: its data- attribute says where
# the schema is.
_SWAGGER_INIT = """\
(function () {
  "use strict";
  var script = document.currentScript;
  window.ui = SwaggerUIBundle({
    url: script.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Swagger UI would otherwise send the schema to an online validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
"""

_REDOC_INIT = """\
(function () {
  "use strict";
  var script = document.currentScript;
  Redoc.init(script.dataset.openapi, {}, document.getElementById("redoc"));
})();
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
{head}
</head>
<body>
<div id="{element}"></div>
<script src="{assets}/{bundle}"></script>
<script src="{assets}/{init}" data-openapi="{openapi}"></script>
</body>
</html>
"""


def _page(request: Request, *, title: str, element: str, bundle: str, init: str) -> str:
    root = request.scope.get("root_path", "")
    app: FastAPI = request.app
    return _PAGE.format(
        title=escape(title),
        assets=escape(root + ASSETS),
        head=(
            f'<link rel="stylesheet" href="{escape(root + ASSETS)}/swagger-ui.css">'
            if element == "swagger-ui"
            else ""
        ),
        element=element,
        bundle=bundle,
        init=init,
        openapi=escape(root + (app.openapi_url or "/openapi.json")),
    )


def mount_docs(app: FastAPI) -> None:
    """Add `/docs`, `/redoc` and their assets to `app` (created with `docs_url=None` and
    `redoc_url=None`)."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        title = f"{app.title} API"
        return HTMLResponse(
            _page(
                request,
                title=title,
                element="swagger-ui",
                bundle="swagger-ui-bundle.js",
                init="swagger-init.js",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        title = f"{app.title} API"
        page = _page(
            request,
            title=title,
            element="redoc",
            bundle="redoc.standalone.js",
            init="redoc-init.js",
        )
        policy = content_security_policy(inline_styles=True, blob_workers=True)
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})

    @app.get(f"{ASSETS}/swagger-init.js", include_in_schema=False)
    def swagger_init() -> Response:
        return Response(_SWAGGER_INIT, media_type="text/javascript")

    @app.get(f"{ASSETS}/redoc-init.js", include_in_schema=False)
    def redoc_init() -> Response:
        return Response(_REDOC_INIT, media_type="text/javascript")

    # After the two scripts above: a route is matched before the mount below it.
    app.mount(ASSETS, StaticFiles(directory=_VENDOR), name="docs-assets")
