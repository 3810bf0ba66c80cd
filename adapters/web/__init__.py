"""The web app: one HTML page and its static files, served by ``cw serve`` beside the API.

Why it is this small: the page is a client of the public API v1 and nothing else. The
server renders one Jinja2 template (the shell: header, navigation, an empty main) and serves
plain CSS and JavaScript ES modules shipped in this package; everything the page shows comes
from ``/api/v1`` with the user's bearer token, kept in the browser's session storage. No
build step, no Node toolchain, nothing from a CDN: the two vendored libraries (marked and
DOMPurify, see ``static/vendor/README.md``) are files in the package.

`mount_web` adds ``GET /`` (the page) and ``/static/...`` (its files) to a FastAPI app. The
page is sent with a strict Content-Security-Policy: scripts, styles and connections only
from this origin, no inline script — a second wall behind the markdown sanitizer, so model
output cannot run script even if the sanitizer had a hole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fastapi

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "TEMPLATES_DIR", "mount_web", "render_page"]

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Sent with the page: only this origin's scripts, styles and API; no inline script."""

_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def _asset_version() -> str:
    """A short hash of the static files: the page's asset URLs change when any file does."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def render_page(*, title: str = "Chinese Worker", version: str | None = None) -> str:
    """The page's HTML (the shell the JavaScript fills in)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )
    from adapters.tools import BUILTIN_TOOL_NAMES

    return environment.get_template("index.html").render(
        title=title,
        version=version or _asset_version(),
        api_prefix="/api/v1",
        builtin_tools=sorted(BUILTIN_TOOL_NAMES),
    )


def mount_web(app: fastapi.FastAPI) -> None:
    """Serve the web app on ``app``: the page at ``/`` and its files under ``/static/``.

    The page is rendered once, here; the static files are read from the package on each
    request (with ``Cache-Control: no-cache``, so a browser revalidates after an upgrade).
    """
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    page = render_page()

    class _StaticFiles(StaticFiles):
        async def get_response(self, path: str, scope: Any) -> Any:
            response = await super().get_response(path, scope)
            response.headers["cache-control"] = "no-cache"
            response.headers["x-content-type-options"] = "nosniff"
            return response

    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="web-static")
