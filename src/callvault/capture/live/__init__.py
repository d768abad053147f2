"""Live network capture: SIP/RTP calls recorded from an interface as they happen (issue 5).

`LiveCapture(interface, bpf_filter, on_call=...)` reads a Linux AF_PACKET socket (root)
and finishes calls incrementally: a call ends on BYE, CANCEL or a final error response,
or after `rtp_timeout` seconds without packets, and is then delivered to `on_call` as a
`LiveNetworkCall` (a `NetworkCall`, so `to_captured_call()` gives the vault's
`CapturedCall`) and its memory freed. Long calls come in segments of `segment_seconds`.
The policy decides at INVITE (`decide`), and the withdrawal digit stops keeping audio
(`on_withdrawal`) where the notice offers it (`OptOutRules`: a single press in the
opt-out window after the answer). A streaming monitor gets decoded `MediaFrame`s
(`on_media`) and pauses legs or reports a spoken refusal through the control methods.
`LiveSession` is the same engine fed frame by frame, without a socket.
"""

from callvault.capture._control import LegPause, MediaFrame, Withdrawal
from callvault.capture._optout import AGENT_SIDES, OptOutRules, agent_channel
from callvault.capture.live._capture import LiveCapture
from callvault.capture.live._records import InviteInfo, LiveNetworkCall, LiveStats
from callvault.capture.live._session import LiveSession
from callvault.capture.live._socket import PacketSocket, compile_filter

__all__ = [
    "AGENT_SIDES",
    "InviteInfo",
    "LegPause",
    "LiveCapture",
    "LiveNetworkCall",
    "LiveSession",
    "LiveStats",
    "MediaFrame",
    "OptOutRules",
    "PacketSocket",
    "Withdrawal",
    "agent_channel",
    "compile_filter",
]
