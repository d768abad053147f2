"""Use cases on outcomes (issue 22): record one (command line, API, or a CRM's webhook
calling `POST /api/v1/outcomes`), import a CSV file of them, list them, and resolve which
outcome each call carries for training.

An outcome is recorded for a call, a contact or a deal (an opaque CRM id). What a call
is labelled with, newest first: its own outcome; else the outcome of a deal that one of
its outcome rows names; else the newest outcome of a contact it took part in (the
contacts package's call history). `open` labels nothing: it marks an open deal, which
`predict.deal_warnings` watches.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.contacts import ContactCall, Contacts, normalise_phone
from callvault.errors import InputError, NotFound
from callvault.services._context import Context
from callvault.vault import OUTCOME_VALUES, OutcomeInput, OutcomeRecord

__all__ = [
    "CSV_COLUMNS",
    "OUTCOME_VALUES",
    "Labels",
    "import_outcomes_bytes",
    "import_outcomes_csv",
    "list_outcomes",
    "record_outcome",
    "resolve_labels",
]

CSV_COLUMNS = ("call_id", "contact", "deal", "outcome", "date", "note")
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def record_outcome(
    ctx: Context,
    *,
    outcome: str,
    call_id: str | None = None,
    contact_id: str | None = None,
    deal: str | None = None,
    note: str | None = None,
    source: str = "cli",
) -> OutcomeRecord:
    """Record one outcome as `ctx.actor`; InputError for a bad outcome or source, or
    none of call, contact and deal; NotFound for an unknown call or contact."""
    item = OutcomeInput(outcome.strip().lower(), call_id, contact_id, deal or None, note or None)
    return ctx.vault.outcomes.record([item], source=source, actor=ctx.actor)[0]


def list_outcomes(
    ctx: Context,
    *,
    call_id: str | None = None,
    contact_id: str | None = None,
    deal: str | None = None,
    purpose: str | None = None,
) -> list[OutcomeRecord]:
    """Outcomes, oldest first, optionally of one call, contact or deal; audited."""
    return ctx.vault.outcomes.find(
        call_id=call_id, contact_id=contact_id, deal=deal, actor=ctx.actor, purpose=purpose
    )


def import_outcomes_csv(ctx: Context, path: Path, *, region: str = "US") -> list[OutcomeRecord]:
    """Import outcomes from a UTF-8 CSV file with a header row (CSV_COLUMNS, any case,
    any order; `outcome` and one of `call_id`, `contact`, `deal` needed), all or
    nothing. `contact` is a contact id or a phone number (numbers without + are in
    `region`); `date` an ISO 8601 date or time (default: now). Errors name the file and
    the line, never a value."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return import_outcomes_bytes(ctx, data, str(path), region=region)


def import_outcomes_bytes(
    ctx: Context, data: bytes, name: str, *, region: str = "US", source: str = "csv"
) -> list[OutcomeRecord]:
    """`import_outcomes_csv` for a file held in memory; `name` is what errors call it."""
    rows = _parse(data, name)
    contacts = Contacts(ctx.vault)
    items = [(line, _item(contacts, values, f"{name}, line {line}: ", region, ctx.actor))
             for line, values in rows]  # fmt: skip
    try:
        return ctx.vault.outcomes.record([i for _, i in items], source=source, actor=ctx.actor)
    except InputError as exc:
        # The repository numbers the rows from 1; name the line of the file instead.
        message = str(exc)
        number, _, rest = message[4:].partition(": ")
        if message.startswith("row ") and number.isdigit():
            raise type(exc)(f"{name}, line {items[int(number) - 1][0]}: {rest}") from None
        raise


def _parse(data: bytes, name: str) -> list[tuple[int, dict[str, str]]]:
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = next(reader, None)
        if header is None:
            raise InputError(f"{name}: is empty; the first line names the columns")
        names = [h.strip().lower() for h in header]
        unknown = [h[:40] for h in names if h not in CSV_COLUMNS]
        if unknown or "outcome" not in names:
            raise InputError(
                f"{name}: line 1 must name the columns ({', '.join(CSV_COLUMNS)}) with "
                f"outcome among them; unknown: {', '.join(repr(u) for u in unknown) or 'none'}"
            )
        out = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(names):
                raise InputError(
                    f"{name}, line {reader.line_num}: has {len(cells)} fields, the header "
                    f"has {len(names)}"
                )
            out.append((reader.line_num, {k: v.strip() for k, v in zip(names, cells, strict=True)}))
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not UTF-8 text; save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"{name}: is not a valid CSV file ({exc})") from None
    if not out:
        raise InputError(f"{name}: has no rows under its header")
    return out


