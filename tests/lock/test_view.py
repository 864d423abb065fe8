"""lock/view.py: the one lock reader a build uses."""

from __future__ import annotations

import pytest

from cogpin.lock.model import LockError as LockInvalid
from cogpin.lock.view import view
from tests.build_fixtures import (
    PY_BASE,
    TORCH,
    lock_text,
    sha,
)


def test_lock_errors_are_clear() -> None:
    with pytest.raises(LockInvalid, match="lock-version"):
        view(lock_text().replace("lock-version = 1", "lock-version = 9"))
    with pytest.raises(LockInvalid, match="not a sha256"):
        view(lock_text().replace(sha("runtime"), "abc"))
    with pytest.raises(LockInvalid, match=r"missing `digest`"):
        view(lock_text().replace(f'digest = "{PY_BASE[1]}"', ""))
    with pytest.raises(LockInvalid, match="not valid TOML"):
        view("lock-version = = 1")


def test_lock_view_reads_every_artifact() -> None:
    lv = view(lock_text(packages=TORCH, standalone=True))
    names = [a.filename for a in lv.artifacts()]
    assert names == sorted(names) and len(names) == 5
    assert lv.standalone_python is not None and lv.python_source == "standalone"
