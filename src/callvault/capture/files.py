"""Audio files as a capture source: validate the file and what is said about it.

Everything here happens before the vault is touched, so bad input is refused with
nothing written.
"""

from __future__ import annotations

import errno
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import phonenumbers

from callvault.capture._records import (
    DIRECTIONS,
    CallMetadata,
    CapturedCall,
    Direction,
    Participant,
)
from callvault.errors import InputError
from callvault.media import probe_audio

__all__ = [
    "CHANNEL_LAYOUTS",
    "FileImportOptions",
    "import_file",
    "parse_channels",
    "parse_e164",
    "parse_language",
    "parse_timestamp",
]

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z]{2})?")
_E164_INPUT = re.compile(r"\+[0-9][0-9 .()\-]*[0-9]")
# The role of each channel of a stereo file, in channel order (issue 16): recorders that
# always put the agent on one side say so, whichever way the call went.
CHANNEL_LAYOUTS = ("agent,customer", "customer,agent")


@dataclass(frozen=True)
class FileImportOptions:
    """What the user says about a file; strings as typed, checked by `import_file`."""

    caller: str | None = None
    callee: str | None = None
    direction: str | None = None
    agent: str | None = None
    started_at: str | None = None
    language: str | None = None
    channels: str | None = None  # one of CHANNEL_LAYOUTS; None: caller on 0, callee on 1


def parse_channels(value: str, *, option: str = "--channels") -> tuple[str, str]:
    """The role of each channel, in order: ("agent", "customer") or ("customer", "agent").
    Words are matched without case and surrounding spaces; anything else is refused."""
    roles = tuple(word.strip().lower() for word in value.split(","))
    if ",".join(roles) not in CHANNEL_LAYOUTS:
        raise InputError(
            f"{option} {value!r} is not a channel layout; give the role of each channel in "
            "order: agent,customer (the agent on channel 0) or customer,agent"
        )
    return (roles[0], roles[1])


def parse_e164(value: str, *, option: str) -> str:
    """An E.164 number, normalised. The message does not repeat the number (it is personal)."""
    problem = (
        f"{option} is not an E.164 phone number; write it with + and the country code, "
        "for example +442071234567"
    )
    # One leading +, then digits with optional spaces, dots, hyphens or brackets; an
    # extension or any other text is refused rather than silently dropped.
    if not _E164_INPUT.fullmatch(value):
        raise InputError(problem)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InputError(problem) from None
    if not phonenumbers.is_possible_number(number):
        raise InputError(problem)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_timestamp(value: str, *, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not an ISO 8601 date and time; for example "
            "2026-11-23T14:05:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise InputError(
            f"{option} {value!r} has no time zone; add Z for UTC or an offset such as +01:00"
        )
    return moment


def parse_language(value: str, *, option: str = "--language") -> str:
    code = value.strip().lower().replace("_", "-")
    if not _LANGUAGE.fullmatch(code):
        raise InputError(
            f"{option} {value!r} is not a language code; use ISO 639-1 such as en, de or sr"
        )
    return code


def _direction(value: str | None) -> Direction | None:
    if value is None:
        return None
    for direction in DIRECTIONS:
        if value == direction:
            return direction
    raise InputError(f"--direction {value!r} is not one of {', '.join(DIRECTIONS)}; pick one")


def _participants(
    channels: int,
    caller: str | None,
    callee: str | None,
    direction: Direction | None,
    agent: str | None,
    layout: tuple[str, str] | None = None,
) -> tuple[Participant, ...]:
    # Convention (docs/json.md): channel 0 is the caller, channel 1 the callee; a mono
    # file carries both parties mixed on one leg; further channels are extra speakers.
    # With a layout (--channels), the agent is on the channel it names and the customer
    # on the other, whatever the direction; the direction still says who called whom.
    stereo = channels >= 2
    agent_role = {"outbound": "caller", "inbound": "callee"}.get(direction or "")
    places = {"caller": 0, "callee": 1}
    if layout is not None and agent_role is not None:
        customer_role = "callee" if agent_role == "caller" else "caller"
        places = {agent_role: layout.index("agent"), customer_role: layout.index("customer")}
    parties = [
        Participant(
            role=role,
            phone=phone,
            name=agent if role == agent_role else None,
            channel=places[role] if stereo else None,
            is_agent=role == agent_role,
        )
        for role, phone in (("caller", caller), ("callee", callee))
    ]
    parties += [Participant(role="speaker", channel=ch) for ch in range(2, channels)]
    return tuple(parties)


