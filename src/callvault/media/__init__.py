"""Audio handling that knows nothing about calls: probing, codecs, resampling, metrics."""

from callvault.media._probe import SUPPORTED_CODECS, AudioInfo, declared_seconds, probe_audio
from callvault.media._redact import BLEEP_HZ, REDACTION_MODES, AudioSpan, RedactSpans

__all__ = [
    "BLEEP_HZ",
    "REDACTION_MODES",
    "SUPPORTED_CODECS",
    "AudioInfo",
    "AudioSpan",
    "RedactSpans",
    "declared_seconds",
    "probe_audio",
]
