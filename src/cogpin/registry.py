"""Registries: log in (verify, then store credentials exactly as `docker login` does) and push.

Credentials live where Docker keeps them, so `docker push`, the Docker SDK and cogpin share them:
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``) with ``auths[REGISTRY].auth =
base64(user:password)``, or a credential helper (``credHelpers[REGISTRY]`` / ``credsStore``) through
``docker-credential-<helper> store``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.fsutil import atomic_write

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_REGISTRY = "r8.im"
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = {
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    DOCKER_HUB_KEY,
}


class RegistryError(CogpinError):
    pass


# ---------------------------------------------------------------------------------------------- names


def normalize_registry(name: str | None) -> str:
    """The key Docker uses in config.json for a registry: ``host[:port]``, or Docker Hub's v1 URL."""
    name = (name or DEFAULT_REGISTRY).strip()
    if name in _HUB_NAMES or name.rstrip("/") + "/" == DOCKER_HUB_KEY:
        return DOCKER_HUB_KEY
    if "://" in name:
        name = urllib.parse.urlsplit(name).netloc or name
    name = name.rstrip("/")
    if name in _HUB_NAMES:
        return DOCKER_HUB_KEY
    return name


def api_host(registry_key: str) -> str:
    return "registry-1.docker.io" if registry_key == DOCKER_HUB_KEY else registry_key


def is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.endswith("]") or "]:" in host else host
    h = h.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def split_reference(ref: str) -> tuple[str, str, str]:
    """``registry/name:tag`` → (registry key, repository as pushed, tag). Tag defaults to latest."""
    from docker.auth import resolve_repository_name
    from docker.utils import parse_repository_tag

    if "@" in ref:
        raise RegistryError(f"cannot push to {ref}: a digest reference is read-only", "give a name and tag.")
    repo, tag = parse_repository_tag(ref)
    path = repo.split("/", 1)[1] if "/" in repo and _has_host(repo) else repo
    if not _PATH_RE.fullmatch(path):
        raise RegistryError(
            f"{ref!r} is not a valid image name",
            "use lowercase letters, digits and separators, e.g. r8.im/USER/MODEL or 127.0.0.1:5000/USER/MODEL.",
        )
    registry, _name = resolve_repository_name(repo)
    return normalize_registry(registry), repo, tag or "latest"


_PATH_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")


def _has_host(repo: str) -> bool:
    first = repo.split("/", 1)[0]
    return "." in first or ":" in first or first == "localhost"


# ---------------------------------------------------------------------------------------------- config.json


def config_dir() -> Path:
    from cogpin.settings import docker_config_dir

    return docker_config_dir()


def config_path() -> Path:
    return config_dir() / "config.json"


def load_docker_config() -> dict[str, Any]:
    p = config_path()
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8") or "{}")
    except ValueError as e:
        raise RegistryError(f"{p} is not valid JSON: {e}", "fix or remove it, then log in again.") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{p} is not a JSON object", "fix or remove it, then log in again.")
    return data


def _write_docker_config(data: Mapping[str, Any]) -> Path:
    p = config_path()
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(p, json.dumps(data, indent="\t"), mode=0o600)
    return p


def credential_helper(cfg: Mapping[str, Any], registry_key: str) -> str | None:
    """The helper Docker would use for this registry (credHelpers, credsStore, or the platform default
    when its binary is installed), or None for plain config.json storage."""
    helpers = cfg.get("credHelpers") or {}
    if registry_key in helpers:
        return helpers[registry_key] or None
    if "credsStore" in cfg:
        return cfg.get("credsStore") or None
    default = "pass" if shutil.which("pass") else "secretservice"
    return default if shutil.which(f"docker-credential-{default}") else None


def store_credentials(registry_key: str, username: str, password: str) -> str:
    """Store as `docker login` does; returns where ("config.json path" or "helper NAME")."""
    cfg = load_docker_config()
    helper = credential_helper(cfg, registry_key)
    auths = cfg.setdefault("auths", {})
    if helper:
        exe = shutil.which(f"docker-credential-{helper}")
        if not exe:
            raise RegistryError(
                f"{config_path()} names the credential helper {helper!r}, but docker-credential-{helper} is not on PATH",
                "install it, or remove credsStore/credHelpers from that file to store credentials in it.",
            )
        payload = json.dumps({"ServerURL": registry_key, "Username": username, "Secret": password})
        proc = subprocess.run([exe, "store"], input=payload, capture_output=True, text=True)
        if proc.returncode != 0:
            msg = (proc.stdout.strip() or proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise RegistryError(f"credential helper {helper} could not store the credentials: {msg}")
        auths[registry_key] = {}
        if "credsStore" not in cfg and registry_key not in (cfg.get("credHelpers") or {}):
            cfg["credsStore"] = helper
        _write_docker_config(cfg)
        return f"credential helper {helper}"
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    auths[registry_key] = {"auth": token}
    return str(_write_docker_config(cfg))


def stored_credentials(registry_key: str) -> tuple[str, str] | None:
    """The stored (username, password) for a registry, or None."""
    cfg = load_docker_config()
    helper = credential_helper(cfg, registry_key)
    if helper and shutil.which(f"docker-credential-{helper}"):
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"], input=registry_key, capture_output=True, text=True
        )
        if proc.returncode == 0:
            data = json.loads(proc.stdout)
            return data.get("Username", ""), data.get("Secret", "")
        return None
    entry = (cfg.get("auths") or {}).get(registry_key) or {}
    if entry.get("auth"):
        user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        return user, pw
    return None


