"""Dockerfile text from (lock, config, options): a pure function over real Jinja templates.

``render(lock, config, options)`` gives the Dockerfile that ``cogpin build`` uses and ``cogpin debug``
prints. The build context it expects (made by ``cogpin.build``)::

    Dockerfile                                       this text
    cogpin/ca/usr/local/share/ca-certificates/…      only with a CA certificate (``COG_CA_CERT``)
    cogpin/rootfs/usr/local/lib/cogpin/init.py       the init (``init.py`` beside this file); and /src
    project/src/…                                    the project after .dockerignore (not in the
                                                     environment image)

Each tree is copied with ``COPY <tree>/ /`` and holds its parent folders, so the builder creates no
folder with the build's time in it: the layers are reproducible.

Python packages are not in the context: ``pip`` in a ``RUN`` step fetches them from the short-lived
server on ``127.0.0.1:<port>`` that serves exactly the lock's artifacts (see ``cogpin.wheelhouse``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.templates.lockview import LockView, Package, view

if TYPE_CHECKING:
    from cogpin.config import Config

HERE = Path(__file__).parent
TEMPLATE_FILES = ("Dockerfile.j2", "init.py", "__init__.py")
DEFAULT_PORT = 47813  # fixed, so the RUN text (and so the layer cache) stays the same between builds
FILE_EPOCH = 315532800  # 1980-01-01: mtime of every file a package step writes, so layers are reproducible
INIT_PATH = "/usr/local/lib/cogpin/init.py"
CA_TREE = "cogpin/ca"
ROOTFS_TREE = "cogpin/rootfs"
PROJECT_TREE = "project"

_MOUNT_SAFE = re.compile(r"^[A-Za-z0-9._/@:+-]+$")


@dataclass(frozen=True)
class RenderOptions:
    include_project: bool = True  # False: the environment image (project bind-mounted at /src instead)
    port: int = DEFAULT_PORT  # the wheel server's port on 127.0.0.1
    ca_cert: bool = False  # a CA certificate is in the context at cogpin/ca.crt


def template_version() -> str:
    """A digest of the template files: part of every image's identity, so a new template rebuilds."""
    h = hashlib.sha256()
    for name in TEMPLATE_FILES:
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def init_script() -> bytes:
    return (HERE / "init.py").read_bytes()


def render(lock: Any, config: Config, options: RenderOptions | None = None) -> str:
    """The Dockerfile for ``lock`` (a Lock, its text or a LockView) and ``config``. Pure."""
    import jinja2

    options = options or RenderOptions()
    lv = view(lock)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    wheels_url = f"http://127.0.0.1:{options.port}/"
    text = env.get_template("Dockerfile.j2").render(
        template_version=template_version(),
        lock=lv,
        port=options.port,
        file_epoch=FILE_EPOCH,
        wheels_url=wheels_url,
        ca_cert=options.ca_cert,
        include_project=options.include_project,
        base_env=base_env(lv),
        system_packages=sorted(set(config.system_packages) | set(lv.system_packages)),
        install=lambda packages: install_command(packages, wheels_url),
        environment=[f"{k}={env_quote(v)}" for k, v in config.environment],
        run_steps=[run_step(step) for step in config.run],
        cog_env=cog_env(config),
        labels=[f"{k}={label_quote(v)}" for k, v in static_labels(lv, config).items()],
    )
    return text.rstrip("\n") + "\n"


def base_env(lv: LockView) -> list[str]:
    env = [
        "DEBIAN_FRONTEND=noninteractive",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
        "PYTHONUNBUFFERED=1",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "PIP_NO_CACHE_DIR=1",
    ]
    if lv.standalone_python is not None:
        env.append("PATH=/opt/python/bin:$PATH")
    return env


def install_command(packages: Iterable[Package], wheels_url: str) -> str:
    """One shell command: pip installs exactly ``packages`` offline with hash checking, then gives every
    file it wrote a fixed mtime (and hash-based .pyc files, from SOURCE_DATE_EPOCH) so that the layer's
    bytes depend on the wheels alone."""
    lines = [f"'{p.requirement()}'" for p in packages]
    req = "/tmp/cogpin-requirements.txt"
    stamp = "/tmp/.cogpin-stamp"
    parts = [
        f"touch {stamp}",
        "printf '%s\\n' \\\n      " + " \\\n      ".join(lines) + f" \\\n      > {req}",
        f"PYTHONDONTWRITEBYTECODE=1 SOURCE_DATE_EPOCH={FILE_EPOCH} PIP_ROOT_USER_ACTION=ignore \\\n"
        f"    python -m pip install -q --no-index --find-links {wheels_url} \\\n"
        f"      --require-hashes --no-deps --no-cache-dir --disable-pip-version-check -r {req}",
        f"rm -f {req}",
        f"find / -xdev -newer {stamp} -exec touch -h -d @{FILE_EPOCH} {{}} +",
        f"rm -f {stamp}",
        f"touch -d @{FILE_EPOCH} /tmp",
    ]
    return " \\\n && ".join(parts)


def run_step(step: Any) -> str:
    """A ``build.run`` item as the text after ``RUN``: secret mounts first, then the command (exec form
    through ``/bin/sh -c`` when it spans lines, so every line runs as written)."""
    mounts = []
    for m in step.mounts:
        for what, value in (("id", m.id), ("target", m.target)):
            if not _MOUNT_SAFE.match(value):
                raise CogpinError(
                    f"build.run: secret mount {what} {value!r} has characters a Dockerfile mount cannot take",
                    "use letters, digits and . _ - / @ : + only.",
                )
        mounts.append(f"--mount=type={m.type},id={m.id},target={m.target}")
    command = step.command.strip()
    if "\n" in command or command.endswith("\\"):
        command = json.dumps(["/bin/sh", "-c", command])
    return " ".join([*mounts, command])


def cog_env(config: Config) -> list[str]:
    env = []
    if config.predict:
        env.append(f"COG_PREDICT_TYPE_STUB={env_quote(config.predict)}")
    if config.train:
        env.append(f"COG_TRAIN_TYPE_STUB={env_quote(config.train)}")
    if config.concurrency_max is not None:
        env.append(f"COG_MAX_CONCURRENCY={int(config.concurrency_max)}")
    return env


def static_labels(lv: LockView, config: Config) -> dict[str, str]:
    """Labels that follow from the lock and the config alone. ``cogpin.build`` adds the rest
    (``run.cog.openapi_schema``, ``run.cog.pip_freeze``, identity, revision, created) in a metadata step."""
    from cogpin.config import effective_json

    return {
        "run.cog.version": lv.runtime.version,
        "run.cog.config": json.dumps(effective_json(config), sort_keys=True, separators=(",", ":")),
        "dev.cogpin.lock": f"sha256:{lv.sha256}",
        "dev.cogpin.template": template_version(),
        "org.opencontainers.image.base.name": lv.base_image,
        "org.opencontainers.image.base.digest": lv.base_digest,
    }


def env_quote(value: str) -> str:
    """A value for ``ENV K=V``: double-quoted; ``$`` keeps Docker's meaning, as in Cog."""
    if "\n" in value:
        raise CogpinError(f"environment value {value!r} spans lines; a Dockerfile ENV value cannot")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def label_quote(value: str) -> str:
    """A value for ``LABEL k=v`` that Docker reads back byte for byte."""
    if "\n" in value:
        raise CogpinError("a label value spans lines")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
