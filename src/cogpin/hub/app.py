"""The hub's HTTP API (Starlette): Replicate's ``/v1`` routes as the official client calls them.

``create_app(hub)`` builds the app; the web pages (``cogpin.hub.web.routes(hub)``, when present) are
mounted after the API. Every error is an RFC 7807 problem body; nothing a client sends gives a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cogpin.hub import core
from cogpin.hub.service import Hub

log = logging.getLogger("cogpin.hub")
MAX_UPLOAD = 100 * 1024 * 1024


def base_url(request: Request) -> str:
    """The hub's own address as the client sees it: scheme://host[:port][/root_path]."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{request.scope.get('root_path', '')}"


def problem_response(e: core.ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, media_type="application/problem+json")


Handler = Callable[[Request], Awaitable[Response]]


def api(hub: Hub, fn: Callable[[Request], Awaitable[Any]], status: int = 200, auth: bool = True) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            if auth and not hub.authenticate(request.headers.get("authorization"), dict(request.cookies)):
                raise core.unauthenticated()
            result = await fn(request)
            if isinstance(result, Response):
                return result
            return JSONResponse(result, status_code=status)
        except core.ApiError as e:
            return problem_response(e)
        except Exception as e:  # noqa: BLE001
            log.exception("%s %s", request.method, request.url.path)
            return problem_response(core.ApiError(500, "Internal error", f"{type(e).__name__}: {e}"))

    return handler


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as e:
        raise core.ApiError(400, "Bad request", f"the request body is not valid JSON: {e}") from None


class Api:
    """Replicate's ``/v1`` handlers, bound to one hub (each returns what ``api`` sends as JSON, or a Response)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # ------------------------------------------------------------------------------------ predictions
    async def _create(self, request: Request, model: str | None = None) -> Response:
        body = await _json_body(request)
        prefer = request.headers.get("prefer")
        out = await self.hub.create_prediction(body, base_url(request), model=model, prefer=prefer)
        headers = {"Preference-Applied": "wait"} if core.wait_seconds(prefer) else {}
        return JSONResponse(out, status_code=201, headers=headers)

    async def create(self, request: Request) -> Response:
        return await self._create(request)

    async def create_for_model(self, request: Request) -> Response:
        return await self._create(request, f"{request.path_params['owner']}/{request.path_params['name']}")

    async def get_prediction(self, request: Request) -> Any:
        return self.hub.get_prediction(request.path_params["id"], base_url(request))

    async def cancel(self, request: Request) -> Any:
        return await self.hub.cancel_prediction(request.path_params["id"], base_url(request))

    async def list_predictions(self, request: Request) -> Any:
        return self.hub.list_predictions(base_url(request), request.query_params.get("cursor"))

    async def stream(self, request: Request) -> Response:
        self.hub.get_prediction(request.path_params["id"])  # 404 before the response starts
        events = self.hub.events(request.path_params["id"])

        async def body() -> AsyncIterator[bytes]:
            yield b": connected\n\n"
            async for ev in events:
                yield core.SSE_KEEPALIVE if not ev[0] else core.sse(*ev)
                if ev[0] == "done":
                    return

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # ------------------------------------------------------------------------------------ models
    async def list_models(self, request: Request) -> Any:
        return {
            "next": None,
            "previous": None,
            "results": await self.hub.catalog.list_models(base_url(request)),
        }

    async def get_model(self, request: Request) -> Any:
        p = request.path_params
        return await self.hub.catalog.get_model(p["owner"], p["name"], base_url(request))

    async def list_versions(self, request: Request) -> Any:
        vs = await self.hub.catalog.list_versions(request.path_params["owner"], request.path_params["name"])
        return {"next": None, "previous": None, "results": vs}

    async def get_version(self, request: Request) -> Any:
        p = request.path_params
        return await self.hub.catalog.get_version(p["owner"], p["name"], p["id"])

    # ------------------------------------------------------------------------------------ files
    async def upload(self, request: Request) -> Response:
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_UPLOAD:
            raise core.ApiError(413, "Payload too large", f"files are limited to {MAX_UPLOAD // 2**20} MiB")
        try:
            form = await request.form(max_part_size=MAX_UPLOAD)
        except Exception as e:  # noqa: BLE001 - a malformed body is the client's error
            raise core.ApiError(400, "Bad request", f"expected a multipart/form-data body: {e}") from None
        content = form.get("content")
        if content is None or isinstance(content, str):
            raise core.ApiError(
                422, "Input validation failed", "content: a file part named 'content' is required"
            )
        data = await content.read()
        metadata = _upload_metadata(form.get("metadata"))
        name = form.get("filename") if isinstance(form.get("filename"), str) else None
        ctype = form.get("type") if isinstance(form.get("type"), str) else None
        f = self.hub.store.add_file(
            data,
            str(name or content.filename or "file"),
            str(ctype or content.content_type or "application/octet-stream"),
            metadata,
        )
        return JSONResponse(f.to_api(base_url(request), self.hub.retention), status_code=201)

    def _file(self, request: Request) -> Any:
        f = self.hub.store.get_file(request.path_params["id"])
        if not f:
            raise core.not_found(f"file {request.path_params['id']} does not exist")
        return f

    async def get_file(self, request: Request) -> Any:
        return self._file(request).to_api(base_url(request), self.hub.retention)

    async def file_content(self, request: Request) -> Response:
        f = self._file(request)
        return Response(self.hub.store.read_file(f), media_type=f.content_type)

    async def delete_file(self, request: Request) -> Response:
        if not self.hub.store.delete_file(request.path_params["id"]):
            raise core.not_found(f"file {request.path_params['id']} does not exist")
        return Response(status_code=204)

    async def list_files(self, request: Request) -> Any:
        b = base_url(request)
        return {
            "next": None,
            "previous": None,
            "results": [f.to_api(b, self.hub.retention) for f in self.hub.store.list_files()],
        }

    # ------------------------------------------------------------------------------------ the rest
    async def secret(self, request: Request) -> Any:
        return {"key": self.hub.webhook_secret}

    async def account(self, request: Request) -> Any:
        return {"type": "user", "username": "local", "name": "Local hub", "github_url": None}

    async def hardware(self, request: Request) -> Any:
        hw = [{"sku": "cpu", "name": "CPU"}]
        if self.hub.runner.has_gpu():
            hw.append({"sku": "gpu", "name": "GPU"})
        return hw

    async def hub_status(self, request: Request) -> Any:
        from cogpin.hub.status import hub_status as status_of

        return status_of(self.hub)

    async def not_found(self, request: Request) -> Any:
        raise core.not_found(f"no such endpoint: {request.method} {request.url.path}")


def _upload_metadata(raw: Any) -> dict[str, Any]:
    """An upload's ``metadata`` part: a JSON object, or nothing."""
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise core.ApiError(422, "Input validation failed", "metadata: must be a JSON object") from None
    if not isinstance(metadata, dict):
        raise core.ApiError(422, "Input validation failed", "metadata: must be a JSON object")
    return metadata


