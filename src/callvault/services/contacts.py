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

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.accounts import Accounts
from callvault.config import http_host
from callvault.contacts import (
    CSV_COLUMNS,
    ContactCall,
    ContactInput,
    ContactRecord,
    Contacts,
    ImportResult,
    parse_contacts_csv,
)
from callvault.errors import CrmPushError, InputError
from callvault.services._context import Context
from callvault.services.access import CALLS_INSIGHTS, CALLS_READ, CallScope, Principal, can
from callvault.vault import Vault, restriction_ground

__all__ = [
    "CSV_COLUMNS",
    "CrmPushError",
    "PushResult",
    "account_timeline",
    "contact_calls",
    "contact_timeline",
    "get_contact",
    "import_contacts",
    "import_contacts_bytes",
    "import_contacts_csv",
    "list_contacts",
    "Posted",
    "post_signed",
    "push_call_to_crm",
    "sign",
    "verify_signature",
]

log = logging.getLogger("callvault.services")

EVENT = "call.processed"
TIMESTAMP_HEADER = "X-Callvault-Timestamp"
SIGNATURE_HEADER = "X-Callvault-Signature"
BACKOFF_S = (0.5, 1.0, 2.0)


# -- import -----------------------------------------------------------------------------


def import_contacts_csv(ctx: Context, path: Path, *, region: str = "US") -> ImportResult:
    """Import contacts from a CSV file with a header row (columns of CSV_COLUMNS, any
    case, any order, any subset); all or nothing. Errors name the file, the line and the
    field, never a value. `region`: where numbers written without + are."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return import_contacts_bytes(ctx, data, str(path), region=region)


def import_contacts_bytes(
    ctx: Context, data: bytes, name: str, *, region: str = "US"
) -> ImportResult:
    """`import_contacts_csv` for a CSV file held in memory (an upload); `name` is what
    error messages call it."""
    region = region.strip().upper()
    rows = parse_contacts_csv(data, name)
    inputs = [row for _, row in rows]
    try:
        return import_contacts(ctx, inputs, region=region)
    except InputError as exc:
        # The repository numbers the rows from 1; name the line of the file instead.
        message = str(exc)
        if message.startswith("row "):
            number, _, rest = message[4:].partition(": ")
            if number.isdigit():
                line = rows[int(number) - 1][0]
                raise InputError(f"{name}, line {line}: {rest}") from None
        raise


def import_contacts(
    ctx: Context, rows: Iterable[ContactInput], *, region: str | None = None
) -> ImportResult:
    """Upsert `rows` (`Contacts.import_rows`), all or nothing, as `ctx.actor`."""
    return Contacts(ctx.vault).import_rows(rows, region=region, actor=ctx.actor)


# -- reading ----------------------------------------------------------------------------


def list_contacts(
    ctx: Context,
    *,
    account: str | None = None,
    query: str | None = None,
    purpose: str | None = None,
) -> list[ContactRecord]:
    """Contacts by name, of one `account` (exact) or matching `query` (any case); audited."""
    return Contacts(ctx.vault).find(account=account, query=query, actor=ctx.actor, purpose=purpose)


def get_contact(ctx: Context, contact_id: str, *, purpose: str | None = None) -> ContactRecord:
    """One contact; NotFound when there is none of that id. Audited."""
    return Contacts(ctx.vault).get(contact_id, actor=ctx.actor, purpose=purpose)


def contact_calls(
    ctx: Context, contact_id: str, *, purpose: str | None = None
) -> list[ContactCall]:
    """The calls the contact took part in, newest first (metadata only). Audited."""
    return Contacts(ctx.vault).calls_of(contact_id, actor=ctx.actor, purpose=purpose)


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
            call.call_id, call.agent, Accounts(vault).team_of(call.agent) if call.agent else None
        )
        if can(who, CALLS_READ, scope):  # out of reach: left out, not even counted
            out.append((call, can(who, CALLS_INSIGHTS, scope)))
    return out


def contact_timeline(ctx: Context, contact_id: str, *, purpose: str | None) -> dict[str, Any]:
    """{"contact": ..., "calls": [...]}: the contact and its calls, newest first, each
    with its summary points' text and action items (null until processed). With a
    principal (the API and the web app), only the calls they may read, with insights
    where their role reads insights."""
    vault, actor = ctx.vault, ctx.actor
    contact = get_contact(ctx, contact_id, purpose=purpose)
    calls = contact_calls(ctx, contact_id, purpose=purpose)
    return {
        "contact": contact.to_json(),
        "calls": [
            _call_entry(vault, c, purpose, actor, insights)
            for c, insights in _reachable(vault, calls, ctx.principal)
        ],
    }


def account_timeline(ctx: Context, account: str, *, purpose: str | None) -> dict[str, Any]:
    """{"account", "contacts": [...], "calls": [...]}: as `contact_timeline` for every
    contact of the account; each call names the contacts it matched."""
    vault, actor = ctx.vault, ctx.actor
    contacts, calls = Contacts(vault).account_calls(account, actor=actor, purpose=purpose)
    return {
        "account": account,
        "contacts": [c.to_json() for c in contacts],
        "calls": [
            _call_entry(vault, c, purpose, actor, insights)
            for c, insights in _reachable(vault, calls, ctx.principal)
        ],
    }


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


def _payload(ctx: Context, call_id: str, purpose: str | None) -> dict[str, Any]:
    vault, actor = ctx.vault, ctx.actor
    record = vault.calls.get_call(call_id, purpose=purpose, actor=actor)
    matches = Contacts(vault).call_matches(call_id, actor=actor, purpose=purpose)
    summary, actions = _insights(
        vault.artifacts.read_insights(call_id, purpose=purpose, actor=actor)
    )
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
    ctx: Context,
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
    ctx.vault.restrictions.refuse_if_restricted(call_id, doing="sent to a CRM")
    body = json.dumps(
        _payload(ctx, call_id, purpose), ensure_ascii=False, separators=(",", ":")
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
    ctx.vault.record_event(
        "crm.push",
        "call",
        call_id,
        actor=ctx.actor,
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
