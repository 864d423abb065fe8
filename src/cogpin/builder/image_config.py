"""The final image's config: the labels that need the built image or the machine (pip freeze, identity,
schema, OCI), and the image config written here byte for byte (fixed times, no build-container IDs) and
loaded over the layers the engine already has, so the same layers give the same image ID."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.builder.engine_steps import classic_build
from cogpin.builder.progress import Progress
from cogpin.fsutil import FILE_EPOCH
from cogpin.labels import IDENTITY, OCI_CREATED, OCI_REVISION, OCI_TITLE, OPENAPI_SCHEMA, PIP_FREEZE
from cogpin.settings import source_date_epoch

if TYPE_CHECKING:
    from cogpin.config import Config
    from cogpin.lock.view import LockView


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
    labels = {OCI_TITLE: config.image or config.root.name}
    revision = git_revision(config.root)
    if revision:
        labels[OCI_REVISION] = revision
    epoch = source_date_epoch()
    if epoch is not None:
        labels[OCI_CREATED] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return labels


def final_labels(
    lock: LockView, config: Config, schema: dict | None, ident: str, oci: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels that need the built image or the machine: added in the metadata-only step (no schema label
    on the environment image)."""
    freeze = "\n".join(
        f"{p.name}=={p.version}" for p in sorted((*lock.packages, lock.runtime), key=lambda p: p.name)
    )
    labels = {PIP_FREEZE: freeze, IDENTITY: ident}
    labels.update(oci_labels(config) if oci is None else oci)
    if schema is not None:
        labels[OPENAPI_SCHEMA] = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return labels


def metadata_step(image_id: str, labels: dict[str, str], base_ref: str, progress: Progress) -> str:
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
        ti.size, ti.mtime = len(data), FILE_EPOCH
        tar.addfile(ti, io.BytesIO(data))
    context.seek(0)
    return classic_build(context, Progress("quiet"), no_cache=False, platform="", labels=labels)


def _created() -> str:
    epoch = source_date_epoch()
    seconds = epoch if epoch is not None else FILE_EPOCH
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
            ti.size, ti.mtime = len(body), FILE_EPOCH
            tar.addfile(ti, io.BytesIO(body))
    # The engine registers a layer from the archive only when it does not have it; it has them all.
    c.images.load(archive.getvalue())
    return f"sha256:{digest}"
