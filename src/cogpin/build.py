"""`cogpin build`: lock → Dockerfile → image on the Docker Engine.

1. Read ``cog.lock`` (checked against cog.yaml by ``cogpin.lock.ensure_fresh`` per ``lock_mode``).
2. Compute the image's **identity**: a hash of the lock's bytes, the project files after .dockerignore,
   the CA certificate and the template version. An image labelled with it already exists → nothing to do.
3. Fetch every artifact the lock pins into the content-addressed cache (sha256-checked), serve them on
   127.0.0.1 for the build (this machine's, or the engine's: ``cogpin.engine_wheelhouse.mode``), render
   the Dockerfile, send a context of the Dockerfile, cogpin's init and the project (fixed mtimes and
   owners), and build untagged (the Docker SDK's classic builder; the BuildKit CLI
   when build.run has secret mounts).
4. Run ``python -m cog.command.openapi_schema`` in a throwaway container of the image (an invalid
   predictor fails the build here, with the reason), then add the schema, pip freeze, identity and OCI
   labels in a metadata-only step, and only then tag: a failed build leaves no tag behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError

if TYPE_CHECKING:
    from cogpin.config import Config
    from cogpin.templates.lockview import LockView

IDENTITY_LABEL = "dev.cogpin.identity"
TEMP_LABEL = "dev.cogpin.temporary"
# Never sent, whatever .dockerignore says (appended last, so no `!pattern` brings them back).
ALWAYS_EXCLUDED = (
    ".git",
    ".hg",
    ".svn",
    ".cog",
    ".venv",
    "venv",
    "**/__pycache__",
    "**/*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "**/.DS_Store",
)
CONTEXT_MTIME = 315532800  # 1980-01-01, like FILE_EPOCH in the templates


@dataclass
class BuildOptions:
    tag: str | None = None  # default: `image` from cog.yaml, else cog-<folder name>
    no_cache: bool = False
    secrets: tuple[str, ...] = ()  # "id=ID,src=FILE"
    progress: str = "auto"  # auto|plain|quiet
    lock_mode: str = "locked"  # locked|frozen|relock
    ca_cert: str | None = None  # PEM file, folder or text; default: COG_CA_CERT (as Cog reads it)
    port: int | None = None  # wheel server port; default COGPIN_WHEELS_PORT or the templates' fixed port


@dataclass
class BuiltImage:
    id: str
    tags: list[str]
    identity_tag: str
    schema: dict
    reused: bool
    identity: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    wheelhouse: str = ""  # where the build's wheel server ran: host|engine ("" when nothing was built)
    uploaded: list[str] = field(default_factory=list)  # artifacts sent to the engine's volume (engine mode)


# ---------------------------------------------------------------------------------------------------------
# Inputs


def load_lock(config: Config, mode: str = "locked", echo: Any = None) -> LockView:
    """The lock to build from: ``cogpin.lock.ensure_fresh`` decides per mode (locked: fail when stale,
    naming what changed; frozen: use as is; relock: re-resolve when stale; no lock: create one)."""
    from cogpin.lock import ensure_fresh
    from cogpin.templates.lockview import view

    path = config.root / "cog.lock"
    return view(ensure_fresh(config, mode, echo=echo), str(path))


def default_tag(config: Config) -> str:
    if config.image:
        return config.image
    name = re.sub(r"[^a-z0-9._-]+", "-", config.root.name.lower()).strip("-._") or "model"
    return f"cog-{name}"


def repository(tag: str) -> str:
    """``registry:5000/a/b:tag@sha256:…`` → ``registry:5000/a/b``."""
    tag = tag.split("@", 1)[0]
    head, _, last = tag.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def ca_certificate(value: str | None) -> bytes | None:
    """The CA certificate(s) to trust in the image: ``--ca-cert``/``COG_CA_CERT`` as Cog reads it: a PEM
    file, a folder of ``*.crt``/``*.pem`` files, or the PEM text itself."""
    value = value if value is not None else os.environ.get("COG_CA_CERT") or os.environ.get("COGPIN_CA_CERT")
    if not value:
        return None
    if "-----BEGIN" in value:
        data = value.encode()
    else:
        p = Path(value).expanduser()
        if p.is_dir():
            files = sorted([*p.glob("*.crt"), *p.glob("*.pem")])
            data = b"".join(f.read_bytes().rstrip(b"\n") + b"\n" for f in files)
        elif p.is_file():
            data = p.read_bytes()
        else:
            raise CogpinError(
                f"COG_CA_CERT={value}: no such file or folder", "give a PEM file, a folder or PEM text."
            )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CogpinError(f"COG_CA_CERT={value[:60]}: holds no PEM certificate")
    return data.rstrip(b"\n") + b"\n"


def project_files(root: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` for every file and folder sent to the build: .dockerignore is
    honoured; VCS folders, .cog/, virtual environments and caches never go."""
    from docker.utils.build import PatternMatcher

    patterns: list[str] = []
    ignore = root / ".dockerignore"
    if ignore.is_file():
        for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    venvs = [d.name for d in root.iterdir() if d.is_dir() and (d / "pyvenv.cfg").is_file()]
    patterns += [*ALWAYS_EXCLUDED, *venvs]
    paths = sorted(set(PatternMatcher(patterns).walk(str(root))))
    out = []
    for rel in paths:
        p = root / rel
        if p.is_symlink() or p.is_file() or p.is_dir():
            out.append((Path(rel).as_posix(), p))
    return out


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class DigestCache:
    """sha256 of project files, remembered by (size, mtime, inode) in ``.cog/cogpin-digests.json`` (as git's
    index does), so a no-op build does not read gigabytes of weights again. Files under 1 MB are always
    read."""

    MIN_SIZE = 1 << 20

    def __init__(self, root: Path) -> None:
        self.path = root / ".cog" / "cogpin-digests.json"
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def digest(self, rel: str, p: Path) -> str:
        st = p.stat()
        if st.st_size < self.MIN_SIZE:
            return file_digest(p)
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(rel)
        if entry and entry[:3] == key:
            return str(entry[3])
        digest = file_digest(p)
        self.entries[rel] = [*key, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only project: digests are simply computed again next time


def identity(
    lock: LockView,
    config: Config,
    files: list[tuple[str, Path]],
    ca: bytes | None,
    include_project: bool,
    meta: dict[str, str] | None = None,
) -> str:
    """The image's content identity (Nix-style): the same inputs always give the same hash.

    ``meta`` holds the label values that come from outside the lock and the files (title, git revision,
    created): they are part of the image, so a reused image never carries another commit's labels."""
    from cogpin.templates import template_version

    h = hashlib.sha256()
    h.update(b"cogpin-identity-1\0")
    h.update(f"template={template_version()}\0lock={lock.sha256}\0project={include_project}\0".encode())
    h.update(b"ca=" + hashlib.sha256(ca or b"").hexdigest().encode() + b"\0")
    for key, value in sorted((meta or {}).items()):
        h.update(f"meta {key}={value}\0".encode())
    if not include_project:
        # The Dockerfile still depends on cog.yaml (run steps, environment, predictor).
        files = [(config.path.name, config.path)]
    digests = DigestCache(config.root)
    for rel, p in files:
        if p.is_symlink():
            h.update(f"L {rel} {os.readlink(p)}\0".encode())
        elif p.is_dir():
            h.update(f"D {rel}\0".encode())
        else:
            mode = "x" if os.access(p, os.X_OK) else "-"
            h.update(f"F {rel} {mode} {digests.digest(rel, p)}\0".encode())
    digests.save()
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# The build context


def write_context(
    out: Any, dockerfile: str, files: list[tuple[str, Path]], ca: bytes | None, include_project: bool
) -> None:
    """A tar with fixed mtimes, owners and modes, in a fixed order: the same inputs, the same bytes.

    Files reach the image through ``COPY <tree>/ /`` of trees that hold every parent folder (``/src``
    included), so no folder is ever created by the builder with the time of the build."""
    from cogpin.templates import CA_TREE, INIT_PATH, PROJECT_TREE, ROOTFS_TREE, init_script

    added: set[str] = set()

    def info(name: str, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.type, ti.mtime = size, mode, kind, CONTEXT_MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def folders(name: str) -> None:
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in added:
                    added.add(d)
                    tar.addfile(info(d, mode=0o755, kind=tarfile.DIRTYPE))

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            folders(name)
            tar.addfile(info(name, len(data), mode), io.BytesIO(data))

        add_bytes("Dockerfile", dockerfile.encode())
        if ca is not None:
            add_bytes(f"{CA_TREE}/usr/local/share/ca-certificates/cogpin-ca.crt", ca)
        add_bytes(f"{ROOTFS_TREE}{INIT_PATH}", init_script())
        folders(f"{ROOTFS_TREE}/src/")
        if not include_project:
            return
        folders(f"{PROJECT_TREE}/src/")
        for rel, p in files:
            name = f"{PROJECT_TREE}/src/{rel}"
            if p.is_symlink():
                ti = info(name, kind=tarfile.SYMTYPE, mode=0o777)
                ti.linkname = os.readlink(p)
                tar.addfile(ti)
            elif p.is_dir():
                added.add(name)
                tar.addfile(info(name, mode=0o755, kind=tarfile.DIRTYPE))
            else:
                mode = 0o755 if os.access(p, os.X_OK) else 0o644
                with open(p, "rb") as f:
                    tar.addfile(info(name, p.stat().st_size, mode), f)


# ---------------------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Build output: ``plain`` prints every step and line; ``auto`` prints the steps (rich on a terminal);
    ``quiet`` prints nothing but errors. Keeps the last lines of the running step for error messages."""

    def __init__(self, mode: str = "auto", stream: Any = None) -> None:
        self.mode = mode
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.step = ""
        self.tail: deque[str] = deque(maxlen=25)
        self._console: Any = None
        self._status: Any = None
        self._t0 = time.monotonic()

    def _con(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def info(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.tty:
            self._con().print(f"[bold cyan]cogpin[/] {_escape(text)}")
        else:
            print(f"cogpin: {text}", file=self.stream, flush=True)

    def begin_step(self, text: str) -> None:
        self.step = text.strip()
        self.tail.clear()
        if self.mode == "quiet":
            return
        first = self.step.splitlines()[0] if self.step else ""
        short = first if len(first) <= 110 else first[:107] + "..."
        if self.tty and self.mode == "auto":
            self._stop_status()
            self._con().print(f"[dim]{time.monotonic() - self._t0:6.1f}s[/] {_escape(short)}")
            self._status = self._con().status(_escape(short[:70]), spinner="dots")
            self._status.start()
        else:
            print(f"  {short}", file=self.stream, flush=True)

    def line(self, text: str) -> None:
        text = text.rstrip("\n")
        if not text.strip():
            return
        self.tail.append(text)
        if self.mode == "plain":
            print(f"    {text}", file=self.stream, flush=True)

    def done(self) -> None:
        self._stop_status()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def failure(self, error: str) -> str:
        self._stop_status()
        lines = "\n".join(f"    {line}" for line in self.tail)
        step = self.step.splitlines()[0] if self.step else "(before the first step)"
        return f"the build failed at {step}\n  last output:\n{lines}\n  {error.strip()}"


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


# ---------------------------------------------------------------------------------------------------------
# Engine steps


def _classic_build(
    context: Any,
    progress: Progress,
    *,
    no_cache: bool,
    platform: str,
    labels: dict | None = None,
    hint: Any = None,
) -> str:
    from cogpin.engine import BuildFailed, client

    api = client().api
    image_id = ""
    kwargs: dict[str, Any] = {}
    if platform and platform != "linux/amd64":
        kwargs["platform"] = platform
    stream = api.build(
        fileobj=context,
        custom_context=True,
        dockerfile="Dockerfile",
        rm=True,
        forcerm=True,
        nocache=no_cache,
        network_mode="host",
        pull=False,
        decode=True,
        labels=labels,
        **kwargs,
    )
    for chunk in stream:
        if "stream" in chunk:
            for text in chunk["stream"].splitlines():
                if text.startswith("Step ") and " : " in text:
                    progress.begin_step(text)
                elif text.startswith(" ---> Using cache"):
                    progress.line("(cached)")
                elif text.startswith((" ---> ", "Successfully", "Removing intermediate")):
                    continue
                else:
                    progress.line(text)
        elif "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        elif "error" in chunk:
            raise BuildFailed(
                progress.failure(chunk["error"]), _from_hint(progress) or (hint() if hint else None)
            )
        elif "status" in chunk:
            progress.line(f"{chunk.get('status', '')} {chunk.get('progress', '')}".strip())
    progress.done()
    if not image_id:
        raise BuildFailed(progress.failure("the engine returned no image ID"))
    return image_id


def _from_hint(progress: Progress) -> str | None:
    """A FROM that fails means the digest cog.lock pins cannot be pulled here."""
    step = progress.step.splitlines()[0] if progress.step else ""
    if " : FROM " not in step or "@sha256:" not in step:
        return None
    ref = step.split(" : FROM ", 1)[1].split()[0]
    return (
        f"the base image cog.lock pins, {ref}, cannot be pulled here: the registry (or this engine's "
        "mirror) does not have that digest. Give the engine access to it, or re-pin the base image with "
        "`cogpin lock --upgrade` and commit the new cog.lock."
    )


def _host_mode_hint() -> str | None:
    """Host mode: package installs reach cogpin's wheel server on 127.0.0.1 of this machine, which an
    engine elsewhere (or in a VM) does not share."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return (
            f"the wheel server ran on this machine's 127.0.0.1 (COGPIN_WHEELHOUSE=host), but the engine at "
            f"DOCKER_HOST={host} may not share it; if package installs failed, set COGPIN_WHEELHOUSE=engine "
            "(or unset it) to serve the lock's artifacts from the engine's side."
        )
    return None


def parse_secret(spec: str) -> tuple[str, str]:
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    sid, src = fields.get("id"), fields.get("src") or fields.get("source")
    if not sid or not src:
        raise CogpinError(f"--secret {spec!r}: expected id=ID,src=FILE")
    if not Path(src).expanduser().is_file():
        raise CogpinError(f"--secret {spec!r}: {src} is not a file")
    return sid, str(Path(src).expanduser().resolve())


def _buildkit_build(
    context_path: Path,
    progress: Progress,
    *,
    no_cache: bool,
    platform: str,
    secrets: tuple[str, ...],
    hint: Any = None,
) -> str:
    from cogpin.engine import BuildFailed, find_buildkit_cli

    cli = find_buildkit_cli()
    with tempfile.TemporaryDirectory(prefix="cogpin-iid-") as tmp:
        iid = Path(tmp) / "iid"
        cmd = [cli, "build", "--network", "host", "--progress", "plain", "--iidfile", str(iid)]
        if no_cache:
            cmd.append("--no-cache")
        if platform:
            cmd += ["--platform", platform]
        for spec in secrets:
            sid, src = parse_secret(spec)
            cmd += ["--secret", f"id={sid},src={src}"]
        cmd.append("-")
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        progress.info(f"building with BuildKit ({cli}) for build.run secret mounts")
        with open(context_path, "rb") as ctx:
            proc = subprocess.Popen(
                cmd, stdin=ctx, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
            )
            assert proc.stdout is not None
            for raw in proc.stdout:
                text = raw.rstrip("\n")
                m = re.match(r"^#\d+ (\[[^\]]*\] .*)$", text)
                if m and not text.endswith("CACHED"):
                    progress.begin_step(m.group(1))
                else:
                    progress.line(re.sub(r"^#\d+ [0-9.]+ ", "", text))
            code = proc.wait()
        if code != 0:
            raise BuildFailed(
                progress.failure(f"{Path(cli).name} build exited with status {code}"),
                hint() if hint else None,
            )
        progress.done()
        return iid.read_text().strip()


def openapi_schema(image_id: str, config: Config, include_project: bool) -> dict:
    """The predictor's schema, from the runtime inside the image (no server started); an invalid
    predictor fails here with the runtime's reason."""
    from cogpin.engine import BuildFailed, client

    c = client()
    kwargs: dict[str, Any] = {}
    if not include_project:
        kwargs["volumes"] = {str(config.root): {"bind": "/src", "mode": "ro"}}
    container = c.containers.create(
        image_id,
        ["python", "-m", "cog.command.openapi_schema"],
        labels={TEMP_LABEL: "openapi-schema"},
        network_disabled=True,
        **kwargs,
    )
    try:
        container.start()
        status = container.wait(timeout=300).get("StatusCode", 1)
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    if status != 0:
        reason = err.strip().splitlines()[-12:] or ["(no output)"]
        raise BuildFailed(
            "the predictor is invalid: `python -m cog.command.openapi_schema` failed in the image:\n  "
            + "\n  ".join(reason),
            f"fix {config.predict or config.train or 'the predictor'} and build again.",
        )
    try:
        return json.loads(out)
    except json.JSONDecodeError as e:
        raise BuildFailed(f"the runtime printed no valid OpenAPI schema: {e}: {out[:300]!r}") from e


def git_revision(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def oci_labels(config: Config) -> dict[str, str]:
    """The OCI labels that come from the machine rather than the lock: title, git revision, and created
    (only from SOURCE_DATE_EPOCH, so builds stay reproducible)."""
    labels = {"org.opencontainers.image.title": config.image or config.root.name}
    revision = git_revision(config.root)
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        labels["org.opencontainers.image.created"] = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch))
        )
    return labels


