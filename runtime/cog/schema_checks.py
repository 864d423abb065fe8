"""Checks of a predictor's inputs made when its schema is generated, so that `cog build` (which generates
it) fails with a clear error instead of the first prediction: a default that violates its own ``ge``/
``le``/length/``regex``/``choices``, an ``accept=`` that is not a list of MIME types or extensions, or
``accept`` on an input that is not a file. Standard library only."""

from __future__ import annotations

import re
from typing import Any

_MIME = re.compile(r"^[A-Za-z0-9][\w.+-]*/(\*|[A-Za-z0-9][\w.+-]*)$")
_EXTENSION = re.compile(r"^\.[A-Za-z0-9][\w.+-]*$")


class InputSpecError(ValueError):
    """An input whose own declaration is contradictory; the message names it and what to change."""


def check_accept(name: str, accept: str, is_file: bool) -> None:
    if not is_file:
        raise InputSpecError(f"accept is only valid on Path or File inputs (parameter '{name}')")
    items = [a.strip() for a in accept.split(",")]
    bad = [a for a in items if not (_MIME.match(a) or _EXTENSION.match(a))]
    if not items or bad:
        raise InputSpecError(
            f"input {name!r}: accept={accept!r} has an invalid MIME type or extension: "
            f'{", ".join(repr(b) for b in bad) or "empty"} (write e.g. accept="image/*,.png")'
        )


def check_default(
    name: str,
    default: Any,
    *,
    ge: Any = None,
    le: Any = None,
    min_length: Any = None,
    max_length: Any = None,
    regex: str | None = None,
    choices: list[Any] | None = None,
) -> None:
    """``default`` satisfies the input's own constraints (None, the absent default, always does)."""
    if default is None:
        return
    values = default if isinstance(default, list) else [default]

    def fail(what: str) -> InputSpecError:
        return InputSpecError(
            f"input {name!r}: the default {default!r} {what}; change the default or the constraint"
        )

    for v in values:
        is_number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if is_number and ge is not None and v < ge:
            raise fail(f"is less than ge={ge}")
        if is_number and le is not None and v > le:
            raise fail(f"is greater than le={le}")
        if choices is not None and v not in choices:
            raise fail(f"is not one of the choices {choices!r}")
        if isinstance(v, str) and regex is not None and re.fullmatch(regex, v) is None:
            raise fail(f"does not match regex={regex!r}")
    sized = default if isinstance(default, (str, list)) else None
    if sized is not None and min_length is not None and len(sized) < min_length:
        raise fail(f"is shorter than min_length={min_length}")
    if sized is not None and max_length is not None and len(sized) > max_length:
        raise fail(f"is longer than max_length={max_length}")
