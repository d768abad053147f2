"""SIP responses of the recording server (RFC 3261 section 8.2.6) and request checks."""

from __future__ import annotations

import re
import secrets

from callvault.capture.net._sip import NameAddress, SipMessage

__all__ = [
    "bad_request",
    "branch_of",
    "bye_request",
    "option_tags",
    "request_problem",
    "response",
]

_REQUEST_LINE = re.compile(r"^[A-Za-z]+ \S+ SIP/2\.0$")
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id"}


def response(
    request: SipMessage,
    status: int,
    reason: str,
    *,
    source: tuple[str, int],
    server: str,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    warning: str | None = None,
) -> bytes:
    """A response with the request's Via (the top one marked with where the request came
    from), From, Call-ID and CSeq, and its To with our tag where it had none."""
    headers: dict[str, list[str]] = {}
    vias = list(request.headers.get("via", []))
    if vias:
        vias[0] = received(vias[0], source)
    headers["via"] = vias
    headers["from"] = [request.header("from") or ""]
    to = request.header("to") or ""
    if to_tag is not None and status != 100 and request.to.tag is None:
        to = f"{to};tag={to_tag}"
    headers["to"] = [to]
    headers["call-id"] = [request.call_id]
    headers["cseq"] = [request.header("cseq") or ""]
    for name, value in extra or []:
        headers.setdefault(name, []).append(value)
    headers["server"] = [server]
    if warning is not None:  # RFC 3261 section 20.43: 399 is "miscellaneous warning"
        text = warning.replace('"', "'").replace("\r", " ").replace("\n", " ")
        headers["warning"] = [f'399 callvault "{text}"']
    if content_type is not None:
        headers["content-type"] = [content_type]
    return bytes(SipMessage(None, None, status, reason, headers, body))


def bye_request(
    invite: SipMessage, *, local_tag: str, via: tuple[str, int, str], server: str
) -> bytes:
    """A BYE in the dialog the INVITE opened, from our side (RFC 3261 section 15.1.1):
    to the SRC's Contact, From our To with our tag, To its From, our own CSeq space."""
    host, port, transport = via
    host = f"[{host}]" if ":" in host else host
    contact = invite.header("contact") or invite.header("from") or ""
    target = NameAddress.parse(contact).uri or (invite.uri or "")
    headers = {
        "via": [f"SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport"],
        "max-forwards": ["70"],
        "from": [f"{invite.header('to') or ''};tag={local_tag}"],
        "to": [invite.header("from") or ""],
        "call-id": [invite.call_id],
        "cseq": ["1 BYE"],
        "user-agent": [server],
    }
    return bytes(SipMessage("BYE", target, None, None, headers, b""))


def bad_request(data: bytes, source: tuple[str, int]) -> bytes | None:
    """400 for a request that does not parse, where its Via says where to answer."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n")
    first = head[0].decode("utf-8", "replace").strip()
    if not _REQUEST_LINE.match(first):
        return None
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        name, colon, value = line.decode("utf-8", "replace").partition(":")
        key = _COMPACT.get(name.strip().lower(), name.strip().lower())
        if colon and key in ("via", "from", "to", "call-id", "cseq"):
            headers.setdefault(key, []).append(value.strip())
    if "via" not in headers:
        return None
    headers["via"][0] = received(headers["via"][0], source)
    return bytes(SipMessage(None, None, 400, "Bad Request", headers, b""))


def branch_of(message: SipMessage) -> str:
    """The top Via's branch: with the method, it names the transaction (RFC 3261 17.2.3)."""
    via = message.header("via") or ""
    match = re.search(r";\s*branch=([^;,\s]+)", via, re.I)
    return match.group(1) if match else ""


def option_tags(values: list[str]) -> set[str]:
    """The option tags of Require/Supported header values, in lower case."""
    return {tag.strip().lower() for value in values for tag in value.split(",") if tag.strip()}


def request_problem(message: SipMessage) -> str | None:
    """Why a request cannot be answered properly (RFC 3261 section 8.1.1), or None."""
    for name in ("via", "from", "to"):
        if not message.header(name):
            return f"the request has no {name.title()} header"
    number, method = message.cseq
    if method != message.method:
        return "the CSeq method does not match the request method"
    if number <= 0:
        return "the CSeq number is missing or not positive"
    return None


def received(via: str, source: tuple[str, int]) -> str:
    """The top Via with `received` (RFC 3261 section 18.2.1) and `rport` (RFC 3581) set."""
    first, comma, rest = via.partition(",")
    sent_by = first.split(";")[0].split()[-1] if first.split() else ""
    if sent_by.startswith("["):  # [IPv6]:port
        host = sent_by[1 : sent_by.find("]")]
    else:
        host = sent_by.split(":")[0] if sent_by.count(":") == 1 else sent_by
    if host != source[0] and ";received=" not in first.lower():
        first += f";received={source[0]}"
    first = re.sub(r";\s*rport(?=;|$)", f";rport={source[1]}", first, flags=re.I)
    return first + comma + rest
