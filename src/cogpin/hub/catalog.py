"""Models and versions as the hub serves them: read from the registry (``RegistryIndex``), remembered in
the store (versions are immutable, so one read is enough), and shaped as Replicate's API objects.

The model listing is served from the last walk of the registry and refreshed in the background; one model,
by name or for a prediction, is always read fresh.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from cogpin.hub import core
from cogpin.hub.registry_index import RegistryIndex, RegistryUnavailable, VersionInfo
from cogpin.hub.store import Store

MODELS_FRESH = 5.0  # seconds a model listing is served before a background refresh
REPRODUCIBLE_EPOCH_END = "1980-01-02"  # image creation dates before this are a reproducible build's


def _unavailable(e: RegistryUnavailable) -> core.ApiError:
    return core.ApiError(503, "Registry unavailable", str(e))


class Catalog:
    def __init__(self, store: Store, index: RegistryIndex) -> None:
        self.store = store
        self.index = index
        self._vcache: dict[tuple[str, str], VersionInfo] = {}  # versions are immutable
        self._vids: dict[str, str] = {}  # version id -> model
        self._stats: tuple[float, dict[str, tuple[int, str]]] = (0.0, {})
        self._finding: dict[str, asyncio.Task[VersionInfo]] = {}
        self._models: list[tuple[str, list[VersionInfo]]] | None = None
        self._models_task: asyncio.Task[list[tuple[str, list[VersionInfo]]]] | None = None
        self._models_at = 0.0

    # ------------------------------------------------------------------------------------ versions
    async def versions(self, model: str) -> list[VersionInfo]:
        """A model's versions, ``latest`` first, then the newest."""
        try:
            found = await self.index.versions(model)
        except RegistryUnavailable as e:
            raise _unavailable(e) from None
        vs = [await self.version(model, v.id, v) for v in found]
        latest = [vid for tag, vid in await self.index.tags(model) if tag == "latest"]
        return sorted(vs, key=lambda v: (v.id in latest, v.created_at), reverse=True)

    async def version(self, model: str, vid: str, seen: VersionInfo | None = None) -> VersionInfo:
        """A version, from memory, the store, or the registry (``seen``: already read from it)."""
        hit = self._vcache.get((model, vid))
        if hit:
            return hit
        known = self.store.known_version(model, vid)
        if known:
            v, cfg = known
            info = VersionInfo(
                model, vid, v["created_at"], v["cog_version"], v["openapi_schema"], cfg, v.get("readme")
            )
            self._vcache[(model, vid)] = info
            return info
        try:
            found = seen or (await self.index.version(model, vid) if core.VERSION_RE.fullmatch(vid) else None)
        except RegistryUnavailable as e:
            raise _unavailable(e) from None
        if not found:
            raise core.not_found(f"version {vid} of model {model} does not exist")
        if found.created_at < REPRODUCIBLE_EPOCH_END:
            # a reproducible build's fixed date (SOURCE_DATE_EPOCH, 1980): when this hub first saw it instead
            found = dataclasses.replace(found, created_at=core.now())
        self.store.remember_version(model, found.to_api(), found.config)
        self._vcache[(model, vid)] = found
        return found

    async def existing(self, model: str) -> list[VersionInfo]:
        """A model's versions, ``latest`` first; a model with none is not found."""
        vs = await self.versions(model)
        if not vs:
            raise core.not_found(f"model {model} does not exist in the registry {self.index.registry}")
        return vs

    async def for_prediction(self, ref: str) -> VersionInfo:
        """The version a prediction's ``version`` names: ``owner/name``, ``owner/name:id`` or a bare id."""
        ref_model, vid = core.parse_version_ref(ref)
        if ref_model and not vid:
            vs = await self.versions(ref_model)
            if not vs:
                raise core.not_found(f"model {ref_model} does not exist")
            return vs[0]
        if ref_model:
            return await self.version(ref_model, vid)
        return await self.find_version(vid)

    async def find_version(self, vid: str) -> VersionInfo:
        """A bare version id: search the store's index, then every repository (one search at a time per
        id: concurrent first predictions of a new version share it)."""
        if vid in self._vids:
            return await self.version(self._vids[vid], vid)
        task = self._finding.get(vid)
        if task is None or task.done():
            task = self._finding[vid] = asyncio.create_task(self._search_version(vid))
        return await asyncio.shield(task)

    async def _search_version(self, vid: str) -> VersionInfo:
        model = self.store.version_model(vid)
        if model:
            self._vids[vid] = model
            return await self.version(model, vid)
        try:
            for repo in await self.index.holders(vid):
                if await self.index.version(repo, vid):  # a Cog image, not just any manifest
                    self._vids[vid] = repo
                    return await self.version(repo, vid)
        except RegistryUnavailable as e:
            raise _unavailable(e) from None
        raise core.not_found(f"version {vid} does not exist in the registry {self.index.registry}")

    def schema_of(self, model: str, vid: str) -> dict[str, Any]:
        """A known version's OpenAPI schema ({} when the hub has not seen it)."""
        hit = self._vcache.get((model, vid))
        if hit:
            return hit.openapi_schema
        known = self.store.known_version(model, vid)
        return known[0]["openapi_schema"] if known else {}

    # ------------------------------------------------------------------------------------ the API
    def _run_stats(self) -> dict[str, tuple[int, str]]:
        """Predictions per model, from the store (read at most once a second)."""
        now = time.monotonic()
        if now - self._stats[0] > 1.0:
            self._stats = (now, self.store.run_stats())
        return self._stats[1]

    def _model_api(self, model: str, versions: list[VersionInfo], base: str) -> dict[str, Any]:
        owner, name = model.split("/", 1)
        latest = versions[0].to_api() if versions else None
        desc = None
        if versions:
            desc = (versions[0].openapi_schema.get("info") or {}).get("description")
        return {
            "url": f"{base}/{model}",
            "owner": owner,
            "name": name,
            "description": desc,
            "visibility": "private",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": self._run_stats().get(model, (0, ""))[0],
            "cover_image_url": None,
            "default_example": None,
            "latest_version": latest,
        }

    async def _scan_models(self) -> list[tuple[str, list[VersionInfo]]]:
        try:
            repos = await self.index.repositories()
        except RegistryUnavailable as e:
            raise _unavailable(e) from None
        sem = asyncio.Semaphore(32)

        async def one(repo: str) -> list[VersionInfo]:
            async with sem:
                return await self.versions(repo)

        ordered = sorted(repos)
        found = await asyncio.gather(*(one(r) for r in ordered))
        return [(repo, vs) for repo, vs in zip(ordered, found, strict=True) if vs]

    async def list_models(self, base: str = "") -> list[dict[str, Any]]:
        """Every model in the registry. A registry with many repositories takes seconds to walk, so the
        listing is served from the last walk and refreshed in the background when older than
        MODELS_FRESH seconds (one model, by name or for a prediction, is always read fresh)."""
        if self._models_task is None or (
            self._models_task.done() and time.monotonic() - self._models_at > MODELS_FRESH
        ):
            self._models_at = time.monotonic()
            self._models_task = asyncio.create_task(self._scan_models())
        if self._models is None or (self._models_task.done() and not self._models_task.cancelled()):
            try:
                self._models = await asyncio.shield(self._models_task)
            except core.ApiError:
                self._models_task = None
                if self._models is None:
                    raise
        return [self._model_api(repo, vs, base) for repo, vs in self._models or []]

    async def get_model(self, owner: str, name: str, base: str = "") -> dict[str, Any]:
        return self._model_api(f"{owner}/{name}", await self.existing(f"{owner}/{name}"), base)

    async def list_versions(self, owner: str, name: str) -> list[dict[str, Any]]:
        return [v.to_api() for v in await self.existing(f"{owner}/{name}")]

    async def get_version(self, owner: str, name: str, vid: str) -> dict[str, Any]:
        return (await self.version(f"{owner}/{name}", vid)).to_api()
