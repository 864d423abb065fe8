"""BasePredictor / BaseRunner, and loading a predictor from a reference like `predict.py:Predictor`."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any


class BasePredictor:
    """Subclass and define `setup(self)` (optional, runs once) and `predict(self, **inputs)`."""

    def setup(self) -> None:  # noqa: B027 - optional hook; may also take `weights`
        """Load the model; runs once before the first prediction."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("predict has not been implemented")


class BaseRunner(BasePredictor):
    """Newer Cog's name: define `run(self, **inputs)` instead of `predict`."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("run has not been implemented")


class PredictorError(Exception):
    """The predictor reference or signature is invalid; the message says why."""


def load_object(ref: str, base_dir: str | None = None) -> Any:
    """Import `path/to/file.py:Name` (or `module.name:Name`) and return the named object."""
    if ":" not in ref:
        raise PredictorError(
            f"invalid predictor reference {ref!r}: expected FILE.py:NAME, e.g. predict.py:Predictor"
        )
    module_ref, _, name = ref.rpartition(":")
    base = base_dir or os.getcwd()
    if module_ref.endswith(".py") or os.sep in module_ref:
        path = module_ref if os.path.isabs(module_ref) else os.path.join(base, module_ref)
        if not os.path.isfile(path):
            raise PredictorError(f"predictor file {module_ref!r} not found (in {base})")
        module_dir = os.path.dirname(os.path.abspath(path))
        for folder in (module_dir, os.path.abspath(base)):
            if folder not in sys.path:
                sys.path.insert(0, folder)
        mod_name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise PredictorError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        if base not in sys.path:
            sys.path.insert(0, base)
        module = importlib.import_module(module_ref)
    try:
        return getattr(module, name)
    except AttributeError:
        raise PredictorError(
            f"{module_ref!r} has no attribute {name!r} (predictor reference {ref!r})"
        ) from None


class LoadedPredictor:
    """A predictor instance (or plain function) and the function that serves requests."""

    def __init__(self, obj: Any, method: str = "predict", instantiate: bool = True) -> None:
        self.obj = obj
        self.instance: Any = None
        if inspect.isclass(obj):
            self.instance = obj() if instantiate else None
            holder = self.instance if instantiate else obj
            fn = getattr(holder, method, None)
            own = getattr(obj, "predict", None)
            if method == "predict" and own in (None, BasePredictor.predict, BaseRunner.predict):
                fn = getattr(holder, "run", None)
            if fn is None:
                raise PredictorError(f"{obj.__name__} has no {method}() method")
            self.fn: Callable[..., Any] = fn
        elif callable(obj):
            self.fn = obj
        else:
            raise PredictorError(f"{obj!r} is neither a class nor a function")

    @property
    def setup_fn(self) -> Callable[..., Any] | None:
        if self.instance is None:
            return None
        return getattr(self.instance, "setup", None)

    @property
    def healthcheck_fn(self) -> Callable[..., Any] | None:
        if self.instance is None:
            return None
        return getattr(self.instance, "healthcheck", None)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn) or inspect.isasyncgenfunction(self.fn)

    @property
    def streaming(self) -> bool:
        return bool(getattr(self.fn, "__cog_streaming__", False))


def load_predictor(ref: str, method: str = "predict", instantiate: bool = True) -> LoadedPredictor:
    return LoadedPredictor(load_object(ref), method, instantiate)
