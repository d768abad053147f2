"""SIPREC offers: the SDP and the recording metadata of an RS INVITE (RFC 7866, RFC 7865).

A Session Recording Client (SRC) opens a Recording Session with an INVITE whose body is
multipart/mixed (RFC 7866 section 8): an application/sdp part with one m= line per
recorded stream, each named by an `a=label` (RFC 4574), and an
application/rs-metadata+xml part (RFC 7865 section 6) that says who the participants are
(`participant` with `nameID aor` and `name`), which streams exist (`stream` with `label`)
and who sends and receives which stream (`participantstreamassoc` with `send`/`recv`).

Real devices differ, and each difference seen in the wild is accepted:

* pre-RFC drafts (Acme Packet/Oracle, Avaya) write `id=` instead of `participant_id=`,
  `stream_id=`, `session_id=`, and put `send`/`recv` directly inside `participant`;
* namespaces vary (`urn:ietf:params:xml:ns:recording`, `...:recording:1`, prefixed
  `tns:` elements), so elements are matched by local name;
* the metadata part may be labelled application/rs-metadata (no +xml), or carry a broken
  content type; the part is then found by its XML;
* who is the caller: the first participant, unless the metadata says otherwise through
  Acme's `apkt:callingParty`, a `role` of "calling"/"called", or Sonus' `callData`
  `fromhdr`/`tohdr`;
* without any stream association, the n-th `stream` is taken to be sent by the n-th
  participant (and a warning says so).

Anything in the metadata that cannot be understood becomes a warning, never an error: a
recording with unknown participants is still a recording. A body that is not a SIPREC
offer at all (no multipart, no SDP, or no metadata) is a `ParseError`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass

from callvault.capture.net._records import Party
from callvault.capture.net._sip import (
    MediaDescription,
    NameAddress,
    SessionDescription,
    split_multipart,
)
from callvault.errors import ParseError

__all__ = [
    "METADATA_TYPES",
    "SiprecMedia",
    "SiprecOffer",
    "SiprecParticipant",
    "SiprecStream",
    "parse_siprec_offer",
]

#: content types of the metadata part: RFC 7865 section 11.1 registers
#: application/rs-metadata+xml; RFC 7866 drafts and several vendors send application/rs-metadata.
METADATA_TYPES = ("application/rs-metadata+xml", "application/rs-metadata")
MAX_METADATA = 65535  # one SIP message at most (RFC 7866 sends metadata in SIP bodies)
_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";]+)"?', re.IGNORECASE)
_SCHEME = re.compile(r"^(?:sips?|tel):", re.IGNORECASE)


@dataclass(frozen=True)
class SiprecMedia:
    """One m= line of the offer and its RFC 4574 label (None where it has none)."""

    index: int
    label: str | None
    description: MediaDescription


@dataclass(frozen=True)
class SiprecStream:
    """A `stream` element: the metadata's name for an m= line, linked by its label."""

    stream_id: str
    label: str | None
    session_id: str | None


@dataclass(frozen=True)
class SiprecParticipant:
    """A `participant` of the recorded call (RFC 7865 section 6.5).

    `aor` is the address of record as written (a URI, sometimes without its scheme);
    `send` and `recv` hold stream ids. `calling` is True (False) where the metadata says
    this participant placed (received) the call, None where it does not say.
    """

    participant_id: str
    aor: str | None
    name: str | None
    send: tuple[str, ...]
    recv: tuple[str, ...]
    calling: bool | None = None

    @property
    def user(self) -> str | None:
        """The user part of the AOR (the number or extension, where it is one)."""
        return self._address().user

    def _address(self) -> NameAddress:
        aor = (self.aor or "").strip()
        if aor and not _SCHEME.match(aor):
            aor = "sip:" + aor  # "4058327108@10.1.2.3" (Intrado, Sonus) is a SIP AOR
        return NameAddress.parse(f"<{aor}>")

    def party(self) -> Party:
        address = self._address()
        return Party(display_name=self.name, user=address.user, e164=address.e164)


