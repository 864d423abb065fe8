"""``cog.Opaque``: in ``typing.Annotated[T, cog.Opaque]`` it tells Cog to treat ``T`` as an opaque JSON
object: the schema says "object" (keeping the list/optional shape) and values pass through as JSON, with no
encoding or decoding. :func:`opaque_as_any` turns such annotations into ``Any`` (which the schema and the
worker already treat that way)."""

from __future__ import annotations

import typing
from typing import Any


class _OpaqueMarker:
    """The marker singleton, public as ``cog.Opaque``."""

    def __repr__(self) -> str:
        return "cog.Opaque"


Opaque = _OpaqueMarker()


def opaque_as_any(tp: Any) -> Any:
    """``tp`` with every ``Annotated[T, Opaque]`` (also inside ``Optional``/``list``) replaced by ``Any``,
    and other ``Annotated`` metadata dropped (as ``typing.get_type_hints`` drops it)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        if any(isinstance(m, _OpaqueMarker) for m in meta):
            return Any
        return opaque_as_any(inner)
    args = typing.get_args(tp)
    if not args:
        return tp
    new = tuple(opaque_as_any(a) for a in args)
    if new == args:
        return tp
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return typing.Union[new]  # noqa: UP007 - rebuilt from its parts
    if origin is list:
        return list[new[0]]  # type: ignore[valid-type]
    try:
        return tp.copy_with(new)  # typing generics (List[...], Iterator[...])
    except AttributeError:
        return origin[new] if origin is not None else tp
