"""The hub's web pages in a real browser: headless Chromium (Debian's `chromium`, installed by
scripts/dev-env) driven by Playwright, against `cogpin hub serve` with models pushed by `cogpin push`.

Every page visited is saved as a screenshot under the run's output folder (`web-screenshots` in pytest's
base temp dir, or $COGPIN_WEB_SCREENSHOTS). The pages' CSP forbids eval, so waits on page state poll
from Python (`until`) instead of `wait_for_function`.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.conftest import MODELS, HubProcess, Pushed, push

pytestmark = [pytest.mark.engine, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
COOKIE = "cogpin_session"


def png(width: int, height: int) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 9 % 256, y * 13 % 256, 90)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def until(page: Any, js: str, timeout: float = 60, what: str = "") -> Any:
    """Poll a JS expression until it is truthy; its value."""
    end = time.monotonic() + timeout
    value = None
    while time.monotonic() < end:
        value = page.evaluate(js)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or js} (last value {value!r})")


def run_status(page: Any) -> str:
    return str(page.evaluate("(document.querySelector('#run-status') || {}).textContent || ''"))


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def web_models(hub_models: dict[str, Pushed], registry: str, hub_owner: str) -> dict[str, Pushed]:
    """The hub's models plus pngscale (a PNG in, a PNG `scale`× its size out) and kinds (one input of
    each widget's kind, echoed back as JSON) under the same owner."""
    models = dict(hub_models)
    for name in ("pngscale", "kinds"):
        if name not in models:
            models[name] = push(MODELS / name, f"{registry}/{hub_owner}/{name}")
    return models


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(os.environ.get("COGPIN_WEB_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "web-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nweb screenshots: {out}")
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/dev-env up installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Session:
    """A browser context logged in to the hub, collecting the pages' console errors and requests."""

    def __init__(
        self, browser: Any, hub: HubProcess, shots: Path, width: int = 1200, login: bool = True
    ) -> None:
        self.hub = hub
        self.shots = shots
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url)
        if login:
            self.context.add_cookies([{"name": COOKIE, "value": hub.token, "url": hub.url, "httpOnly": True}])
        # The first model listing of a hub walks the whole (shared, large) registry: be patient with it.
        self.context.set_default_navigation_timeout(180_000)
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.posts: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None
        )
        self.page.on("request", lambda r: self.posts.append(r.url) if r.method == "POST" else None)

    def goto(self, path: str) -> Any:
        resp = self.page.goto(self.hub.url + path)
        assert resp is not None and resp.status == 200, f"GET {path}: {resp and resp.status}"
        return resp

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def web(
    browser: Any, hub_server: HubProcess, shots: Path, web_models: dict[str, Pushed]
) -> Iterator[Session]:
    s = Session(browser, hub_server, shots)
    yield s
    s.close()
    assert not s.errors, s.errors


def run_form(web: Session, timeout: float = 120) -> dict[str, Any]:
    """Click Run, wait for a terminal status; the prediction as the API has it."""
    page = web.page
    page.click("#run")
    until(
        page,
        "['succeeded','failed','canceled'].includes((document.querySelector('#run-status')||{}).textContent)",
        timeout,
    )
    href = page.get_attribute("#run-link", "href")
    assert href and href.startswith("/p/"), href
    r = httpx.get(f"{web.hub.url}/v1/predictions/{href[3:]}", headers=web.hub.headers, timeout=10)
    return dict(r.json())


# ---------------------------------------------------------------------------------------------- tests


