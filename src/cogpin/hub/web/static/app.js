/* cogpin hub web pages: plain JavaScript, no build step, no dependencies.
 *
 * The pages talk to the hub's own /v1 API with the session cookie (same origin; the API token itself is
 * never visible to this script). Parts:
 *   api        fetch wrappers, problem+json errors
 *   render     output → DOM (images inline, audio/video players, galleries, text, JSON, download links)
 *   RunView    one prediction live: status (polled), output and logs (SSE at urls.stream), Cancel
 *   form       the Playground: widgets, uploads (files API; picker, drag-and-drop, paste), rows, JSON
 *              mode, checks against the schema before submit, the server's 422 next to its field
 *   snippets   the API tab: Python (replicate.run), curl, the input as JSON, from the current form
 */
"use strict";

(function () {
  const TERMINAL = ["succeeded", "failed", "canceled"];
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function pageConfig() {
    const node = document.getElementById("page-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  // ------------------------------------------------------------------------------------------ api

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.title)) || "HTTP " + status);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body, headers) {
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}), credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    let data = null;
    const text = await resp.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (resp.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search + location.hash);
    }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  /* Upload one file through the files API (no size cap of its own); onProgress(fraction). */
  function upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/files");
      xhr.withCredentials = true;
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded / ev.total); };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = { detail: xhr.responseText }; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new ApiError(xhr.status, data));
      };
      xhr.onerror = () => reject(new ApiError(0, { detail: "the upload failed (network error)" }));
      const body = new FormData();
      body.append("content", file, file.name || "file");
      xhr.send(body);
    });
  }

  // --------------------------------------------------------------------------------------- render

  const EXT_TYPES = {
    png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp",
    svg: "image/svg+xml", bmp: "image/bmp", avif: "image/avif",
    wav: "audio/wav", mp3: "audio/mpeg", ogg: "audio/ogg", flac: "audio/flac", m4a: "audio/mp4", aac: "audio/aac",
    mp4: "video/mp4", webm: "video/webm", mov: "video/quicktime", mkv: "video/x-matroska",
  };

  function isFileUrl(value) {
    return typeof value === "string" && /^(data:|https?:\/\/|blob:)/.test(value) && !/\s/.test(value.slice(0, 2048));
  }

  function mimeOf(url) {
    if (url.startsWith("data:")) return url.slice(5).split(/[;,]/)[0].toLowerCase();
    try {
      const path = new URL(url, location.href).pathname;
      const m = /\.([a-z0-9]+)$/i.exec(path);
      return m ? EXT_TYPES[m[1].toLowerCase()] || "" : "";
    } catch (e) { return ""; }
  }

  /* Same-origin URLs without an extension (the hub's file URLs) are asked for their type. */
  async function mimeOfRemote(url) {
    const known = mimeOf(url);
    if (known || url.startsWith("data:")) return known;
    try {
      const u = new URL(url, location.href);
      if (u.origin !== location.origin) return "";
      const resp = await fetch(u, { method: "HEAD", credentials: "same-origin" });
      return (resp.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
    } catch (e) { return ""; }
  }

  function fileName(url, mime, index) {
    if (!url.startsWith("data:")) {
      try {
        const last = new URL(url, location.href).pathname.split("/").pop();
        if (last && last.includes(".")) return decodeURIComponent(last);
      } catch (e) { /* fall through */ }
    }
    const ext = Object.keys(EXT_TYPES).find((k) => EXT_TYPES[k] === mime) || (mime.split("/")[1] || "bin");
    return "output" + (index === undefined ? "" : "-" + index) + "." + ext;
  }

  /* The files API's `urls.get` is the file's metadata; its bytes are at …/content. */
  function contentUrl(url) {
    try {
      const u = new URL(url, location.href);
      if (u.origin === location.origin && /^\/v1\/files\/[^/]+$/.test(u.pathname)) return u.pathname + "/content";
    } catch (e) { /* not a URL */ }
    return url;
  }

  function fileItem(url, index) {
    url = contentUrl(url);
    const box = el("figure", { class: "file-output" });
    const size = el("span", { class: "muted" });
    const link = el("a", { href: url, download: fileName(url, mimeOf(url), index), class: "download", text: "Download" });
    const draw = (mime) => {
      box.replaceChildren();
      let media = null;
      if (mime.startsWith("image/")) {
        media = el("img", { src: url, alt: "output image" + (index === undefined ? "" : " " + (index + 1)) });
        media.addEventListener("load", () => {
          const w = media.naturalWidth;
          size.textContent = w + " × " + media.naturalHeight + " px · ";
          if (w && w < 96) { // tiny images are shown enlarged, pixel for pixel
            media.style.width = w * Math.floor(192 / w) + "px";
            media.classList.add("pixelated");
          }
        });
      }
      else if (mime.startsWith("audio/")) media = el("audio", { src: url, controls: true });
      else if (mime.startsWith("video/")) media = el("video", { src: url, controls: true });
      if (media) box.append(media);
      link.setAttribute("download", fileName(url, mime, index));
      link.textContent = media ? "Download" : "Download file (" + (mime || "unknown type") + ")";
      box.append(el("figcaption", {}, size, link));
    };
    draw(mimeOf(url));
    if (!mimeOf(url)) mimeOfRemote(url).then((m) => { if (m) draw(m); });
    return box;
  }

  function textBlock(text, streaming) {
    const pre = el("pre", { class: "text-output" + (streaming ? " streaming" : "") });
    pre.textContent = text;
    return pre;
  }

  /* Output → DOM node. display: {iterator, concatenate, file, list} from the version's Output schema. */
  function renderOutput(output, display, streaming) {
    display = display || {};
    if (output === null || output === undefined) return el("p", { class: "muted", text: streaming ? "" : "(no output)" });
    if (Array.isArray(output)) {
      if (output.length && output.every(isFileUrl)) {
        return el("div", { class: "gallery" }, ...output.map((u, i) => fileItem(u, i)));
      }
      if (output.every((x) => typeof x === "string")) {
        return textBlock(output.join(display.concatenate || display.iterator ? "" : "\n"), streaming);
      }
      return textBlock(JSON.stringify(output, null, 2));
    }
    if (typeof output === "string") return isFileUrl(output) ? fileItem(output) : textBlock(output, streaming);
    if (typeof output === "object") return textBlock(JSON.stringify(output, null, 2));
    return textBlock(String(output));
  }

  // -------------------------------------------------------------------------------------- RunView

  /* One prediction, live: status polled from GET /v1/predictions/{id}; output and logs from the SSE
   * stream (EventSource sends the session cookie); the final state from one last GET. */
  class RunView {
    constructor(root, display, onChange) {
      this.root = root;
      this.display = display || {};
      this.onChange = onChange || (() => {});
      this.items = [];
      this.logs = "";
      this.p = null;
      this.source = null;
      this.timer = null;
      this.sseOpen = false;
      this.build();
    }

    build() {
      this.status = el("span", { class: "status", id: "run-status", role: "status" });
      this.link = el("a", { id: "run-link", hidden: true });
      this.outBox = el("div", { class: "output", id: "run-output" });
      this.errBox = el("p", { class: "error run-error", id: "run-error", role: "alert", hidden: true });
      this.logBox = el("pre", { class: "logs", id: "run-logs", tabindex: "0", "aria-label": "Logs" });
      this.timing = el("span", { class: "muted", id: "run-timing" });
      this.raw = el("pre", { class: "logs", id: "run-json", tabindex: "0", "aria-label": "The prediction as JSON" });
      this.root.replaceChildren(
        el("p", { class: "run-head" }, this.status, " ", this.timing, " ", this.link),
        this.outBox, this.errBox,
        el("details", { class: "logs-box", open: true }, el("summary", { text: "Logs" }), this.logBox),
        el("details", { class: "logs-box" }, el("summary", { text: "JSON (as the API returns it)" }), this.raw),
      );
    }

    show(p) {
      this.p = p;
      this.raw.textContent = JSON.stringify(p, (k, v) => (typeof v === "string" && v.startsWith("data:") && v.length > 300
        ? v.slice(0, v.indexOf(",") + 1) + "… (" + v.length + " characters)" : v), 2);
      this.status.textContent = p.status;
      this.status.className = "status status-" + p.status;
      if (p.urls && p.urls.web) {
        const path = new URL(p.urls.web, location.href).pathname;
        if (location.pathname !== path) {
          this.link.hidden = false;
          this.link.href = path;
          this.link.textContent = "prediction " + p.id;
        }
      }
      const m = p.metrics || {};
      const t = m.predict_time !== undefined ? m.predict_time : m.total_time;
      this.timing.textContent = typeof t === "number" ? "· " + t.toFixed(t < 1 ? 3 : 2) + " s" : "";
      if (p.error) { this.errBox.hidden = false; this.errBox.textContent = String(p.error); }
      this.onChange(p);
    }

    drawOutput(output, streaming) {
      this.outBox.replaceChildren(renderOutput(output, this.display, streaming));
    }

    drawLogs(text) {
      this.logBox.classList.toggle("empty", !text);
      const atEnd = this.logBox.scrollTop + this.logBox.clientHeight >= this.logBox.scrollHeight - 4;
      this.logBox.textContent = text;
      if (atEnd) this.logBox.scrollTop = this.logBox.scrollHeight;
    }

    follow(p) {
      this.show(p);
      if (p.output !== null && p.output !== undefined) this.drawOutput(p.output, !TERMINAL.includes(p.status));
      this.logs = p.logs || "";
      this.drawLogs(this.logs);
      if (TERMINAL.includes(p.status)) return;
      this.items = Array.isArray(p.output) ? p.output.slice() : [];
      if (p.urls && p.urls.stream && window.EventSource) this.stream(p.urls.stream);
      this.timer = setInterval(() => this.poll(), 1000);
    }

    stream(url) {
      const src = new EventSource(url, { withCredentials: true });
      this.source = src;
      // The hub replays a stream from its start: the first event of each kind replaces what GET gave.
      let fresh = true;
      let freshLogs = true;
      src.onopen = () => { this.sseOpen = true; };
      src.addEventListener("output", (ev) => {
        if (fresh) { this.items = []; fresh = false; }
        if (this.display.iterator) {
          this.items.push(ev.data);
          this.drawOutput(this.items, true);
        } else {
          let value = ev.data;
          try { if (!this.display.file && /^[\[{"]/.test(value)) value = JSON.parse(value); } catch (e) { /* text */ }
          this.drawOutput(value, true);
        }
      });
      src.addEventListener("logs", (ev) => {
        if (freshLogs) { this.logs = ""; freshLogs = false; }
        this.sseLogs = true;
        this.logs += ev.data;
        this.drawLogs(this.logs);
      });
      src.addEventListener("error", (ev) => {
        if (ev.data) {
          let msg = ev.data;
          try { msg = JSON.parse(ev.data).detail || msg; } catch (e) { /* text */ }
          this.errBox.hidden = false;
          this.errBox.textContent = msg;
        } else if (src.readyState === EventSource.CLOSED) {
          this.sseOpen = false; // polling carries on alone
        }
      });
      src.addEventListener("done", () => { src.close(); this.sseOpen = false; this.poll(true); });
    }

    async poll(final) {
      if (!this.p || this.polling) return;
      this.polling = true;
      try {
        const p = await api("GET", "/v1/predictions/" + encodeURIComponent(this.p.id));
        const done = TERMINAL.includes(p.status);
        this.show(p);
        if (!this.sseOpen || done || final) {
          // No stream (or it ended): the polled prediction is the truth.
          if (p.output !== null && p.output !== undefined) this.drawOutput(p.output, !done);
          else if (done) this.drawOutput(null, false);
          if (done || !this.sseLogs) { this.logs = p.logs || ""; this.drawLogs(this.logs); }
        }
        if (done) this.stop();
      } catch (e) {
        if (e.status === 404) this.stop();
      } finally {
        this.polling = false;
      }
    }

    stop() {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.source) this.source.close();
      this.source = null;
      this.sseOpen = false;
    }

    async cancel() {
      if (!this.p) return;
      try {
        const p = await api("POST", "/v1/predictions/" + encodeURIComponent(this.p.id) + "/cancel");
        this.show(p);
      } catch (e) {
        this.errBox.hidden = false;
        this.errBox.textContent = "Cancel failed: " + e.message;
      }
      this.poll();
    }
  }

  // ----------------------------------------------------------------------------------------- form

  function fieldOf(node) { return node.closest(".field"); }

  function schemaOf(field) {
    try { return JSON.parse(field.dataset.schema || "{}"); } catch (e) { return {}; }
  }

  class Missing { }
  const MISSING = new Missing();

  /* One widget's value as JSON, or MISSING when left empty; throws Error(message) on unparsable text. */
  function widgetValue(container, widget, kind) {
    if (widget === "list") {
      const rows = $$(":scope > .rows > [data-row] > .row-widget", $("[data-list]", container) || container);
      const out = [];
      for (const r of rows) {
        const v = widgetValue(r, r.dataset.widget, r.dataset.kind);
        if (v !== MISSING) out.push(v);
      }
      return out.length ? out : MISSING;
    }
    if (widget === "checkbox") {
      const box = $("input[type=checkbox]", container);
      return box.checked;
    }
    if (widget === "select") {
      const s = $("select", container);
      return s.value === "" ? MISSING : JSON.parse(s.value);
    }
    if (widget === "json") {
      const t = $("textarea", container).value.trim();
      if (!t) return MISSING;
      try { return JSON.parse(t); } catch (e) { throw new Error("not valid JSON: " + e.message); }
    }
    const input = widget === "file" ? $("input.url", container) : (widget === "slider" ? $("input[type=number]", container) : $("input, textarea", container));
    const raw = input.value;
    if (kind === "integer" || kind === "number") {
      if (raw.trim() === "") return MISSING;
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error("must be a number");
      if (kind === "integer" && !Number.isInteger(n)) throw new Error("must be an integer");
      return n;
    }
    return raw === "" ? MISSING : raw;
  }

  function typeName(v) {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
    return typeof v;
  }

  /* The schema checks the hub applies too, done here first: the first problem's message, or null. */
  function check(value, s) {
    if (!s || typeof s !== "object") return null;
    if (value === null) return s.nullable ? null : "must not be empty";
    if (Array.isArray(s.enum) && s.enum.length && !s.enum.some((c) => JSON.stringify(c) === JSON.stringify(value))) {
      return "must be one of " + s.enum.map((c) => JSON.stringify(c)).join(", ");
    }
    const t = typeName(value);
    if (s.anyOf) return s.anyOf.some((b) => check(value, b) === null) ? null : "does not match any allowed type";
    switch (s.type) {
      case "string":
        if (t !== "string") return "must be a string";
        if (s.minLength !== undefined && value.length < s.minLength) return "must be at least " + s.minLength + " characters";
        if (s.maxLength !== undefined && value.length > s.maxLength) return "must be at most " + s.maxLength + " characters";
        if (s.pattern) {
          let re = null;
          try { re = new RegExp(s.pattern, "u"); } catch (e) { re = null; } // a pattern JS cannot read: the hub checks it
          if (re && !re.test(value)) return "must match " + s.pattern;
        }
        if (s.format === "uri" && !/^[a-z][a-z0-9+.-]*:/i.test(value)) return "must be a URL (or pick a file)";
        return null;
      case "integer":
        if (t !== "integer") return "must be an integer";
      // falls through
      case "number":
        if (t !== "integer" && t !== "number") return "must be a number";
        if (s.minimum !== undefined && value < s.minimum) return "must be at least " + s.minimum;
        if (s.maximum !== undefined && value > s.maximum) return "must be at most " + s.maximum;
        if (s.exclusiveMinimum !== undefined && typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) return "must be more than " + s.exclusiveMinimum;
        if (s.exclusiveMaximum !== undefined && typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) return "must be less than " + s.exclusiveMaximum;
        return null;
      case "boolean":
        return t === "boolean" ? null : "must be true or false";
      case "array": {
        if (t !== "array") return "must be a list";
        if (s.minItems !== undefined && value.length < s.minItems) return "needs at least " + s.minItems + " items";
        if (s.maxItems !== undefined && value.length > s.maxItems) return "takes at most " + s.maxItems + " items";
        for (let i = 0; i < value.length; i++) {
          const m = check(value[i], s.items);
          if (m) return "item " + (i + 1) + " " + m;
        }
        return null;
      }
      case "object":
        return t === "object" ? null : "must be a JSON object";
      default:
        return null;
    }
  }

  class Playground {
    constructor(config) {
      this.config = config;
      this.form = $("#run-form");
      this.fields = $$("#form-fields > .field");
      this.mode = "form";
      this.uploads = 0;
      this.run = null;
      this.wire();
      this.updateSnippets();
    }

    wire() {
      this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
      this.form.addEventListener("input", () => this.updateSnippets());
      this.form.addEventListener("change", () => this.updateSnippets());
      this.form.addEventListener("reset", () => setTimeout(() => {
        $$(".preview", this.form).forEach((p) => p.replaceChildren());
        $$(".upload", this.form).forEach((p) => { p.textContent = ""; });
        this.clearErrors();
        this.updateSnippets();
      }));
      $("#cancel").addEventListener("click", () => this.run && this.run.cancel());
      $$("[data-mode]").forEach((b) => b.addEventListener("click", () => this.setMode(b.dataset.mode)));
      $("#input-json").addEventListener("input", () => this.updateSnippets());
      this.form.addEventListener("click", (ev) => {
        const add = ev.target.closest("[data-add-row]");
        if (add) this.addRow(add.closest("[data-list]"));
        const rm = ev.target.closest("[data-remove-row]");
        if (rm) { const list = rm.closest("[data-list]"); rm.closest("[data-row]").remove(); this.updateSnippets(); const next = $("[data-add-row]", list); if (next) next.focus(); }
        const fmt = ev.target.closest("[data-format-json]");
        if (fmt) this.formatJson(document.getElementById(fmt.dataset.formatJson));
      });
      $$("input[type=range][data-range-for]", this.form).forEach((r) => this.wireSlider(r));
      $$(".drop", this.form).forEach((d) => this.wireDrop(d));
    }

    wireSlider(range) {
      const box = document.getElementById(range.dataset.rangeFor);
      range.addEventListener("input", () => { box.value = range.value; box.dispatchEvent(new Event("input", { bubbles: true })); });
      box.addEventListener("input", () => { if (box.value !== "") range.value = box.value; });
    }

    wireDrop(zone) {
      const id = zone.dataset.dropFor;
      const picker = $("input[type=file]", zone);
      picker.addEventListener("change", () => { if (picker.files.length) this.takeFile(zone, picker.files[0]); });
      zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", (ev) => {
        ev.preventDefault();
        zone.classList.remove("over");
        const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
        if (f) this.takeFile(zone, f);
        else {
          const text = ev.dataTransfer && ev.dataTransfer.getData("text/uri-list");
          if (text) { document.getElementById(id).value = text.split("\n")[0].trim(); this.preview(zone, text.trim()); this.updateSnippets(); }
        }
      });
      zone.addEventListener("paste", (ev) => {
        const items = ev.clipboardData ? Array.from(ev.clipboardData.files || []) : [];
        if (items.length) { ev.preventDefault(); this.takeFile(zone, items[0]); }
      });
      zone.addEventListener("keydown", (ev) => {
        if (ev.target === zone && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); picker.click(); }
      });
      const url = document.getElementById(id);
      // Preview as the URL is typed (not on blur, which would move the page under a click on Run).
      let pending = null;
      url.addEventListener("input", () => {
        clearTimeout(pending);
        pending = setTimeout(() => { if (!url.value.startsWith(location.origin + "/v1/files/")) this.preview(zone, url.value); }, 250);
      });
      if (url.value) this.preview(zone, url.value);
    }

    preview(zone, url) {
      const box = $(".preview", zone);
      box.replaceChildren();
      if (!url) return;
      const mime = url.startsWith("blob:") ? (zone.dataset.mime || "") : mimeOf(url);
      let media = null;
      if (mime.startsWith("image/")) media = el("img", { src: url, alt: "preview" });
      else if (mime.startsWith("audio/")) media = el("audio", { src: url, controls: true });
      else if (mime.startsWith("video/")) media = el("video", { src: url, controls: true });
      if (media) box.append(media);
    }

    async takeFile(zone, file) {
      const id = zone.dataset.dropFor;
      const url = document.getElementById(id);
      const status = $(".upload", zone);
      const field = fieldOf(zone);
      this.setError(field, null);
      zone.dataset.mime = file.type || "";
      this.preview(zone, URL.createObjectURL(file));
      status.textContent = "Uploading " + file.name + "…";
      this.uploads++;
      this.syncRunButton();
      try {
        const f = await upload(file, (x) => { status.textContent = "Uploading " + file.name + "… " + Math.round(x * 100) + " %"; });
        url.value = f.urls.get;
        status.textContent = file.name + " (" + formatSize(f.size) + ") uploaded";
        url.dispatchEvent(new Event("input", { bubbles: true }));
      } catch (e) {
        status.textContent = "";
        this.setError(field, "Upload failed: " + e.message);
      } finally {
        this.uploads--;
        this.syncRunButton();
      }
    }

    syncRunButton() {
      const btn = $("#run");
      btn.disabled = this.uploads > 0;
      btn.textContent = this.uploads > 0 ? "Uploading…" : "Run";
    }

    addRow(list) {
      const tpl = $(":scope > template", list);
      const n = $$(":scope > .rows > [data-row]", list).length;
      const html = tpl.innerHTML.split(list.id + "-N").join(list.id + "-" + n + "-" + Date.now());
      const holder = document.createElement("div");
      holder.innerHTML = html; // our own server-rendered template, no user data
      const row = holder.firstElementChild;
      $(":scope > .rows", list).append(row);
      $$("input[type=range][data-range-for]", row).forEach((r) => this.wireSlider(r));
      $$(".drop", row).forEach((d) => this.wireDrop(d));
      const first = $("input:not([type=range]), textarea, select", row);
      if (first) first.focus();
      this.updateSnippets();
    }

    formatJson(area) {
      const field = fieldOf(area);
      try { area.value = JSON.stringify(JSON.parse(area.value), null, 2); this.setError(field, null); }
      catch (e) { this.setError(field, "not valid JSON: " + e.message); }
    }

    /* {input, errors: {name: message}} from the form (or the JSON box). */
    collect() {
      const errors = {};
      if (this.mode === "json") {
        const text = $("#input-json").value.trim();
        let input = {};
        try { input = text ? JSON.parse(text) : {}; } catch (e) { return { input: {}, errors: { "": "The input is not valid JSON: " + e.message } }; }
        if (typeof input !== "object" || Array.isArray(input) || input === null) return { input: {}, errors: { "": "The input must be a JSON object" } };
        for (const f of this.fields) {
          const name = f.dataset.name;
          if (!(name in input)) { if (f.dataset.required === "true") errors[name] = "is required"; continue; }
          const m = check(input[name], schemaOf(f));
          if (m) errors[name] = m;
        }
        return { input, errors };
      }
      const input = {};
      for (const f of this.fields) {
        const name = f.dataset.name;
        let v;
        try { v = widgetValue(f, f.dataset.widget, f.dataset.kind); } catch (e) { errors[name] = e.message; continue; }
        if (v === MISSING) { if (f.dataset.required === "true") errors[name] = "is required"; continue; }
        const m = check(v, schemaOf(f));
        if (m) errors[name] = m;
        input[name] = v;
      }
      return { input, errors };
    }

    /* Put values into the widgets (leaving JSON mode). */
    fill(input) {
      for (const f of this.fields) {
        const name = f.dataset.name;
        const w = f.dataset.widget;
        const v = input[name];
        if (w === "checkbox") $("input[type=checkbox]", f).checked = Boolean(v);
        else if (w === "select") $("select", f).value = v === undefined ? "" : JSON.stringify(v);
        else if (w === "json") $("textarea", f).value = v === undefined ? "" : JSON.stringify(v, null, 2);
        else if (w === "list") {
          const list = $("[data-list]", f);
          $(":scope > .rows", list).replaceChildren();
          for (const item of Array.isArray(v) ? v : []) {
            this.addRow(list);
            const row = $$(":scope > .rows > [data-row]", list).pop();
            const widget = $(".row-widget", row);
            const input = widget.dataset.widget === "file" ? $("input.url", widget) : $("input:not([type=range]), textarea, select", widget);
            if (widget.dataset.widget === "checkbox") input.checked = Boolean(item);
            else input.value = widget.dataset.widget === "select" ? JSON.stringify(item) : String(item);
          }
        } else {
          const input = w === "file" ? $("input.url", f) : (w === "slider" ? $("input[type=number]", f) : $("input, textarea", f));
          input.value = v === undefined ? "" : (typeof v === "string" ? v : JSON.stringify(v));
          if (w === "slider" && v !== undefined) $("input[type=range]", f).value = v;
          if (w === "file") this.preview($(".drop", f), input.value);
        }
      }
    }

    setMode(mode) {
      if (mode === this.mode) return;
      this.clearErrors();
      if (mode === "json") {
        const { input } = this.collect();
        $("#input-json").value = JSON.stringify(input, null, 2);
      } else {
        const text = $("#input-json").value.trim();
        let input;
        try { input = text ? JSON.parse(text) : {}; } catch (e) {
          this.setError(null, "The input is not valid JSON: " + e.message, "err-input-json");
          return;
        }
        this.fill(input || {});
      }
      this.mode = mode;
      $("#form-fields").hidden = mode === "json";
      $("#json-mode").hidden = mode !== "json";
      $$("[data-mode]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
      (mode === "json" ? $("#input-json") : $("#form-fields input, #form-fields textarea, #form-fields select") || $("#run")).focus();
      this.updateSnippets();
    }

    clearErrors() {
      $$(".field", this.form).forEach((f) => this.setError(f, null));
      for (const id of ["form-problem", "err-input-json"]) { const n = document.getElementById(id); n.hidden = true; n.textContent = ""; }
    }

    setError(field, message, id) {
      const node = field ? $(":scope > .error", field) : document.getElementById(id || "form-problem");
      node.hidden = !message;
      node.textContent = message || "";
      if (field) {
        $$("input, textarea, select", field).forEach((i) => {
          if (message) i.setAttribute("aria-invalid", "true"); else i.removeAttribute("aria-invalid");
        });
        field.classList.toggle("invalid", Boolean(message));
      }
    }

    showErrors(errors) {
      let first = null;
      for (const [name, message] of Object.entries(errors)) {
        const field = this.fields.find((f) => f.dataset.name === name);
        if (this.mode === "json" || !field) {
          const box = this.mode === "json" ? "err-input-json" : "form-problem";
          const n = document.getElementById(box);
          n.hidden = false;
          n.textContent = (n.textContent ? n.textContent + "\n" : "") + (name ? name + ": " : "") + message;
          first = first || n;
        } else {
          this.setError(field, message);
          first = first || field;
        }
      }
      if (first) {
        const focusable = first.matches && first.matches(".field") ? $("input:not([type=range]), textarea, select", first) : $("#input-json");
        if (focusable && this.mode === "form") focusable.focus();
      }
    }

    /* The server's 422: `field: message; other[0]: message` in `detail` (the hub's form), or Cog's
     * detail[] with `loc`. Each message goes next to its field; the rest above the Run button. */
    serverErrors(body) {
      const out = {};
      const names = this.fields.map((f) => f.dataset.name);
      const add = (name, msg) => { out[name] = out[name] ? out[name] + "; " + msg : msg; };
      if (Array.isArray(body.detail)) {
        for (const d of body.detail) {
          const loc = Array.isArray(d.loc) ? d.loc.map(String) : [];
          add(loc.find((x) => names.includes(x)) || "", String(d.msg || JSON.stringify(d)));
        }
        return out;
      }
      const text = String(body.detail || body.title || "The hub refused the input");
      for (const part of text.split("; ")) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\]|\.[A-Za-z0-9_]+)*): ([\s\S]*)$/.exec(part);
        if (m && names.includes(m[1])) add(m[1], (m[2] ? m[2].replace(/^\./, "") + ": " : "") + m[3]);
        else add("", part);
      }
      return out;
    }

    async submit() {
      this.clearErrors();
      if (this.uploads > 0) return;
      const { input, errors } = this.collect();
      if (Object.keys(errors).length) { this.showErrors(errors); return; }
      if (this.run) this.run.stop();
      const btn = $("#run");
      btn.disabled = true;
      const view = new RunView($("#run-view"), this.config.display, (p) => this.running(p));
      this.run = view;
      view.status.textContent = "submitting";
      try {
        // "owner/name:id", not the bare id: the same image may be pushed under several names.
        const version = this.config.model + ":" + this.config.version;
        const p = await api("POST", "/v1/predictions", { version, input, stream: true });
        view.follow(p);
      } catch (e) {
        view.status.textContent = "";
        if (e.status === 422 || e.status === 400) this.showErrors(this.serverErrors(e.body));
        else this.showErrors({ "": (e.body && e.body.title ? e.body.title + ": " : "") + e.message });
        $("#run-view").replaceChildren(el("p", { class: "muted", text: "The prediction was not created." }));
        this.running(null);
      }
    }

    running(p) {
      const live = p && !TERMINAL.includes(p.status);
      $("#cancel").hidden = !live;
      $("#run").disabled = Boolean(live) || this.uploads > 0;
    }

    // ----------------------------------------------------------------------------------- snippets

    currentInput() {
      if (this.mode === "json") {
        try { return JSON.parse($("#input-json").value || "{}"); } catch (e) { return {}; }
      }
      return this.collect().input;
    }

    updateSnippets() {
      const input = this.currentInput();
      const cfg = this.config;
      const ref = cfg.model + ":" + cfg.version;
      setCode("snippet-python", pythonSnippet(cfg.base, ref, input, cfg.display || {}));
      setCode("snippet-curl", curlSnippet(cfg.base, ref, input));
      setCode("snippet-json", JSON.stringify(input, null, 2));
    }
  }

  function setCode(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }

  function formatSize(n) {
    if (typeof n !== "number") return "?";
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  /* A JSON value as a Python literal (JSON strings are valid Python strings). */
  function py(v, indent) {
    const pad = "    ".repeat(indent + 1);
    const end = "    ".repeat(indent);
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    if (typeof v === "number" || typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (!v.length) return "[]";
      return "[\n" + v.map((x) => pad + py(x, indent + 1) + ",\n").join("") + end + "]";
    }
    const keys = Object.keys(v);
    if (!keys.length) return "{}";
    return "{\n" + keys.map((k) => pad + JSON.stringify(k) + ": " + py(v[k], indent + 1) + ",\n").join("") + end + "}";
  }

  function pythonSnippet(base, ref, input, display) {
    const call = "replicate.run(\n    " + JSON.stringify(ref) + ",\n    input=" + py(input, 1) + ",\n)";
    let use;
    if (display.iterator) {
      use = "for item in " + call + ":\n    print(item, end=\"\", flush=True)\nprint()\n";
    } else if (display.file && display.list) {
      use = "output = " + call + "\nfor i, item in enumerate(output):\n    with open(f\"output-{i}\", \"wb\") as f:\n        f.write(item.read())\n    print(f\"output-{i}\")\n";
    } else if (display.file) {
      use = "output = " + call + "\nwith open(\"output\", \"wb\") as f:\n    f.write(output.read())\nprint(\"output\")\n";
    } else {
      use = "output = " + call + "\nprint(output)\n";
    }
    return "import os\n\nos.environ[\"REPLICATE_BASE_URL\"] = " + JSON.stringify(base) +
      "  # this hub\n# REPLICATE_API_TOKEN: a token of this hub (cogpin hub token create)\n\nimport replicate\n\n" + use;
  }

  function curlSnippet(base, version, input) {
    const body = JSON.stringify({ version, input }, null, 2);
    return "curl -s -X POST " + base + "/v1/predictions \\\n" +
      "  -H \"Authorization: Bearer $REPLICATE_API_TOKEN\" \\\n" +
      "  -H \"Content-Type: application/json\" \\\n" +
      "  -H \"Prefer: wait\" \\\n" +
      "  -d @- <<'JSON'\n" + body + "\nJSON\n";
  }

  async function copyText(text, button) {
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
      const area = el("textarea", { class: "offscreen", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
      area.remove();
    }
    const label = button.textContent;
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  // ------------------------------------------------------------------------------------------ tabs

  function wireTabs() {
    const tabs = $$("[role=tab]");
    if (!tabs.length) return;
    const select = (tab, focus) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
    };
    const fromHash = () => tabs.find((t) => t.getAttribute("href") === location.hash) || tabs[0];
    tabs.forEach((t, i) => {
      t.addEventListener("click", (ev) => { ev.preventDefault(); history.replaceState(null, "", t.getAttribute("href")); select(t); });
      t.addEventListener("keydown", (ev) => {
        const next = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : ev.key === "Home" ? 0 : ev.key === "End" ? tabs.length - 1 : null;
        if (next === null) return;
        ev.preventDefault();
        const t2 = tabs[(next + tabs.length) % tabs.length];
        history.replaceState(null, "", t2.getAttribute("href"));
        select(t2, true);
      });
    });
    window.addEventListener("hashchange", () => select(fromHash()));
    select(fromHash());
  }

  // ------------------------------------------------------------------------------------------ pages

  function modelPage() {
    const config = pageConfig();
    wireTabs();
    const picker = $("#version");
    picker.addEventListener("change", () => {
      const u = new URL(location.href);
      u.searchParams.set("version", picker.value);
      u.searchParams.delete("from");
      location.href = u.pathname + u.search + location.hash;
    });
    $$("[data-nojs]").forEach((n) => { n.hidden = true; });
    const play = new Playground(config);
    $$("[data-copy]").forEach((b) => b.addEventListener("click", () => copyText(document.getElementById(b.dataset.copy).textContent, b)));
    window.cogpinPlayground = play; // for the console
  }

  function predictionPage() {
    const config = pageConfig();
    const p = config.prediction;
    const view = new RunView($("#run-view"), config.display, (q) => {
      const s = $("#p-status");
      s.textContent = q.status;
      s.className = "status status-" + q.status;
      const cancel = $("#cancel");
      if (cancel) cancel.hidden = TERMINAL.includes(q.status);
      if (q.completed_at) $("#p-completed").textContent = q.completed_at.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
      if (q.started_at) $("#p-started").textContent = q.started_at.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
      const m = q.metrics || {};
      const t = m.total_time !== undefined ? m.total_time : m.predict_time;
      if (typeof t === "number") $("#p-duration").textContent = t < 1 ? (t * 1000).toFixed(0) + " ms" : t.toFixed(2) + " s";
      const rows = Object.entries(m).map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: String(v) })));
      if (rows.length) $("#metrics tbody").replaceChildren(...rows);
    });
    view.follow(p);
    const cancel = $("#cancel");
    if (cancel) cancel.addEventListener("click", () => view.cancel());
    // Media inputs are shown as media too.
    $$("[data-input]").forEach((cell) => {
      const v = (p.input || {})[cell.dataset.input];
      if (isFileUrl(v)) cell.replaceChildren(fileItem(v));
      else if (Array.isArray(v) && v.length && v.every(isFileUrl)) cell.replaceChildren(el("div", { class: "gallery" }, ...v.map((u, i) => fileItem(u, i))));
    });
  }

  // A file dropped beside a drop zone must not make the browser leave the page (and lose the form).
  for (const name of ["dragover", "drop"]) {
    window.addEventListener(name, (ev) => { if (!ev.target.closest || !ev.target.closest(".drop")) ev.preventDefault(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "model") modelPage();
    else if (page === "prediction") predictionPage();
  });

  window.cogpin = { renderOutput, check, pythonSnippet, curlSnippet, py };
})();
