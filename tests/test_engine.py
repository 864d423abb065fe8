"""engine.py without an engine: finding a docker CLI with BuildKit."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_no_buildkit_client_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A docker CLI ≥ 23 without the buildx plugin cannot build `RUN --mount=type=secret`: say so."""
    from cogpin import engine

    fake = tmp_path / "docker"
    fake.write_text(
        '#!/bin/sh\ncase "$1" in version) echo 28.2.2 ;; buildx) echo "unknown command: buildx" >&2; exit 1 ;; esac\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("COGPIN_DOCKER_CLI", str(fake))
    monkeypatch.setattr(engine, "engine_version", lambda: "20.10.24")
    with pytest.raises(engine.NoBuildKit) as e:
        engine.find_buildkit_cli()
    assert "need BuildKit" in e.value.message and "28.2.2" in e.value.message
    assert "buildx" in (e.value.hint or "")
    fake.write_text("#!/bin/sh\necho 20.10.24\n")
    assert engine.find_buildkit_cli() == str(fake)