@dataclass(frozen=True)
class SiprecOffer:
    """What an SRC offers: the media to record and who is heard on each stream."""

    sdp: SessionDescription
    media: tuple[SiprecMedia, ...]
    participants: tuple[SiprecParticipant, ...]
    streams: tuple[SiprecStream, ...]
    session_ids: tuple[str, ...]
    has_metadata: bool
    warnings: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str | None, ...]:
        return tuple(m.label for m in self.media)

    @property
    def caller(self) -> SiprecParticipant | None:
        """The participant marked as calling, else the first one not marked as called."""
        for participant in self.participants:
            if participant.calling is True:
                return participant
        for participant in self.participants:
            if participant.calling is not False:
                return participant
        return self.participants[0] if self.participants else None

    @property
    def callee(self) -> SiprecParticipant | None:
        """The first other participant marked as called, else the first other one."""
        caller = self.caller
        others = [p for p in self.participants if p is not caller]
        for participant in others:
            if participant.calling is False:
                return participant
        return others[0] if others else None

    def sender_of(self, label: str | None) -> SiprecParticipant | None:
        """The participant whose voice the stream with this label carries."""
        if label is None:
            return None
        ids = {s.stream_id for s in self.streams if s.label == label}
        for participant in self.participants:
            if ids.intersection(participant.send):
                return participant
        return None

    def channel_of(self, index: int) -> int:
        """The leg of m= line `index`: 0 for the caller's voice, 1 for everyone else.

        A stream whose sender is unknown (no metadata, or it names nobody) goes by its
        position: the first m= line is the caller, the others the callee.
        """
        sender = self.sender_of(self.media[index].label) if index < len(self.media) else None
        if sender is None:
            return 0 if index == 0 else 1
        return 0 if sender is self.caller else 1


def parse_siprec_offer(body: bytes, content_type: str) -> SiprecOffer:
    """The SDP media with labels and the metadata of a SIPREC INVITE (or UPDATE) body.

    `content_type` is the message's Content-Type header (with its boundary parameter);
    where it has no boundary, the first "--" line of the body gives it. Raises
    `ParseError` when the body is not a SIPREC offer.
    """
    return _parse(body, content_type, require_metadata=True)


def parse_offer_parts(body: bytes, content_type: str, *, require_metadata: bool) -> SiprecOffer:
    """As `parse_siprec_offer`; without `require_metadata`, an SDP alone is accepted
    (RFC 7866 section 9 lets an SRC send the metadata later, in a re-INVITE or UPDATE)."""
    return _parse(body, content_type, require_metadata=require_metadata)


def parse_metadata_update(offer: SiprecOffer, data: bytes) -> SiprecOffer:
    """`offer` with the metadata of a later message (RFC 7866 section 9) merged in:
    participants and streams named again replace the earlier ones, others are kept (a
    "partial" update, RFC 7865 section 5, names only what changed)."""
    participants, streams, sessions, warnings = _parse_metadata(data)
    merged = {p.participant_id: p for p in offer.participants}
    for participant in participants:
        before = merged.get(participant.participant_id)
        if before is not None:  # what the update leaves out stays as it was
            participant = SiprecParticipant(
                participant.participant_id,
                participant.aor or before.aor,
                participant.name or before.name,
                participant.send or before.send,
                participant.recv or before.recv,
                before.calling if participant.calling is None else participant.calling,
            )
        merged[participant.participant_id] = participant
    known = {s.stream_id: s for s in offer.streams}
    known.update({s.stream_id: s for s in streams})
    return SiprecOffer(
        offer.sdp,
        offer.media,
        tuple(merged.values()),
        tuple(known.values()),
        tuple(dict.fromkeys(offer.session_ids + sessions)),
        has_metadata=True,
        warnings=offer.warnings + tuple(warnings),
    )


