"""Audio handling that knows nothing about calls: probing, codecs, resampling, metrics."""

from callvault.media._anonymize import MCADAMS_RANGE, anonymize_voice, mcadams_coefficient
from callvault.media._edit import (
    WAV_CODEC,
    WAV_CONTAINER,
    AudioEdit,
    CutAt,
    SilenceChannels,
    WavSource,
    decode_pcm,
    iter_wav,
    wav_header,
)
from callvault.media._pitch import (
    VOICE_METHODS,
    VoiceParameters,
    change_pitch_formants,
    transform_voice,
    voice_parameters,
)
from callvault.media._probe import SUPPORTED_CODECS, AudioInfo, declared_seconds, probe_audio
from callvault.media._redact import BLEEP_HZ, REDACTION_MODES, AudioSpan, RedactSpans

__all__ = [
    "BLEEP_HZ",
    "MCADAMS_RANGE",
    "REDACTION_MODES",
    "SUPPORTED_CODECS",
    "VOICE_METHODS",
    "WAV_CODEC",
    "WAV_CONTAINER",
    "AudioEdit",
    "AudioInfo",
    "AudioSpan",
    "CutAt",
    "RedactSpans",
    "SilenceChannels",
    "VoiceParameters",
    "WavSource",
    "anonymize_voice",
    "change_pitch_formants",
    "declared_seconds",
    "decode_pcm",
    "iter_wav",
    "mcadams_coefficient",
    "probe_audio",
    "transform_voice",
    "voice_parameters",
    "wav_header",
]
