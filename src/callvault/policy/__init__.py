"""Recording policy: whether a call may be recorded, with what consent and notice, and
how long it is kept.

Pure domain: it reads its own data files and the rule files it is given, and returns
decisions; the vault carries them out. `speak_notice` (espeak-ng) is its one other I/O.
Nothing here is legal advice; see `data/jurisdictions.toml`.
"""

from callvault.policy._decision import DECISION_SCHEMA, Decision, decide
from callvault.policy._emergency import is_emergency_number
from callvault.policy._jurisdiction import (
    UNKNOWN,
    Jurisdiction,
    is_known_jurisdiction,
    jurisdiction_of,
)
from callvault.policy._notices import (
    NOTICE_LANGUAGES,
    Notice,
    NoticeOptions,
    choose_language,
    render_notice,
    speak_notice,
    transliterate_serbian,
)
from callvault.policy._retention import (
    DEFAULT_RETENTION,
    RetentionClass,
    retention_classes,
    retention_period,
)
from callvault.policy._rules import (
    ACTIONS,
    DIRECTIONS,
    Action,
    CallFacts,
    DenyList,
    Direction,
    Reason,
    Rule,
    RuleSet,
    TimeWindow,
    load_rules,
    parse_rules,
)
from callvault.policy._table import (
    CONSENT_LEVELS,
    Consent,
    JurisdictionRule,
    JurisdictionTable,
    load_jurisdiction_table,
)

__all__ = [
    "ACTIONS",
    "CONSENT_LEVELS",
    "DECISION_SCHEMA",
    "DEFAULT_RETENTION",
    "DIRECTIONS",
    "NOTICE_LANGUAGES",
    "UNKNOWN",
    "Action",
    "CallFacts",
    "Consent",
    "Decision",
    "DenyList",
    "Direction",
    "Jurisdiction",
    "JurisdictionRule",
    "JurisdictionTable",
    "Notice",
    "NoticeOptions",
    "Reason",
    "RetentionClass",
    "Rule",
    "RuleSet",
    "TimeWindow",
    "choose_language",
    "decide",
    "is_emergency_number",
    "is_known_jurisdiction",
    "jurisdiction_of",
    "load_jurisdiction_table",
    "load_rules",
    "parse_rules",
    "render_notice",
    "retention_classes",
    "retention_period",
    "speak_notice",
    "transliterate_serbian",
]