def _item(
    contacts: Contacts, values: dict[str, str], where: str, region: str, actor: str
) -> OutcomeInput:
    outcome = values.get("outcome", "").lower()
    if outcome not in OUTCOME_VALUES:
        raise InputError(f"{where}outcome must be one of {', '.join(OUTCOME_VALUES)}")
    contact_id = _contact_id(contacts, values.get("contact") or None, where, region, actor)
    when = None
    if values.get("date"):
        try:
            when = datetime.fromisoformat(values["date"])
        except ValueError:
            raise InputError(f"{where}date is not an ISO 8601 date or time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return OutcomeInput(
        outcome,
        values.get("call_id") or None,
        contact_id,
        values.get("deal") or None,
        values.get("note") or None,
        when,
    )


def _contact_id(
    contacts: Contacts, given: str | None, where: str, region: str, actor: str
) -> str | None:
    if given is None or _HEX_ID.match(given):
        return given
    try:
        phone = normalise_phone(given, region)
    except InputError:
        raise InputError(f"{where}contact is neither a contact id nor a phone number") from None
    found = [c for c in contacts.find(query=phone, actor=actor) if c.phone == phone]
    if len(found) != 1:
        raise NotFound(f"{where}contact: {len(found)} contacts have that number; give its id")
    return found[0].id


@dataclass(frozen=True)
class Labels:
    """What each call is labelled with (`outcome`), and the open deals and contacts
    with the calls that belong to them."""

    calls: dict[str, str]
    open_deals: dict[str, list[str]]
    open_contacts: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        return {"calls": len(self.calls), "open_deals": len(self.open_deals),
                "open_contacts": len(self.open_contacts)}  # fmt: skip


def resolve_labels(ctx: Context, *, purpose: str | None = None) -> Labels:
    """Each call's outcome (module doc), and the calls of open deals and contacts."""
    records = list_outcomes(ctx, purpose=purpose)
    by_call = {r.call_id: r for r in records if r.call_id is not None and r.deal is None}
    by_deal: dict[str, OutcomeRecord] = {}
    by_contact: dict[str, OutcomeRecord] = {}
    deal_calls: dict[str, set[str]] = {}
    for r in records:
        if r.deal is not None:
            by_deal[r.deal] = r
            if r.call_id is not None:
                deal_calls.setdefault(r.deal, set()).add(r.call_id)
        elif r.contact_id is not None:
            by_contact[r.contact_id] = r
    contacts = Contacts(ctx.vault)
    contact_calls: dict[str, list[ContactCall]] = {}
    for r in records:
        if r.contact_id is not None and r.contact_id not in contact_calls:
            contact_calls[r.contact_id] = contacts.calls_of(
                r.contact_id, actor=ctx.actor, purpose=purpose
            )
        if r.deal is not None and r.contact_id is not None:
            deal_calls.setdefault(r.deal, set()).update(
                c.call_id for c in contact_calls[r.contact_id]
            )
    labels: dict[str, str] = {}
    for contact_id, record in by_contact.items():
        for call in contact_calls.get(contact_id, ()):
            labels[call.call_id] = record.outcome
    for deal, record in by_deal.items():
        for call_id in deal_calls.get(deal, ()):
            labels[call_id] = record.outcome
    for call_id, record in by_call.items():
        labels[call_id] = record.outcome
    started = {c.call_id: c.started_at or c.created_at for cs in contact_calls.values() for c in cs}

    def newest_first(ids: Sequence[str]) -> list[str]:
        floor = datetime.min.replace(tzinfo=UTC)
        return sorted(ids, key=lambda i: (started.get(i) or floor, i), reverse=True)

    return Labels(
        {k: v for k, v in labels.items() if v != "open"},
        {d: newest_first(sorted(deal_calls.get(d, ()))) for d, r in by_deal.items()
         if r.outcome == "open"},
        {c: newest_first([x.call_id for x in contact_calls.get(c, ())])
         for c, r in by_contact.items() if r.outcome == "open"},
    )  # fmt: skip
