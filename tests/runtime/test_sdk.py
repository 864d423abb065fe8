"""The SDK model code imports, in process (no server)."""

from __future__ import annotations

import pathlib
import warnings

import pytest

import cog
from cog import BaseModel, CancelationException, Input, Path, Secret, current_scope, emit_metric


def test_public_names() -> None:
    for name in cog.__all__:
        assert getattr(cog, name) is not None
    assert issubclass(CancelationException, BaseException) and not issubclass(CancelationException, Exception)
    assert issubclass(cog.ExperimentalFeatureWarning, Warning)
    assert cog.__doc__ and "BasePredictor" in cog.__doc__


def test_path_is_a_pathlib_path() -> None:
    p = Path("/tmp/x.png")
    assert isinstance(p, pathlib.Path) and p.suffix == ".png"


def test_secret_is_redacted() -> None:
    s = Secret("hunter2")
    assert s.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"


def test_input_required_and_default() -> None:
    assert Input().required and not Input(default=None).required
    field = Input(default=3, ge=1, le=5, description="d")
    assert (field.default, field.ge, field.le, field.description) == (3, 1, 5, "d")


def test_base_model() -> None:
    class Out(BaseModel):
        text: str
        score: float = 0.5

    out = Out(text="a")
    assert out.text == "a" and out.score == 0.5 and out.dict() == {"text": "a", "score": 0.5}
    with pytest.raises(TypeError):
        Out()
    with pytest.raises(TypeError):
        Out(text="a", extra=1)


def test_scope_outside_prediction_and_emit_metric() -> None:
    scope = current_scope()
    assert scope.context == {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emit_metric("m", 1)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with pytest.raises(TypeError, match="Invalid metric mode: 'bogus'"):  # Cog's TypeError
        scope.record_metric("x", 1, mode="bogus")
