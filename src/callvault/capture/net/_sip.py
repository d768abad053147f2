"""SIP messages (RFC 3261) and SDP session descriptions (RFC 4566/8866), as captured.

Parsing is lenient where real devices are sloppy (LF-only line ends, odd case, compact
header names) and strict where a wrong guess would mislead: a message without a start
line, Call-ID or CSeq is a `ParseError`. An unknown method is kept as a generic request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callvault.errors import ParseError

__all__ = [
    "MediaDescription",
    "NameAddress",
    "SessionDescription",
    "SipMessage",
    "parse_dtmf_info",
]

# RFC 3261 section 7.3.3 compact forms (plus RFC 3515/3903 ones seen in the wild).
_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "l": "content-length",
    "c": "content-type",
    "m": "contact",
    "v": "via",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "r": "refer-to",
    "o": "event",
    "u": "allow-events",
    "b": "referred-by",
}
_REQUEST_LINE = re.compile(rb"^([A-Za-z]+) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?$")
_URI_USER = re.compile(r"^(?:sips?|tel):([^@;>?]*)", re.IGNORECASE)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_MESSAGE = 65535


@dataclass(frozen=True)
class NameAddress:
    """A From/To header value: display name, the user part of the URI, and the tag."""

    display_name: str | None
    user: str | None
    uri: str
    tag: str | None

    @property
    def e164(self) -> str | None:
        """The user part as an E.164 number when it is written as one.

        Only "+" and 7-15 digits (or the "00" international prefix) count: a national
        number such as 5551234567 cannot be told from an extension without knowing the
        country, so it is not guessed.
        """
        if self.user is None:
            return None
        digits = re.sub(r"[\s().\-]", "", self.user.split(";")[0])
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        return digits if _E164.match(digits) else None

    @classmethod
    def parse(cls, value: str) -> NameAddress:
        value = value.strip()
        display: str | None = None
        if "<" in value:
            before, _, rest = value.partition("<")
            uri, _, params = rest.partition(">")
            display = before.strip().strip('"').strip() or None
        else:
            uri, _, params = value.partition(";")
            params = ";" + params if params else ""
        tag = None
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.lower() == "tag" and val:
                tag = val.strip()
        match = _URI_USER.match(uri.strip())
        user = match.group(1) or None if match else None
        return cls(display, user, uri.strip(), tag)


@dataclass(frozen=True)
class SipMessage:
    """One SIP request or response; header names are lower case, compact forms expanded."""

    method: str | None
    uri: str | None
    status: int | None
    reason: str | None
    headers: dict[str, list[str]]
    body: bytes

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def call_id(self) -> str:
        value = self.header("call-id")
        assert value is not None  # checked by parse
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        value = self.header("cseq") or ""
        number, _, method = value.strip().partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError:
            return 0, method.strip().upper()

    @property
    def from_(self) -> NameAddress:
        return NameAddress.parse(self.header("from") or "")

    @property
    def to(self) -> NameAddress:
        return NameAddress.parse(self.header("to") or "")

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def body_parts(self) -> list[tuple[str, bytes]]:
        """(content type, body) of each part; a multipart body (RFC 2046) is split."""
        ctype = self.content_type
        if not ctype.startswith("multipart/"):
            return [(ctype, self.body)] if self.body else []
        match = re.search(r'boundary="?([^";]+)"?', self.header("content-type") or "", re.I)
        if match is None:
            return []
        return split_multipart(self.body, match.group(1).encode())

    def __bytes__(self) -> bytes:
        """The message on the wire: header names in lower case (RFC 3261 section 7.3.1
        makes them case-insensitive), Content-Length set to the body's length."""
        if self.method is not None:
            first = f"{self.method} {self.uri} SIP/2.0"
        else:
            first = f"SIP/2.0 {self.status} {self.reason or ''}".rstrip()
        lines = [first]
        for name, values in self.headers.items():
            if name != "content-length":
                lines += [f"{name}: {value}" for value in values]
        lines.append(f"content-length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        if len(data) > MAX_MESSAGE:
            raise ParseError(f"SIP message is {len(data)} bytes, over the {MAX_MESSAGE} limit")
        end = data.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = data.find(b"\n\n")
            sep = 2
        if end < 0:
            head, body = data, b""
        else:
            head, body = data[:end], data[end + sep :]
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        first = lines[0].strip()
        method = uri = reason = None
        status = None
        request = _REQUEST_LINE.match(first)
        if request is not None:
            method = request.group(1).decode("ascii").upper()
            uri = request.group(2).decode("utf-8", "replace")
        else:
            response = _STATUS_LINE.match(first)
            if response is None:
                raise ParseError("SIP message has no request or status line")
            status = int(response.group(1))
            reason = (response.group(2) or b"").decode("utf-8", "replace")
        headers: dict[str, list[str]] = {}
        last: str | None = None
        for raw in lines[1:]:
            if raw[:1] in (b" ", b"\t") and last is not None:  # folded continuation line
                headers[last][-1] += " " + raw.strip().decode("utf-8", "replace")
                continue
            name, colon, value = raw.partition(b":")
            if not colon:
                continue
            key = name.strip().decode("ascii", "replace").lower()
            key = _COMPACT.get(key, key)
            headers.setdefault(key, []).append(value.strip().decode("utf-8", "replace"))
            last = key
        if not headers.get("call-id"):
            raise ParseError("SIP message has no Call-ID header")
        if not headers.get("cseq"):
            raise ParseError("SIP message has no CSeq header")
        length = headers.get("content-length")
        if length:
            try:
                size = int(length[0])
            except ValueError:
                size = -1
            if 0 <= size < len(body):
                body = body[:size]
        return cls(method, uri, status, reason, headers, body)


def split_multipart(body: bytes, boundary: bytes) -> list[tuple[str, bytes]]:
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.lstrip(b"\r\n")
        end = chunk.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end, sep = chunk.find(b"\n\n"), 2
        if end < 0:
            continue
        ctype = "text/plain"  # RFC 2046 section 5.1 default
        for line in chunk[:end].replace(b"\r\n", b"\n").split(b"\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-type":
                ctype = value.decode("utf-8", "replace").split(";")[0].strip().lower()
        content = chunk[end + sep :]
        if content.endswith(b"\r\n"):
            content = content[:-2]
        parts.append((ctype, content))
    return parts


@dataclass(frozen=True)
class RtpMap:
    encoding: str
    clock_rate: int
    channels: int


@dataclass(frozen=True)
class MediaDescription:
    """One m= line and its attributes."""

    media: str
    port: int
    protocol: str
    payload_types: tuple[int, ...]
    address: str | None
    rtpmap: dict[int, RtpMap] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    ptime: int | None = None


@dataclass(frozen=True)
class SessionDescription:
    """The parts of an SDP body that locate and describe RTP streams."""

    address: str | None
    media: tuple[MediaDescription, ...]

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        text = data.decode("utf-8", "replace")
        if not text.lstrip().startswith("v="):
            raise ParseError("SDP body does not start with v=")
        session_address: str | None = None
        session_direction = "sendrecv"
        media: list[dict[str, object]] = []
        current: dict[str, object] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if len(line) < 2 or line[1] != "=":
                continue
            kind, value = line[0], line[2:]
            if kind == "m":
                parts = value.split()
                if len(parts) < 3:
                    current = None
                    continue
                try:
                    port = int(parts[1].split("/")[0])
                except ValueError:
                    current = None
                    continue
                pts = tuple(int(p) for p in parts[3:] if p.isdigit() and int(p) < 128)
                current = {
                    "media": parts[0].lower(),
                    "port": port,
                    "protocol": parts[2],
                    "payload_types": pts,
                    "address": None,
                    "rtpmap": {},
                    "fmtp": {},
                    "direction": None,
                    "ptime": None,
                }
                media.append(current)
            elif kind == "c":
                parts = value.split()
                if len(parts) >= 3:
                    address = parts[2].split("/")[0]
                    if current is None:
                        session_address = address
                    else:
                        current["address"] = address
            elif kind == "a":
                name, _, arg = value.partition(":")
                name = name.lower()
                if name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                    if current is None:
                        session_direction = name
                    else:
                        current["direction"] = name
                elif current is not None and name in ("rtpmap", "fmtp"):
                    pt_text, _, rest = arg.partition(" ")
                    if not pt_text.isdigit():
                        continue
                    pt = int(pt_text)
                    if name == "fmtp":
                        fmtp = current["fmtp"]
                        assert isinstance(fmtp, dict)
                        fmtp[pt] = rest.strip()
                        continue
                    bits = rest.strip().split("/")
                    try:
                        clock = int(bits[1]) if len(bits) > 1 else 8000
                        channels = int(bits[2]) if len(bits) > 2 else 1
                    except ValueError:
                        continue
                    rtpmap = current["rtpmap"]
                    assert isinstance(rtpmap, dict)
                    rtpmap[pt] = RtpMap(bits[0], clock, channels)
                elif current is not None and name == "ptime" and arg.strip().isdigit():
                    current["ptime"] = int(arg.strip())
        descriptions = []
        for item in media:
            descriptions.append(
                MediaDescription(
                    media=str(item["media"]),
                    port=int(str(item["port"])),
                    protocol=str(item["protocol"]),
                    payload_types=item["payload_types"],  # type: ignore[arg-type]
                    address=(str(item["address"]) if item["address"] else session_address),
                    rtpmap=item["rtpmap"],  # type: ignore[arg-type]
                    fmtp=item["fmtp"],  # type: ignore[arg-type]
                    direction=str(item["direction"] or session_direction),
                    ptime=item["ptime"],  # type: ignore[arg-type]
                )
            )
        return cls(session_address, tuple(descriptions))


_DTMF_EVENTS = "0123456789*#ABCD"


def parse_dtmf_info(content_type: str, body: bytes) -> tuple[str, float | None] | None:
    """The digit and duration (s) of a SIP INFO DTMF body, or None if it carries none.

    application/dtmf-relay carries `Signal=5` and `Duration=160` (ms) lines;
    application/dtmf carries the bare digit (or its event number).
    """
    text = body.decode("utf-8", "replace").strip()
    if content_type == "application/dtmf-relay":
        signal = None
        duration = None
        for line in text.splitlines():
            name, _, value = line.partition("=")
            name = name.strip().lower()
            if name == "signal":
                signal = value.strip()
            elif name == "duration":
                try:
                    duration = int(value.strip()) / 1000.0
                except ValueError:
                    duration = None
        digit = _dtmf_symbol(signal) if signal else None
        return (digit, duration) if digit else None
    if content_type == "application/dtmf":
        digit = _dtmf_symbol(text)
        return (digit, None) if digit else None
    return None


def _dtmf_symbol(value: str) -> str | None:
    value = value.strip().upper()
    if len(value) == 1 and value in _DTMF_EVENTS:
        return value
    if value.isdigit() and int(value) < len(_DTMF_EVENTS):
        return _DTMF_EVENTS[int(value)]
    return None