def final_labels(
    lock: LockView, config: Config, schema: dict | None, ident: str, oci: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels that need the built image or the machine: added in the metadata-only step (no schema label
    on the environment image)."""
    freeze = "\n".join(
        f"{p.name}=={p.version}" for p in sorted((*lock.packages, lock.runtime), key=lambda p: p.name)
    )
    labels = {"run.cog.pip_freeze": freeze, IDENTITY_LABEL: ident}
    labels.update(oci_labels(config) if oci is None else oci)
    if schema is not None:
        labels["run.cog.openapi_schema"] = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return labels


def _metadata_step(image_id: str, labels: dict[str, str], base_ref: str, progress: Progress) -> str:
    """The final image: the built one plus ``labels``, with a config written here byte for byte (fixed
    times, no parent/container IDs), loaded with ``docker load`` over the layers the engine already has.
    Same layers → same image ID. Falls back to a ``FROM <id>`` + labels build if the history cannot be
    mapped onto the layers."""
    try:
        return _load_reproducible_config(image_id, labels, base_ref)
    except Exception as e:  # noqa: BLE001
        progress.info(
            f"writing a reproducible image config failed ({e}); adding the labels with a build step"
        )
    context = io.BytesIO()
    data = f"FROM {image_id}\n".encode()
    with tarfile.open(fileobj=context, mode="w") as tar:
        ti = tarfile.TarInfo("Dockerfile")
        ti.size, ti.mtime = len(data), CONTEXT_MTIME
        tar.addfile(ti, io.BytesIO(data))
    context.seek(0)
    return _classic_build(context, Progress("quiet"), no_cache=False, platform="", labels=labels)


def _created() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = int(epoch) if epoch.isdigit() else CONTEXT_MTIME
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def reproducible_config(attrs: dict, history: list[dict], base_entries: int, labels: dict[str, str]) -> bytes:
    """The image config JSON for an image (``attrs`` from inspect, ``history`` oldest first from the API),
    with ``labels`` added, every time of ours fixed, and the fields that name build containers cleared."""
    created = _created()
    diff_ids = list(attrs["RootFS"]["Layers"])
    # Which history entries made no layer: the classic builder marks metadata steps "#(nop)" (COPY/ADD
    # always make one, a RUN makes one even when it changes nothing); BuildKit makes one for RUN, COPY,
    # ADD and WORKDIR; images from elsewhere may have skipped empty diffs.
    metadata = {
        "ENV",
        "EXPOSE",
        "CMD",
        "ENTRYPOINT",
        "LABEL",
        "ARG",
        "USER",
        "VOLUME",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "ONBUILD",
        "MAINTAINER",
    }

    def instruction(by: str) -> str:
        words = by.replace("/bin/sh -c #(nop) ", "").split()
        return words[0] if words else ""

    rules = (
        lambda h, by: h.get("Size", 0) == 0 and "#(nop)" in by and not re.search(r"#\(nop\) (COPY|ADD) ", by),
        lambda h, by: h.get("Size", 0) == 0 and instruction(by) in metadata,
        lambda h, by: h.get("Size", 0) == 0,
    )
    for rule in rules:
        empties = [rule(h, h.get("CreatedBy") or "") for h in history]
        if len(history) - sum(empties) == len(diff_ids):
            break
    else:
        raise ValueError("the image history does not match its layers")
    entries = []
    for i, (h, empty) in enumerate(zip(history, empties, strict=True)):
        when = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(h.get("Created") or 0)))
            if i < base_entries
            else created
        )
        entry: dict[str, Any] = {"created": when, "created_by": h.get("CreatedBy") or ""}
        if h.get("Comment"):
            entry["comment"] = h["Comment"]
        if empty:
            entry["empty_layer"] = True
        entries.append(entry)
    entries.append(
        {"created": created, "created_by": "cogpin: LABEL run.cog.openapi_schema, …", "empty_layer": True}
    )
    config = dict(attrs["Config"])
    config["Image"] = ""
    config["Hostname"] = ""
    config["Labels"] = {**(config.get("Labels") or {}), **labels}
    doc: dict[str, Any] = {
        "architecture": attrs.get("Architecture", "amd64"),
        "config": config,
        "created": created,
        "history": entries,
        "os": attrs.get("Os", "linux"),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if attrs.get("Variant"):
        doc["variant"] = attrs["Variant"]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _load_reproducible_config(image_id: str, labels: dict[str, str], base_ref: str) -> str:
    from cogpin.engine import client

    c = client()
    image = c.images.get(image_id)
    try:
        base_entries = len(c.images.get(base_ref).history())
    except Exception:  # noqa: BLE001
        base_entries = 0
    data = reproducible_config(image.attrs, list(reversed(image.history())), base_entries, labels)
    digest = hashlib.sha256(data).hexdigest()
    layers = [f"{i:04d}/layer.tar" for i in range(len(image.attrs["RootFS"]["Layers"]))]
    manifest = json.dumps([{"Config": f"{digest}.json", "RepoTags": None, "Layers": layers}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, body in ((f"{digest}.json", data), ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(body), CONTEXT_MTIME
            tar.addfile(ti, io.BytesIO(body))
    # The engine registers a layer from the archive only when it does not have it; it has them all.
    c.images.load(archive.getvalue())
    return f"sha256:{digest}"


# ---------------------------------------------------------------------------------------------------------
# The whole build


def find_reusable(ident: str, identity_tag: str | None = None) -> Any:
    """An image built from these exact inputs: by its identity tag first (one inspect, however many
    images the engine holds), else by the identity label (an image built under another name)."""
    from docker.errors import NotFound

    from cogpin.engine import client

    if identity_tag:
        try:
            image = client().images.get(identity_tag)
        except NotFound:
            pass
        else:
            if (image.labels or {}).get(IDENTITY_LABEL) == ident:
                return image
    images = client().images.list(filters={"label": f"{IDENTITY_LABEL}={ident}"})
    return images[0] if images else None


def build_image(config: Config, options: BuildOptions, *, include_project: bool = True) -> BuiltImage:
    from cogpin.engine import client

    progress = Progress(options.progress)
    lock = load_lock(config, options.lock_mode, echo=progress.info)
    ca = ca_certificate(options.ca_cert)
    files = project_files(config.root) if include_project else []
    # the environment image (predict/run/serve from source) is never pushed: its labels need not follow
    # the git revision, and skipping that keeps it reusable across commits
    oci = oci_labels(config) if include_project else {}
    ident = identity(lock, config, files, ca, include_project, oci)
    tag = options.tag or default_tag(config)
    if not include_project and not options.tag:
        tag = f"{repository(tag)}-env"
    if ":" not in tag.rsplit("/", 1)[-1]:
        tag = f"{tag}:latest"
    identity_tag = f"{repository(tag)}:cogpin-{ident[:32]}"

    c = client()
    if not options.no_cache:
        existing = find_reusable(ident, identity_tag)
        if existing is not None:
            for t in (tag, identity_tag):
                if t not in existing.tags:
                    existing.tag(t)
            labels = existing.labels or {}
            progress.info(
                f"{tag} is up to date (identity {ident[:12]}, image {existing.short_id.removeprefix('sha256:')}); nothing to build"
            )
            return BuiltImage(
                id=existing.id,
                tags=[tag],
                identity_tag=identity_tag,
                schema=json.loads(labels.get("run.cog.openapi_schema", "{}")),
                reused=True,
                identity=ident,
                labels=dict(labels),
            )

    from cogpin import engine_wheelhouse, wheelhouse
    from cogpin.settings import Settings
    from cogpin.templates import DEFAULT_PORT, RenderOptions, render

    t0 = time.monotonic()
    settings = Settings.from_env()
    progress.info(f"building {tag} from cog.lock (base {lock.base_image}@{lock.base_digest[:19]}…)")
    paths = wheelhouse.ensure_artifacts(
        lock, settings, on_fetch=lambda a: progress.info(f"fetching {a.filename} into the artifact cache")
    )
    port = options.port or int(os.environ.get("COGPIN_WHEELS_PORT") or DEFAULT_PORT)
    needs_buildkit = any(step.mounts for step in config.run)
    where = engine_wheelhouse.mode(c)
    server: Any
    serving: Any
    if where == "engine":
        serving = engine_wheelhouse.serve(
            list(lock.artifacts()),
            paths,
            port,
            base_ref=lock.base_ref if lock.python_source == "image" else None,
            client=c,
            info=progress.info,
        )
    else:
        serving = wheelhouse.serve(list(lock.artifacts()), paths, port)
    uploaded: list[str] = []
    with serving as server:
        hint = server.failure_hint if where == "engine" else _host_mode_hint
        uploaded = list(getattr(server, "uploaded", []))
        if server.port != port:
            progress.info(
                f"port {port} is taken; serving wheels on {server.port} (package layers will not come from the cache)"
            )
        dockerfile = render(
            lock,
            config,
            RenderOptions(include_project=include_project, port=server.port, ca_cert=ca is not None),
        )
        with tempfile.NamedTemporaryFile(prefix="cogpin-context-", suffix=".tar") as ctx:
            write_context(ctx, dockerfile, files, ca, include_project)
            ctx.flush()
            ctx.seek(0)
            if needs_buildkit:
                image_id = _buildkit_build(
                    Path(ctx.name),
                    progress,
                    no_cache=options.no_cache,
                    platform=lock.platform,
                    secrets=options.secrets,
                    hint=hint,
                )
            else:
                image_id = _classic_build(
                    ctx, progress, no_cache=options.no_cache, platform=lock.platform, hint=hint
                )

    # The environment image serves `run`/`predict`/`serve` from source, which read the schema of the
    # mounted project themselves; `cog run` must work even while the predictor is broken.
    schema: dict = {}
    if include_project:
        progress.begin_step("reading the predictor's OpenAPI schema")
        schema = openapi_schema(image_id, config, include_project)
    labels = final_labels(lock, config, schema if include_project else None, ident, oci)
    progress.begin_step("adding labels")
    final_id = _metadata_step(image_id, labels, lock.base_ref, progress)
    image = c.images.get(final_id)
    for t in (tag, identity_tag):
        image.tag(t)
    progress.done()
    if options.progress != "quiet":
        _print_layers(image, lock.base_ref, progress)
    progress.info(
        f"built {tag} ({image.short_id.removeprefix('sha256:')}) in {time.monotonic() - t0:.1f}s; identity tag {identity_tag}"
    )
    image.reload()
    return BuiltImage(
        id=image.id,
        tags=[tag],
        identity_tag=identity_tag,
        schema=schema,
        reused=False,
        identity=ident,
        labels=dict(image.labels or {}),
        wheelhouse=where,
        uploaded=uploaded,
    )


def _print_layers(image: Any, base_ref: str, progress: Progress) -> None:
    """The size of each layer this build added over the base image."""
    from cogpin.engine import client

    history = image.history()
    try:
        skip = len(client().images.get(base_ref).history())
    except Exception:  # noqa: BLE001
        skip = 0
    ours = list(reversed(history))[skip:]
    total = 0
    for h in ours:
        if h.get("Size", 0) <= 0:
            continue
        total += h["Size"]
        created_by = (h.get("CreatedBy") or "").replace("/bin/sh -c #(nop) ", "").removesuffix(" # buildkit")
        created_by = created_by.replace("RUN /bin/sh -c ", "RUN ").replace("/bin/sh -c ", "RUN ")
        created_by = " ".join(created_by.split())
        progress.info(f"  layer {_size(h['Size']):>9}  {created_by[:88]}")
    progress.info(f"  {_size(total)} over the base image")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)
