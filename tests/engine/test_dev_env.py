"""The development environment itself: a real engine, a real registry as Docker Hub mirror, stand-ins."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from tests.conftest import DEV_ENV

pytestmark = pytest.mark.engine


def test_status_json_names_engine_registry_mirror_and_base_images(dev_env: dict) -> None:
    assert dev_env["registry"].startswith("127.0.0.1:")
    assert isinstance(dev_env["mirror"], bool)
    names = [ref.split("@")[0] for ref in dev_env["base_images"]]
    for wanted in (
        "python:3.11-slim-bookworm",
        "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04",
        "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04",
    ):
        assert wanted in names
    assert all("@sha256:" in ref for ref in dev_env["base_images"])


def test_second_up_is_idempotent_and_changes_nothing(dev_env: dict) -> None:
    out = subprocess.run([str(DEV_ENV), "up"], capture_output=True, text=True, check=True)
    assert "127.0.0.1" in out.stdout
    again = json.loads(
        subprocess.run([str(DEV_ENV), "status", "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert again["base_images"] == dev_env["base_images"]


def test_registry_answers_the_v2_api(dev_env: dict) -> None:
    with urllib.request.urlopen(f"http://{dev_env['registry']}/v2/", timeout=5) as r:
        assert r.status == 200


def test_canonical_name_resolves_through_the_mirror_to_the_registry_digest(dev_env: dict) -> None:
    import docker

    if not dev_env["mirror"]:
        pytest.fail(
            "the engine does not use the local registry as its mirror; dev-env started no engine of its own"
        )
    client = docker.from_env()
    by_name = dict(ref.split("@") for ref in dev_env["base_images"])
    data = client.images.get_registry_data("python:3.11-slim-bookworm")
    assert data.id == by_name["python:3.11-slim-bookworm"]


def test_container_from_the_python_standin_runs_python_and_pip(dev_env: dict) -> None:
    import docker

    client = docker.from_env()
    image = client.images.pull("python:3.11-slim-bookworm")
    assert image.labels.get("dev.cogpin.stand-in") == "true"
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    out = client.containers.run(
        image.id,
        ["sh", "-c", "python --version && python3 -c 'import sys;print(sys.prefix)' && pip --version"],
        remove=True,
    ).decode()
    assert f"Python {env['PYTHON_VERSION']}" in out
    assert "/usr/local" in out
    assert "pip " in out


def test_cuda_standins_carry_the_real_images_environment_and_no_python(dev_env: dict) -> None:
    import docker

    client = docker.from_env()
    image = client.images.pull("nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04")
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    assert env["CUDA_VERSION"] == "12.1.1"
    assert env["NV_CUDNN_VERSION"].startswith("8.")
    assert env["NVIDIA_REQUIRE_CUDA"].startswith("cuda>=12.1")
    assert image.labels.get("dev.cogpin.stand-in") == "true"
    out = client.containers.run(image.id, ["sh", "-c", "command -v python3 python || echo none"], remove=True)
    assert out.strip() == b"none"


def test_build_and_run_a_container_from_the_standin_through_the_mirror(dev_env: dict, tmp_path) -> None:
    import docker

    client = docker.from_env()
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.11-slim-bookworm\nRUN python -c \'open("/built","w").write("ok")\'\n'
        'CMD ["cat", "/built"]\n'
    )
    image, _ = client.images.build(path=str(tmp_path), labels={"cogpin.test": "1"}, rm=True)
    container = client.containers.create(image.id)
    try:
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert container.logs(stdout=True, stderr=False) == b"ok"
    finally:
        container.remove(force=True)
        client.images.remove(image.id, force=True)


def _push(rootfs, registry: str, ref: str) -> str:
    out = subprocess.run(
        [str(DEV_ENV.parent / "standin-image"), str(rootfs), registry, ref, "--env", "A=1", "--label", "k=v"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().split("@")[1]


def test_standin_images_are_reproducible_byte_for_byte(dev_env: dict, tmp_path) -> None:
    import os

    def make(root, stamp: int) -> None:
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "os-release").write_text("ID=test\n")
        (root / "bin").mkdir()
        (root / "bin" / "tool").write_text("#!/bin/sh\n")
        os.link(root / "bin" / "tool", root / "bin" / "tool2")
        (root / "lib").symlink_to("bin")
        for p in root.rglob("*"):
            os.utime(p, (stamp, stamp), follow_symlinks=False)

    a, b = tmp_path / "a", tmp_path / "b"
    make(a, 1_000_000)
    make(b, 2_000_000)  # other mtimes, same content
    registry = dev_env["registry"]
    da = _push(a, registry, "cogpin-test/standin:a")
    db = _push(b, registry, "cogpin-test/standin:b")
    assert da == db
    (b / "etc" / "os-release").write_text("ID=other\n")
    assert _push(b, registry, "cogpin-test/standin:c") != da
