"""Live analysis: streaming transcription of calls in progress, and alert rules on it."""

from callvault.analysis.live._engine import LegStream, StreamEngine, StreamParams
from callvault.analysis.live._events import (
    Alert,
    EventKind,
    LiveEvent,
    LiveWord,
    SpeechSpan,
    WordsUpdate,
)

__all__ = [
    "Alert",
    "EventKind",
    "LegStream",
    "LiveEvent",
    "LiveWord",
    "SpeechSpan",
    "StreamEngine",
    "StreamParams",
    "WordsUpdate",
]
