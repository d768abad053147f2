"""The jurisdiction table: which consent and notice each jurisdiction requires.

The table ships as `data/jurisdictions.toml`; a user's file is merged on top of it, entry
by entry and field by field. An unknown key, consent level or jurisdiction in either file
is a `ConfigError`. Not legal advice: see the comment at the top of the data file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from callvault.errors import ConfigError
from callvault.policy._files import check_keys, read_data, read_toml
from callvault.policy._jurisdiction import UNKNOWN, Jurisdiction, is_known_jurisdiction

__all__ = [
    "CONSENT_LEVELS",
    "Consent",
    "JurisdictionRule",
    "JurisdictionTable",
    "load_jurisdiction_table",
    "stricter",
]

Consent = Literal["none", "one-party", "all-party"]
CONSENT_LEVELS: tuple[Consent, ...] = ("none", "one-party", "all-party")  # weakest first

_FIELDS = ("consent", "notice", "lawful_basis", "legal_review", "note")
_REQUIRED = ("consent", "notice", "lawful_basis")
_BUILTIN = "callvault/policy/data/jurisdictions.toml"


def stricter(first: Consent, second: Consent) -> Consent:
    """The stricter of two consent levels."""
    return max(first, second, key=CONSENT_LEVELS.index)


@dataclass(frozen=True)
class JurisdictionRule:
    """What one jurisdiction requires before a call may be recorded."""

    key: str
    consent: Consent
    notice: bool
    lawful_basis: str
    legal_review: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "consent": self.consent,
            "notice": self.notice,
            "lawful_basis": self.lawful_basis,
            "legal_review": self.legal_review,
            "note": self.note,
        }


@dataclass(frozen=True)
class JurisdictionTable:
    """Every jurisdiction's rule; always holds an "unknown" entry, the strictest."""

    rules: Mapping[str, JurisdictionRule]

    def rule_for(self, jurisdiction: Jurisdiction) -> JurisdictionRule:
        """The most precise entry: the region's, else the country's, else "unknown"."""
        for key in (jurisdiction.key, jurisdiction.country):
            if key in self.rules:
                return self.rules[key]
        return self.rules[UNKNOWN]


def _consent(source: str, where: str, value: object) -> Consent:
    for level in CONSENT_LEVELS:
        if value == level:
            return level
    raise ConfigError(
        f"{source}: {where}.consent: unknown consent level {value!r}; allowed values are "
        f"{', '.join(CONSENT_LEVELS)}"
    )


def _typed(source: str, where: str, value: object, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ConfigError(f"{source}: {where}: expected a {kind.__name__}, got {value!r}")
    return value


def _merge(source: str, data: Mapping[str, Any], into: dict[str, dict[str, Any]]) -> None:
    for key, fields in data.items():
        if not is_known_jurisdiction(key):
            raise ConfigError(
                f"{source}: [{key}]: unknown jurisdiction {key!r}; use an ISO 3166-1 country "
                'code ("DE"), a US state or Canadian province ("US-CA", "CA-QC") or "unknown"'
            )
        if not isinstance(fields, Mapping):
            raise ConfigError(f"{source}: [{key}]: expected a table of {', '.join(_FIELDS)}")
        check_keys(source, f"[{key}]", fields, _FIELDS)
        merged = {**into.get(key, {}), **fields}
        missing = [name for name in _REQUIRED if name not in merged]
        if missing:
            raise ConfigError(f"{source}: [{key}]: missing {', '.join(missing)}; add them")
        into[key] = merged


def _rule(source: str, key: str, fields: Mapping[str, Any]) -> JurisdictionRule:
    where = f"[{key}]"
    return JurisdictionRule(
        key=key,
        consent=_consent(source, where, fields["consent"]),
        notice=_typed(source, f"{where}.notice", fields["notice"], bool),
        lawful_basis=_typed(source, f"{where}.lawful_basis", fields["lawful_basis"], str),
        legal_review=_typed(
            source, f"{where}.legal_review", fields.get("legal_review", False), bool
        ),
        note=_typed(source, f"{where}.note", fields.get("note", ""), str),
    )


def load_jurisdiction_table(path: Path | None = None) -> JurisdictionTable:
    """The shipped table, with the entries of the TOML file at `path` merged on top."""
    entries: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    layers = [(_BUILTIN, read_data("jurisdictions.toml"))]
    if path is not None:
        layers.append((str(path), read_toml(path)))
    for source, data in layers:
        _merge(source, data, entries)
        sources.update(dict.fromkeys(data, source))
    rules = {key: _rule(sources[key], key, fields) for key, fields in entries.items()}
    strictest = rules[UNKNOWN]
    if strictest.consent != "all-party" or not strictest.notice:
        # Fail closed: a number nobody can place must never get a weaker rule.
        raise ConfigError(
            f'{sources[UNKNOWN]}: [unknown]: must stay consent = "all-party" and '
            "notice = true (it is the rule for numbers whose jurisdiction cannot be told)"
        )
    return JurisdictionTable(rules)