# The route table: path, HTTP methods, the Api method that answers, its success status.
ROUTES: list[tuple[str, list[str], str, int]] = [
    ("/v1/predictions", ["POST"], "create", 201),
    ("/v1/predictions", ["GET"], "list_predictions", 200),
    ("/v1/predictions/{id}", ["GET"], "get_prediction", 200),
    ("/v1/predictions/{id}/cancel", ["POST"], "cancel", 200),
    ("/v1/predictions/{id}/stream", ["GET"], "stream", 200),
    ("/v1/models", ["GET"], "list_models", 200),
    ("/v1/models/{owner}/{name}", ["GET"], "get_model", 200),
    ("/v1/models/{owner}/{name}/versions", ["GET"], "list_versions", 200),
    ("/v1/models/{owner}/{name}/versions/{id}", ["GET"], "get_version", 200),
    ("/v1/models/{owner}/{name}/predictions", ["POST"], "create_for_model", 201),
    ("/v1/files", ["POST"], "upload", 201),
    ("/v1/files", ["GET"], "list_files", 200),
    ("/v1/files/{id}", ["GET"], "get_file", 200),
    ("/v1/files/{id}", ["DELETE"], "delete_file", 200),
    ("/v1/files/{id}/content", ["GET"], "file_content", 200),
    ("/v1/webhooks/default/secret", ["GET"], "secret", 200),
    ("/v1/account", ["GET"], "account", 200),
    ("/v1/hardware", ["GET"], "hardware", 200),
    ("/v1/hub/status", ["GET"], "hub_status", 200),  # cogpin hub status (not Replicate's)
    ("/v1/{rest:path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], "not_found", 200),
]


def routes(hub: Hub) -> list[BaseRoute]:
    handlers = Api(hub)
    return [
        Route(path, api(hub, getattr(handlers, name), status), methods=methods)
        for path, methods, name, status in ROUTES
    ]


def create_app(hub: Hub) -> Starlette:
    all_routes = routes(hub)
    try:
        from cogpin.hub import web  # the web pages (issue 12), when present
    except ImportError:
        web = None  # type: ignore[assignment]
    if web is not None:
        all_routes += web.routes(hub)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await asyncio.shield(hub.close())

    app = Starlette(routes=all_routes, lifespan=lifespan)
    app.state.hub = hub
    return app