def test_login_then_the_models_with_search(
    browser: Any, hub_server: HubProcess, shots: Path, web_models: dict[str, Pushed]
) -> None:
    web = Session(browser, hub_server, shots, login=False)
    page = web.page
    page.goto(hub_server.url + "/")
    assert page.url.startswith(hub_server.url + "/login"), page.url
    web.shot("login")
    page.fill("#token", "r8_not-a-token")
    page.click("form.login button[type=submit]")
    assert "not valid" in page.inner_text("#login-problem")
    web.errors.clear()  # the browser logs the refused login's 401
    page.fill("#token", hub_server.token)
    page.click("form.login button[type=submit]")
    page.wait_for_url(hub_server.url + "/")
    cookie = next(c for c in web.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    hello = web_models["hello-world"]
    row = page.locator("table.models tr", has_text=hello.ref)
    assert row.count() == 1
    assert hello.version[:12] in row.inner_text()
    assert hub_server.token not in page.content()  # the token never reaches a page
    web.shot("index")
    page.fill("#q", "stream")
    page.click("form.search button")
    names = page.locator("table.models tbody td:first-child").all_inner_texts()
    assert names and all("stream" in n for n in names), names
    page.close()
    web.close()
    assert not web.errors, web.errors


def test_pages_carry_a_csp_without_inline_scripts(
    hub_server: HubProcess, web_models: dict[str, Pushed]
) -> None:
    cookies = {COOKIE: hub_server.token}
    for path in ["/", f"/{web_models['hello-world'].ref}", "/predictions", "/login"]:
        r = httpx.get(hub_server.url + path, cookies=cookies, timeout=180, follow_redirects=True)
        assert r.status_code == 200, (path, r.status_code)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["referrer-policy"] == "no-referrer"
        scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", r.text)
        assert not scripts, (path, scripts)  # every script is a file (or a JSON data block)
    r = httpx.get(f"{hub_server.url}/{web_models['hello-world'].ref}", timeout=10)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_hello_world_form_runs_and_shows_hello_python(web: Session, web_models: dict[str, Pushed]) -> None:
    hello = web_models["hello-world"]
    page = web.page
    web.goto(f"/{hello.ref}")
    assert page.inner_text("label[for=in-text]").startswith("Text")
    assert "*" in page.inner_text("label[for=in-text]")  # required
    assert "Text to prefix with 'hello '" in page.inner_text("#desc-in-text")
    page.fill("#in-text", "python")
    p = run_form(web)
    assert p["status"] == "succeeded" and p["output"] == "hello python"
    # this model, though other names in the registry may share its image
    assert p["model"] == hello.ref and p["version"] == hello.version
    assert page.inner_text("#run-output").strip() == "hello python"
    web.shot("model-hello-world")


def test_api_tab_python_snippet_runs_with_the_official_client(
    web: Session, web_models: dict[str, Pushed], replicate_venv: Path
) -> None:
    hello = web_models["hello-world"]
    page = web.page
    web.goto(f"/{hello.ref}")
    page.fill("#in-text", "python")
    page.click("#tab-api")
    page.click("button[data-copy=snippet-python]")
    until(page, "document.querySelector('button[data-copy=snippet-python]').textContent === 'Copied'", 5)
    code = page.evaluate("navigator.clipboard.readText()")
    assert code.strip() == page.inner_text("#snippet-python").strip()
    assert f'"{hello.ref}:{hello.version}"' in code and '"text": "python"' in code
    assert web.hub.token not in code
    web.shot("model-api-tab")
    # The snippet sets REPLICATE_BASE_URL itself; only the token comes from the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env["REPLICATE_API_TOKEN"] = web.hub.token
    r = subprocess.run(
        [str(replicate_venv), "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello python\n"
    curl = page.inner_text("#snippet-curl")
    assert f"{web.hub.url}/v1/predictions" in curl and hello.version in curl
    assert page.inner_text("#snippet-json").strip() == '{\n  "text": "python"\n}'


def _natural_size(page: Any) -> list[int]:
    until(
        page,
        "(document.querySelector('#run-output img') || {}).naturalWidth > 0",
        30,
        "the output image to load",
    )
    img = "document.querySelector('#run-output img')"
    return list(page.evaluate(f"[{img}.naturalWidth, {img}.naturalHeight]"))


def test_image_upload_by_picker_and_by_drag_and_drop_renders_the_output_image(
    web: Session, web_models: dict[str, Pushed], tmp_path: Path
) -> None:
    model = web_models["pngscale"]
    page = web.page
    web.goto(f"/{model.ref}")
    picked = tmp_path / "picked.png"
    picked.write_bytes(png(23, 17))
    page.set_input_files("#in-image-file", str(picked))
    until(page, "document.querySelector('#in-image').value.includes('/v1/files/')", 30, "the upload")
    assert page.locator(".preview[data-preview-for=in-image] img").count() == 1
    p = run_form(web)
    assert p["status"] == "succeeded", p
    assert _natural_size(page) == [46, 34]  # scale 2 (the default)
    assert "input 23x17, output 46x34" in page.inner_text("#run-logs")
    web.shot("model-pngscale-picker")

    page.fill("#in-scale", "3")
    dt = page.evaluate_handle(
        """([b64, name]) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, { type: "image/png" }));
             return dt;
           }""",
        [base64.b64encode(png(11, 7)).decode(), "dropped.png"],
    )
    zone = ".drop[data-drop-for=in-image]"
    page.dispatch_event(zone, "dragover", {"dataTransfer": dt})
    page.dispatch_event(zone, "drop", {"dataTransfer": dt})
    until(
        page,
        "document.querySelector('[data-upload-for=in-image]').textContent.includes('dropped.png') && "
        "document.querySelector('[data-upload-for=in-image]').textContent.includes('uploaded')",
        30,
        "the drop upload",
    )
    p = run_form(web)
    assert p["status"] == "succeeded", p
    assert _natural_size(page) == [33, 21]
    web.shot("model-pngscale-dropped")

    # Paste works the same way (a file on the clipboard, pasted into the drop zone).
    page.evaluate(
        """([b64, sel]) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
             document.querySelector(sel).dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
           }""",
        [base64.b64encode(png(5, 4)).decode(), zone],
    )
    until(
        page,
        "document.querySelector('[data-upload-for=in-image]').textContent.includes('pasted.png (')",
        30,
        "the paste upload",
    )
    p = run_form(web)
    assert _natural_size(page) == [15, 12]


def test_streaming_output_grows_then_cancel_stops_it(web: Session, web_models: dict[str, Pushed]) -> None:
    model = web_models["streaming"]
    page = web.page
    web.goto(f"/{model.ref}")
    page.fill("#in-prompt", " ".join(f"w{i}" for i in range(60)))
    page.fill("#in-delay", "0.25")
    page.click("#run")
    seen: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = page.evaluate("(document.querySelector('#run-output') || {}).textContent || ''")
        if run_status(page) == "processing" and text and (not seen or text != seen[-1]):
            seen.append(text)
        if len(seen) >= 3:
            break
        time.sleep(0.15)
    assert len(seen) >= 3, seen
    assert all(len(a) < len(b) and b.startswith(a) for a, b in zip(seen, seen[1:], strict=False)), (
        seen
    )  # grows, token by token
    web.shot("model-streaming-live")
    t0 = time.monotonic()
    page.click("#cancel")
    until(page, "document.querySelector('#run-status').textContent === 'canceled'", 10, "canceled")
    assert time.monotonic() - t0 < 5
    frozen = page.inner_text("#run-output")
    time.sleep(1.5)
    assert page.inner_text("#run-output") == frozen  # nothing more arrives
    assert len(frozen.split()) < 60
    assert page.is_hidden("#cancel")
    href = page.get_attribute("#run-link", "href")
    p = httpx.get(f"{web.hub.url}/v1/predictions/{href[3:]}", headers=web.hub.headers, timeout=10).json()
    assert p["status"] == "canceled"
    web.shot("model-streaming-canceled")


def test_a_422_from_the_hub_shows_next_to_its_field(web: Session, web_models: dict[str, Pushed]) -> None:
    model = web_models["pngscale"]
    page = web.page
    web.goto(f"/{model.ref}")
    # Checked in the browser first: nothing is sent.
    page.fill("#in-image", "https://example.invalid/picture")
    page.fill("#in-scale", "9")
    before = len(web.posts)
    page.click("#run")
    assert page.is_visible("#err-in-scale") and "at most 4" in page.inner_text("#err-in-scale")
    assert len(web.posts) == before
    # What only the hub knows (which URL schemes it can fetch) comes back as its 422, next to the field.
    page.fill("#in-scale", "2")
    page.fill("#in-image", "file:///etc/hostname")
    page.click("#run")
    until(
        page,
        "!document.querySelector('#err-in-image').hidden",
        30,
        "the 422 next to the field: "
        + page.evaluate("document.querySelector('#run-form').parentElement.innerHTML.slice(0, 3000)"),
    )
    assert "must be a URL" in page.inner_text("#err-in-image")
    assert page.get_attribute("#in-image", "aria-invalid") == "true"
    assert page.is_hidden("#err-in-scale")
    assert any(u.endswith("/v1/predictions") for u in web.posts[before:])
    web.errors.remove(
        "console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    )
    web.shot("model-422")


def test_prediction_page_shows_inputs_output_logs_and_runs_again(
    web: Session, web_models: dict[str, Pushed], tmp_path: Path
) -> None:
    model = web_models["pngscale"]
    page = web.page
    web.goto(f"/{model.ref}")
    f = tmp_path / "in.png"
    f.write_bytes(png(8, 6))
    page.set_input_files("#in-image-file", str(f))
    until(page, "document.querySelector('#in-image').value.includes('/v1/files/')", 30)
    page.fill("#in-scale", "4")
    p = run_form(web)
    assert p["status"] == "succeeded"
    web.goto(f"/p/{p['id']}")
    assert page.inner_text("#p-status") == "succeeded"
    assert page.inner_text("td[data-input=scale]") == "4"
    assert page.locator("td[data-input=image] img").count() == 1  # the input image, shown as an image
    assert _natural_size(page) == [32, 24]
    until(
        page,
        "document.querySelector('#run-logs').textContent.includes('input 8x6, output 32x24')",
        10,
        "logs",
    )
    assert "predict_time" in page.inner_text("#metrics")
    web.shot("prediction")
    page.click("#run-again")
    page.wait_for_selector("#run-form")
    assert page.input_value("#in-scale") == "4"
    assert "/v1/files/" in page.input_value("#in-image")
    p2 = run_form(web)
    assert p2["input"] == p["input"] and p2["status"] == "succeeded"


def test_history_is_newest_first_and_paginated(web: Session, web_models: dict[str, Pushed]) -> None:
    hello = web_models["hello-world"]
    ids = []
    with httpx.Client(headers={**web.hub.headers, "Prefer": "wait"}, timeout=60) as c:
        for i in range(27):
            r = c.post(
                f"{web.hub.url}/v1/predictions", json={"version": hello.versioned, "input": {"text": f"n{i}"}}
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    page = web.page
    web.goto("/predictions")
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 25
    first = rows.nth(0).inner_text()
    assert ids[-1] in first and hello.ref in first and "succeeded" in first
    web.shot("predictions")
    page.click("nav.pager a[rel=next]")
    page.wait_for_selector("table.history")
    older_cursor = page.url.split("cursor=", 1)[1]
    older = page.locator("table.history tbody td:first-child").all_inner_texts()
    assert ids[0] in older and ids[-1] not in older
    web.goto(f"/?q={hello.ref}")
    cells = page.locator("table.models tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == hello.ref and int(cells[4]) >= 27 and cells[3] != "—", cells  # runs, last run
    web.goto("/predictions?cursor=" + older_cursor)
    page.click(f"a[href='/p/{ids[0]}']")
    page.wait_for_selector("#p-status")
    assert "hello n0" in page.inner_text("#run-output")


def test_narrow_screen_and_keyboard_only(
    browser: Any, hub_server: HubProcess, shots: Path, web_models: dict[str, Pushed]
) -> None:
    web = Session(browser, hub_server, shots, width=400)
    page = web.page
    for path in [f"/{web_models['pngscale'].ref}", f"/{web_models['hello-world'].ref}"]:
        web.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is wider than 400 px by {overflow}"
        unlabelled = page.evaluate(
            """Array.from(document.querySelectorAll('#run-form input, #run-form textarea, #run-form select'))
                 .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                              && !e.getAttribute('aria-labelledby')).map(e => e.id || e.outerHTML)"""
        )
        assert not unlabelled, unlabelled
    web.shot("model-400px")
    # Keyboard only: tab to the text field, type, tab to Run, press Enter.
    page.keyboard.press("Tab")
    for _ in range(30):
        if page.evaluate("document.activeElement.id") == "in-text":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "in-text"
    page.keyboard.type("keys")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "run":
            break
    assert page.evaluate("document.activeElement.id") == "run"
    page.keyboard.press("Enter")
    until(
        page,
        "document.querySelector('#run-status') && document.querySelector('#run-status').textContent === 'succeeded'",
        60,
    )
    assert page.inner_text("#run-output").strip() == "hello keys"
    # Tabs by arrow keys.
    page.focus("#tab-playground")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-api" and page.is_visible("#snippet-python")
    web.shot("model-400px-api")
    web.close()
    assert not web.errors, web.errors


def test_versions_and_readme_tabs(web: Session, web_models: dict[str, Pushed]) -> None:
    hello = web_models["hello-world"]
    page = web.page
    web.goto(f"/{hello.ref}#versions")
    assert page.is_visible("#versions") and page.is_hidden("#playground")
    row = page.locator("table.versions tbody tr", has_text=hello.version)
    assert row.count() == 1 and "0." in row.inner_text()  # the Cog version
    href = row.locator("a", has_text="JSON").get_attribute("href")
    schema = httpx.get(web.hub.url + href, headers=web.hub.headers, timeout=10).json()
    assert schema["id"] == hello.version and "Input" in schema["openapi_schema"]["components"]["schemas"]
    web.shot("model-versions")
    page.click("#tab-readme")
    assert page.is_visible("#readme")
    # cogpin build does not write the README label (yet): the tab says so instead of showing nothing
    assert "carries no README" in page.inner_text("#readme")
    web.shot("model-readme")


def test_no_auth_hub_needs_no_login(
    own_hub: Any, browser: Any, shots: Path, web_models: dict[str, Pushed]
) -> None:
    hub = own_hub("--no-auth").start()
    web = Session(browser, hub, shots, login=False)
    web.goto("/")
    assert web.page.url == hub.url + "/"
    assert web.page.locator("table.models tr", has_text=web_models["hello-world"].ref).count() == 1
    assert web.page.locator("text=Log out").count() == 0
    web.close()


def test_every_widget_kind_rows_json_editor_and_json_mode(
    web: Session, web_models: dict[str, Pushed]
) -> None:
    import json

    page = web.page
    web.goto(f"/{web_models['kinds'].ref}")
    before = len(web.posts)
    page.click("#run")
    assert "is required" in page.inner_text("#err-in-words")  # checked before anything is sent
    for _ in range(3):
        page.click("button[data-add-row]:has-text('Add words')")
    rows = page.locator("#in-words [data-row] input")
    assert rows.count() == 3 and page.evaluate("document.activeElement.id").startswith("in-words-")
    for i, word in enumerate(["a", "b", "c"]):
        rows.nth(i).fill(word)
    page.locator("#in-words [data-row]").nth(1).locator("button[data-remove-row]").click()
    assert page.locator("#in-words [data-row]").count() == 2
    assert page.locator("#in-counts [data-row] input").count() == 2  # the default, [1, 2]
    page.click("button[data-add-row]:has-text('Add counts')")
    page.locator("#in-counts [data-row] input").nth(2).fill("7")
    page.fill("#in-options", '{"k": [1, 2]')
    page.click("#run")
    assert "not valid JSON" in page.inner_text("#err-in-options")
    page.fill("#in-options", '{"k":[1,2]}')
    page.click("button[data-format-json=in-options]")
    assert page.input_value("#in-options") == '{\n  "k": [\n    1,\n    2\n  ]\n}'
    page.check("#in-loud")
    page.select_option("#in-mood", label="wild")
    page.fill("#in-key", "s3cret")
    assert page.get_attribute("#in-key", "type") == "password"
    page.fill("#in-code", "zz")
    page.click("#run")
    assert "must match" in page.inner_text("#err-in-code")
    assert len(web.posts) == before  # three refusals, no request
    page.fill("#in-code", "ZZ99")
    page.fill("#in-ratio", "0.25")
    p = run_form(web)
    want = {"words": ["a", "c"], "counts": [1, 2, 7], "options": {"k": [1, 2]}, "loud": True, "mood": "wild",
            "key_length": 6, "ratio": 0.25, "code": "ZZ99"}  # fmt: skip
    assert p["status"] == "succeeded" and p["output"] == want, p
    assert json.loads(page.inner_text("#run-output")) == want  # rendered as pretty-printed JSON
    page.click("#tab-api")
    snippet = page.inner_text("#snippet-python")
    assert '"loud": True' in snippet and '"words": [' in snippet and '"options": {' in snippet
    page.click("#tab-playground")
    web.shot("model-kinds")
    # The secret is masked on the prediction page and not written back by "run again".
    web.goto(f"/p/{p['id']}")
    assert page.inner_text("td[data-input=key]") == "••••••" and "s3cret" not in page.content()
    page.click("#run-again")
    page.wait_for_selector("#run-form")
    assert page.input_value("#in-key") == "" and page.input_value("#in-mood") == '"wild"'
    assert page.locator("#in-words [data-row] input").count() == 2
    page.fill("#in-key", "s3cret")

    # The whole input as JSON, edited there, and back into the widgets.
    page.click("button[data-mode=json]")
    sent = json.loads(page.input_value("#input-json"))
    assert sent == {**p["input"], "key": "s3cret"} or sent["words"] == ["a", "c"]
    sent.update(words=["x"], mood="calm", counts=[5])
    page.fill("#input-json", json.dumps(sent))
    page.click("button[data-mode=form]")
    assert page.locator("#in-words [data-row] input").count() == 1
    assert page.input_value("#in-words [data-row] input") == "x"
    assert page.input_value("#in-mood") == '"calm"'
    assert page.locator("#in-counts [data-row] input").count() == 1
    page.click("button[data-mode=json]")
    page.fill("#input-json", json.dumps({**sent, "ratio": 3}))
    page.click("#run")
    assert "ratio: must be at most 1" in page.inner_text("#err-input-json")
    page.fill("#input-json", json.dumps(sent))
    p = run_form(web)
    assert p["output"]["words"] == ["x"] and p["output"]["counts"] == [5] and p["output"]["mood"] == "calm"
    web.shot("model-kinds-json-mode")


def test_a_file_over_16_mib_uploads_and_comes_back_as_a_download(
    web: Session, web_models: dict[str, Pushed], tmp_path: Path
) -> None:
    import hashlib

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 2**20))  # above Cog's playground's 16 MiB data-URI limit
    page = web.page
    web.goto(f"/{web_models['files'].ref}")
    page.set_input_files("#in-file-file", str(big))
    until(
        page,
        "document.querySelector('[data-upload-for=in-file]').textContent.includes('20.0 MiB) uploaded')",
        60,
    )
    p = run_form(web, timeout=180)
    assert p["status"] == "succeeded", p
    link = page.locator("#run-output a.download")
    until(
        page, "document.querySelector('#run-output a.download').textContent.startsWith('Download file')", 10
    )
    href = link.get_attribute("href")
    assert href and not href.startswith("data:"), href[:80]  # over --max-inline: a URL, not a data URL
    r = httpx.get(web.hub.url + href if href.startswith("/") else href, headers=web.hub.headers, timeout=60)
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    page.click("details:has(#run-json) > summary")  # the prediction as the API returns it
    assert '"status": "succeeded"' in page.inner_text("#run-json")


def test_a_prediction_page_opened_mid_run_follows_it_live(
    web: Session, web_models: dict[str, Pushed]
) -> None:
    model = web_models["streaming"]
    words = [f"t{i}" for i in range(30)]
    r = httpx.post(
        f"{web.hub.url}/v1/predictions",
        json={"version": model.versioned, "input": {"prompt": " ".join(words), "delay": 0.2}, "stream": True},
        headers=web.hub.headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    page = web.page
    web.goto(f"/p/{pid}")
    seen: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and run_status(page) not in ("succeeded", "failed", "canceled"):
        text = page.evaluate("(document.querySelector('#run-output') || {}).textContent || ''")
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        time.sleep(0.15)
    assert run_status(page) == "succeeded"
    assert len(seen) >= 2, seen  # it grew while we watched
    until(page, "document.querySelector('#p-status').textContent === 'succeeded'", 5)
    assert page.inner_text("#run-output").strip() == " ".join(words)  # replayed and followed, nothing doubled
    assert page.is_hidden("#cancel")
    web.shot("prediction-streaming")