# ---------------------------------------------------------------------------------------------- verify


@dataclass
class _Resp:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""


def _get(url: str, headers: Mapping[str, str], timeout: float) -> _Resp:
    req = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return _Resp(r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return _Resp(e.code, dict(e.headers.items()) if e.headers else {}, e.read() or b"")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {realm, service, …})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def verify(registry_key: str, username: str, password: str, timeout: float = 15.0) -> str:
    """Check credentials against the registry's ``/v2/`` (Basic, or a Bearer token realm). Returns the base
    URL that answered. Raises RegistryError with one line and what to do."""
    host = api_host(registry_key)
    schemes = ["https", "http"] if is_loopback(host) else ["https"]
    last: Exception | None = None
    for scheme in schemes:
        base = f"{scheme}://{host}"
        try:
            first = _get(f"{base}/v2/", {}, timeout)
        except (urllib.error.URLError, OSError, ssl.SSLError) as e:
            last = e
            continue
        if first.status == 200:
            return base  # the registry needs no credentials; Docker still stores them
        if first.status != 401:
            raise RegistryError(
                f"{host} answered HTTP {first.status} on /v2/: it does not look like a container registry",
                "check the registry name.",
            )
        challenge = next((v for k, v in first.headers.items() if k.lower() == "www-authenticate"), "")
        kind, params = parse_challenge(challenge)
        if kind == "bearer" and params.get("realm"):
            q = {"account": username}
            if params.get("service"):
                q["service"] = params["service"]
            url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urllib.parse.urlencode(q)
            try:
                tok = _get(url, {"Authorization": _basic(username, password)}, timeout)
            except (urllib.error.URLError, OSError) as e:
                raise RegistryError(
                    f"cannot reach the token service of {host} at {params['realm']}: {_reason(e)}"
                ) from None
            if tok.status == 200:
                return base
            if tok.status in (401, 403):
                raise _bad_credentials(host)
            raise RegistryError(f"the token service of {host} answered HTTP {tok.status}")
        second = _get(f"{base}/v2/", {"Authorization": _basic(username, password)}, timeout)
        if second.status == 200:
            return base
        if second.status in (401, 403):
            raise _bad_credentials(host)
        raise RegistryError(f"{host} answered HTTP {second.status} on /v2/ with credentials")
    raise RegistryError(
        f"cannot reach registry {host}: {_reason(last)}",
        "check the name and port, that it is running, and your network"
        + (" (for a local registry: is it listening on that port?)" if is_loopback(host) else "")
        + ".",
    )


def _bad_credentials(host: str) -> RegistryError:
    return RegistryError(
        f"login to {host} failed: wrong username or password (or token)",
        "check them and try again; for r8.im use your Replicate API token as the password.",
    )


def _reason(e: BaseException | None) -> str:
    if isinstance(e, urllib.error.URLError) and e.reason is not None:
        e = e.reason if isinstance(e.reason, BaseException) else RuntimeError(str(e.reason))
    if isinstance(e, socket.gaierror):
        return "unknown host"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(e) if e else "unknown error"


def login(registry: str | None, username: str, password: str) -> tuple[str, str]:
    """Verify, then store. Returns (registry key, where stored)."""
    key = normalize_registry(registry)
    verify(key, username, password)
    return key, store_credentials(key, username, password)


# ---------------------------------------------------------------------------------------------- push


@dataclass
class PushResult:
    reference: str  # name:tag as pushed
    digest: str
    uploaded: list[str] = field(default_factory=list)  # layer ids uploaded
    existing: list[str] = field(default_factory=list)  # layer ids already there (or mounted)

    @property
    def pinned(self) -> str:
        return f"{self.reference}@{self.digest}"


