"""Models and versions, read from a registry's HTTP API (OCI distribution) without pulling anything.

A model is a repository ``owner/name``; a version is a pushed manifest, its id the manifest digest's hex.
A version's schema, Cog version and config come from the image config's labels ``run.cog.openapi_schema``,
``run.cog.version`` and ``run.cog.config``; images without the schema label are not models.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cogpin import labels as label_names

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
MIN_COG_VERSION = "0.3.9"  # the client indexes schemas["Output"] for older ones (replicate-api.md §1.4)


@dataclass(frozen=True)
class VersionInfo:
    model: str
    id: str
    created_at: str
    cog_version: str
    openapi_schema: dict[str, Any]
    config: dict[str, Any]
    readme: str | None = None  # the run.cogpin.readme label (the web pages' README tab)

    def to_api(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "created_at": self.created_at,
            "cog_version": self.cog_version,
            "openapi_schema": self.openapi_schema,
        }
        if self.readme:
            out["readme"] = self.readme  # an extra key: the client ignores it
        return out


class RegistryUnavailable(Exception):
    pass


def _auth_for(host: str) -> str | None:
    """Basic credentials as ``docker login`` stored them in config.json (plain ``auths`` entries only)."""
    try:
        from cogpin.registry import load_docker_config

        entry = (load_docker_config().get("auths") or {}).get(host) or {}
        auth = entry.get("auth")
        return f"Basic {auth}" if isinstance(auth, str) and auth else None
    except Exception:  # noqa: BLE001 - unreadable config: anonymous access
        return None


def _normalise_created(created: str | None) -> str:
    if not created:
        return "1970-01-01T00:00:00.000000Z"
    # "2026-12-02T02:40:00.123456789Z" or with an offset → microseconds, Z
    s = created.replace("+00:00", "Z")
    if "." in s:
        head, frac = s.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())[:6].ljust(6, "0")
        return f"{head}.{digits}Z"
    return s.rstrip("Z") + ".000000Z"


class RegistryIndex:
    def __init__(self, registry: str, *, insecure: bool = True, cache_seconds: float = 2.0) -> None:
        self.registry = registry
        scheme = "http" if insecure else "https"
        headers = {}
        auth = _auth_for(registry)
        if auth:
            headers["Authorization"] = auth
        self.http = httpx.AsyncClient(
            base_url=f"{scheme}://{registry}",
            headers=headers,
            timeout=30,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._cache_seconds = cache_seconds
        self._tags: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        self._configs: dict[str, VersionInfo | None] = {}
        self._catalog: tuple[float, list[str]] | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self.http.get(path, **kw)
        except httpx.HTTPError as e:
            raise RegistryUnavailable(f"the registry {self.registry} does not answer: {e}") from None

    async def repositories(self) -> list[str]:
        if self._catalog and time.monotonic() - self._catalog[0] < self._cache_seconds:
            return self._catalog[1]
        repos: list[str] = []
        url: str | None = "/v2/_catalog?n=1000"
        while url:
            r = await self._get(url)
            if r.status_code != 200:
                raise RegistryUnavailable(f"GET {url} on {self.registry}: HTTP {r.status_code}")
            repos += r.json().get("repositories") or []
            link = r.headers.get("link", "")
            url = link.split(";")[0].strip("<> ") if 'rel="next"' in link else None
        repos = [r for r in repos if r.count("/") == 1]
        self._catalog = (time.monotonic(), repos)
        return repos

    async def manifest(self, repo: str, ref: str) -> tuple[str, dict[str, Any]] | None:
        r = await self._get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_TYPES})
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RegistryUnavailable(f"GET manifest {repo}:{ref} on {self.registry}: HTTP {r.status_code}")
        digest = r.headers.get("docker-content-digest", "")
        if not digest:
            import hashlib

            digest = "sha256:" + hashlib.sha256(r.content).hexdigest()
        return digest, r.json()

    async def digest(self, repo: str, ref: str) -> str | None:
        """The manifest digest of ``repo:ref`` (a HEAD: no body), or None."""
        r = await self._head(f"/v2/{repo}/manifests/{ref}")
        if r.status_code == 200 and r.headers.get("docker-content-digest"):
            return str(r.headers["docker-content-digest"])
        if r.status_code in (404, 401, 403):
            return None
        m = await self.manifest(repo, ref)  # a registry that gives no digest on HEAD
        return m[0] if m else None

    async def _head(self, path: str) -> httpx.Response:
        try:
            return await self.http.head(path, headers={"Accept": MANIFEST_TYPES})
        except httpx.HTTPError as e:
            raise RegistryUnavailable(f"the registry {self.registry} does not answer: {e}") from None

    async def tags(self, repo: str) -> list[tuple[str, str]]:
        """(tag, digest hex) for every tag of a repository."""
        hit = self._tags.get(repo)
        if hit and time.monotonic() - hit[0] < self._cache_seconds:
            return hit[1]
        r = await self._get(f"/v2/{repo}/tags/list")
        if r.status_code == 404:
            return []
        tags = r.json().get("tags") or []
        digests = await asyncio.gather(*(self.digest(repo, t) for t in tags))
        out = [(t, d.split(":", 1)[1]) for t, d in zip(tags, digests, strict=True) if d]
        self._tags[repo] = (time.monotonic(), out)
        return out

    async def version(self, repo: str, vid: str) -> VersionInfo | None:
        """The version ``vid`` (64 hex) of ``repo``, or None when the registry has no such Cog image."""
        key = f"{repo}@{vid}"
        if key in self._configs:
            return self._configs[key]
        m = await self.manifest(repo, f"sha256:{vid}")
        info = await self._describe(repo, vid, m[1]) if m else None
        if m:
            self._configs[key] = info
        return info

    async def _describe(self, repo: str, vid: str, manifest: dict[str, Any]) -> VersionInfo | None:
        if "manifests" in manifest:  # an index: the linux/amd64 image (attestations skipped)
            chosen = None
            for d in manifest["manifests"]:
                plat = d.get("platform") or {}
                if plat.get("os") == "unknown":
                    continue
                if plat.get("architecture") in (None, "amd64"):
                    chosen = d
                    break
            if not chosen:
                return None
            sub = await self.manifest(repo, chosen["digest"])
            if not sub:
                return None
            manifest = sub[1]
        cfg_digest = (manifest.get("config") or {}).get("digest")
        if not cfg_digest:
            return None
        r = await self._get(f"/v2/{repo}/blobs/{cfg_digest}", follow_redirects=True)
        if r.status_code != 200:
            return None
        cfg = r.json()
        labels = (cfg.get("config") or {}).get("Labels") or {}
        schema_text = labels.get(label_names.OPENAPI_SCHEMA)
        if not schema_text:
            return None
        try:
            schema = json.loads(schema_text)
            cog_config = json.loads(labels.get(label_names.COG_CONFIG) or "{}")
        except ValueError:
            return None
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "Output", {"title": "Output"}
        )
        cog_version = reported_cog_version(labels)
        created = _normalise_created(cfg.get("created"))
        readme = labels.get(label_names.README) or None
        return VersionInfo(repo, vid, created, cog_version, schema, cog_config, readme)

    async def holders(self, vid: str) -> list[str]:
        """The repositories that hold manifest ``sha256:<vid>`` (one HEAD per repository, 16 at a time)."""
        sem = asyncio.Semaphore(16)

        async def has(repo: str) -> bool:
            async with sem:
                return (await self._head(f"/v2/{repo}/manifests/sha256:{vid}")).status_code == 200

        repos = await self.repositories()
        found = await asyncio.gather(*(has(r) for r in repos))
        return [r for r, ok in zip(repos, found, strict=True) if ok]

    async def versions(self, repo: str) -> list[VersionInfo]:
        """Every tagged Cog version of a repository, newest first."""
        seen: dict[str, VersionInfo] = {}
        for _tag, vid in await self.tags(repo):
            if vid in seen:
                continue
            info = await self.version(repo, vid)
            if info:
                seen[vid] = info
        return sorted(seen.values(), key=lambda v: v.created_at, reverse=True)


def reported_cog_version(labels: dict[str, str]) -> str:
    """``run.cog.version`` as the client should see it. cogpin's runtime labels its own version (0.1.0),
    which the client would take for a Cog older than 0.3.9 (and then treat every array output as an
    iterator), so a cogpin image reports the Cog API it speaks, with the runtime as a local label."""
    v = labels.get(label_names.COG_VERSION) or MIN_COG_VERSION
    if label_names.LOCK in labels:
        return f"0.16.0+cogpin.runtime.{v}"
    return v
