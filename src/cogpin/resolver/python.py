"""The Python closure, resolved with uv for the TARGET (Python version + Linux platform), never the host.

uv writes a ``pylock.toml`` (PEP 751) with the wheels compatible with the target; from it we keep, per
package, the one best wheel for the target tags with its sha256, a URL hint and the logical source index
(never a machine path: local folders are ``find-links``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from cogpin.resolver.compat import PLATFORMS, PYPI, TORCH_INDEX, Plan, ResolveError
from cogpin.resolver.memo import Memo
from cogpin.settings import Settings

if TYPE_CHECKING:
    from cogpin.config import Requirements

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIND_LINKS = "find-links"

# The torch-index reachability probe: a short timeout (it gates only whether the index is offered to uv),
# and its answer remembered per URL in the cogpin cache: a yes for a day, a no for a few minutes (and
# forgotten at once when a resolution then misses torch).
PROBE_TIMEOUT = 2.0
PROBE_TTL_REACHABLE = 24 * 3600.0
PROBE_TTL_UNREACHABLE = 10 * 60.0


class Cancelled(Exception):
    """A uv run stopped because its result was no longer wanted (another step failed, or it was started
    for a Python version that turned out wrong)."""


@dataclass(frozen=True)
class Wheel:
    filename: str
    platform: str
    sha256: str
    url: str | None  # a hint; None for local files


@dataclass
class Package:
    name: str
    version: str
    source: str
    requested: str | None = None
    wheels: list[Wheel] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    platform: str  # linux/amd64
    python: str  # exact X.Y.Z when known, else X.Y
    glibc: str  # "2.36"

    @property
    def arch(self) -> str:
        return PLATFORMS[self.platform]

    @property
    def uv_platform(self) -> str:
        return f"{self.arch}-manylinux_2_{min(int(self.glibc.split('.')[1]), 40)}"

    def tags(self) -> list[Tag]:
        major, minor = (int(p) for p in self.python.split(".")[:2])
        glibc_minor = int(self.glibc.split(".")[1])
        plats = [f"manylinux_2_{m}_{self.arch}" for m in range(glibc_minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for m, name in legacy.items():
            if m <= glibc_minor:
                plats.insert(plats.index(f"manylinux_2_{m}_{self.arch}") + 1, f"{name}_{self.arch}")
        tags = list(cpython_tags((major, minor), platforms=plats))
        tags += list(compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=plats))
        return tags

    def environment(self) -> dict[str, str]:
        full = self.python if self.python.count(".") == 2 else self.python + ".0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": self.arch,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": ".".join(self.python.split(".")[:2]),
            "sys_platform": "linux",
        }


_uv_bin_lock = threading.Lock()
_uv_bin: list[str] = []


def uv_bin() -> str:
    """The uv executable of this environment, found once. Locked: the platforms of a lock resolve in
    threads, and uv's finder reads ``sysconfig``, whose first initialisation is not thread-safe on
    Python 3.11 (a racing thread sees ``get_config_var("EXE")`` as None)."""
    with _uv_bin_lock:
        if not _uv_bin:
            from uv import find_uv_bin

            _uv_bin.append(str(find_uv_bin()))
        return _uv_bin[0]


@lru_cache(maxsize=16)
def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether an index answers at all (used only to decide whether to offer a torch variant index)."""
    try:
        req = urllib.request.Request(url.rstrip("/") + "/", method="HEAD")
        urllib.request.urlopen(req, timeout=timeout)  # noqa: S310
        return True
    except urllib.error.HTTPError as e:
        return e.code < 500
    except Exception:
        return False


def _probe_memo(settings: Settings) -> Memo:
    return Memo(settings.cache_dir, "reachable")


def remembered_reachable(url: str, settings: Settings) -> bool:
    """:func:`reachable`, with its answer remembered in the cogpin cache for a while (see PROBE_TTL_*)."""
    memo = _probe_memo(settings)
    hit = memo.get(url)
    if hit is not None and isinstance(hit[0], bool):
        ok, age = hit
        if age < (PROBE_TTL_REACHABLE if ok else PROBE_TTL_UNREACHABLE):
            return ok
    ok = bool(reachable(url))
    memo.put(url, ok)
    return ok


