"""Processing a long recording (issue 17: ten hours of 8 kHz silence, a 6.9 MB FLAC, took
13.7 GB): in bounded memory window by window, and stopped at CALLVAULT_MAX_DURATION."""

from __future__ import annotations

import dataclasses
import tracemalloc

import pytest

from _audio import silent_flac, with_declared_frames
from _context import as_context
from callvault.analysis import AsrParams, PipelineParams, TranscriptionPipeline
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import RecordingTooLong
from callvault.services import Context, process_call
from callvault.vault import Vault

OPTIONS = FileImportOptions(
    caller="+14155550100", callee="+442071838750", direction="inbound", language="en"
)


def _stored(vault: Vault, data: bytes, name: str) -> str:
    return vault.calls.store_call(import_bytes(data, name, OPTIONS)).call_id


def test_a_long_silent_call_is_processed_in_bounded_memory(config: Config, vault: Vault) -> None:
    pipeline = TranscriptionPipeline(
        PipelineParams(
            config.model_cache,
            asr=AsrParams(beam_size=1),
            window_s=60.0,
            max_duration=config.max_duration,
        )
    )
    # Every model and lazy import loaded before measuring: only what grows with length counts.
    process_call(
        as_context(vault),
        _stored(vault, silent_flac(5, tone_at=1), "short.flac"),
        pipeline=pipeline,
    )
    call_id = _stored(vault, silent_flac(20 * 60), "long.flac")
    whole = 20 * 60 * 16000 * 4  # bytes of the leg as one float32 array at 16 kHz
    tracemalloc.start()
    try:
        result = process_call(as_context(vault), call_id, pipeline=pipeline)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.status, result.utterances) == ("no_speech", 0)
    assert peak < whole / 3, f"{peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("declared", [True, False], ids=["header", "no-length"])
def test_processing_stops_decoding_at_the_limit(
    config: Config, vault: Vault, declared: bool
) -> None:
    """A recording stored under a higher limit (or by a source that did not probe it)
    fails its job with the limit named, and the job is not retried."""
    data = silent_flac(180)
    call_id = _stored(vault, data if declared else with_declared_frames(data, 0), "x.flac")
    limited = dataclasses.replace(config, max_duration=60.0)
    with pytest.raises(RecordingTooLong) as info:
        process_call(Context(limited, vault), call_id)
    assert str(info.value) == (
        f"recording of call {call_id}: the audio goes on past the limit of 0:01:00 "
        "(60 s, CALLVAULT_MAX_DURATION); split the recording or raise "
        "CALLVAULT_MAX_DURATION; decoding stopped there"
    )
    assert info.value.retryable is False
    assert vault.transcripts.read_transcript(call_id) is None
