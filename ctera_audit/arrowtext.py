"""Strings into Arrow, whatever the portal sent.

Python strings can hold lone surrogates (a JSON ``\\ud800`` escape decodes to
one), which UTF-8, and so Arrow, cannot store. They are kept visible rather
than dropped: each becomes the text of its escape.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa


def escape_text(value: str) -> str:
    """Make a string storable as UTF-8: lone surrogates become ``\\udXXX`` text."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def storable_strings(
    values: Sequence[str | None], kind: pa.DataType | None = None
) -> pa.Array:
    """Build a string (or dictionary) array, escaping what UTF-8 cannot hold."""
    kind = kind or pa.string()
    try:
        return pa.array(values, kind)
    except (pa.ArrowInvalid, UnicodeEncodeError):
        return pa.array([None if v is None else escape_text(v) for v in values], kind)
