"""Values across the worker's edge: a request's JSON input coerced to the predictor's parameter types (files
downloaded, secrets wrapped) and a model's output encoded to JSON (files as data URLs or uploads)."""

from __future__ import annotations

import math
import os
import tempfile
import typing
from typing import Any

from .. import files
from ..schema import is_file, is_path, is_union
from ..types import Path, Secret
from .protocol import Raw


def coerce(tp: Any, value: Any, tmp: str, name: str) -> Any:
    if value is None:
        return None
    if is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return coerce(args[0], value, tmp, name)
        return value
    origin = typing.get_origin(tp)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [coerce(arg, v, tmp, f"{name}.{i}") for i, v in enumerate(value)]
    if tp is Secret:
        return Secret(value)
    if is_path(tp) and isinstance(value, str):
        os.makedirs(tmp, exist_ok=True)
        sub = tempfile.mkdtemp(dir=tmp)
        return Path(files.fetch(value, sub, name))
    if is_file(tp) and isinstance(value, str):
        os.makedirs(tmp, exist_ok=True)
        sub = tempfile.mkdtemp(dir=tmp)
        return open(files.fetch(value, sub, name), "rb")  # noqa: SIM115 - the model owns the file object
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def encode(value: Any, upload_url: str | None) -> Any:
    """Model output → JSON: files become data URLs (or uploads), BaseModels objects, enums values."""
    from ..model import BaseModel

    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN and infinity have no JSON form
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if files.is_file_output(value):
        url = files.encode_file(value, upload_url)
        return Raw(url) if isinstance(url, bytes) else url  # bytes: already a JSON string
    if isinstance(value, BaseModel):
        return {k: encode(v, upload_url) for k, v in value.dict().items()}
    if isinstance(value, dict):
        return {str(k): encode(v, upload_url) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [encode(v, upload_url) for v in value]
    if isinstance(value, Secret):
        return str(value)
    if hasattr(value, "value") and hasattr(value, "name") and hasattr(type(value), "__members__"):
        return encode(value.value, upload_url)
    if hasattr(value, "tolist"):
        return encode(value.tolist(), upload_url)
    if hasattr(value, "__dataclass_fields__"):
        return {k: encode(getattr(value, k), upload_url) for k in value.__dataclass_fields__}
    from ..schema import is_pydantic_model

    if is_pydantic_model(type(value)):  # pydantic 2 (model_dump) or 1 (dict), as Cog's coglet encodes them
        dump = getattr(value, "model_dump", None) or value.dict
        return encode(dump(), upload_url)
    return str(value)
