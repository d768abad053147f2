"""The one error tree of callvault.

Messages name the object and the fix. They never contain transcript text, audio or
personal data beyond what the user typed on the command line about their own input.
`exit_code` is what the CLI returns; the HTTP layer maps the same classes in one place.
"""

from __future__ import annotations

__all__ = [
    "AccountLocked",
    "AnalysisError",
    "AnchorError",
    "BackupError",
    "BackupIncomplete",
    "BlobStoreError",
    "CallvaultError",
    "CaptureError",
    "ConfigError",
    "ConsentRequired",
    "CrmPushError",
    "ErasureRefused",
    "InputError",
    "IntegrityError",
    "KeyDestroyed",
    "NotAuthenticated",
    "NotAuthorized",
    "NotFound",
    "Overloaded",
    "ParseError",
    "Quarantined",
    "RecordingTooLong",
    "RecoveryKeyError",
    "RequestTimeout",
    "RestoreRefused",
    "Restricted",
    "TooLarge",
    "TooManyAttempts",
    "UnsupportedMedia",
    "WebhookUndelivered",
]


class CallvaultError(Exception):
    """Base of every error callvault raises on purpose."""

    exit_code = 1


class InputError(CallvaultError):
    """Something the user gave us is wrong; nothing was written."""

    exit_code = 2


class ConfigError(InputError):
    """A setting has a value callvault cannot use."""


class UnsupportedMedia(InputError):
    """The input is not audio callvault can import (not audio, corrupt, unsupported codec)."""


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class RecordingTooLong(InputError):
    """A recording is longer than CALLVAULT_MAX_DURATION allows (issue 17: a 6.9 MB FLAC
    of ten hours made processing take 13.7 GB). Raised from the length a file's header
    announces, or while decoding once the samples pass the limit (a header can lie)."""

    retryable = False  # the same audio is as long next time

    def __init__(
        self,
        name: str,
        *,
        limit_s: float,
        declared_s: float | None = None,
        decoded_s: float | None = None,
        outcome: str = "nothing was stored",
    ) -> None:
        self.limit_s = limit_s
        if declared_s is not None:
            length = f"the file announces {_clock(declared_s)} of audio, longer than"
        elif decoded_s is not None:
            length = f"the recording is {_clock(decoded_s)} long, longer than"
        else:
            length = "the audio goes on past"
        super().__init__(
            f"{name}: {length} the limit of {_clock(limit_s)} "
            f"({limit_s:g} s, CALLVAULT_MAX_DURATION); split the recording or raise "
            f"CALLVAULT_MAX_DURATION; {outcome}"
        )


class TooLarge(InputError):
    """A request body (an upload) is larger than CALLVAULT_MAX_UPLOAD_BYTES: refused from
    its Content-Length before any byte is read, or while reading a chunked body as soon
    as it passes the limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"the request body is larger than the limit of {limit} bytes "
            "(CALLVAULT_MAX_UPLOAD_BYTES); nothing was stored"
        )


class RequestTimeout(InputError):
    """A request's body arrived too slowly: silent for longer than
    CALLVAULT_REQUEST_IDLE_TIMEOUT, slower on average than CALLVAULT_REQUEST_MIN_RATE, or
    longer in all than CALLVAULT_REQUEST_BODY_TIMEOUT (HTTP 408)."""


class NotFound(InputError):
    """The call, recording or other object named does not exist (or is not visible)."""


class CaptureError(CallvaultError):
    """A capture source failed (file import, network capture, SIPREC)."""


class ParseError(CaptureError):
    """A wire-format message could not be parsed."""


class AnalysisError(CallvaultError):
    """An analysis stage could not produce its result: a model failed to load or run, or
    a configured LLM endpoint did not answer or answered with something unusable. The
    message names the stage and the endpoint, never transcript text."""


class CrmPushError(CallvaultError):
    """The CRM webhook refused the call or could not be reached; `status` is the last
    HTTP status (None when no answer came) and `attempts` how many requests were made."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class WebhookUndelivered(CallvaultError):
    """A webhook subscriber did not take a delivery; `status` is its answer (None: none
    came). `retryable` is False for a final answer (a 4xx other than 408 and 429), which
    fails the delivery's job at once."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class IntegrityError(CallvaultError):
    """Stored data does not match its hash, signature or chain: it was changed or damaged."""


class KeyDestroyed(CallvaultError):
    """The data key of a recording is gone (crypto-shredded); its ciphertext is unreadable."""


class ConsentRequired(InputError):
    """The recording policy requires consent that has not been recorded."""

    retryable = False  # a job for such a call fails at once; it runs once consent is given


class RecordingRefused(InputError):
    """The recording policy does not allow keeping this recording."""


class NotAuthorized(CallvaultError):
    """The actor may not perform this action on this object."""


class NotAuthenticated(NotAuthorized):
    """No valid credentials came with the request (a session cookie or a bearer token)."""


class AccountLocked(NotAuthorized):
    """The right password of an account that too many failed sign-ins locked; only an
    administrator lifts the lock (`callvault users unlock NAME`)."""


class TooManyAttempts(CallvaultError):
    """Too many failed sign-ins from this address or for this account: the next attempt
    is refused, without checking the password, for `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(CallvaultError):
    """The server is doing as much of this work as it allows at once (password checks,
    say); try again after `retry_after` seconds (HTTP 503)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BlobStoreError(CallvaultError):
    """The blob store (an S3-compatible object store) could not be used: missing bucket,
    refused access, endpoint down. The message names the setting to check, never a
    credential (HTTP 503)."""


class ErasureRefused(CallvaultError):
    """A call may not be erased now: a legal hold applies to it, or (for retention) it is
    no longer due. Nothing was erased."""

    def __init__(self, message: str, *, call_id: str, hold_id: str | None = None) -> None:
        super().__init__(message)
        self.call_id = call_id
        self.hold_id = hold_id


class Restricted(CallvaultError):
    """The data subject restricted processing of this call's data (GDPR Art. 18): it is
    stored, but not processed or read except on the grounds Art. 18(2) allows."""

    # A job queue fails a task that raises this at once: trying again changes nothing
    # until the restriction is lifted (then `callvault jobs retry`).
    retryable = False

    def __init__(self, message: str, *, call_id: str, restriction_id: str) -> None:
        super().__init__(message)
        self.call_id = call_id
        self.restriction_id = restriction_id


class Quarantined(CallvaultError):
    """The call is held in quarantine until every party's consent is recorded; it is not
    processed or read before."""

    retryable = False  # a job for it fails at once; `jobs retry` after the release


class BackupError(CallvaultError):
    """A backup could not be made, read or trusted: the message says which object or
    manifest and what is wrong with it (issue 21)."""


class BackupIncomplete(BackupError):
    """The backup set was never finished (its signed manifest is missing): it is not
    verified or restored as if it were whole."""


class RecoveryKeyError(BackupError):
    """The backup's key material cannot be opened: no identity or passphrase was given,
    or the one given does not match."""


class RestoreRefused(InputError):
    """`restore` only writes into an empty data directory and an empty database."""


class AnchorError(CallvaultError):
    """An audit checkpoint could not be anchored (the place refused it, or it would have
    overwritten an earlier one)."""
