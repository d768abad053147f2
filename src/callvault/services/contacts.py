"""Use cases on contacts: import a CRM export, a contact's or an account's call history,
and pushing a processed call to a CRM webhook.

The webhook request is signed (see docs/contacts.md): the body is JSON, and

    X-Callvault-Timestamp: <unix seconds>
    X-Callvault-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

Signing the timestamp with the body lets the receiver refuse a replayed request: it
checks the signature, then that the timestamp is recent (`verify_signature`, five
minutes by default). A changed timestamp breaks the signature.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.config import http_host
from callvault.errors import CrmPushError, InputError
from callvault.services.access import CALLS_INSIGHTS, CALLS_READ, CallScope, Principal, can
from callvault.vault import (
    ContactCall,
    ContactInput,
    ContactRecord,
    ImportResult,
    Vault,
    restriction_ground,
)

__all__ = [
    "CSV_COLUMNS",
    "CrmPushError",
    "PushResult",
    "account_timeline",
    "contact_timeline",
    "import_contacts_bytes",
    "import_contacts_csv",
    "Posted",
    "post_signed",
    "push_call_to_crm",
    "sign",
    "verify_signature",
]

log = logging.getLogger("callvault.services")

CSV_COLUMNS = ("name", "phone", "email", "account", "crm_id")
EVENT = "call.processed"
TIMESTAMP_HEADER = "X-Callvault-Timestamp"
SIGNATURE_HEADER = "X-Callvault-Signature"
BACKOFF_S = (0.5, 1.0, 2.0)


# -- import -----------------------------------------------------------------------------


def import_contacts_csv(
    vault: Vault, path: Path, *, region: str = "US", actor: str | None = None
) -> ImportResult:
    """Import contacts from a CSV file with a header row (columns of CSV_COLUMNS, any
    case, any order, any subset); all or nothing. Errors name the file, the line and the
    field, never a value. `region`: where numbers written without + are."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return import_contacts_bytes(vault, data, str(path), region=region, actor=actor)


def import_contacts_bytes(
    vault: Vault, data: bytes, name: str, *, region: str = "US", actor: str | None = None
) -> ImportResult:
    """`import_contacts_csv` for a CSV file held in memory (an upload); `name` is what
    error messages call it."""
    region = region.strip().upper()
    try:
        text = data.decode("utf-8-sig")
        rows = list(_read_csv(io.StringIO(text, newline=""), name))
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not UTF-8 text; save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"{name}: is not a valid CSV file ({exc})") from None
    inputs = [row for _, row in rows]
    try:
        return vault.import_contacts(inputs, region=region, actor=actor)
    except InputError as exc:
        # The vault numbers the rows from 1; name the line of the file instead.
        message = str(exc)
        if message.startswith("row "):
            number, _, rest = message[4:].partition(": ")
            if number.isdigit():
                line = rows[int(number) - 1][0]
                raise InputError(f"{name}, line {line}: {rest}") from None
        raise


def _read_csv(handle: Any, path: str) -> list[tuple[int, ContactInput]]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path}: is empty; the first line names the columns")
    names = [h.strip().lower() for h in header]
    if not any(h in CSV_COLUMNS for h in names):
        # Likely a file without a header: its first line is data, not to be echoed.
        raise InputError(
            f"{path}: line 1 must name the columns ({', '.join(CSV_COLUMNS)}); it names none"
        )
    unknown = [h[:40] for h in names if h not in CSV_COLUMNS]
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {', '.join(repr(u) for u in unknown)}; the columns "
            f"are {', '.join(CSV_COLUMNS)}"
        )
    doubled = sorted({h for h in names if names.count(h) > 1})
    if doubled:
        raise InputError(f"{path}: column(s) {', '.join(doubled)} given twice")
    out: list[tuple[int, ContactInput]] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            raise InputError(
                f"{path}, line {line}: has {len(cells)} fields, the header has {len(names)}"
            )
        values = dict(zip(names, cells, strict=True))
        out.append((line, ContactInput(**{k: values.get(k) for k in CSV_COLUMNS})))
    return out


# -- timelines --------------------------------------------------------------------------


