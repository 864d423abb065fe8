"""An image whose server is Replicate's own runtime: `cog==0.23.1` from the package index (the Rust coglet).

Containers cannot reach the index here, so the wheels are downloaded on the host
(`pip download --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 ...`) and
installed from a folder in the build context. coglet does not make the schema itself (Cog's Go CLI
writes it at build time to `.cog/openapi_schema.json`, which coglet loads): the caller passes the schema
of the same predictor (hello-world's, as cogpin labelled it), written there and put in the labels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker

COG_VERSION = "0.23.1"
PREDICT = """from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.prefix = "hello"

    def predict(self, text: str = Input(description="Text to prefix with 'hello '")) -> str:
        print(f"predicting {text}")
        return f"{self.prefix} {text}"
"""
DOCKERFILE = f"""FROM python:3.11-slim-bookworm
COPY wheels /tmp/wheels
RUN pip install --no-index --find-links /tmp/wheels cog=={COG_VERSION} && rm -rf /tmp/wheels
WORKDIR /src
COPY predict.py /src/predict.py
COPY .cog /src/.cog
ENV COG_PREDICT_TYPE_STUB=predict.py:Predictor
EXPOSE 5000
CMD ["python", "-m", "cog.server.http"]
"""


def wheels() -> Path:
    """cog==0.23.1 and its dependencies as CPython 3.11 manylinux wheels, cached between runs."""
    home = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "cogpin-test"
        / f"cog-{COG_VERSION}-wheels"
    )
    if (home / ".complete").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11"]
    for plat in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"):
        cmd += ["--platform", plat]
    r = subprocess.run([*cmd, "-d", str(home), f"cog=={COG_VERSION}"], capture_output=True, text=True)
    assert r.returncode == 0, f"pip download cog=={COG_VERSION} failed:\n{r.stderr}"
    (home / ".complete").write_text("ok")
    return home


def build_and_push(registry: str, ref: str, workdir: Path, schema: dict[str, Any]) -> tuple[str, str]:
    """Build the coglet image with SCHEMA, push it as REGISTRY/REF; returns (version hex, image reference)."""
    client = docker.from_env()
    ctx = workdir / "coglet-context"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    shutil.copytree(wheels(), ctx / "wheels", ignore=shutil.ignore_patterns(".complete"))
    (ctx / "predict.py").write_text(PREDICT)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / ".cog").mkdir()
    (ctx / ".cog" / "openapi_schema.json").write_text(json.dumps(schema))
    labels = {
        "run.cog.version": COG_VERSION,
        "run.cog.openapi_schema": json.dumps(schema),
        "run.cog.config": json.dumps(
            {"build": {"python_version": "3.11"}, "predict": "predict.py:Predictor"}
        ),
    }
    client.images.build(path=str(ctx), tag=f"{registry}/{ref}:latest", labels=labels, rm=True)
    digest = ""
    for line in client.images.push(f"{registry}/{ref}", tag="latest", stream=True, decode=True):
        if "error" in line:
            raise AssertionError(f"push failed: {line['error']}")
        aux = line.get("aux") or {}
        digest = aux.get("Digest", digest)
    assert digest.startswith("sha256:"), "the push gave no digest"
    return digest.split(":", 1)[1], f"{registry}/{ref}@{digest}"
