"""One Recording Session as the server keeps it: its dialog, its offer and its ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from callvault.capture.net._sip import SipMessage
from callvault.capture.siprec._answer import AnswerMedia, answer_media, choose_formats
from callvault.capture.siprec._media import MediaPort, PortPool, close_port, pack_address
from callvault.capture.siprec._offer import SiprecOffer
from callvault.capture.siprec._transport import Reply

__all__ = ["RecordingCall"]


@dataclass
class RecordingCall:
    """The state of one Recording Session (times are `time.time()` seconds)."""

    call_id: str
    remote_tag: str | None
    local_tag: str
    invite_branch: str
    invite_cseq: int
    transport: str
    source: tuple[str, int]
    media_address: str
    offer: SiprecOffer
    started_at: float
    answered_at: float | None = None
    last_activity: float = 0.0
    ports: list[MediaPort | None] = field(default_factory=list)
    answer: list[AnswerMedia] = field(default_factory=list)
    sdp_session: int = 0
    sdp_version: int = 0
    bytes_held: int = 0
    segment: int = 1
    finished: bool = False
    decision: asyncio.Task[None] | None = None
    invite: SipMessage | None = None
    invite_reply: Reply | None = None
    send: Reply | None = None  # the way back to the SRC, for requests of our own (BYE)

    def apply_offer(self, offer: SiprecOffer, pool: PortPool, *, check_source: bool) -> str:
        """Bind or reuse a port for every recordable m= line, in the offer's order:
        "ok", "no media" (nothing can be recorded) or "no ports" (the range is used up)."""
        self.offer = offer
        short = False
        answer: list[AnswerMedia] = []
        for media in offer.media:
            codecs = choose_formats(media)
            port = self.ports[media.index] if media.index < len(self.ports) else None
            if not codecs:
                if port is not None:
                    close_port(port)
                    port = None
            elif port is None:
                port = pool.bind(media.index, offer.channel_of(media.index))
                short = short or port is None
            if media.index < len(self.ports):
                self.ports[media.index] = port
            else:
                self.ports.append(port)
            if port is not None:
                port.accepted = frozenset(codecs)
                port.recorded.codecs.update(codecs)
                port.sources = self._sources(media.description.address, check_source)
            answer.append(answer_media(media, port.number if port else 0, codecs))
        self.answer = answer
        self.remap()
        if any(item.port for item in answer):
            return "ok"
        return "no ports" if short else "no media"

    def remap(self) -> None:
        """Put each port's audio on the leg of the participant the metadata says sends it."""
        for index, port in enumerate(self.ports):
            if port is not None:
                port.recorded.channel = self.offer.channel_of(index)

    def release(self) -> None:
        for port in self.ports:
            if port is not None:
                close_port(port)

    def _sources(self, address: str | None, check: bool) -> frozenset[str] | None:
        """Where RTP for an m= line may come from: the offer's address for it and the
        SRC's signalling address; None (anywhere) when the check is off or the offer
        names no usable address (0.0.0.0, a host name)."""
        if not check or address is None:
            return None
        packed = pack_address(address, strict=True)
        if packed is None or not any(packed):
            return None
        return frozenset({address, self.source[0]})