def explain_push_error(message: str, registry_key: str, repo: str) -> RegistryError:
    """The engine's push error → one line with what to do."""
    host = api_host(registry_key)
    login_cmd = "cog login" + {DEFAULT_REGISTRY: "", DOCKER_HUB_KEY: " docker.io"}.get(
        registry_key, f" {registry_key}"
    )
    low = message.lower()
    if "does not exist locally" in low:
        return RegistryError(f"nothing to push: {message.strip()}")
    if "no basic auth credentials" in low or "authentication required" in low or "unauthorized" in low:
        return RegistryError(
            f"push to {host} was refused: not logged in (or the credentials are wrong)",
            f"run `{login_cmd}` and push again.",
        )
    if "denied" in low:
        return RegistryError(
            f"push to {repo} was denied: your account may not push to this repository",
            f"check the repository name and your access, or log in as another user with `{login_cmd}`.",
        )
    if (
        "name unknown" in low
        or "not known to registry" in low
        or "repository does not exist" in low
        or "not found" in low
    ):
        return RegistryError(
            f"the registry {host} does not know the repository {repo}",
            "create the model/repository on the registry first (for r8.im: replicate.com/create), "
            "or check the name.",
        )
    if "server gave http response to https client" in low:
        return RegistryError(
            f"{host} speaks plain HTTP, but the engine wants HTTPS for it",
            f'add "insecure-registries": ["{host}"] to the engine\'s daemon.json and restart it, or give the registry TLS.',
        )
    if any(
        s in low
        for s in (
            "connection refused",
            "no such host",
            "i/o timeout",
            "dial tcp",
            "network is unreachable",
            "eof",
        )
    ):
        return RegistryError(
            f"cannot reach registry {host}: {message.strip().splitlines()[-1]}",
            "check the name and port, that the registry is running, and the engine's network.",
        )
    return RegistryError(f"push to {host} failed: {message.strip().splitlines()[-1]}")


def push_events(
    events: Iterator[Mapping[str, Any]],
    registry_key: str,
    repo: str,
    tag: str,
    on_progress: Callable[[str], None] | None = None,
) -> PushResult:
    """Consume the engine's push stream → PushResult (or a RegistryError)."""
    uploaded: dict[str, None] = {}
    existing: dict[str, None] = {}
    digest = ""
    for ev in events:
        if ev.get("error") or ev.get("errorDetail"):
            msg = (ev.get("errorDetail") or {}).get("message") or ev.get("error") or "unknown error"
            raise explain_push_error(str(msg), registry_key, repo)
        status = str(ev.get("status") or "")
        layer = str(ev.get("id") or "")
        if status == "Pushed" and layer:
            uploaded[layer] = None
            existing.pop(layer, None)
            if on_progress:
                on_progress(f"{layer}: pushed")
        elif (status == "Layer already exists" or status.startswith("Mounted from")) and layer:
            existing[layer] = None
            if on_progress:
                on_progress(f"{layer}: {status[0].lower() + status[1:]}")
        aux = ev.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            digest = str(aux["Digest"])
        elif not digest:
            m = re.search(r"digest: (sha256:[0-9a-f]{64})", status)
            if m:
                digest = m.group(1)
    if not digest:
        raise RegistryError(f"push of {repo}:{tag} ended without a digest from the registry")
    return PushResult(f"{repo}:{tag}", digest, list(uploaded), list(existing))


def push(
    client: DockerClient,
    repo: str,
    tag: str,
    registry_key: str,
    on_progress: Callable[[str], None] | None = None,
) -> PushResult:
    """Push ``repo:tag`` (already tagged locally) with the engine; credentials come from Docker's config."""
    from docker.errors import APIError

    auth = None
    creds = stored_credentials(registry_key)
    if creds is not None:
        auth = {"username": creds[0], "password": creds[1]}
    try:
        events = client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth)
        return push_events(events, registry_key, repo, tag, on_progress)
    except APIError as e:
        raise explain_push_error(str(e.explanation or e), registry_key, repo) from None


def replicate_username(host: str, token: str, timeout: float = 15.0) -> str:
    """The user a Replicate token belongs to (what `cog login` asks r8.im for)."""
    body = urllib.parse.urlencode({"token": token}).encode()
    req = urllib.request.Request(f"https://{host}/cog/v1/verify-token", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        if e.code in (401, 403, 404):
            raise RegistryError(
                f"{host} does not accept this token",
                "copy a valid API token from replicate.com/account/api-tokens.",
            ) from None
        raise RegistryError(f"{host} answered HTTP {e.code} when verifying the token") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise RegistryError(
            f"cannot reach registry {host} to verify the token: {_reason(e)}",
            "check your network, or give a user name with -u.",
        ) from None
    name = data.get("username") if isinstance(data, dict) else None
    if not name:
        raise RegistryError(
            f"{host} did not say which user the token belongs to", "give a user name with -u."
        )
    return str(name)
