"""Live analysis: streaming transcription of calls in progress, and alert rules on it.

`CallMonitor` keeps the state of one call and turns the engine's `WordsUpdate`s and
`SpeechSpan`s into `LiveEvent`s and `Alert`s by a `RuleSet` (built-in rules, plus a rules
file: docs/alerts.md); it tells the recorder when to pause, resume or stop keeping audio
(`RecorderAction`). `StreamEngine` is the streaming recogniser: one shared Whisper
model serving every leg of every call (`LegStream`), words partial then final.
"""

from callvault.analysis.live._engine import LegStream, StreamEngine, StreamParams
from callvault.analysis.live._events import (
    Alert,
    EventKind,
    LiveEvent,
    LiveWord,
    SpeechSpan,
    WordsUpdate,
)
from callvault.analysis.live._monitor import (
    CallMonitor,
    RecorderAction,
    RefusalDetector,
    RefusalLike,
)
from callvault.analysis.live._rules import BUILTIN_RULES, AlertRule, RuleSet

__all__ = [
    "BUILTIN_RULES",
    "Alert",
    "AlertRule",
    "CallMonitor",
    "EventKind",
    "LegStream",
    "LiveEvent",
    "LiveWord",
    "RecorderAction",
    "RefusalDetector",
    "RefusalLike",
    "RuleSet",
    "SpeechSpan",
    "StreamEngine",
    "StreamParams",
    "WordsUpdate",
]
