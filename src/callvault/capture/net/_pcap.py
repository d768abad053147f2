"""Capture file readers: classic pcap and pcapng, yielding link-layer frames.

Both formats are read through one memory map so a large capture is never copied into
memory as a whole. A truncated last record ends the file quietly (a capture cut off by a
full disk or a killed tcpdump is still worth reading); a header that is not pcap at all is
a `CaptureError` naming the file and what was found.
"""

from __future__ import annotations

import mmap
import struct
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from callvault.errors import CaptureError

__all__ = [
    "Frame",
    "iter_frames",
    "iter_frames_from_buffer",
    "iter_raw_frames",
    "iter_spans",
    "open_capture",
]

# https://www.tcpdump.org/manpages/pcap-savefile.5.html
_PCAP_MICRO = 0xA1B2C3D4
_PCAP_NANO = 0xA1B23C4D
# draft-ietf-opsawg-pcapng: block types
_NG_SHB = 0x0A0D0D0A
_NG_IDB = 0x00000001
_NG_OPB = 0x00000002  # obsolete Packet Block, still written by old tools
_NG_SPB = 0x00000003
_NG_EPB = 0x00000006
_NG_BYTE_ORDER = 0x1A2B3C4D
_NG_OPT_TSRESOL = 9


class Frame(NamedTuple):
    """One captured frame: arrival time (UNIX seconds), link type and the bytes captured."""

    time: float
    linktype: int
    data: bytes


RawFrame = tuple[float, int, bytes]
Span = tuple[float, int, int, int]  # time, link type, start and length in the buffer


def iter_frames(path: Path) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order."""
    with open_capture(path) as view:
        for frame in iter_raw_frames(view, name=str(path)):
            yield Frame._make(frame)


def open_capture(path: Path) -> mmap.mmap:
    """The file memory-mapped read-only (close it, or use it in a `with`)."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be opened ({exc.strerror}); check the path") from None
    with handle:
        try:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise CaptureError(f"{path}: is empty; it is not a pcap or pcapng capture") from None


def iter_frames_from_buffer(data: bytes | mmap.mmap, *, name: str = "capture") -> Iterator[Frame]:
    """Like `iter_frames` for a capture already in memory (used by tests and fuzzing)."""
    return map(Frame._make, iter_raw_frames(data, name=name))


def iter_raw_frames(data: bytes | mmap.mmap, *, name: str = "capture") -> Iterator[RawFrame]:
    """(time, link type, bytes) tuples; checks the file header before returning."""
    spans = iter_spans(data, name=name)
    return ((time, link, bytes(data[start : start + size])) for time, link, start, size in spans)


def iter_spans(data: bytes | mmap.mmap, *, name: str = "capture") -> Iterator[Span]:
    """Where each frame lies in `data`: (time, link type, start, length).

    The file header is checked before this returns, so a file that is not a capture
    fails here with a `CaptureError` rather than on first iteration.
    """
    if len(data) < 4:
        raise CaptureError(f"{name}: is too short to be a pcap or pcapng capture")
    head = bytes(data[:4])
    if struct.unpack("<I", head)[0] == _NG_SHB:
        return _iter_pcapng(data, name)
    for order in ("<", ">"):
        magic = struct.unpack(order + "I", head)[0]
        if magic in (_PCAP_MICRO, _PCAP_NANO):
            if len(data) < 24:
                raise CaptureError(f"{name}: pcap header is truncated ({len(data)} of 24 bytes)")
            return _iter_pcap(data, order, magic == _PCAP_NANO)
    raise CaptureError(
        f"{name}: is not a pcap or pcapng capture (starts with {head.hex()}); "
        "save it with tcpdump -w or Wireshark"
    )