def _parse(body: bytes, content_type: str, *, require_metadata: bool) -> SiprecOffer:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/sdp" and not require_metadata:
        sdp = _parse_sdp(body)
        return SiprecOffer(sdp, _media(sdp, body), (), (), (), has_metadata=False)
    if not ctype and body.lstrip()[:2] == b"--":
        ctype = "multipart/mixed"  # an untyped body that is plainly multipart
    if body.lstrip()[:2] == b"v=":
        raise ParseError(
            "not a SIPREC offer: the body is an SDP alone, without the "
            "application/rs-metadata+xml part a SIPREC INVITE carries (RFC 7866 section 8)"
        )
    if not ctype.startswith("multipart/"):
        raise ParseError(
            f"not a SIPREC offer: the body is {ctype or 'untyped'}, not multipart/mixed with "
            "an application/sdp part and an application/rs-metadata+xml part (RFC 7866 "
            "section 8)"
        )
    match = _BOUNDARY.search(content_type)
    if match is not None:
        boundary = match.group(1).strip()
    else:
        boundary = _sniff_boundary(body)
    parts = split_multipart(body, boundary.encode())
    sdp_bodies = [content for kind, content in parts if kind == "application/sdp"]
    if not sdp_bodies:
        raise ParseError("not a SIPREC offer: the multipart body has no application/sdp part")
    metadata = _metadata_part(parts)
    if metadata is None and require_metadata:
        raise ParseError(
            "not a SIPREC offer: the multipart body has no application/rs-metadata+xml part "
            "(RFC 7866 section 9)"
        )
    sdp = _parse_sdp(sdp_bodies[0])
    media = _media(sdp, sdp_bodies[0])
    if metadata is None:
        return SiprecOffer(sdp, media, (), (), (), has_metadata=False)
    participants, streams, sessions, warnings = _parse_metadata(metadata)
    labels = {m.label for m in media if m.label is not None}
    for stream in streams:
        if stream.label is not None and stream.label not in labels:
            warnings.append(f"metadata stream label {stream.label!r} matches no SDP a=label")
    return SiprecOffer(
        sdp, media, participants, streams, sessions, has_metadata=True, warnings=tuple(warnings)
    )


def _sniff_boundary(body: bytes) -> str:
    for line in body.splitlines():
        line = line.strip()
        if line.startswith(b"--") and len(line) > 2:
            return line[2:].decode("ascii", "replace")
        if line:
            break
    raise ParseError("multipart body has no boundary parameter and starts with no '--' line")


def _parse_sdp(data: bytes) -> SessionDescription:
    sdp = SessionDescription.parse(data)
    if not sdp.media:
        raise ParseError("the SDP part of the SIPREC offer has no m= line")
    return sdp


def _media(sdp: SessionDescription, data: bytes) -> tuple[SiprecMedia, ...]:
    """Pair each parsed m= line with its a=label.

    `SessionDescription` keeps no labels, so the lines are walked again with the same
    rule for which m= lines count (at least three fields and a numeric port).
    """
    labels: list[str | None] = []
    counting = False
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            fields = line[2:].split()
            counting = len(fields) >= 3 and fields[1].split("/")[0].isdigit()
            if counting:
                labels.append(None)
        elif counting and line.lower().startswith("a=label:"):
            labels[-1] = line[len("a=label:") :].strip() or None
    if len(labels) != len(sdp.media):  # cannot happen with the rule above; stay safe
        labels = [None] * len(sdp.media)
    return tuple(
        SiprecMedia(index, label, description)
        for index, (label, description) in enumerate(zip(labels, sdp.media, strict=True))
    )


def _metadata_part(parts: list[tuple[str, bytes]]) -> bytes | None:
    for kind, content in parts:
        if kind in METADATA_TYPES:
            return content
    for kind, content in parts:  # a mangled type ("application/ +xml", BroadWorks)
        if kind != "application/sdp" and (kind.endswith("xml") or content.lstrip()[:1] == b"<"):
            return content
    return None


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].split(":")[-1].lower() if isinstance(tag, str) else ""


def _children(element: ElementTree.Element, name: str) -> Iterator[ElementTree.Element]:
    return (child for child in element if _local(child.tag) == name)


def _attr(element: ElementTree.Element, *names: str) -> str | None:
    for name in names:
        for key, value in element.attrib.items():
            if _local(key) == name and value.strip():
                return value.strip()
    return None


