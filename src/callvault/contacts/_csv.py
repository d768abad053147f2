"""Reading a CRM export: a UTF-8 CSV file with a header row naming some of
`CSV_COLUMNS` (any case, any order). Errors name the file, the line and the column,
never a value."""

from __future__ import annotations

import csv
import io
from typing import Any

from callvault.contacts._records import ContactInput
from callvault.errors import InputError

__all__ = ["CSV_COLUMNS", "parse_contacts_csv"]

CSV_COLUMNS = ("name", "phone", "email", "account", "crm_id")


def parse_contacts_csv(data: bytes, name: str) -> list[tuple[int, ContactInput]]:
    """The rows of the CSV file `data`, each with its line number; blank lines are
    skipped. `name` is what error messages call the file."""
    try:
        text = data.decode("utf-8-sig")
        return _read_csv(io.StringIO(text, newline=""), name)
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not UTF-8 text; save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"{name}: is not a valid CSV file ({exc})") from None


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
