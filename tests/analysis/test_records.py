from __future__ import annotations

import json

import pytest

from callvault.analysis import Transcript, Utterance, Word
from callvault.errors import IntegrityError


def _transcript() -> Transcript:
    words = (Word(0.1, 0.42, "Hello", 0.91), Word(0.42, 0.8, "there.", 0.73))
    return Transcript(
        status="done",
        language="en",
        model_name="whisper-tiny.en",
        model_version="0.1.0",
        utterances=(
            Utterance("agent", 0, 0.1, 0.8, "Hello there.", 0.82, words),
            Utterance("caller", 1, 0.5, 1.25, "Grüß Gott", 1 / 3, ()),
        ),
        diarized=True,
    )


def test_json_round_trip() -> None:
    transcript = _transcript()
    assert Transcript.from_json(transcript.to_json()) == transcript
    assert Transcript.from_json(transcript.to_json().encode()) == transcript


def test_no_speech_round_trip() -> None:
    empty = Transcript("no_speech", None, "whisper-base", "1.0.0", (), False)
    assert Transcript.from_json(empty.to_json()) == empty


def test_missing_field_is_named() -> None:
    data = json.loads(_transcript().to_json())
    del data["model_name"]
    with pytest.raises(IntegrityError) as info:
        Transcript.from_json(json.dumps(data))
    assert str(info.value) == "stored transcript is malformed: field 'model_name' is missing"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "stored transcript is malformed: format 2 is not 1"),
        (
            {"status": "maybe"},
            "stored transcript is malformed: status 'maybe' is not 'done' or 'no_speech'",
        ),
        ({"diarized": "yes"}, "stored transcript is malformed: diarized must be true or false"),
    ],
)
def test_bad_values_are_refused(change: dict[str, object], message: str) -> None:
    data = json.loads(_transcript().to_json()) | change
    with pytest.raises(IntegrityError) as info:
        Transcript.from_json(json.dumps(data))
    assert str(info.value) == message


def test_not_json() -> None:
    with pytest.raises(IntegrityError, match="^stored transcript is not valid JSON$"):
        Transcript.from_json(b"\x00garbage")
