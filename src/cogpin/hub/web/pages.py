"""The page routes: each handler reads the hub (the same dicts `/v1` returns) and renders a template.

Security: every page carries a CSP with no inline script or style (`script-src 'self'`), no framing, no
referrer; the session cookie is the API token, HttpOnly and SameSite=Strict, and is never written into a
page, so no script on it (and no copied snippet) can carry the token away.
"""

from __future__ import annotations

import hashlib
import json
import math
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cogpin.hub.web.form import FormError, fields, initial_values, output_display, secret_names
from cogpin.hub.web.markdown import render as render_markdown

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COOKIE = "cogpin_session"
HISTORY_PAGE = 25
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",  # model outputs and input URLs may live elsewhere
        "media-src 'self' data: blob: https: http:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
TERMINAL = ("succeeded", "failed", "canceled")


def _asset_version() -> str:
    h = hashlib.sha256()
    for p in sorted(STATIC.glob("*")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["short"] = short_value
    env.globals["asset"] = _asset_version()
    return env


def when(value: Any) -> str:
    """An API timestamp as `2026-12-02 03:04:05 UTC` (what the pages show; the API keeps ISO 8601)."""
    if not isinstance(value, str) or not value:
        return "—"
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def short_value(value: Any, limit: int = 200) -> str:
    """An input value as text for a table cell: JSON for non-strings, long data URLs cut."""
    text = value if isinstance(value, str) else json.dumps(value)
    if text.startswith("data:") and len(text) > 80:
        return text[: text.find(",") + 1] + f"… ({len(text)} chars)"
    return text if len(text) <= limit else text[:limit] + "…"


def prediction_duration(p: dict[str, Any]) -> float | None:
    metrics = p.get("metrics") or {}
    for key in ("total_time", "predict_time"):
        v = metrics.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    start, end = p.get("created_at"), p.get("completed_at")
    if isinstance(start, str) and isinstance(end, str):
        try:
            a = datetime.fromisoformat(start.replace("Z", "+00:00"))
            b = datetime.fromisoformat(end.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (b - a).total_seconds()
    return None


def _cursor_of(url: Any) -> str | None:
    """The `cursor` query value of a page link the API returned (absolute URL or path)."""
    if not isinstance(url, str) or not url:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("cursor")
    return values[0] if values else None


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class Pages:
    """The handlers, bound to one hub."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.env = _env()
        if getattr(hub, "store", None) is not None and hasattr(hub.store, "check_token"):
            hub.session_check = hub.store.check_token

    # -- plumbing ------------------------------------------------------------------------------

    def base(self, request: Request) -> str:
        from cogpin.hub.app import base_url

        return str(base_url(request))

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("logged_in", bool(request.cookies.get(COOKIE)) and self.allowed(request))
        ctx.setdefault("auth_on", not getattr(self.hub, "no_auth", False))
        ctx["request_path"] = request.url.path
        html = self.env.get_template(template).render(**ctx)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def error(self, request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, title=title, detail=detail)

    def allowed(self, request: Request) -> bool:
        return bool(self.hub.authenticate(request.headers.get("authorization"), dict(request.cookies)))

    def to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={urllib.parse.quote(target)}", status_code=303)

    async def guarded(self, request: Request) -> Response | None:
        if self.allowed(request):
            return None
        return self.to_login(request)

    @staticmethod
    def api_error(exc: Exception) -> tuple[int, str, str] | None:
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            return status, str(getattr(exc, "title", "Error")), str(getattr(exc, "detail", exc))
        return None

    # -- pages ---------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if (r := await self.guarded(request)) is not None:
            return r
        q = request.query_params.get("q", "").strip()
        try:
            models = await self.hub.catalog.list_models(self.base(request))
        except Exception as e:
            if (err := self.api_error(e)) is None:
                raise
            return self.error(request, err[0], err[1], err[2])
        if q:
            needle = q.lower()
            models = [m for m in models if needle in f"{m.get('owner')}/{m.get('name')}".lower()]
        return self.render(request, "index.html", models=models, q=q, stats=self.run_stats())

    def run_stats(self) -> dict[str, tuple[int, str]]:
        """model -> (predictions run, when the newest was created), from the hub's store."""
        return dict(self.hub.store.run_stats())

    async def model(self, request: Request) -> Response:
        if (r := await self.guarded(request)) is not None:
            return r
        owner, name = request.path_params["owner"], request.path_params["name"]
        try:
            model = await self.hub.catalog.get_model(owner, name, self.base(request))
            versions = await self.hub.catalog.list_versions(owner, name)
        except Exception as e:
            if (err := self.api_error(e)) is None:
                raise
            return self.error(request, err[0], err[1], err[2])
        if not versions:
            return self.error(request, 404, "No versions", f"{owner}/{name} has no pushed version yet.")
        wanted = request.query_params.get("version")
        version = next((v for v in versions if v.get("id") == wanted), None) if wanted else versions[0]
        if version is None:
            return self.error(
                request,
                404,
                "Unknown version",
                f"{owner}/{name} has no version {wanted!r}; see the Versions tab.",
            )
        given: dict[str, Any] | None = None
        source = request.query_params.get("from")
        if source:
            try:
                given = (self.hub.get_prediction(source, self.base(request)) or {}).get("input") or {}
            except Exception as e:
                if self.api_error(e) is None:
                    raise
        try:
            form = fields(version.get("openapi_schema") or {})
            form_error = None
        except FormError as e:
            form, form_error = [], str(e)
        if given:  # secrets are never written back into a page
            given = {k: v for k, v in given.items() if k not in secret_names(form)}
        schema = version.get("openapi_schema") or {}
        config = {
            "model": f"{owner}/{name}",
            "version": version.get("id"),
            "latest": versions[0].get("id"),
            "base": self.base(request),
            "display": output_display(schema),
        }
        return self.render(
            request,
            "model.html",
            model=model,
            versions=versions,
            version=version,
            form=form,
            form_error=form_error,
            values=initial_values(form, given),
            config=config,
            readme=render_markdown(version["readme"]) if version.get("readme") else None,
            runs=self.run_stats().get(f"{owner}/{name}", (0, ""))[0],
            source=source if given is not None else None,
        )

    async def prediction(self, request: Request) -> Response:
        if (r := await self.guarded(request)) is not None:
            return r
        pid = request.path_params["id"]
        try:
            p = self.hub.get_prediction(pid, self.base(request))
        except Exception as e:
            if (err := self.api_error(e)) is None:
                raise
            return self.error(request, err[0], err[1], err[2])
        owner, _, name = str(p.get("model") or "").partition("/")
        display: dict[str, Any] = {}
        secrets: set[str] = set()
        try:
            version = await self.hub.catalog.get_version(owner, name, p.get("version"))
            schema = version.get("openapi_schema") or {}
            display = output_display(schema)
            secrets = secret_names(fields(schema))
        except FormError:
            pass
        except Exception as e:
            if self.api_error(e) is None:
                raise
        if secrets:  # shown masked, and kept out of the page's data block
            p = {
                **p,
                "input": {k: ("••••••" if k in secrets else v) for k, v in (p.get("input") or {}).items()},
            }
        config = {"prediction": p, "display": display, "base": self.base(request)}
        return self.render(
            request,
            "prediction.html",
            p=p,
            config=config,
            owner=owner,
            name=name,
            duration=prediction_duration(p),
            terminal=p.get("status") in TERMINAL,
        )

    async def predictions(self, request: Request) -> Response:
        if (r := await self.guarded(request)) is not None:
            return r
        cursor = request.query_params.get("cursor") or None
        try:
            page = self.hub.list_predictions(self.base(request), cursor=cursor, limit=HISTORY_PAGE)
        except Exception as e:
            if (err := self.api_error(e)) is None:
                raise
            return self.error(request, err[0], err[1], err[2])
        rows = [(p, prediction_duration(p)) for p in page.get("results") or []]
        return self.render(
            request,
            "predictions.html",
            rows=rows,
            next_cursor=_cursor_of(page.get("next")),
            prev_cursor=_cursor_of(page.get("previous")),
            first=cursor is None,
        )

    # -- session -------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if getattr(self.hub, "no_auth", False):
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return self.render(request, "login.html", next=target, problem=None)
        if not _same_origin(request):
            return self.error(request, 403, "Forbidden", "The login form was posted from another site.")
        form = urllib.parse.parse_qs((await request.body())[:8192].decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = _safe_next((form.get("next") or ["/"])[0])
        if not token or not self.hub.store.check_token(token):
            return self.render(
                request,
                "login.html",
                status=401,
                next=target,
                problem="That token is not valid on this hub. Create one with `cogpin hub token create`.",
            )
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https"
        )
        return resp

    async def logout(self, request: Request) -> Response:
        if not _same_origin(request):
            return self.error(request, 403, "Forbidden", "The logout form was posted from another site.")
        resp = RedirectResponse("/login" if not getattr(self.hub, "no_auth", False) else "/", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp


def _same_origin(request: Request) -> bool:
    """A form POST must come from this origin. Browsers say so in `Sec-Fetch-Site`; older ones send
    `Origin` (which is "null" under `Referrer-Policy: no-referrer`); a request with neither is not from a
    browser page, so no other site can have sent it."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urllib.parse.urlsplit(origin).netloc == request.headers.get("host", "")


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Any) -> Response:
        resp = await super().get_response(path, scope)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp


def page_routes(hub: Any) -> list[BaseRoute]:
    pages = Pages(hub)
    return [
        Mount("/_/static", app=_Static(directory=STATIC), name="static"),
        Route("/", pages.index),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/predictions", pages.predictions),
        Route("/p/{id}", pages.prediction),
        Route("/{owner}/{name}", pages.model),
    ]
