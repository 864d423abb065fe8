"""Every example ships a committed cog.lock that is up to date with its cog.yaml and with the runtime
this checkout installs (a runtime change must re-lock the examples: `cogpin lock` in each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/cog.yaml"))
COGPIN = str(Path(sys.executable).with_name("cogpin"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_has_a_fresh_committed_lock_and_a_readme(example: Path) -> None:
    assert (example / "cog.lock").is_file(), f"{example.name}: no cog.lock; run `cogpin lock` there"
    readme = (example / "README.md").read_text().strip().splitlines()
    assert 1 <= len(readme) <= 4
    out = subprocess.run([COGPIN, "lock", "--check"], cwd=example, capture_output=True, text=True)
    assert out.returncode == 0, f"{example.name}: {out.stdout}{out.stderr}"


def test_examples_cover_hello_world_upscaler_and_streaming() -> None:
    assert {p.name for p in EXAMPLES} >= {"hello-world", "upscaler", "streaming"}


@pytest.mark.engine
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_lock_pins_a_base_digest_this_machine_can_pull(example: Path, dev_env: dict) -> None:
    """The stand-ins are reproducible, so a lock committed from another machine pins digests that a
    fresh machine's registry has (docs/dev-env.md)."""
    import docker

    from cogpin.lock import Lock

    client = docker.from_env()
    for base in Lock.load(example / "cog.lock").locked["base"]:
        ref = f"{base['image'].rsplit(':', 1)[0]}@{base['digest']}"
        assert client.images.get_registry_data(ref).id == base["digest"]
