"""Alert rules for calls in progress: what each rule checks, the built-in set, and rules
files in TOML (format and a full example: docs/alerts.md).

A rule has a name, a *kind* (what it checks), a severity ("info", "warning",
"critical"), `enabled`, and the parameters of its kind:

- "phrase": `phrases` (per language, "*" for any), `role`, `match` ("variants": exact,
  inflection variants and a word more between as the batch trackers match; "exact": word
  for word only), `phonetic` (names heard as other words, as the batch competitor tracker
  finds them), `partials` (default true: fire as soon as the phrase is heard in the
  engine's partial words, when each is heard with a probability of at least 0.5, rather
  than waiting for them to become final; the alert then says `"partial": true`).
- "disclosure": `phrases`, `role`, `within_s` (from the moment the call was answered),
  `grace_s` (how long to wait for late final words before firing).
- "pii": `entities` ("card", "cvv", "expiry", "pin", "ssn", "iban", "dob", "phone",
  "email"), `role`, `early_digits` (a card number still being read fires once this many
  digits are heard), `pause` (the recorder pauses keeping audio while it is read).
- "sentiment": `role`, `window_s`, `utterances` (at least this many in the window),
  `threshold` (the window's mean at or below it), `drop` (and this far below the mean
  before the window, or below neutral when there was none).
- "silence": `seconds` of no speech on any leg.
- "talk-over": `seconds` of two legs speaking at once.
- "consent": `role`, `min_confidence` of the refusal detector's finding.

`RuleSet.builtin()` holds `BUILTIN_RULES` from data/alert_rules.toml; the phrases it does
not list come from the batch compliance checks (`DEFAULT_DISCLOSURE`,
`DEFAULT_PROHIBITED`), so a call is judged by the same words live and afterwards.
`RuleSet.load(path)` adds a file's rules; a rule named like a built-in one overrides the
keys it gives. Everything is checked when loaded and fails closed: bad TOML, an unknown
kind, key, entity or role, or a value of the wrong type is a `ConfigError` (an
`InputError`) naming the file, the rule and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis.insights._compliance import DEFAULT_DISCLOSURE, DEFAULT_PROHIBITED
from callvault.analysis.insights._matching import STOPWORDS, WILDCARD, words_of
from callvault.analysis.pii import (
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    IBAN,
    PHONE,
    PIN,
    US_SSN,
)
from callvault.errors import ConfigError

__all__ = [
    "ANY_ROLE",
    "BUILTIN_RULES",
    "ENTITIES",
    "KINDS",
    "MATCH_MODES",
    "ROLES",
    "SEVERITIES",
    "AlertRule",
    "RuleSet",
]

BUILTIN_RULES = (
    "consent-refused",
    "disclosure-missing",
    "card-data",
    "identity-data",
    "competitor",
    "prohibited-phrase",
    "sentiment-drop",
    "silence",
    "talk-over",
)

SEVERITIES = ("info", "warning", "critical")
ROLES = ("agent", "customer")
ANY_ROLE = "any"  # in a rules file: the rule reads every leg
MATCH_MODES = ("variants", "exact")

# What a pii rule may watch for, by its name in a rules file (pii package entities).
ENTITIES: Mapping[str, str] = MappingProxyType(
    {
        "card": CREDIT_CARD,
        "cvv": CVV,
        "expiry": CARD_EXPIRY,
        "pin": PIN,
        "ssn": US_SSN,
        "iban": IBAN,
        "dob": DATE_OF_BIRTH,
        "phone": PHONE,
        "email": EMAIL,
    }
)

# The keys each kind takes besides kind, severity and enabled.
KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "phrase": ("phrases", "role", "match", "phonetic", "partials"),
        "disclosure": ("phrases", "role", "within_s", "grace_s"),
        "pii": ("entities", "role", "early_digits", "pause"),
        "sentiment": ("role", "window_s", "utterances", "threshold", "drop"),
        "silence": ("seconds",),
        "talk-over": ("seconds",),
        "consent": ("role", "min_confidence"),
    }
)
_COMMON = ("kind", "severity", "enabled")

_NO_PHRASES: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True)
class AlertRule:
    """One alert rule; only the parameters of its `kind` are used (module doc)."""

    name: str
    kind: str
    severity: str = "warning"
    enabled: bool = True
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_PHRASES)
    role: str | None = None
    match: str = "variants"
    phonetic: bool = False
    partials: bool = True  # a phrase rule may fire on words not yet final (see _monitor)
    within_s: float = 30.0
    grace_s: float = 5.0
    entities: tuple[str, ...] = ()
    early_digits: int = 6
    pause: bool = False
    window_s: float = 30.0
    utterances: int = 2
    threshold: float = -0.3
    drop: float = 0.3
    seconds: float = 10.0
    min_confidence: float = 0.0

    @property
    def params(self) -> dict[str, Any]:
        """The parameters of the rule's kind, as a rules file writes them."""
        out: dict[str, Any] = {}
        for key in KINDS.get(self.kind, ()):
            value = getattr(self, key)
            if key == "phrases":
                value = {lang: list(items) for lang, items in sorted(value.items())}
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "enabled": self.enabled,
            "params": self.params,
        }

    def validate(self) -> None:
        """Raise `ConfigError` naming the rule and the key at fault."""
        if not self.name.strip():
            raise ConfigError("alert rule name is empty: give every rule a name")
        where = f"alert rule {self.name!r}"
        if self.kind not in KINDS:
            raise ConfigError(
                f"{where}: key 'kind': {self.kind!r} is unknown; use one of {', '.join(KINDS)}"
            )
        if self.severity not in SEVERITIES:
            raise ConfigError(
                f"{where}: key 'severity': {self.severity!r} is unknown; "
                f"use one of {', '.join(SEVERITIES)}"
            )
        if self.role is not None and self.role not in ROLES:
            raise ConfigError(
                f"{where}: key 'role': {self.role!r} is unknown; "
                f"use one of {', '.join((*ROLES, ANY_ROLE))}"
            )
        if self.match not in MATCH_MODES:
            raise ConfigError(
                f"{where}: key 'match': {self.match!r} is unknown; "
                f"use one of {', '.join(MATCH_MODES)}"
            )
        for language, phrases in self.phrases.items():
            for phrase in phrases:
                words = words_of(phrase)
                if not words or all(w in STOPWORDS or w == WILDCARD for w in words):
                    raise ConfigError(
                        f"{where}: key 'phrases': a phrase in language {language!r} is empty "
                        "or only stopwords and would match almost anything"
                    )
        needs_phrases = self.kind == "disclosure" or (
            self.kind == "phrase" and self.name != "competitor"
        )
        if needs_phrases and self.enabled and not any(self.phrases.values()):
            raise ConfigError(f"{where}: key 'phrases': give at least one phrase")
        for entity in self.entities:
            if entity not in ENTITIES:
                raise ConfigError(
                    f"{where}: key 'entities': {entity!r} is unknown; "
                    f"use some of {', '.join(ENTITIES)}"
                )
        if self.kind == "pii" and not self.entities:
            raise ConfigError(f"{where}: key 'entities': give at least one")
        positive = {
            "within_s": self.within_s,
            "window_s": self.window_s,
            "seconds": self.seconds,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{where}: key {key!r} must be more than 0")
        if self.grace_s < 0:
            raise ConfigError(f"{where}: key 'grace_s' must not be negative")
        if not 4 <= self.early_digits <= 19:
            raise ConfigError(f"{where}: key 'early_digits' must be 4 to 19")
        if self.utterances < 1:
            raise ConfigError(f"{where}: key 'utterances' must be at least 1")
        if not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"{where}: key 'threshold' must be -1 to 1")
        if not 0.0 <= self.drop <= 2.0:
            raise ConfigError(f"{where}: key 'drop' must be 0 to 2")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"{where}: key 'min_confidence' must be 0 to 1")