def _content(
    vault: Vault, call: ContactCall, purpose: str | None, actor: str | None, insights: bool
) -> dict[str, Any]:
    """Summary points and action items of a call (null when not processed, when the
    caller may not read insights, or when the call is restricted or quarantined and
    `purpose` gives no ground to read it)."""
    restricted = vault.restrictions.restriction_for_call(call.call_id)
    grounded = restriction_ground(purpose) is not None
    readable = insights and (
        grounded or (restricted is None and call.consent_state != "quarantined")
    )
    raw = (
        vault.artifacts.read_insights(call.call_id, purpose=purpose, actor=actor)
        if readable
        else None
    )
    summary, actions = _insights(raw)
    return {"restricted": restricted, "summary": summary, "action_items": actions}


def _insights(raw: bytes | None) -> tuple[list[str] | None, list[dict[str, Any]] | None]:
    if raw is None:
        return None, None
    insights = json.loads(raw).get("insights") or {}
    points = (insights.get("summary") or {}).get("points") or []
    items = (insights.get("actions") or {}).get("items") or []
    return (
        [str(p.get("text", "")) for p in points],
        [{"text": i.get("text"), "owner": i.get("owner"), "due": i.get("due")} for i in items],
    )


def _call_entry(
    vault: Vault,
    call: ContactCall,
    purpose: str | None,
    actor: str | None = None,
    insights: bool = True,
) -> dict[str, Any]:
    return {
        "id": call.call_id,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "direction": call.direction,
        "agent": call.agent,
        "duration_s": round(call.duration_s, 3),
        "consent_state": call.consent_state,
        "contact_ids": list(call.contact_ids),
        **_content(vault, call, purpose, actor, insights),
    }


def _reachable(
    vault: Vault, calls: Sequence[ContactCall], who: Principal | None
) -> list[tuple[ContactCall, bool]]:
    """The calls `who` may read, each with whether they may read its insights (None:
    the command line, every call)."""
    if who is None:
        return [(call, True) for call in calls]
    out = []
    for call in calls:
        scope = CallScope(
            call.call_id, call.agent, vault.team_of(call.agent) if call.agent else None
        )
        if can(who, CALLS_READ, scope):  # out of reach: left out, not even counted
            out.append((call, can(who, CALLS_INSIGHTS, scope)))
    return out


def contact_timeline(
    vault: Vault,
    contact_id: str,
    *,
    purpose: str | None,
    who: Principal | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """{"contact": ..., "calls": [...]}: the contact and its calls, newest first, each
    with its summary points' text and action items (null until processed). With `who`
    (the API and the web app), only the calls they may read, with insights where their
    role reads insights."""
    contact = vault.get_contact(contact_id, purpose=purpose, actor=actor)
    calls = vault.contact_calls(contact_id, purpose=purpose, actor=actor)
    return {
        "contact": contact.to_json(),
        "calls": [
            _call_entry(vault, c, purpose, actor, insights)
            for c, insights in _reachable(vault, calls, who)
        ],
    }


def account_timeline(vault: Vault, account: str, *, purpose: str | None) -> dict[str, Any]:
    """{"account", "contacts": [...], "calls": [...]}: as `contact_timeline` for every
    contact of the account; each call names the contacts it matched."""
    contacts, calls = vault.account_calls(account, purpose=purpose)
    return {
        "account": account,
        "contacts": [c.to_json() for c in contacts],
        "calls": [_call_entry(vault, c, purpose) for c in calls],
    }


def contacts_json(contacts: Sequence[ContactRecord]) -> list[dict[str, Any]]:
    return [c.to_json() for c in contacts]


# -- webhook ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    call_id: str
    host: str
    status: int
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "host": self.host,
            "status": self.status,
            "attempts": self.attempts,
        }


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The X-Callvault-Signature value: "sha256=" + hex HMAC-SHA256 of "<ts>.<body>"."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    *,
    now: float,
    tolerance_s: float = 300,
) -> bool:
    """For receivers: True when `header` signs `timestamp` and `body` with `secret`
    (constant-time comparison) and `timestamp` is within `tolerance_s` of `now`, so a
    request captured and sent again later is refused."""
    try:
        stamp = int(str(timestamp).strip())
    except ValueError:
        return False
    if abs(now - stamp) > tolerance_s:
        return False
    expected = sign(secret, stamp, body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())


@dataclass(frozen=True)
class Posted:
    """How a signed POST ended: the last HTTP status (None: never answered), the
    requests made, and why it failed (None: it succeeded)."""

    status: int | None
    attempts: int
    failure: str | None


