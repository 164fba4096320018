"""The one type of names in scenarios and sweeps: what can safely name a file or folder."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NAME = 64


def _not_dots(v: str) -> str:
    if set(v) == {"."}:
        raise ValueError(f"{v!r} names no folder of its own (it would write outside the results folder)")
    return v


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$"),
                 AfterValidator(_not_dots)]
"""Letters, digits, ``_``, ``.`` and ``-``, at most 64, not only dots."""