@dataclass
class IndexSetup:
    index_url: str
    extra_index_urls: list[str]
    find_links: list[str]
    options: list[str]
    torch_index: tuple[str, str] | None  # (url used, logical url)
    torch_index_skipped: str | None  # the torch index not offered (unreachable) or None


def index_setup(plan: Plan, req: Requirements, settings: Settings) -> IndexSetup:
    """Where uv looks: the machine's indexes and find-links, then those the requirements name, and the
    torch variant index when the plan needs one and it answers."""
    extra = list(settings.extra_index_urls) + [
        u for u in req.extra_index_urls if u not in settings.extra_index_urls
    ]
    find_links = list(settings.find_links) + [f for f in req.find_links if f not in settings.find_links]
    opts: list[str] = []
    for o in getattr(req, "options", ()):
        name, _, value = o.partition("=")
        if name == "--pre":
            opts += ["--prerelease", "allow"]
        elif name == "--no-index":
            opts.append("--no-index")
        elif name in ("--only-binary", "--no-binary"):
            opts += [name, value]
        elif name == "--trusted-host":
            opts += ["--allow-insecure-host", value]
    torch_index = None
    skipped = None
    t = plan.torch
    if t is not None and not t.from_default_index:
        url = settings.torch_index_url(t.variant)
        logical = TORCH_INDEX.format(variant=t.variant)
        if settings.torch_mirror or remembered_reachable(url, settings):
            torch_index = (url, logical)
        else:
            skipped = url
    return IndexSetup(req.index_url or settings.index_url, extra, find_links, opts, torch_index, skipped)


def source_of(url: str, setup: IndexSetup) -> tuple[str, str | None]:
    """(logical source, url hint) for a wheel URL uv reported."""
    if url.startswith("file:") or "://" not in url:
        return FIND_LINKS, None
    from cogpin.urls import normalise_url, strip_credentials

    host = urllib.parse.urlparse(url).netloc.rsplit("@", 1)[-1]
    candidates: list[tuple[str, str]] = []
    if setup.torch_index:
        candidates.append(setup.torch_index)
    for u in [setup.index_url, *setup.extra_index_urls]:
        candidates.append((u, u))
    for used, logical in candidates:
        if urllib.parse.urlparse(used).netloc.rsplit("@", 1)[-1] == host:
            return normalise_url(logical), strip_credentials(url)
    if host == "files.pythonhosted.org":
        return PYPI, strip_credentials(url)
    return normalise_url(setup.index_url), strip_credentials(url)


def best_wheel(filenames: list[str], target: Target) -> str | None:
    rank = {tag: i for i, tag in enumerate(target.tags())}
    best: tuple[int, str] | None = None
    for fn in filenames:
        try:
            _, _, _, tags = parse_wheel_filename(fn)
        except Exception:
            continue
        score = min((rank[t] for t in tags if t in rank), default=None)
        if score is not None and (best is None or (score, fn) < best):
            best = (score, fn)
    return best[1] if best else None


def preferences_pylock(versions: dict[str, str]) -> str:
    """A minimal pylock.toml that uv reads back as preferences (existing pins are kept unless --upgrade)."""
    lines = ['lock-version = "1.0"', 'created-by = "uv"', ""]
    for name in sorted(versions):
        lines += ["[[packages]]", f'name = "{name}"', f'version = "{versions[name]}"', ""]
    return "\n".join(lines)


