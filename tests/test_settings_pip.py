"""Behind a TLS-intercepting proxy with no CA variable set: cogpin honours pip's configuration (``cert``,
``index-url``, ``extra-index-url``, ``find-links``) the way pip does, and otherwise tells uv to use the system
trust store. The unit tests read pip config files of their own; the CLI tests lock against the real index
(through this machine's proxy) with every CA variable removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cogpin.settings import PYPI_SIMPLE, Settings, pip_config

EXE = str(Path(sys.executable).with_name("cogpin"))
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _home(tmp_path: Path, user_conf: str | None = None) -> dict[str, str]:
    """An environment whose pip config is only what the test writes (no /etc files: XDG_CONFIG_DIRS moved)."""
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    if user_conf is not None:
        (home / ".config" / "pip" / "pip.conf").write_text(user_conf)
    return {
        "HOME": str(home),
        "XDG_CONFIG_DIRS": str(tmp_path / "no-xdg"),
        "VIRTUAL_ENV": str(tmp_path / "v"),
    }


def test_pip_config_user_file_then_pip_config_file_wins(tmp_path: Path) -> None:
    env = _home(tmp_path, "[global]\ncert = /a.pem\nindex-url = https://mirror.example/simple\n")
    extra = tmp_path / "extra.conf"
    extra.write_text("[global]\ncert = /b.pem\n[install]\nfind-links = /nowhere /tmp\n")
    assert pip_config(env)["cert"] == "/a.pem"
    env["PIP_CONFIG_FILE"] = str(extra)
    conf = pip_config(env)
    assert conf["cert"] == "/b.pem" and conf["index-url"] == "https://mirror.example/simple"
    assert conf["find-links"] == "/nowhere /tmp"
    env["PIP_CONFIG_FILE"] = os.devnull
    assert pip_config(env) == {}


def test_settings_take_pip_config_below_environment_variables(tmp_path: Path) -> None:
    env = _home(tmp_path)
    pip = {
        "cert": "/corp-ca.pem",
        "index-url": "https://mirror.example/simple",
        "find-links": "/nowhere /tmp",
    }
    s = Settings.from_env(env, pip)
    assert s.ca_bundle == "/corp-ca.pem"
    assert s.index_url == "https://mirror.example/simple"
    assert s.find_links == ("/tmp",)  # a missing local folder is skipped, as pip does
    s = Settings.from_env({**env, "PIP_CERT": "/env.pem", "PIP_INDEX_URL": "https://other/simple"}, pip)
    assert (s.ca_bundle, s.index_url) == ("/env.pem", "https://other/simple")
    local = Settings.from_env(env, {"extra-index-url": "file:///tmp https://corp.example/simple"})
    assert local.extra_index_urls == ("https://corp.example/simple",)  # a local file index is machine-only
    none = Settings.from_env(env, {})
    assert none.ca_bundle is None and none.index_url == PYPI_SIMPLE


def test_uv_is_told_to_use_the_system_store_when_no_bundle_is_named(tmp_path: Path, monkeypatch) -> None:
    """The uv call itself (the seam): SSL_CERT_FILE when a bundle is known, system certs otherwise."""
    import dataclasses

    from cogpin import config as config_mod
    from cogpin.lock.make import make_lock
    from cogpin.resolver import python as py_mod
    from cogpin.resolver.compat import Flags
    from tests.resolver_fixtures import TagImageSource, local_settings, write_project

    seen: list[dict[str, str]] = []

    def fake_uv(cmd, env, cancel):  # type: ignore[no-untyped-def]
        seen.append(env)
        return 1, "error: stopped by the test"

    monkeypatch.setattr(py_mod, "_run", fake_uv)
    for k in CA_VARS:
        monkeypatch.delenv(k, raising=False)
    root = write_project(tmp_path / "proj", {"gpu": "false", "python_version": '"3.11"'}, ["tinydep==1.0"])
    config = config_mod.load_config(root / "cog.yaml")
    base = local_settings(tmp_path / "s")
    for settings in (base, dataclasses.replace(base, ca_bundle="/x.pem")):
        with pytest.raises(Exception):  # noqa: B017 - the fake uv fails on purpose
            make_lock(config, Flags(), settings, images=TagImageSource())
    assert seen[0].get("UV_SYSTEM_CERTS") == "1" and "SSL_CERT_FILE" not in seen[0]
    assert seen[-1]["SSL_CERT_FILE"] == "/x.pem" and "UV_SYSTEM_CERTS" not in seen[-1]


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CA_VARS}
    env.update(COGPIN_CACHE_DIR=str(tmp_path / "cache"), UV_CACHE_DIR=str(tmp_path / "uv-cache"), **extra)
    return env


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  python_packages:\n    - "six==1.16.0"\npredict: "predict.py:Predictor"\n'
    )
    (root / "predict.py").write_text(
        "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    pass\n"
    )
    return root


@pytest.mark.network
@pytest.mark.engine
@pytest.mark.parametrize("how", ["system-store", "pip-config-cert"])
def test_lock_with_every_ca_variable_removed(tmp_path: Path, how: str, dev_env: dict) -> None:
    root = _project(tmp_path / "p")
    if how == "system-store":
        env = _clean_env(tmp_path, PIP_CONFIG_FILE=os.devnull)
    else:  # pip's configured cert only, from a config file (as `pip config set global.cert` writes)
        conf = tmp_path / "pip.conf"
        conf.write_text(
            "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\nindex-url = https://pypi.org/simple\n"
        )
        env = _clean_env(tmp_path, PIP_CONFIG_FILE=str(conf))
    proc = subprocess.run([EXE, "lock"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (root / "cog.lock").read_text()
    assert 'name = "six"' in text and 'version = "1.16.0"' in text
