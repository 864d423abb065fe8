"""BaseModel: structured outputs declared with annotations, standard library only (dataclass-like)."""

from __future__ import annotations

import typing
from typing import Any, ClassVar

_NO_DEFAULT: Any = object()


class BaseModel:
    """Subclass with annotated fields; instances are built with keyword arguments and serialise as objects."""

    __cog_fields__: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "__cog_fields__", {}) or {})
        for name in cls.__dict__.get("__annotations__", {}):
            if name.startswith("_"):
                continue
            fields[name] = cls.__dict__.get(name, _NO_DEFAULT)
        cls.__cog_fields__ = fields

    def __init__(self, **kwargs: Any) -> None:
        for name, default in type(self).__cog_fields__.items():
            if name in kwargs:
                value = kwargs.pop(name)
            elif default is not _NO_DEFAULT:
                value = default
            else:
                raise TypeError(f"{type(self).__name__}: missing required field {name!r}")
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(kwargs)}")

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {name: hints.get(name, Any) for name in cls.__cog_fields__}

    def dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).__cog_fields__}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.dict().items())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.dict() == other.dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]
