"""The engine's build steps: the classic builder through the Docker SDK, the BuildKit CLI (for build.run
secret mounts), the predictor's OpenAPI schema read in a throwaway container of the built image, and
the hints a failed step carries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cogpin.builder.progress import Progress
from cogpin.errors import CogpinError
from cogpin.labels import TEMPORARY
from cogpin.settings import docker_host

if TYPE_CHECKING:
    from cogpin.config import Config

# a failed step's hint, asked for only when a step fails
Hint = Callable[[], "str | None"]  # noqa: UP037


def classic_build(
    context: IO[bytes],
    progress: Progress,
    *,
    no_cache: bool,
    platform: str,
    labels: dict | None = None,
    hint: Hint | None = None,
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


def host_mode_hint() -> str | None:
    """Host mode: package installs reach cogpin's wheel server on 127.0.0.1 of this machine, which an
    engine elsewhere (or in a VM) does not share."""
    host = docker_host()
    if host and not host.startswith("unix://"):
        return (
            f"the wheel server ran on this machine's 127.0.0.1 (COGPIN_WHEELHOUSE=host), but the engine at "
            f"DOCKER_HOST={host} may not share it; if package installs failed, set COGPIN_WHEELHOUSE=engine "
            "(or unset it) to serve the lock's artifacts from the engine's side."
        )
    return None


def parse_secret(spec: str, cwd: Path | None = None) -> str:
    """``--secret`` as Cog and ``docker build`` take it, checked, as the docker CLI argument:
    ``id=ID,src=FILE`` (a file; relative to the current folder), ``id=ID,env=VAR`` or
    ``type=env,id=ID,src=VAR`` (an environment variable). The value never enters the image or the lock."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("id", "src", "source", "env", "type"):
            raise CogpinError(
                f"--secret {spec!r}: unexpected field {part!r}",
                "write id=ID,src=FILE or id=ID,env=VARIABLE.",
            )
        fields["src" if key == "source" else key] = value
    sid, kind = fields.get("id"), fields.get("type")
    if kind not in (None, "file", "env"):
        raise CogpinError(
            f"--secret {spec!r}: unsupported secret type {kind!r}", "use type=file or type=env."
        )
    env = fields.get("env") or (fields.get("src") if kind == "env" else None)
    if not sid or not (env or fields.get("src")):
        raise CogpinError(
            f"--secret {spec!r}: expected id=ID,src=FILE or id=ID,env=VARIABLE",
            "e.g. --secret id=hf_token,env=HF_TOKEN",
        )
    if env:
        if env not in os.environ:
            raise CogpinError(
                f"--secret {spec!r}: the environment variable {env} is not set",
                f"export {env}=… before the build, or pass the secret from a file: id={sid},src=FILE.",
            )
        return f"id={sid},env={env}"
    src = Path(fields["src"]).expanduser()
    if not src.is_absolute():
        src = (cwd or Path.cwd()) / src
    if not src.is_file():
        raise CogpinError(f"--secret {spec!r}: {src} is not a file", "give the path of the file holding it.")
    return f"id={sid},src={src.resolve()}"


def buildkit_build(
    context_path: Path,
    progress: Progress,
    *,
    no_cache: bool,
    platform: str,
    secrets: tuple[str, ...],
    hint: Hint | None = None,
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
            cmd += ["--secret", parse_secret(spec)]
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
    from cogpin.containers.source import run_schema_command
    from cogpin.containers.spec import RunSpec, project_mount
    from cogpin.engine import BuildFailed, client

    spec = RunSpec(
        image=image_id,
        mounts={} if include_project else project_mount(config.root),
        labels={TEMPORARY: "openapi-schema"},
        network_mode="none",
        role="schema",
    )
    status, out, err = run_schema_command(client(), spec, timeout=300)
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