def post_signed(
    url: str,
    body: bytes,
    *,
    secret: str,
    attempts: int,
    delay: Callable[[int], float],
    retry: Callable[[int], bool],
    timeout_s: float,
    sleep: Callable[[float], object],
    clock: Callable[[], float],
    what: str,
    headers: Mapping[str, str] | None = None,
) -> Posted:
    """POST the JSON `body` to `url` signed with `secret` (`sign`), up to `attempts`
    requests: after a connection error, or an HTTP error status for which `retry` is
    true, wait `delay(requests made so far)` (`sleep`) and try again. `what` names the
    delivery in the log (never content)."""
    status: int | None = None
    made = 0
    failure: str | None = None
    while made < attempts:
        if made:
            sleep(delay(made))
        made += 1
        stamp = int(clock())
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                **(headers or {}),
                TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: sign(secret, stamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return Posted(int(response.status), made, None)
        except urllib.error.HTTPError as exc:
            status, failure = exc.code, f"answered HTTP {exc.code}"
            exc.close()
            if not retry(status):
                break
        except (urllib.error.URLError, OSError) as exc:
            status = None
            reason = getattr(exc, "reason", exc)
            failure = f"could not be reached ({type(reason).__name__})"
        log.info("%s: attempt %d failed: %s", what, made, failure)
    return Posted(status, made, failure)


def _payload(vault: Vault, call_id: str, purpose: str | None) -> dict[str, Any]:
    record = vault.calls.get_call(call_id, purpose=purpose)
    matches = vault.call_contacts(call_id, purpose=purpose)
    summary, actions = _insights(vault.artifacts.read_insights(call_id, purpose=purpose))
    return {
        "event": EVENT,
        "call": {
            "id": record.id,
            "started_at": record.started_at.isoformat() if record.started_at else None,
            "direction": record.direction,
            "agent": record.agent,
            "duration_s": round(record.recording.duration_s, 3),
            "participants": [
                {
                    "role": p.role,
                    "phone": p.phone,
                    "name": p.name,
                    "contact_ids": list(matches.get(p.id, ())),
                }
                for p in record.participants
            ],
        },
        "summary": summary,
        "action_items": actions,
        "sent_at": datetime.now(UTC).isoformat(),
    }


def push_call_to_crm(
    vault: Vault,
    call_id: str,
    *,
    url: str,
    secret: str,
    purpose: str | None,
    timeout_s: float = 10,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> PushResult:
    """POST the call's `call.processed` event to a CRM webhook, signed (module doc).

    Connection errors and 5xx answers are tried again, up to `attempts` requests in all,
    after 0.5 s, 1 s, 2 s, ... (`sleep`); a 4xx answer is final. Audited as `crm.push`
    with the host, the last status and the attempts, whatever the outcome (no content).
    A restricted call is refused before anything is read or sent.
    """
    host = http_host(url)
    if host is None:
        raise InputError("--url must be an http:// or https:// URL of the CRM webhook")
    if not secret:
        raise InputError(
            "the webhook secret is empty; set it in the environment variable named by "
            "--secret-env (default CALLVAULT_CRM_SECRET)"
        )
    if attempts < 1:
        raise InputError("attempts must be at least 1")
    vault.restrictions.refuse_if_restricted(call_id, doing="sent to a CRM")
    body = json.dumps(
        _payload(vault, call_id, purpose), ensure_ascii=False, separators=(",", ":")
    ).encode()
    posted = post_signed(
        url,
        body,
        secret=secret,
        attempts=attempts,
        delay=lambda made: BACKOFF_S[min(made - 1, len(BACKOFF_S) - 1)] * 2 ** max(0, made - 3),
        retry=lambda status: status >= 500,
        timeout_s=timeout_s,
        sleep=sleep,
        clock=clock,
        what=f"crm push of call {call_id}",
    )
    status, made, failure = posted.status, posted.attempts, posted.failure
    vault.record_event(
        "crm.push",
        "call",
        call_id,
        purpose=purpose,
        details={"host": host, "status": status, "attempts": made, "ok": failure is None},
    )
    if failure is not None:
        final = status is not None and status < 500
        hint = (
            "check the URL and the secret the CRM expects"
            if final
            else "try again later (callvault crm push)"
        )
        raise CrmPushError(
            f"call {call_id}: the CRM webhook at {host} {failure} after {made} attempt(s); {hint}",
            status=status,
            attempts=made,
        )
    assert status is not None
    return PushResult(call_id, host, status, made)
