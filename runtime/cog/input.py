"""Input(...): the default and constraints of one predictor argument."""

from __future__ import annotations

from typing import Any

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<required>"})()


class FieldInfo:
    """What Input(...) returns; read by the schema generator and the worker."""

    __slots__ = (
        "default",
        "description",
        "ge",
        "le",
        "min_length",
        "max_length",
        "regex",
        "choices",
        "deprecated",
        "accept",
    )

    def __init__(
        self,
        default: Any = _MISSING,
        description: str | None = None,
        ge: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        regex: str | None = None,
        choices: list[Any] | None = None,
        deprecated: bool | None = None,
        accept: str | None = None,
    ) -> None:
        self.default = default
        self.description = description
        self.ge = ge
        self.le = le
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        self.choices = list(choices) if choices is not None else None
        self.deprecated = deprecated
        self.accept = accept

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in self.__slots__ if getattr(self, k) is not None
        )
        return f"Input({fields})"


def Input(  # noqa: N802 - Cog's public name
    default: Any = _MISSING,
    *,
    description: str | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    regex: str | None = None,
    choices: list[Any] | None = None,
    deprecated: bool | None = None,
    accept: str | None = None,
    default_factory: Any = None,
) -> Any:
    """Describe a predictor input. No default means the input is required."""
    if default_factory is not None and default is _MISSING:
        default = default_factory()
    return FieldInfo(
        default=default,
        description=description,
        ge=ge,
        le=le,
        min_length=min_length,
        max_length=max_length,
        regex=regex,
        choices=choices,
        deprecated=deprecated,
        accept=accept,
    )
