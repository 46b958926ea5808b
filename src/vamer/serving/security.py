"""How the service guards its answers: security headers on every response (a
Content-Security-Policy whose only inline code is the page's own, by hash), API keys, the Host
header (DNS rebinding), and Swagger UI served from the service itself (it works offline).

>>> content_policy("<script>f()</script>").split("; ")[1].startswith("script-src 'self' 'sha256-")
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def inline_hashes(html: str, tag: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of every inline ``<tag>`` element of ``html``: what
    lets the page's own script and style run while any other inline code is refused.

    >>> inline_hashes("<script>f()</script>", "script")
    ["'sha256-..."]
    """
    bodies = re.findall(rf"<{tag}(?![^>]*\bsrc=)[^>]*>(.*?)</{tag}>", html, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'" for body in bodies]


def content_policy(html: str) -> str:
    """The Content-Security-Policy of an HTML page of the service: its own origin and inline code only."""
    scripts, styles = " ".join(inline_hashes(html, "script")), " ".join(inline_hashes(html, "style"))
    return (
        f"default-src 'self'; script-src 'self' {scripts}; style-src 'self' {styles}; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def presented_key(request: Request) -> str:
    """The API key a request presents: ``Authorization: Bearer KEY``, else ``X-API-Key: KEY``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key") or ""


def secure(
    app: FastAPI, page: str, key: list[bytes] | None, keyed: Callable[[str], bool], allowed_hosts: list[str] | None
) -> None:
    """Give ``app`` its security headers (``page``: the web page, whose inline code gets the CSP
    hashes), the API-key check on the paths ``keyed`` names (``key``: the accepted keys, or None:
    no check), the allowed Host headers (None: any) and ``/docs`` from local assets."""
    policies = {"/": content_policy(page)}
    app.mount("/docs-assets", StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        response.headers.setdefault(
            "Content-Security-Policy",
            policies.get(path, API_POLICY if not path.startswith("/docs-assets") else "default-src 'none'"),
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        if key is not None and keyed(request.url.path):
            given = presented_key(request)
            if not any([hmac.compare_digest(given.encode("utf-8"), one) for one in key]):
                return JSONResponse(
                    {
                        "detail": "this service needs an API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                        if not given
                        else "wrong API key"
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="vamer API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon-32x32.png",
        )
        policies["/docs"] = content_policy(html.body.decode("utf-8"))
        return html


def swagger_assets() -> str:
    """The folder of Swagger UI's files (the ``fastapi-swagger`` wheel's ``resources``), found
    without importing that package, which would patch FastAPI."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("fastapi_swagger")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-swagger is not installed: pip install fastapi-swagger==0.4.64")
    return str(Path(next(iter(spec.submodule_search_locations))) / "resources")
