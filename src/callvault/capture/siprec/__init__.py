"""SIPREC recording server (RFC 7866) and offer parsing (RFC 7865 metadata), issue 5.

`SiprecServer(on_call)` listens for Recording Sessions from an SRC (a PBX or SBC that
forks calls to a recorder), answers with recvonly SDP on its own RTP ports, receives the
participants' streams, and hands every finished call to `on_call` as a capture/net
`NetworkCall` (so `to_captured_call()` gives the vault's `CapturedCall`).
`parse_siprec_offer(body, content_type)` reads an offer on its own. `SiprecLive` gives
the server the DTMF opt-out window of live capture and a streaming monitor's hooks and
controls (issue 20).
"""

from callvault.capture.siprec._live import SiprecLive
from callvault.capture.siprec._offer import (
    METADATA_TYPES,
    SiprecMedia,
    SiprecOffer,
    SiprecParticipant,
    SiprecStream,
    parse_siprec_offer,
)
from callvault.capture.siprec._options import parse_listen
from callvault.capture.siprec._server import (
    END_BYE,
    END_SEGMENT_FULL,
    END_SERVER_STOPPED,
    OnCall,
    OnOffer,
    SiprecOptions,
    SiprecServer,
    SiprecStats,
)

__all__ = [
    "END_BYE",
    "END_SEGMENT_FULL",
    "END_SERVER_STOPPED",
    "METADATA_TYPES",
    "OnCall",
    "OnOffer",
    "SiprecMedia",
    "SiprecOffer",
    "SiprecLive",
    "SiprecOptions",
    "SiprecParticipant",
    "SiprecServer",
    "SiprecStats",
    "SiprecStream",
    "parse_listen",
    "parse_siprec_offer",
]