# --- reading rules from TOML ----------------------------------------------------------


def _typed(rule: str, key: str, value: Any) -> Any:
    """A rules-file value checked against the type of `AlertRule.<key>`."""
    where = f"alert rule {rule!r}: key {key!r}"
    if key in ("kind", "severity", "role", "match"):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
        if key == "role" and value == ANY_ROLE:
            return None  # lifts a built-in rule's role: every leg counts
        return value
    if key in ("enabled", "phonetic", "pause", "partials"):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if key in ("early_digits", "utterances"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if key in ("within_s", "grace_s", "window_s", "threshold", "drop", "seconds", "min_confidence"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number")
        return float(value)
    if key == "entities":
        if isinstance(value, str) or not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of strings")
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if key == "phrases":
        # A list is shorthand for phrases of any language: phrases = ["Acme"].
        table = {"*": value} if isinstance(value, list) else value
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"{where} must be a list of phrases or a table of language = [phrases]"
            )
        phrases: dict[str, tuple[str, ...]] = {}
        for language, items in table.items():
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where}: phrases.{language} must be a list of strings")
            phrases[str(language)] = tuple(items)
        return MappingProxyType(phrases)
    raise ConfigError(f"{where} is unknown")  # pragma: no cover - keys are checked first


def _rule_from(name: str, raw: Any, base: AlertRule | None, *, check: bool = True) -> AlertRule:
    """A rule from its TOML table; `base` is the built-in rule of that name, if any."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"alert rule {name!r} must be a table ([rules.{name}])")
    kind = raw.get("kind", base.kind if base is not None else None)
    if kind is None:
        raise ConfigError(
            f"alert rule {name!r}: key 'kind' is missing; use one of {', '.join(KINDS)}"
        )
    kind = _typed(name, "kind", kind)
    if kind not in KINDS:
        raise ConfigError(
            f"alert rule {name!r}: key 'kind': {kind!r} is unknown; use one of {', '.join(KINDS)}"
        )
    if base is not None and kind != base.kind:
        raise ConfigError(
            f"alert rule {name!r}: key 'kind': the built-in rule is {base.kind!r}; "
            "give another name for a rule of another kind"
        )
    allowed = _COMMON + KINDS[kind]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"alert rule {name!r}: key {key!r} is unknown for kind {kind!r}; "
                f"allowed keys are {', '.join(allowed)}"
            )
        values[key] = _typed(name, key, value)
    rule = (
        dataclasses.replace(base, **values) if base is not None else AlertRule(name=name, **values)
    )
    if check:
        rule.validate()
    return rule


def _builtin_rules() -> dict[str, AlertRule]:
    raw = read_words("callvault.analysis", "alert_rules.toml")["rules"]
    # Checked once their phrases are in (`RuleSet._with`).
    rules = {name: _rule_from(name, table, None, check=False) for name, table in raw.items()}
    rules["disclosure-missing"] = dataclasses.replace(
        rules["disclosure-missing"], phrases=DEFAULT_DISCLOSURE
    )
    rules["prohibited-phrase"] = dataclasses.replace(
        rules["prohibited-phrase"], phrases=DEFAULT_PROHIBITED
    )
    assert tuple(rules) == BUILTIN_RULES, "data/alert_rules.toml and BUILTIN_RULES disagree"
    return rules


@dataclass(frozen=True)
class RuleSet:
    """The alert rules of a monitored call, built-in ones first, in file order."""

    rules: tuple[AlertRule, ...]

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"alert rule {name!r} is defined twice: rename one")

    @classmethod
    def builtin(
        cls,
        *,
        competitors: Sequence[str] = (),
        disclosure: Mapping[str, Sequence[str]] | None = None,
    ) -> RuleSet:
        """The built-in rules; `competitors` are the names the competitor rule looks
        for (none: it never fires), `disclosure` replaces the disclosure phrases per
        language (None: the batch compliance check's)."""
        return cls._with(cls(tuple(_builtin_rules().values())), competitors, disclosure)

    @classmethod
    def load(
        cls,
        path: Path | None,
        *,
        competitors: Sequence[str] = (),
        disclosure: Mapping[str, Sequence[str]] | None = None,
    ) -> RuleSet:
        """The built-in rules plus the rules file at `path` (None: the built-in rules).

        A file rule named like a built-in one changes the keys it gives (`enabled =
        false` turns it off); `competitors` are added to the competitor rule's phrases.
        Fails closed with a `ConfigError` naming the file, rule and key.
        """
        if path is None:
            return cls.builtin(competitors=competitors, disclosure=disclosure)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"{path}: the alert rules file cannot be read ({exc.strerror or exc}); "
                "check the path"
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the alert rules file") from None
        try:
            rules = _merge(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return cls._with(cls(tuple(rules.values())), competitors, disclosure)

    def with_disclosure_within(self, seconds: float) -> RuleSet:
        """These rules with the disclosure rules' window set to `seconds` (the batch
        compliance check's `disclosure_within`, so live and batch judge alike)."""
        if seconds <= 0:
            raise ConfigError(f"the disclosure window must be positive, not {seconds:g} s")
        return RuleSet(
            tuple(
                dataclasses.replace(rule, within_s=float(seconds))
                if rule.kind == "disclosure"
                else rule
                for rule in self.rules
            )
        )

    @classmethod
    def _with(
        cls,
        ruleset: RuleSet,
        competitors: Sequence[str],
        disclosure: Mapping[str, Sequence[str]] | None,
    ) -> RuleSet:
        rules = []
        for rule in ruleset.rules:
            if rule.name == "competitor" and competitors:
                names = tuple(rule.phrases.get("*", ())) + tuple(
                    c for c in competitors if c not in rule.phrases.get("*", ())
                )
                rule = dataclasses.replace(
                    rule, phrases=MappingProxyType({**rule.phrases, "*": names})
                )
            elif rule.name == "disclosure-missing" and disclosure is not None:
                rule = dataclasses.replace(
                    rule,
                    phrases=MappingProxyType({k: tuple(v) for k, v in disclosure.items()}),
                )
            rule.validate()
            rules.append(rule)
        return cls(tuple(rules))

    def get(self, name: str) -> AlertRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def enabled(self) -> tuple[AlertRule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def to_json(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self.rules]


def _merge(data: Mapping[str, Any]) -> dict[str, AlertRule]:
    for key in data:
        if key != "rules":
            raise ConfigError(f"unknown top-level key {key!r}; put every rule under [rules.NAME]")
    tables = data.get("rules", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("key 'rules' must be a table of rules ([rules.NAME])")
    rules = _builtin_rules()
    for name, raw in tables.items():
        rules[name] = _rule_from(name, raw, rules.get(name))
    return rules