def span_arrays(
    data: bytes | mmap.mmap, *, name: str = "capture"
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """Every frame's (time, link type, start, length) as four numpy arrays.

    Classic pcap is walked in a tight loop that only records where each frame lies;
    pcapng goes through `iter_spans`.
    """
    spans = iter_spans(data, name=name)  # checks the header
    head = struct.unpack("<I", bytes(data[:4]))[0]
    if head == _NG_SHB:
        rows = list(spans)
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(0, dtype=np.float64), empty, empty, empty
        times, links, starts, sizes = zip(*rows, strict=True)
        return (
            np.array(times, dtype=np.float64),
            np.array(links, dtype=np.int64),
            np.array(starts, dtype=np.int64),
            np.array(sizes, dtype=np.int64),
        )
    order = "<" if head in (_PCAP_MICRO, _PCAP_NANO) else ">"
    nano = struct.unpack(order + "I", bytes(data[:4]))[0] == _PCAP_NANO
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII").unpack_from
    secs = array("q")
    fracs = array("q")
    starts_a = array("q")
    sizes_a = array("q")
    offset = 24
    size = len(data)
    while offset + 16 <= size:
        sec, frac, incl, _orig = record(data, offset)
        offset += 16
        if incl > size - offset:
            break  # truncated last record: the capture was cut off
        secs.append(sec)
        fracs.append(frac)
        starts_a.append(offset)
        sizes_a.append(incl)
        offset += incl
    scale = 1e-9 if nano else 1e-6
    times_out = np.array(secs, dtype=np.float64) + np.array(fracs, dtype=np.float64) * scale
    starts_out = np.array(starts_a, dtype=np.int64)
    return (
        times_out,
        np.full(len(starts_out), linktype, dtype=np.int64),
        starts_out,
        np.array(sizes_a, dtype=np.int64),
    )


def _iter_pcap(data: bytes | mmap.mmap, order: str, nano: bool) -> Iterator[Span]:
    # The upper bits of the link-type field may carry an FCS length (pcap-savefile(5)).
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    scale = 1e-9 if nano else 1e-6
    record = struct.Struct(order + "IIII")
    offset = 24
    size = len(data)
    while offset + 16 <= size:
        sec, frac, incl, _orig = record.unpack_from(data, offset)
        offset += 16
        if incl > size - offset:
            return  # truncated last record: the capture was cut off
        yield (sec + frac * scale, linktype, offset, incl)
        offset += incl


def _tsresol(options: bytes, order: str) -> float:
    """Seconds per timestamp unit from an IDB's options (default microseconds)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        pos += 4
        if code == 0:
            break
        if code == _NG_OPT_TSRESOL and length >= 1 and pos < len(options):
            value = options[pos]
            # High bit set: a power of two; otherwise a power of ten.
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        pos += (length + 3) & ~3
    return 1e-6


def _iter_pcapng(data: bytes | mmap.mmap, name: str) -> Iterator[Span]:
    size = len(data)
    offset = 0
    order = "<"
    interfaces: list[tuple[int, float]] = []
    while offset + 12 <= size:
        if struct.unpack_from("<I", data, offset)[0] == _NG_SHB:
            # Each section may switch byte order; read it from the byte-order magic.
            bom = bytes(data[offset + 8 : offset + 12])
            if struct.unpack("<I", bom)[0] == _NG_BYTE_ORDER:
                order = "<"
            elif struct.unpack(">I", bom)[0] == _NG_BYTE_ORDER:
                order = ">"
            else:
                raise CaptureError(f"{name}: pcapng section header has a bad byte-order magic")
            interfaces = []  # interface ids are per section
        btype, blen = struct.unpack_from(order + "II", data, offset)
        if blen < 12 or blen % 4 or offset + blen > size:
            return  # corrupt or truncated block: nothing after it can be trusted
        body = offset + 8
        end = offset + blen - 4
        if btype == _NG_IDB and end - body >= 8:
            linktype = struct.unpack_from(order + "H", data, body)[0]
            interfaces.append((linktype, _tsresol(bytes(data[body + 8 : end]), order)))
        elif btype == _NG_EPB and end - body >= 20:
            iface, hi, lo, caplen, _orig = struct.unpack_from(order + "IIIII", data, body)
            if iface < len(interfaces) and caplen <= end - body - 20:
                linktype, unit = interfaces[iface]
                start = body + 20
                yield (((hi << 32) | lo) * unit, linktype, start, caplen)
        elif btype == _NG_OPB and end - body >= 20:
            iface, _drops, hi, lo, caplen, _orig = struct.unpack_from(order + "HHIIII", data, body)
            if iface < len(interfaces) and caplen <= end - body - 20:
                linktype, unit = interfaces[iface]
                start = body + 20
                yield (((hi << 32) | lo) * unit, linktype, start, caplen)
        elif btype == _NG_SPB and end - body >= 4 and interfaces:
            # A Simple Packet Block has no timestamp and belongs to interface 0.
            orig = struct.unpack_from(order + "I", data, body)[0]
            caplen = min(orig, end - body - 4)
            linktype = interfaces[0][0]
            yield (0.0, linktype, body + 4, caplen)
        offset += blen