def resolve_closure(
    plan: Plan,
    requirements: Requirements,
    settings: Settings,
    target: Target,
    *,
    preferences: dict[str, str] | None = None,
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
    setup: IndexSetup | None = None,
    cancel: threading.Event | None = None,
    local_wheels: tuple[Path, ...] = (),
) -> list[Package]:
    """Resolve with one ``uv pip compile``. ``cancel``, when set while uv runs, kills it (:class:`Cancelled`).
    ``local_wheels``: the wheels of the project's local artifacts (cogpin.lock.local), offered to uv in a
    find-links folder under their pinned ``name==version``."""
    setup = setup or index_setup(plan, requirements, settings)
    lines = list(plan.requirements)
    with tempfile.TemporaryDirectory(prefix="cogpin-uv-") as tmp:
        if local_wheels:
            setup = _offer_local_wheels(Path(tmp) / "local", local_wheels, setup, lines)
        req_in = Path(tmp) / "requirements.in"
        req_in.write_text("".join(line + "\n" for line in lines))
        out = Path(tmp) / "pylock.toml"
        if preferences and not upgrade:
            out.write_text(preferences_pylock(preferences))
        cmd = _uv_compile_command(req_in, out, target, setup, upgrade, upgrade_packages)
        env = _uv_env(settings)
        returncode, stderr = _run(cmd, env, cancel)
        if returncode != 0:
            if setup.torch_index_skipped:
                # the "unreachable" answer may be a remembered one: ask again next time
                _probe_memo(settings).forget(setup.torch_index_skipped)
            raise _uv_error(stderr, plan, setup, target)
        doc = tomllib.loads(out.read_text())
    return _packages(doc, plan, setup, target, tuple(requirements.lines) or plan.requirements)


def _offer_local_wheels(
    local_dir: Path, local_wheels: tuple[Path, ...], setup: IndexSetup, lines: list[str]
) -> IndexSetup:
    """The local wheels copied into a find-links folder for uv, each required as its ``name==version``
    (appended to ``lines``); the setup with that folder added."""
    local_dir.mkdir()
    for wheel in local_wheels:
        shutil.copyfile(wheel, local_dir / wheel.name)
        wheel_name, wheel_version, _, _ = parse_wheel_filename(wheel.name)
        lines.append(f"{wheel_name}=={wheel_version}")
    return IndexSetup(
        setup.index_url,
        setup.extra_index_urls,
        [*setup.find_links, str(local_dir)],
        setup.options,
        setup.torch_index,
        setup.torch_index_skipped,
    )


def _uv_compile_command(
    req_in: Path,
    out: Path,
    target: Target,
    setup: IndexSetup,
    upgrade: bool,
    upgrade_packages: tuple[str, ...],
) -> list[str]:
    """``uv pip compile`` of ``req_in`` into ``out`` (pylock.toml) for the target, over the setup's indexes."""
    cmd = [
        uv_bin(),
        "pip",
        "compile",
        str(req_in),
        "--no-config",
        "--quiet",
        "--no-header",
        "--format",
        "pylock.toml",
        "-o",
        str(out),
        "--python-version",
        target.python,
        "--python-platform",
        target.uv_platform,
        "--index-url",
        setup.index_url,
        # the target is --python-version/--python-platform; this interpreter is only uv's host (and
        # skips a slow search of PATH for a matching Python)
        "--python",
        sys.executable,
        "--no-python-downloads",
    ]
    for u in setup.extra_index_urls:
        cmd += ["--extra-index-url", u]
    if setup.torch_index:
        cmd += ["--extra-index-url", setup.torch_index[0]]
    for f in setup.find_links:
        cmd += ["--find-links", f]
    if setup.torch_index or setup.find_links or setup.extra_index_urls:
        cmd += ["--index-strategy", "unsafe-best-match"]
    cmd += setup.options
    if upgrade:
        cmd.append("--upgrade")
    for name in upgrade_packages:
        cmd += ["--upgrade-package", name]
    return cmd


