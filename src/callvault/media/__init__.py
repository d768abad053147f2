"""Audio handling that knows nothing about calls: probing, codecs, resampling, metrics."""

from callvault.media._probe import SUPPORTED_CODECS, AudioInfo, probe_audio

__all__ = ["SUPPORTED_CODECS", "AudioInfo", "probe_audio"]
