"""Audio files as a capture source: option parsing and how channels map to participants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from _audio import tone, wav_bytes
from callvault.capture import (
    CallMetadata,
    FileImportOptions,
    Participant,
    import_bytes,
    import_file,
    parse_e164,
    parse_language,
    parse_timestamp,
)
from callvault.errors import InputError, UnsupportedMedia

LIMIT = 1 << 20
CALLER, CALLEE = "+14155550100", "+442071838750"


def wav_file(tmp_path: Path, channels: int = 2, name: str = "call.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(wav_bytes(tone(0.25, 8000, channels), 8000))
    return path


def import_error(
    path: Path, options: FileImportOptions | None = None, *, max_bytes: int = LIMIT
) -> str:
    with pytest.raises(InputError) as caught:
        import_file(path, options or FileImportOptions(), max_bytes=max_bytes)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- parse_e164 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("+442071234567", "+442071234567"),
        ("+44 20 7123 4567", "+442071234567"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("+49 30 123456", "+4930123456"),
    ],
)
def test_parse_e164_normalises(typed: str, normalised: str) -> None:
    assert parse_e164(typed, option="--caller") == normalised


@pytest.mark.parametrize(
    "typed",
    [
        "442071234567",
        "02071234567",
        "",
        "+",
        "+12",
        "+44",
        "+999123456",
        "+44207123456789012",
        "++442071234567",
        "+44 20 7123 4567 ext. 12",
        "+44 20 7123 4567;ext=12",
        "+44207123456x",
    ],
)
@pytest.mark.parametrize("option", ["--caller", "--callee"])
def test_parse_e164_refuses(typed: str, option: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_e164(typed, option=option)
    assert str(caught.value) == (
        f"{option} is not an E.164 phone number; write it with + and the country code, "
        "for example +442071234567"
    )


def test_parse_e164_message_does_not_repeat_the_number() -> None:
    with pytest.raises(InputError) as caught:
        parse_e164("+44207123456789012", option="--caller")
    assert "44207123456789012" not in str(caught.value)


# -- parse_timestamp -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-11-23T14:05:00+01:00", datetime(2026, 11, 23, 13, 5, tzinfo=UTC)),
        ("2026-11-23T13:05:00Z", datetime(2026, 11, 23, 13, 5, tzinfo=UTC)),
        ("2026-11-23t13:05:00z", datetime(2026, 11, 23, 13, 5, tzinfo=UTC)),
        ("2026-11-23 08:05:00.250-05:00", datetime(2026, 11, 23, 13, 5, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_keeps_the_instant(typed: str, expected: datetime) -> None:
    moment = parse_timestamp(typed, option="--started-at")
    assert moment == expected
    assert moment.tzinfo is not None


def test_parse_timestamp_keeps_the_offset() -> None:
    moment = parse_timestamp("2026-11-23T14:05:00+01:00", option="--started-at")
    assert moment.utcoffset() == timedelta(hours=1)
    assert moment.tzinfo == timezone(timedelta(hours=1))


@pytest.mark.parametrize("typed", ["2026-11-23T14:05:00", "2026-11-23", "2026-11-23 14:05"])
def test_parse_timestamp_needs_a_time_zone(typed: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_timestamp(typed, option="--started-at")
    assert str(caught.value) == (
        f"--started-at {typed!r} has no time zone; add Z for UTC or an offset such as +01:00"
    )


@pytest.mark.parametrize(
    "typed", ["yesterday", "23/11/2026 14:05", "", "2026-13-01T00:00:00Z", "1700000000"]
)
def test_parse_timestamp_refuses_what_is_not_iso(typed: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_timestamp(typed, option="--started-at")
    assert str(caught.value) == (
        f"--started-at {typed!r} is not an ISO 8601 date and time; for example "
        "2026-11-23T14:05:00+01:00"
    )


# -- parse_language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [("en", "en"), ("EN", "en"), (" de ", "de"), ("en_US", "en-us"), ("pt-BR", "pt-br"),
     ("srp", "srp")],
)  # fmt: skip
def test_parse_language_normalises(typed: str, code: str) -> None:
    assert parse_language(typed) == code


@pytest.mark.parametrize("typed", ["english", "e", "", "en-", "12", "en-usa", "e n"])
def test_parse_language_refuses(typed: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_language(typed)
    assert str(caught.value) == (
        f"--language {typed!r} is not a language code; use ISO 639-1 such as en, de or sr"
    )


# -- import_file: participants and metadata -----------------------------------------------


def test_stereo_inbound_call(tmp_path: Path) -> None:
    path = wav_file(tmp_path, 2)
    options = FileImportOptions(
        caller="+1 415 555 0100", callee=CALLEE, direction="inbound", agent=" alice ",
        started_at="2026-03-01T09:30:00+01:00", language="EN",
    )  # fmt: skip
    call = import_file(path, options, max_bytes=LIMIT)
    assert call.participants == (
        Participant(role="caller", phone=CALLER, channel=0),
        Participant(role="callee", phone=CALLEE, name="alice", channel=1, is_agent=True),
    )
    assert call.metadata == CallMetadata(
        direction="inbound", agent="alice",
        started_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC), language="en",
    )  # fmt: skip
    assert call.source_name == str(path)
    assert call.size == path.stat().st_size
    assert (call.audio.channels, call.audio.sample_rate, call.audio.frames) == (2, 8000, 2000)
    with call.open_audio() as first, call.open_audio() as second:
        assert first.read() == second.read() == path.read_bytes()


def test_outbound_call_flags_the_caller_as_agent(tmp_path: Path) -> None:
    options = FileImportOptions(caller=CALLER, callee=CALLEE, direction="outbound", agent="bob")
    call = import_file(wav_file(tmp_path, 2), options, max_bytes=LIMIT)
    assert call.participants == (
        Participant(role="caller", phone=CALLER, name="bob", channel=0, is_agent=True),
        Participant(role="callee", phone=CALLEE, channel=1),
    )


@pytest.mark.parametrize("direction", ["internal", None])
def test_no_agent_is_flagged_without_inbound_or_outbound(
    tmp_path: Path, direction: str | None
) -> None:
    options = FileImportOptions(direction=direction, agent="carol")
    call = import_file(wav_file(tmp_path, 2), options, max_bytes=LIMIT)
    assert [p.is_agent for p in call.participants] == [False, False]
    assert [p.name for p in call.participants] == [None, None]
    assert call.metadata.agent == "carol"
    assert call.metadata.direction == direction


def test_mono_call_has_both_parties_on_no_channel(tmp_path: Path) -> None:
    options = FileImportOptions(caller=CALLER, callee=CALLEE, direction="inbound", agent="dan")
    call = import_file(wav_file(tmp_path, 1), options, max_bytes=LIMIT)
    assert call.audio.channels == 1
    assert call.participants == (
        Participant(role="caller", phone=CALLER),
        Participant(role="callee", phone=CALLEE, name="dan", is_agent=True),
    )


@pytest.mark.parametrize("channels", [3, 4])
def test_further_channels_are_speakers(tmp_path: Path, channels: int) -> None:
    call = import_file(wav_file(tmp_path, channels), FileImportOptions(), max_bytes=LIMIT)
    assert [(p.role, p.channel) for p in call.participants] == [
        ("caller", 0),
        ("callee", 1),
        *[("speaker", ch) for ch in range(2, channels)],
    ]
    assert all(p.phone is None and not p.is_agent for p in call.participants)


@pytest.mark.parametrize(
    ("direction", "layout", "expected"),
    [
        # issue 16: a recorder that always puts the agent on the left channel
        ("inbound", "agent,customer", [("caller", CALLER, 1, False), ("callee", CALLEE, 0, True)]),
        ("outbound", "agent,customer", [("caller", CALLER, 0, True), ("callee", CALLEE, 1, False)]),
        ("inbound", "customer,agent", [("caller", CALLER, 0, False), ("callee", CALLEE, 1, True)]),
        ("outbound", "customer,agent", [("caller", CALLER, 1, True), ("callee", CALLEE, 0, False)]),
        (
            "inbound",
            " Agent , CUSTOMER ",
            [("caller", CALLER, 1, False), ("callee", CALLEE, 0, True)],
        ),
    ],
)
def test_channels_put_the_agent_on_the_channel_named(
    tmp_path: Path, direction: str, layout: str, expected: list[tuple[str, str, int, bool]]
) -> None:
    options = FileImportOptions(
        caller=CALLER, callee=CALLEE, direction=direction, agent="alice", channels=layout
    )
    call = import_file(wav_file(tmp_path, 2), options, max_bytes=LIMIT)
    assert [(p.role, p.phone, p.channel, p.is_agent) for p in call.participants] == expected
    assert [p.name for p in call.participants if p.is_agent] == ["alice"]
    assert call.metadata.direction == direction  # the direction stays what was said


@pytest.mark.parametrize(
    "layout", ["agent", "agent,agent", "customer,customer", "agent,client", "agent,customer,", ""]
)
def test_bad_channels(tmp_path: Path, layout: str) -> None:
    options = FileImportOptions(direction="inbound", channels=layout)
    assert import_error(wav_file(tmp_path), options) == (
        f"--channels {layout!r} is not a channel layout; give the role of each channel in "
        "order: agent,customer (the agent on channel 0) or customer,agent"
    )


@pytest.mark.parametrize("direction", ["internal", None])
def test_channels_need_inbound_or_outbound(tmp_path: Path, direction: str | None) -> None:
    options = FileImportOptions(direction=direction, channels="agent,customer")
    assert import_error(tmp_path / "missing.wav", options) == (
        "--channels needs --direction inbound or outbound, which says whether the agent is "
        "the caller or the callee; leave --channels out for an internal call or one of "
        "unknown direction"
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_must_match_the_file(tmp_path: Path, channels: int) -> None:
    path = wav_file(tmp_path, channels)
    options = FileImportOptions(direction="inbound", channels="agent,customer")
    assert import_error(path, options) == (
        f"{path}: has {channels} channel(s) but --channels gives the roles of 2; it fits a "
        "stereo file with one party per channel, so leave --channels out for this file"
    )


def test_no_options_gives_empty_metadata(tmp_path: Path) -> None:
    call = import_file(wav_file(tmp_path), FileImportOptions(), max_bytes=LIMIT)
    assert call.metadata == CallMetadata()
    assert [p.phone for p in call.participants] == [None, None]


def test_import_bytes_matches_import_file(tmp_path: Path) -> None:
    path = wav_file(tmp_path, 2)
    options = FileImportOptions(caller=CALLER, direction="outbound", agent="erin")
    from_file = import_file(path, options, max_bytes=LIMIT)
    from_bytes = import_bytes(path.read_bytes(), "memory.wav", options)
    assert from_bytes.source_name == "memory.wav"
    assert (from_bytes.audio, from_bytes.participants, from_bytes.metadata, from_bytes.size) == (
        from_file.audio, from_file.participants, from_file.metadata, from_file.size,
    )  # fmt: skip
    with from_bytes.open_audio() as stream:
        assert stream.read() == path.read_bytes()


# -- import_file: refusals -----------------------------------------------------------------


@pytest.mark.parametrize("direction", ["sideways", "Inbound", ""])
def test_bad_direction(tmp_path: Path, direction: str) -> None:
    assert import_error(wav_file(tmp_path), FileImportOptions(direction=direction)) == (
        f"--direction {direction!r} is not one of inbound, outbound, internal; pick one"
    )


@pytest.mark.parametrize("agent", ["", "   ", "x" * 129])
def test_bad_agent(tmp_path: Path, agent: str) -> None:
    assert import_error(wav_file(tmp_path), FileImportOptions(agent=agent)) == (
        "--agent must be a user name of 1 to 128 characters"
    )


def test_bad_numbers_name_the_option(tmp_path: Path) -> None:
    path = wav_file(tmp_path)
    assert import_error(path, FileImportOptions(callee="020 7183 8750")).startswith(
        "--callee is not an E.164 phone number"
    )
    assert import_error(path, FileImportOptions(caller="+1", callee=CALLEE)).startswith(
        "--caller is not an E.164 phone number"
    )


def test_bad_options_and_time_and_language(tmp_path: Path) -> None:
    path = wav_file(tmp_path)
    assert import_error(path, FileImportOptions(started_at="2026-03-01T09:30:00")) == (
        "--started-at '2026-03-01T09:30:00' has no time zone; add Z for UTC or an offset "
        "such as +01:00"
    )
    assert import_error(path, FileImportOptions(language="english")) == (
        "--language 'english' is not a language code; use ISO 639-1 such as en, de or sr"
    )


def test_options_are_checked_before_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    assert import_error(missing, FileImportOptions(language="english")).startswith("--language")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.wav"
    assert import_error(path) == f"{path}: no such file; check the path"


def test_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "gone.wav")
    assert import_error(link) == f"{link}: no such file; check the path"


def test_directory(tmp_path: Path) -> None:
    assert import_error(tmp_path) == f"{tmp_path}: is a directory; give the audio files inside it"


def test_file_that_fails_to_read(tmp_path: Path) -> None:
    path = Path("/proc/self/mem")  # reading at offset 0 fails with EIO, even for root
    if not path.exists():
        pytest.skip("needs Linux /proc")
    assert (
        import_error(path)
        == f"{path}: cannot be read (input/output error); check the file and the disk"
    )


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = wav_file(tmp_path)
    size = path.stat().st_size
    assert import_file(path, FileImportOptions(), max_bytes=size).size == size
    assert import_error(path, max_bytes=size - 1) == (
        f"{path}: is {size} bytes, over the limit of {size - 1} bytes; raise "
        "CALLVAULT_MAX_INPUT_BYTES to import it"
    )


def test_empty_and_non_audio_files_are_unsupported_media(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="the file is empty"):
        import_file(empty, FileImportOptions(), max_bytes=LIMIT)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(UnsupportedMedia) as caught:
        import_file(text, FileImportOptions(), max_bytes=LIMIT)
    assert str(caught.value).startswith(f"{text}: not a recognised audio file")


def test_import_file_writes_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = wav_file(inputs)
    before = sorted(tmp_path.rglob("*"))
    import_file(path, FileImportOptions(caller=CALLER), max_bytes=LIMIT)
    with pytest.raises(InputError):
        import_file(path, FileImportOptions(caller="nope"), max_bytes=LIMIT)
    assert sorted(tmp_path.rglob("*")) == before