def _uv_env(settings: Settings) -> dict[str, str]:
    """uv's environment: this one without the index variables (the setup says where to look), with the
    CA bundle cogpin uses, or else the system trust store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_INDEX", "UV_EXTRA_INDEX", "UV_FIND_LINKS", "UV_DEFAULT_INDEX"))
    }
    if settings.ca_bundle:
        env["SSL_CERT_FILE"] = settings.ca_bundle
    else:  # no CA bundle named anywhere: the system trust store (a TLS-intercepting proxy's CA lives there)
        env["UV_SYSTEM_CERTS"] = env["UV_NATIVE_TLS"] = "1"  # (UV_NATIVE_TLS: its older name)
    return env


def _run(cmd: list[str], env: dict[str, str], cancel: threading.Event | None) -> tuple[int, str]:
    """Run uv to the end (returncode, stderr), or kill it as soon as ``cancel`` is set."""
    if cancel is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        return proc.returncode, proc.stderr
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as popen:
        while True:
            if cancel.is_set():
                popen.kill()
                popen.communicate()
                raise Cancelled(" ".join(cmd[:3]))
            try:
                _, stderr = popen.communicate(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            return popen.returncode, stderr


def _uv_error(stderr: str, plan: Plan, setup: IndexSetup, target: Target) -> ResolveError:
    text = stderr.strip()
    tail = "\n".join(text.splitlines()[-12:])
    t = plan.torch
    if t is not None and not t.from_default_index and "torch" in text:
        idx = setup.torch_index[0] if setup.torch_index else setup.torch_index_skipped
        state = "was not reachable" if setup.torch_index is None else "did not provide it"
        return ResolveError(
            f"torch {t.version}+{t.variant} comes from the PyTorch index {idx}, which {state}; "
            f"uv said:\n{tail}",
            "set COGPIN_TORCH_INDEX_URL to a mirror of download.pytorch.org (a template with {variant}, "
            "e.g. https://mirror.example/whl/{variant}), or put the wheel in a --find-links folder "
            "(PIP_FIND_LINKS / COGPIN_FIND_LINKS).",
        )
    return ResolveError(
        f"uv could not resolve the requirements for Python {target.python} on {target.platform}:\n{tail}",
        "relax or fix the requirement named above; `cogpin resolve` shows what cogpin asked for.",
    )


def _packages(
    doc: dict[str, Any], plan: Plan, setup: IndexSetup, target: Target, requested_lines: tuple[str, ...] = ()
) -> list[Package]:
    env = target.environment()
    requested: dict[str, str] = {}
    for line in requested_lines:
        try:
            requested[canonicalize_name(Requirement(line).name)] = line
        except InvalidRequirement:
            pass
    out: list[Package] = []
    missing: list[str] = []
    for p in doc.get("packages", []):
        marker = p.get("marker")
        if marker and not Marker(marker).evaluate(env):
            continue
        name = canonicalize_name(p["name"])
        wheels = {}
        for w in p.get("wheels", []):
            url = w.get("url") or w.get("path") or ""
            fn = w.get("name") or urllib.parse.unquote(url.rsplit("/", 1)[-1])
            wheels[fn] = (url, (w.get("hashes") or {}).get("sha256"))
        fn = best_wheel(list(wheels), target)
        if fn is None:
            missing.append(f"{name} {p.get('version', '')}" + (" (sdist only)" if p.get("sdist") else ""))
            continue
        url, sha = wheels[fn]
        if not sha:
            raise ResolveError(
                f"uv reported no sha256 for {fn}", "check the index; cogpin pins every wheel by hash."
            )
        source, hint = source_of(url, setup)
        out.append(
            Package(
                name=name,
                version=str(p["version"]),
                source=source,
                requested=_original_line(name, requested),
                wheels=[Wheel(fn, target.platform, sha, hint)],
            )
        )
    if missing:
        raise ResolveError(
            f"no wheel for Python {target.python} on {target.platform} ({target.uv_platform}) for: "
            + ", ".join(missing),
            "cogpin installs wheels only (built images never compile): pin a version that publishes a "
            "wheel for this Python/platform, change python_version, or build the wheel and serve it with "
            "--find-links in the requirements file.",
        )
    return out


def _original_line(name: str, requested: dict[str, str]) -> str | None:
    return requested.get(name)
