"""The speech pipeline: decode, VAD, ASR with word timestamps, speakers by channel.

Pure: it takes a recording (a callable opening a binary stream) and returns a
`Transcript`; the caller stores it. Models load from local files only.
"""

from __future__ import annotations

from callvault.analysis._asr import AsrParams, AsrSegment, LegResult, Transcriber
from callvault.analysis._decode import SAMPLE_RATE, decode_legs, decode_whole, iter_blocks
from callvault.analysis._diarize import (
    Diarizer,
    SpeakerTurn,
    assign_speakers,
    diarization_available,
)
from callvault.analysis._models import (
    MODELS,
    ModelInfo,
    ModelSpec,
    ResolvedModel,
    list_models,
    model_for_language,
    resolve_model,
)
from callvault.analysis._pull import PULLABLE, pull_model
from callvault.analysis._records import Transcript, TranscriptStatus, Utterance, Word
from callvault.analysis._refusal import REFUSAL_LANGUAGES, Refusal, detect_refusals
from callvault.analysis.pipeline import (
    MONO_SPEAKER,
    STAGES,
    PipelineParams,
    ProgressHook,
    TranscriptionPipeline,
)

__all__ = [
    "MODELS",
    "MONO_SPEAKER",
    "PULLABLE",
    "REFUSAL_LANGUAGES",
    "SAMPLE_RATE",
    "STAGES",
    "AsrParams",
    "AsrSegment",
    "Diarizer",
    "LegResult",
    "ModelInfo",
    "ModelSpec",
    "PipelineParams",
    "ProgressHook",
    "Refusal",
    "ResolvedModel",
    "SpeakerTurn",
    "Transcriber",
    "Transcript",
    "TranscriptStatus",
    "TranscriptionPipeline",
    "Utterance",
    "Word",
    "assign_speakers",
    "decode_legs",
    "decode_whole",
    "detect_refusals",
    "diarization_available",
    "iter_blocks",
    "list_models",
    "model_for_language",
    "pull_model",
    "resolve_model",
]
