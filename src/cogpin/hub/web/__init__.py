"""The hub's web pages (issue 12): server-rendered HTML on the hub's own port, over the hub's own API.

    /                  the models in the registry (search by name)
    /{owner}/{name}    the model page (`Model.url`): Playground form, API snippets, Versions, README
    /p/{id}            the prediction page (`urls.web`): inputs, output, logs, metrics, timings
    /predictions       the history, newest first, paginated
    /login, /logout    an API token in, an HttpOnly session cookie out (no login on a --no-auth hub)
    /_/static/...      the pages' JavaScript and CSS (plain files, no build step, no CDN)

`form.py` is the pure core (OpenAPI Input schema → field descriptions); `pages.py` holds the routes and
the security headers (a CSP without inline scripts); the browser side (`static/app.js`) calls `/v1` with
the session cookie: create, the SSE stream, the files API for uploads, cancel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


def routes(hub: Any) -> list[BaseRoute]:
    """The page routes, to be appended after the API routes (they take every other two-segment path)."""
    from cogpin.hub.web.pages import page_routes

    return page_routes(hub)