def _text(element: ElementTree.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _parse_metadata(
    data: bytes,
) -> tuple[tuple[SiprecParticipant, ...], tuple[SiprecStream, ...], tuple[str, ...], list[str]]:
    warnings: list[str] = []
    empty: tuple[tuple[SiprecParticipant, ...], tuple[SiprecStream, ...], tuple[str, ...]] = (
        (),
        (),
        (),
    )
    if len(data) > MAX_METADATA:
        warnings.append(f"metadata is {len(data)} bytes, over the {MAX_METADATA} limit: ignored")
        return (*empty, warnings)
    # RFC 7865 metadata has no DTD: refusing one rules out entity expansion attacks.
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        warnings.append("metadata declares a DTD or entities, which RFC 7865 never uses: ignored")
        return (*empty, warnings)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        warnings.append(f"metadata is not well-formed XML ({error}): ignored")
        return (*empty, warnings)
    if _local(root.tag) != "recording":
        warnings.append(
            f"metadata root element is <{_local(root.tag)}>, not <recording> (RFC 7865 "
            "section 6): participants are unknown"
        )
        return (*empty, warnings)
    sessions = tuple(
        sid
        for e in root.iter()
        if _local(e.tag) == "session"
        if (sid := _attr(e, "session_id", "id"))
    )
    streams: list[SiprecStream] = []
    for element in root.iter():
        if _local(element.tag) != "stream":
            continue
        stream_id = _attr(element, "stream_id", "id")
        if stream_id is None:
            warnings.append("a metadata <stream> has no stream_id: skipped")
            continue
        label = next((_text(c) for c in _children(element, "label")), None)
        streams.append(SiprecStream(stream_id, label, _attr(element, "session_id", "session")))
    sends: dict[str, list[str]] = {}
    recvs: dict[str, list[str]] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name not in ("participant", "participantstreamassoc"):
            continue
        pid = _attr(element, "participant_id", "id")
        if pid is None:
            continue
        for child in _children(element, "send"):
            if (text := _text(child)) is not None:
                sends.setdefault(pid, []).append(text)
        for child in _children(element, "recv"):
            if (text := _text(child)) is not None:
                recvs.setdefault(pid, []).append(text)
    from_user, to_user = _call_data(root)
    participants: list[SiprecParticipant] = []
    for element in root.iter():
        if _local(element.tag) != "participant":
            continue
        pid = _attr(element, "participant_id", "id")
        if pid is None:
            warnings.append("a metadata <participant> has no participant_id: skipped")
            continue
        name_id = next(_children(element, "nameid"), None)
        aor = _attr(name_id, "aor") if name_id is not None else None
        display: str | None = None
        if name_id is not None:
            display = next((_text(c) for c in _children(name_id, "name")), None)
        participant = SiprecParticipant(
            participant_id=pid,
            aor=aor,
            name=display,
            send=tuple(dict.fromkeys(sends.get(pid, []))),
            recv=tuple(dict.fromkeys(recvs.get(pid, []))),
            calling=_calling(element),
        )
        if participant.calling is None and from_user is not None:
            if participant.user == from_user:
                participant = _with_calling(participant, True)
            elif participant.user == to_user:
                participant = _with_calling(participant, False)
        participants.append(participant)
    if not participants:
        warnings.append("metadata names no participants")
    elif streams and not any(p.send for p in participants):
        if len(streams) == len(participants):
            warnings.append(
                "metadata has no participantstreamassoc: the n-th stream is taken to be "
                "sent by the n-th participant"
            )
            participants = [
                _with_send(p, (s.stream_id,)) for p, s in zip(participants, streams, strict=True)
            ]
        else:
            warnings.append(
                "metadata has no participantstreamassoc: streams are assigned by m= line order"
            )
    return tuple(participants), tuple(streams), sessions, warnings


def _with_calling(participant: SiprecParticipant, calling: bool) -> SiprecParticipant:
    return SiprecParticipant(
        participant.participant_id,
        participant.aor,
        participant.name,
        participant.send,
        participant.recv,
        calling,
    )


def _with_send(participant: SiprecParticipant, send: tuple[str, ...]) -> SiprecParticipant:
    return SiprecParticipant(
        participant.participant_id,
        participant.aor,
        participant.name,
        send,
        participant.recv,
        participant.calling,
    )


def _calling(element: ElementTree.Element) -> bool | None:
    """Whether the metadata marks this participant as the caller (vendor extensions)."""
    for child in element.iter():
        name = _local(child.tag)
        text = (_text(child) or "").lower()
        if name == "callingparty" and text in ("true", "false"):  # Acme Packet / Oracle SBC
            return text == "true"
        if name == "role" and text in ("calling", "caller", "called", "callee"):  # Intrado
            return text in ("calling", "caller")
    return None


def _call_data(root: ElementTree.Element) -> tuple[str | None, str | None]:
    """The From and To users of the recorded call, where a Sonus `callData` gives them."""
    from_user = to_user = None
    for element in root.iter():
        name = _local(element.tag)
        if name == "fromhdr" and (text := _text(element)):
            from_user = NameAddress.parse(text).user
        elif name == "tohdr" and (text := _text(element)):
            to_user = NameAddress.parse(text).user
    return from_user, to_user
