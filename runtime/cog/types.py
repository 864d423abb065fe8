"""Value types that model code uses in signatures: Path, File, Secret, and the streaming iterators."""

from __future__ import annotations

import io
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Path(pathlib.PosixPath):
    """A local file. As an input the client sends a URL or a data URL; as an output the server returns a URL."""

    @classmethod
    def validate(cls, value: Any) -> Path:
        return cls(value)


class File(io.IOBase):
    """Deprecated: a file object input (use Path). As an output, a file object is returned like a Path."""

    @classmethod
    def validate(cls, value: Any) -> Any:
        return value


class Secret:
    """A string that never shows itself: repr/str are redacted; call get_secret_value() for the value."""

    __slots__ = ("_secret_value",)

    def __init__(self, value: str | None = None) -> None:
        self._secret_value = value

    def get_secret_value(self) -> str | None:
        return self._secret_value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._secret_value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._secret_value == self._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)


class ConcatenateIterator(Iterator[T], Generic[T]):
    """An iterator of text tokens that clients should concatenate (`x-cog-array-display: concatenate`)."""

    def __next__(self) -> T:  # pragma: no cover - marker type
        raise StopIteration


class AsyncConcatenateIterator(AsyncIterator[T], Generic[T]):
    """The async form of ConcatenateIterator."""

    async def __anext__(self) -> T:  # pragma: no cover - marker type
        raise StopAsyncIteration
