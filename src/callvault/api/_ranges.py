"""HTTP Range requests (RFC 9110 section 14) over a blob of known size: a player seeks
in the audio and only the chunks asked for are decrypted."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ByteRange", "RangeNotSatisfiable", "parse_range"]

_SPEC = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


class RangeNotSatisfiable(Exception):
    """The range lies outside the resource (HTTP 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a `Range` header asks for, or None for the whole resource.

    A header that is not a single bytes range (several ranges, another unit, garbage) is
    ignored, as RFC 9110 allows: the whole resource is sent. A range that starts beyond
    the end raises RangeNotSatisfiable.
    """
    if header is None:
        return None
    match = _SPEC.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        count = int(last)
        if count == 0:
            raise RangeNotSatisfiable(f"bytes */{size}")
        return ByteRange(max(0, size - count), size - 1) if size else None
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(f"bytes */{size}")
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return ByteRange(start, end)
