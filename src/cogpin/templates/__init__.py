"""Dockerfile text from (lock, config, options): a pure function over real Jinja templates.

``render(lock, config, options)`` gives the Dockerfile that ``cogpin build`` uses and ``cogpin debug``
prints. The build context it expects (made by ``cogpin.builder.context``)::

    Dockerfile                                       this text
    cogpin/ca/usr/local/share/ca-certificates/…      only with a CA certificate (``COG_CA_CERT``)
    cogpin/rootfs/usr/local/lib/cogpin/init.py       the image's PID 1 (``image_init.py`` here); and /src
    project/src/…                                    the project after .dockerignore (not in the
                                                     environment image)

Each tree is copied with ``COPY <tree>/ /`` and holds its parent folders, so the builder creates no
folder with the build's time in it: the layers are reproducible.

Python packages are not in the context: ``pip`` in a ``RUN`` step fetches them from the short-lived
server on ``127.0.0.1:<port>`` that serves exactly the lock's artifacts (``wheel_server.py`` here, run by
``cogpin.builder.wheels_host`` or ``cogpin.builder.wheels_engine``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin import labels
from cogpin.errors import CogpinError
from cogpin.fsutil import FILE_EPOCH
from cogpin.lock.view import LockView, Package, view

if TYPE_CHECKING:
    from cogpin.config import Config

HERE = Path(__file__).parent
TEMPLATE_FILES = ("Dockerfile.j2", "image_init.py", "__init__.py")
DEFAULT_PORT = 47813  # fixed, so the RUN text (and so the layer cache) stays the same between builds
INIT_PATH = "/usr/local/lib/cogpin/init.py"
CA_TREE = "cogpin/ca"
ROOTFS_TREE = "cogpin/rootfs"
PROJECT_TREE = "project"

_MOUNT_SAFE = re.compile(r"^[A-Za-z0-9._/@:+-]+$")
# What a standalone CPython archive may ship besides pip (python-build-standalone's up to 3.11 carry
# setuptools). When the lock pins one of them, the archive's copy is removed in the `cogpin-python` stage:
# pip then only adds files in the final image, so no overlay whiteout (which carries the build's time)
# reaches a layer, and the locked wheel is installed even where the archive has the same version.
ARCHIVE_EXTRAS = ("setuptools", "wheel")


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
    """The image's PID 1 (reaps zombies, forwards signals), installed at INIT_PATH."""
    return (HERE / "image_init.py").read_bytes()


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
    locked_names = {p.name for p in lv.packages}
    archive_replaced = [n for n in ARCHIVE_EXTRAS if n in locked_names]
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
        archive_replaced=archive_replaced,
        archive_uninstall=archive_uninstall(archive_replaced),
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


def with_fixed_mtimes(command: str, root: str = "/") -> str:
    """``command``, then every file under ``root`` it wrote or changed gets the fixed mtime, so a layer's
    bytes depend on what was written alone (never on when)."""
    stamp = "/tmp/.cogpin-stamp"
    return " \\\n && ".join(
        [
            f"touch {stamp}",
            command,
            f"find {root} -xdev -newer {stamp} -exec touch -h -d @{FILE_EPOCH} {{}} +",
            f"rm -f {stamp}",
        ]
    )


def install_command(packages: Iterable[Package], wheels_url: str) -> str:
    """One shell command: pip installs exactly ``packages`` offline with hash checking, then gives every
    file it wrote a fixed mtime (and hash-based .pyc files, from SOURCE_DATE_EPOCH) so that the layer's
    bytes depend on the wheels alone."""
    lines = [f"'{p.requirement()}'" for p in packages]
    req = "/tmp/cogpin-requirements.txt"
    install = " \\\n && ".join(
        [
            "printf '%s\\n' \\\n      " + " \\\n      ".join(lines) + f" \\\n      > {req}",
            f"PYTHONDONTWRITEBYTECODE=1 SOURCE_DATE_EPOCH={FILE_EPOCH} PIP_ROOT_USER_ACTION=ignore \\\n"
            f"    python -m pip install -q --no-index --find-links {wheels_url} \\\n"
            f"      --require-hashes --no-deps --no-cache-dir --disable-pip-version-check -r {req}",
            f"rm -f {req}",
        ]
    )
    return with_fixed_mtimes(install) + f" \\\n && touch -d @{FILE_EPOCH} /tmp"


def archive_uninstall(names: list[str]) -> str:
    """The standalone archive's own copies of ``names`` removed in the ``cogpin-python`` stage (see
    ARCHIVE_EXTRAS), its folders given the fixed mtime again; empty when there are none."""
    if not names:
        return ""
    return with_fixed_mtimes(
        "PYTHONDONTWRITEBYTECODE=1 PIP_ROOT_USER_ACTION=ignore /cogpin-python/opt/python/bin/python3 -m pip \\\n"
        f"      uninstall -y -q --disable-pip-version-check {' '.join(names)}",
        "/cogpin-python",
    )


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
    """The runtime's environment (``cogpin.config.runtime_env``) as ``ENV`` items (a number unquoted)."""
    from cogpin.config import runtime_env

    return [f"{k}={v if v.isdigit() else env_quote(v)}" for k, v in runtime_env(config).items()]


def static_labels(lv: LockView, config: Config) -> dict[str, str]:
    """Labels that follow from the lock and the config alone. ``cogpin.builder`` adds the rest
    (``run.cog.openapi_schema``, ``run.cog.pip_freeze``, identity, revision, created) in a metadata step."""
    from cogpin.config import effective_json

    return {
        labels.COG_VERSION: lv.runtime.version,
        labels.COG_CONFIG: json.dumps(effective_json(config), sort_keys=True, separators=(",", ":")),
        labels.LOCK: f"sha256:{lv.sha256}",
        labels.TEMPLATE: template_version(),
        labels.OCI_BASE_NAME: lv.base_image,
        labels.OCI_BASE_DIGEST: lv.base_digest,
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
