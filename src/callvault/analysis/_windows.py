"""One long leg as a sequence of windows of bounded length, cut where nobody speaks.

A leg longer than the pipeline's window is never held whole (issue 17: ten hours of
8 kHz silence took 13.7 GB to process, because the leg, the VAD's padded copy and its
batched copy were each a whole array). Its blocks are gathered until a window is full;
the window is then cut in the quietest stretch of its last `search` samples, as Silero
VAD judges it, and what follows the cut starts the next window. Each window is
recognised on its own, like a short call, and its times are shifted by its offset.

A cut falls inside a pause whenever the last `search` seconds of a window hold one
(faster-whisper's VAD splits speech at 2 s of silence, so a pause there is what it
would have split at too); only speech without a single pause for that long is cut in
its least speech-like frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from faster_whisper.vad import VadOptions, get_vad_model  # type: ignore[import-untyped]

__all__ = ["iter_windows", "quietest_cut"]

# Silero VAD judges 32 ms frames of 512 samples at 16 kHz.
_VAD_FRAME = 512


def quietest_cut(audio: np.ndarray, options: VadOptions) -> int:
    """Where in 16 kHz float32 `audio` a cut disturbs speech least, as a sample index.

    The middle of the longest run of frames whose speech probability is below the
    VAD's silence threshold (`neg_threshold`, by default `threshold` - 0.15, as
    faster-whisper uses it); without such a frame, the frame least likely to be speech.
    """
    frames = audio.shape[0] // _VAD_FRAME
    if frames == 0:
        return int(audio.shape[0] // 2)
    probs = np.asarray(get_vad_model()(audio[: frames * _VAD_FRAME])).reshape(-1)[:frames]
    silence = options.neg_threshold
    if silence is None:
        silence = max(options.threshold - 0.15, 0.01)
    quiet = probs < silence
    if not quiet.any():
        return int(np.argmin(probs)) * _VAD_FRAME + _VAD_FRAME // 2
    # Runs of quiet frames: starts where quiet begins, ends where it stops.
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    middle = (int(starts[longest]) + int(ends[longest])) // 2
    return middle * _VAD_FRAME


def iter_windows(
    blocks: Iterable[np.ndarray],
    *,
    window: int,
    search: int,
    cut: Callable[[np.ndarray], int],
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (offset, samples) windows of one leg given as 1-D `blocks`, in order.

    Each window but the last is at most `window` samples long and ends at
    `cut(region)` within its last `search` samples; the windows join up exactly (no
    sample lost or repeated). Memory stays near one window plus one block.
    """
    if not 0 < search <= window:
        raise ValueError(f"search ({search}) must be within 1 and window ({window})")
    pending: list[np.ndarray] = []
    size = 0
    offset = 0
    for block in blocks:
        pending.append(block)
        size += block.shape[0]
        while size >= window:
            audio = np.concatenate(pending) if len(pending) > 1 else pending[0]
            low = window - search
            at = low + min(max(cut(audio[low:window]), 1), search)
            yield offset, audio[:at]
            rest = audio[at:].copy()  # not a view: the window's memory is freed
            del audio
            pending = [rest]
            size = rest.shape[0]
            offset += at
    if size:
        yield offset, np.concatenate(pending) if len(pending) > 1 else pending[0]
