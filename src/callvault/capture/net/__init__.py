"""Offline network capture: pcap/pcapng files to calls with per-leg audio (issue 5).

`read_captures(paths)` reads one or more capture files as one capture and returns a
`CaptureResult`: the calls (SIP dialogs, plus RTP-only calls found by heuristics), every
RTP stream, and counts of what was read and skipped. Each `NetworkCall` carries its
parties, times, end reason, DTMF, per-leg decoded audio and quality, and turns into the
ingest pipeline's `CapturedCall` with `to_captured_call()`.
"""

from callvault.capture.net._engine import (
    END_BYE_CALLEE,
    END_BYE_CALLER,
    END_CANCELLED,
    END_CAPTURE_ENDED,
    END_REJECTED,
    END_RTP_TIMEOUT,
    CaptureSession,
    Dialog,
    read_captures,
)
from callvault.capture.net._quality import e_model_r, mos_from_r
from callvault.capture.net._records import (
    CaptureResult,
    CaptureStats,
    DtmfEvent,
    Leg,
    LegQuality,
    NetworkCall,
    Party,
    StreamInfo,
)

__all__ = [
    "END_BYE_CALLEE",
    "END_BYE_CALLER",
    "END_CANCELLED",
    "END_CAPTURE_ENDED",
    "END_REJECTED",
    "END_RTP_TIMEOUT",
    "CaptureResult",
    "CaptureSession",
    "CaptureStats",
    "Dialog",
    "DtmfEvent",
    "Leg",
    "LegQuality",
    "NetworkCall",
    "Party",
    "StreamInfo",
    "e_model_r",
    "mos_from_r",
    "read_captures",
]