def _check_readable(path: Path, limit: int) -> int:
    denied = f"{path}: cannot be read (permission denied); check its permissions"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise InputError(denied) from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the audio files inside it")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except PermissionError:
        raise InputError(denied) from None
    except OSError as exc:
        reason = os.strerror(exc.errno or errno.EIO).lower()
        raise InputError(
            f"{path}: cannot be read ({reason}); check the file and the disk"
        ) from None
    if stat.st_size > limit:
        raise InputError(
            f"{path}: is {stat.st_size} bytes, over the limit of {limit} bytes; raise "
            "CALLVAULT_MAX_INPUT_BYTES to import it"
        )
    return stat.st_size


@dataclass(frozen=True)
class _Checked:
    """The options of a file import, parsed and checked."""

    metadata: CallMetadata
    caller: str | None
    callee: str | None
    layout: tuple[str, str] | None = None


def _check_options(options: FileImportOptions) -> _Checked:
    agent = options.agent.strip() if options.agent is not None else None
    if agent is not None and not (0 < len(agent) <= 128):
        raise InputError("--agent must be a user name of 1 to 128 characters")
    direction = _direction(options.direction)
    layout = parse_channels(options.channels) if options.channels is not None else None
    if layout is not None and direction not in ("inbound", "outbound"):
        # Without it the agent could be either party, and so could --caller's number.
        raise InputError(
            "--channels needs --direction inbound or outbound, which says whether the agent "
            "is the caller or the callee; leave --channels out for an internal call or one "
            "of unknown direction"
        )
    metadata = CallMetadata(
        direction=direction,
        agent=agent,
        started_at=(
            parse_timestamp(options.started_at, option="--started-at")
            if options.started_at is not None
            else None
        ),
        language=parse_language(options.language) if options.language is not None else None,
    )
    return _Checked(
        metadata,
        parse_e164(options.caller, option="--caller") if options.caller is not None else None,
        parse_e164(options.callee, option="--callee") if options.callee is not None else None,
        layout,
    )


def _captured(
    name: str,
    size: int,
    open_audio: Callable[[], BinaryIO],
    checked: _Checked,
    max_seconds: float | None = None,
) -> CapturedCall:
    audio = probe_audio(open_audio, name=name, size=size, max_seconds=max_seconds)
    meta = checked.metadata
    if checked.layout is not None and audio.channels != len(checked.layout):
        raise InputError(
            f"{name}: has {audio.channels} channel(s) but --channels gives the roles of "
            f"{len(checked.layout)}; it fits a stereo file with one party per channel, so "
            "leave --channels out for this file"
        )
    return CapturedCall(
        source_name=name,
        open_audio=open_audio,
        size=size,
        audio=audio,
        metadata=meta,
        participants=_participants(
            audio.channels,
            checked.caller,
            checked.callee,
            meta.direction,
            meta.agent,
            checked.layout,
        ),
    )


def import_file(
    path: Path, options: FileImportOptions, *, max_bytes: int, max_seconds: float | None = None
) -> CapturedCall:
    """Check one audio file and its options; return the call to store. Writes nothing.

    A file over `max_bytes` or whose audio is longer than `max_seconds` is refused.
    """
    checked = _check_options(options)  # option errors first: cheaper to find than file errors
    size = _check_readable(path, max_bytes)
    return _captured(str(path), size, lambda: open(path, "rb"), checked, max_seconds)


def import_opened(
    open_audio: Callable[[], BinaryIO],
    size: int,
    name: str,
    options: FileImportOptions,
    *,
    max_seconds: float | None = None,
) -> CapturedCall:
    """Like `import_file` for audio that `open_audio` opens afresh on each call (an
    upload in an encrypted spool: read chunk by chunk, never whole in memory)."""
    return _captured(name, size, open_audio, _check_options(options), max_seconds)


def import_bytes(
    data: bytes, name: str, options: FileImportOptions, *, max_seconds: float | None = None
) -> CapturedCall:
    """Like `import_file` for audio held in memory (never written to disk in plaintext)."""
    return _captured(
        name, len(data), lambda: io.BytesIO(data), _check_options(options), max_seconds
    )
