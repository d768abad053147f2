"""Every setting of callvault, declared once.

Each setting has a name, a type, a default, a help text and an environment variable
`CALLVAULT_<NAME>`. Values are read once at start-up with `load_config()`; a bad value
raises `ConfigError` naming the variable. `docs/configuration.md` documents each one (a
test keeps the two in step).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

import platformdirs

from callvault.config._ask import ASK_SETTINGS
from callvault.config._backup import BACKUP_SETTINGS
from callvault.config._outcomes import OUTCOME_SETTINGS
from callvault.config._scorecards import SCORECARD_SETTINGS
from callvault.config._team import TEAM_SETTINGS
from callvault.config._values import (
    QUEUE_SCHEMES,
    Setting,
    default_model_cache,
    http_host,
    parse_blob_store,
    parse_choice,
    parse_chunk_size,
    parse_fraction,
    parse_int_range,
    parse_log_level,
    parse_model_map,
    parse_names,
    parse_networks,
    parse_optional_path,
    parse_positive_size,
    parse_queue,
    parse_seconds,
    parse_size,
    parse_urls,
)
from callvault.config._voice import VOICE_SETTINGS
from callvault.errors import ConfigError

__all__ = [
    "AGENT_SIDE_MODES",
    "CONSENT_MISSING_MODES",
    "COOKIE_SECURE_MODES",
    "DIARIZATION_MODES",
    "KEEP_ORIGINAL_MODES",
    "PAYMENT_ENTITY_NAMES",
    "QUEUE_SCHEMES",
    "REDACTION_AUDIO_MODES",
    "REDACTION_ENTITIES",
    "ROLES",
    "SETTINGS",
    "SPOKEN_REFUSAL_MODES",
    "SUBJECT_ERASURE_MODES",
    "WITHDRAWAL_MODES",
    "Config",
    "Setting",
    "http_host",
    "load_config",
    "mask_url",
    "masked_values",
    "parse_model_map",
]

DIARIZATION_MODES = ("auto", "on", "off")
CONSENT_MISSING_MODES = ("refuse", "quarantine")
WITHDRAWAL_MODES = ("discard-call", "keep-before")
AGENT_SIDE_MODES = ("auto", "caller", "callee")
SPOKEN_REFUSAL_MODES = ("honour", "flag", "off")
SUBJECT_ERASURE_MODES = ("call", "leg")
COOKIE_SECURE_MODES = ("auto", "always", "never")
REDACTION_AUDIO_MODES = ("mute", "bleep")
KEEP_ORIGINAL_MODES = ("never", "unless-payment")
ROLES = ("admin", "compliance", "manager", "rep", "auditor")
# The kinds of personal data redaction knows (callvault.analysis.pii.ENTITIES, which a test
# keeps equal); the payment ones are cut whatever this setting says.
REDACTION_ENTITIES = (
    "CREDIT_CARD",
    "CVV",
    "CARD_EXPIRY",
    "PIN",
    "US_SSN",
    "NATIONAL_ID",
    "IBAN",
    "PASSWORD",
    "EMAIL",
    "PHONE",
    "DATE_OF_BIRTH",
    "PERSON",
    "ADDRESS",
)
PAYMENT_ENTITY_NAMES = ("CREDIT_CARD", "CVV", "CARD_EXPIRY", "PIN")


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("callvault", appauthor=False))


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return f"cli:uid{os.getuid()}"


def parse_entities(raw: str) -> tuple[str, ...]:
    """`all`, or names from REDACTION_ENTITIES separated by commas; the payment ones are
    always added (fail closed: card data is never left in the audio)."""
    names = [part.strip().upper() for part in raw.split(",") if part.strip()]
    if names == ["ALL"]:
        return REDACTION_ENTITIES
    unknown = [name for name in names if name not in REDACTION_ENTITIES]
    if unknown:
        raise ValueError(
            f"unknown kind {unknown[0]!r}; expected all or some of {', '.join(REDACTION_ENTITIES)}"
        )
    chosen = set(names) | set(PAYMENT_ENTITY_NAMES)
    return tuple(name for name in REDACTION_ENTITIES if name in chosen)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "Directory holding the database (embedded default), encrypted blobs and keys.",
        lambda raw: Path(raw).expanduser(),
        _default_data_dir,
    ),
    Setting(
        "database_url",
        "SQLAlchemy URL of the metadata database; empty means SQLite in the data "
        "directory. PostgreSQL: postgresql+psycopg://user:password@host/dbname.",
        str,
        None,
        secret=True,
    ),
    Setting(
        "blob_store",
        "Where encrypted blobs are kept: empty means file://<data_dir>/blobs; "
        "file:///absolute/path, or s3://bucket[/prefix] for an S3-compatible object store.",
        parse_blob_store,
        None,
    ),
    Setting(
        "s3_endpoint_url",
        "Endpoint of the S3-compatible store (MinIO, Ceph RGW, ...); empty means AWS S3.",
        str,
        None,
    ),
    Setting(
        "s3_region",
        "Region of the S3 bucket; empty means boto3's default (AWS_REGION, a profile).",
        str,
        None,
    ),
    Setting(
        "s3_object_lock",
        "Object lock of the S3 bucket: off, governance or compliance (the retention mode; "
        "init creates a missing bucket with object lock unless off).",
        parse_choice(("off", "governance", "compliance")),
        lambda: "off",
    ),
    Setting(
        "max_input_bytes",
        "Largest recording file accepted by ingest (suffixes KiB, MiB, GiB).",
        parse_positive_size,
        lambda: 4 << 30,
    ),
    Setting(
        "max_duration",
        "Longest recording accepted, in seconds (1 to 604800): ingest refuses a longer "
        "one from its header or while decoding it, and processing stops decoding there.",
        parse_seconds(1.0, 604800.0),
        lambda: 4 * 3600.0,
    ),
    Setting(
        "max_upload_bytes",
        "Largest request body accepted by the server, an upload included (suffixes KiB, "
        "MiB, GiB): a larger Content-Length is answered 413 before any byte is read, and a "
        "chunked body is cut off with 413 as soon as it passes the limit.",
        parse_positive_size,
        lambda: 1 << 30,
    ),
    Setting(
        "request_idle_timeout",
        "Seconds the server waits for the next piece of a request's headers or body "
        "(1 to 3600); a client silent for longer is answered 408 and disconnected.",
        parse_seconds(1.0, 3600.0),
        lambda: 15.0,
    ),
    Setting(
        "request_min_rate",
        "Bytes per second a request body must average once request_idle_timeout has "
        "passed since it began (0: no minimum), so a client that trickles a byte now and "
        "then cannot hold a connection.",
        parse_size,
        lambda: 4096,
    ),
    Setting(
        "request_body_timeout",
        "Seconds a whole request body may take, however fast it arrives (1 to 86400).",
        parse_seconds(1.0, 86400.0),
        lambda: 3600.0,
    ),
    Setting(
        "max_connections",
        "Connections and requests `callvault serve` handles at once; beyond them it "
        "answers 503 at once.",
        parse_int_range(1, 100000),
        lambda: 256,
    ),
    Setting(
        "chunk_size",
        "Plaintext bytes per encrypted chunk; a byte range is decrypted chunk by chunk.",
        parse_chunk_size,
        lambda: 256 << 10,
    ),
    Setting(
        "actor",
        "Who the audit log names for actions taken from this process.",
        str,
        _default_actor,
    ),
    Setting(
        "model_cache",
        "Directory where callvault assembles speech models from their packages (once).",
        lambda raw: Path(raw).expanduser(),
        default_model_cache,
    ),
    Setting(
        "asr_models",
        "Speech model per language, overriding the defaults: language=name-or-path pairs "
        "separated by commas (a path is any CTranslate2 Whisper model directory).",
        parse_model_map,
        dict,
    ),
    Setting(
        "asr_beam_size",
        "Beam width of speech recognition (1 is greedy and fastest).",
        parse_int_range(1, 10),
        lambda: 1,
    ),
    Setting(
        "diarization",
        "Speakers of mono recordings: auto (diarize when the diarization extra is installed), "
        "on (always; processing fails without the extra) or off (one undiarized speaker).",
        parse_choice(DIARIZATION_MODES),
        lambda: "auto",
    ),
    Setting(
        "search_rank_limit",
        "Searches matching at most this many utterances are ranked by relevance; larger "
        "match sets come newest first (ranking them all would be slow).",
        parse_int_range(0, 1_000_000),
        lambda: 2000,
    ),
    Setting(
        "organisation",
        "Name of the organisation that records calls (the data controller), filled into "
        "recording notices.",
        str,
        None,
    ),
    Setting(
        "privacy_contact",
        "How people reach the data controller about their recordings (e-mail, phone or web "
        "address), filled into recording notices; empty: ask the person on the call.",
        str,
        None,
    ),
    Setting(
        "policy_rules",
        "TOML file of recording rules (docs/policy.md); empty: record every call that no "
        "deny-list excludes, under the consent rules of each participant's jurisdiction.",
        parse_optional_path,
        None,
    ),
    Setting(
        "policy_jurisdictions",
        "TOML file merged over the shipped table of consent rules per jurisdiction.",
        parse_optional_path,
        None,
    ),
    Setting(
        "consent_missing",
        "A call that needs every party's consent arriving without it: refuse (store "
        "nothing) or quarantine (keep it encrypted, unprocessed and unread until consent is "
        "recorded; erased after quarantine_days).",
        parse_choice(CONSENT_MISSING_MODES),
        lambda: "refuse",
    ),
    Setting(
        "quarantine_days",
        "Days a quarantined call waits for consent before `retention run` erases it.",
        parse_int_range(1, 365),
        lambda: 7,
    ),
    Setting(
        "on_withdrawal",
        "A party refusing or withdrawing consent during a call: discard-call (erase the "
        "whole recording) or keep-before (keep what was recorded before that moment).",
        parse_choice(WITHDRAWAL_MODES),
        lambda: "discard-call",
    ),
    Setting(
        "dtmf_optout_window",
        "Seconds after the answer within which a single press of the withdrawal key "
        "withdraws consent during live capture, at most (0 to 600); the window closes "
        "sooner when the agent first speaks after the notice.",
        parse_seconds(0.0, 600.0),
        lambda: 30.0,
    ),
    Setting(
        "notice_seconds",
        "Seconds from the answer that the recording notice lasts on the agent's leg "
        "(0 to 300); speech before its end does not close the DTMF opt-out window.",
        parse_seconds(0.0, 300.0),
        lambda: 0.0,
    ),
    Setting(
        "dtmf_inter_digit",
        "Seconds (0.2 to 10) that must separate the withdrawal key from any other key "
        "press for it to count as a single press.",
        parse_seconds(0.2, 10.0),
        lambda: 2.0,
    ),
    Setting(
        "agent_side",
        "Which party of a captured call is the agent: caller, callee, or auto (the "
        "caller on outbound calls, the callee otherwise).",
        parse_choice(AGENT_SIDE_MODES),
        lambda: "auto",
    ),
    Setting(
        "spoken_refusal",
        "A party saying in a processed call that they do not want to be recorded: honour "
        "(cut or erase the recording as on_withdrawal says, the cut part quarantined for "
        "review), flag (cut nothing, list it for compliance review) or off.",
        parse_choice(SPOKEN_REFUSAL_MODES),
        lambda: "honour",
    ),
    Setting(
        "refusal_min_confidence",
        "Least confidence (0 to 1) of a detected spoken refusal for it to be acted on.",
        parse_fraction,
        lambda: 0.5,
    ),
    Setting(
        "refusal_quarantine_days",
        "Days the part of a recording cut for a spoken refusal stays sealed, so that a "
        "false detection can be reversed, before `retention run` crypto-shreds it.",
        parse_int_range(1, 365),
        lambda: 30,
    ),
    Setting(
        "subject_erasure",
        "`rights erase` of a person in a call with others: call (erase the whole call) or "
        "leg (erase only their own channel and utterances, marking the call partially "
        "erased; a mono call is erased whole).",
        parse_choice(SUBJECT_ERASURE_MODES),
        lambda: "call",
    ),
    Setting(
        "redaction_entities",
        "Kinds of personal data cut out of transcripts and audio: all, or names separated "
        "by commas; card number, CVV, expiry and PIN are always cut.",
        parse_entities,
        lambda: REDACTION_ENTITIES,
    ),
    Setting(
        "redaction_audio",
        "How redacted spans sound: mute (digital silence) or bleep (a 1 kHz tone).",
        parse_choice(REDACTION_AUDIO_MODES),
        lambda: "mute",
    ),
    Setting(
        "redaction_margin",
        "Seconds of audio cut before and after each redacted word span (0 to 2).",
        parse_seconds(0.0, 2.0),
        lambda: 0.5,
    ),
    Setting(
        "redaction_keep_original",
        "Whether the unredacted original of a redacted call is kept (encrypted, for the "
        "compliance role): never, or unless-payment (kept unless card data was cut).",
        parse_choice(KEEP_ORIGINAL_MODES),
        lambda: "never",
    ),
    Setting(
        "role",
        "The role the command line acts in: admin, compliance, manager, rep or auditor.",
        parse_choice(ROLES),
        lambda: "admin",
    ),
    Setting(
        "trackers",
        "A TOML file of user-defined trackers, competitor names and compliance phrases.",
        parse_optional_path,
        None,
    ),
    Setting(
        "competitors",
        "Competitor names, separated by commas, found in transcripts (exactly and by sound), "
        "besides the trackers file's competitors; empty: none.",
        parse_names,
        tuple,
    ),
    Setting(
        "alert_rules",
        "A TOML file of live alert rules (docs/alerts.md), besides the built-in ones.",
        parse_optional_path,
        None,
    ),
    Setting(
        "disclosure_within",
        "Seconds from the start of a call within which the agent must say that the call "
        "is recorded (1 to 600).",
        parse_seconds(1.0, 600.0),
        lambda: 30.0,
    ),
    Setting(
        "llm_url",
        "Base URL of an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server) that "
        "writes summaries and action items; empty means the built-in methods.",
        str,
        None,
    ),
    Setting(
        "llm_model",
        "Model name sent to the LLM endpoint.",
        str,
        None,
    ),
    Setting(
        "llm_api_key",
        "Bearer token for the LLM endpoint, if it needs one.",
        str,
        None,
        secret=True,
    ),
    Setting(
        "webhook_urls",
        "URLs, separated by commas, that receive the call.processed and call.erased "
        "events, signed with HMAC-SHA256 and retried with backoff.",
        parse_urls,
        tuple,
    ),
    Setting(
        "webhook_secret",
        "The HMAC-SHA256 key that signs webhook deliveries; needed with webhook_urls.",
        str,
        None,
        secret=True,
    ),
    Setting(
        "live_keep_minutes",
        "Minutes the live board keeps a call's words and alerts after the call ended "
        "(the stored call keeps its own transcript); then a periodic job deletes them.",
        parse_int_range(1, 10080),
        lambda: 60,
    ),
    Setting(
        "live_browser_idle",
        "Seconds without audio after which a live session of the in-browser recorder "
        "ends by itself (5 to 3600); its call leaves the live board.",
        parse_seconds(5.0, 3600.0),
        lambda: 30.0,
    ),
    Setting(
        "login_throttle_after",
        "Failed sign-ins of one account after which each further attempt waits: "
        "login_backoff_base seconds, doubled per failure, at most login_backoff_max.",
        parse_int_range(1, 1000),
        lambda: 5,
    ),
    Setting(
        "login_address_throttle_after",
        "Failed sign-ins from one client address (any usernames) after which each "
        "further attempt from it waits, as for an account.",
        parse_int_range(1, 10000),
        lambda: 20,
    ),
    Setting(
        "login_throttle_window",
        "Seconds after which failed sign-ins are forgotten when no other failure followed "
        "(60 to 604800).",
        parse_seconds(60.0, 604800.0),
        lambda: 3600.0,
    ),
    Setting(
        "login_backoff_base",
        "Seconds the first throttled sign-in attempt waits (0.1 to 3600).",
        parse_seconds(0.1, 3600.0),
        lambda: 1.0,
    ),
    Setting(
        "login_backoff_max",
        "The longest wait between throttled sign-in attempts, in seconds (1 to 86400).",
        parse_seconds(1.0, 86400.0),
        lambda: 900.0,
    ),
    Setting(
        "login_lock_after",
        "Failed sign-ins of one account after which it is locked until an administrator "
        "unlocks it (`callvault users unlock`); 0: never locked.",
        parse_int_range(0, 100000),
        lambda: 20,
    ),
    Setting(
        "login_concurrency",
        "Password checks one process runs at once; a sign-in beyond them is answered 503 "
        "at once, so guessing cannot take the threads that serve everyone else.",
        parse_int_range(1, 64),
        lambda: 2,
    ),
    Setting(
        "workers",
        "Worker threads that process jobs inside a callvault process.",
        parse_int_range(1, 64),
        lambda: 1,
    ),
    Setting(
        "queue",
        "Where jobs are queued: embedded (threads of each callvault process) or a Celery "
        "broker URL (redis://, rediss://, amqp://, amqps://, pyamqp://) that `callvault "
        "worker` processes consume; the database stays the ledger of jobs either way.",
        parse_queue,
        lambda: "embedded",
        secret=True,
    ),
    Setting(
        "job_lease",
        "Seconds without a heartbeat after which a running job counts as abandoned and is "
        "given to another worker.",
        parse_seconds(5, 3600),
        lambda: 60.0,
    ),
    Setting(
        "trusted_proxies",
        "Addresses or networks (CIDR), separated by commas, of the reverse proxies in front "
        "of `callvault serve`; only their X-Forwarded-For and X-Forwarded-Proto headers are "
        "believed. Empty: no proxy, those headers are ignored.",
        parse_networks,
        tuple,
    ),
    Setting(
        "cookie_secure",
        "The Secure flag of session cookies: auto (set unless the request came over plain "
        "HTTP to a server listening on loopback; a trusted proxy's X-Forwarded-Proto "
        "counts), always, or never. Never decided by the Host header a client sends.",
        parse_choice(COOKIE_SECURE_MODES),
        lambda: "auto",
    ),
    Setting(
        "log_level",
        "Level of callvault's own log messages on stderr.",
        parse_log_level,
        lambda: "WARNING",
    ),
    *BACKUP_SETTINGS,
    *ASK_SETTINGS,
    *TEAM_SETTINGS,
    *OUTCOME_SETTINGS,
    *VOICE_SETTINGS,
    *SCORECARD_SETTINGS,
)


@dataclass(frozen=True)
class Config:
    """The effective settings of one process."""

    data_dir: Path
    database_url: str | None
    blob_store: str | None
    s3_endpoint_url: str | None
    s3_region: str | None
    s3_object_lock: str
    max_input_bytes: int
    max_duration: float
    max_upload_bytes: int
    request_idle_timeout: float
    request_min_rate: int
    request_body_timeout: float
    max_connections: int
    chunk_size: int
    actor: str
    model_cache: Path
    asr_models: dict[str, str]
    asr_beam_size: int
    diarization: str
    search_rank_limit: int
    organisation: str | None
    privacy_contact: str | None
    policy_rules: Path | None
    policy_jurisdictions: Path | None
    consent_missing: str
    quarantine_days: int
    on_withdrawal: str
    dtmf_optout_window: float
    notice_seconds: float
    dtmf_inter_digit: float
    agent_side: str
    spoken_refusal: str
    refusal_min_confidence: float
    refusal_quarantine_days: int
    subject_erasure: str
    redaction_entities: tuple[str, ...]
    redaction_audio: str
    redaction_margin: float
    redaction_keep_original: str
    role: str
    trackers: Path | None
    competitors: tuple[str, ...]
    alert_rules: Path | None
    disclosure_within: float
    llm_url: str | None
    llm_model: str | None
    llm_api_key: str | None
    webhook_urls: tuple[str, ...]
    webhook_secret: str | None
    live_keep_minutes: int
    live_browser_idle: float
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...]
    cookie_secure: str
    login_throttle_after: int
    login_address_throttle_after: int
    login_throttle_window: float
    login_backoff_base: float
    login_backoff_max: float
    login_lock_after: int
    login_concurrency: int
    workers: int
    queue: str
    job_lease: float
    log_level: str
    backup_to: str | None
    backup_recipient: tuple[str, ...]
    backup_passphrase: str | None
    backup_identity: Path | None
    backup_keep_daily: int
    backup_keep_weekly: int
    erasure_ledger_to: str | None
    audit_anchor_to: str | None
    audit_anchor_tsa: str | None
    audit_anchor_tsa_cert: Path | None
    audit_anchor_every: float
    audit_anchor_retain_days: int
    ask_llm_url: str | None
    ask_llm_model: str
    ask_llm_key: str | None
    ask_llm_timeout: float
    team_min_group: int
    team_epsilon: float | None
    outcome_min_calls: int
    outcome_min_per_class: int
    outcome_warning_threshold: float
    voice_anonymize: str
    voice_method: str = "both"
    scorecard_rubric: str = "default"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'callvault.db'}"

    @property
    def effective_blob_store(self) -> str:
        """`blob_store`, or the `blobs` directory of the data directory as a file:// URL."""
        if self.blob_store:
            return self.blob_store
        return f"file://{(self.data_dir / 'blobs').absolute()}"


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Read every setting from `env` (default: the process environment)."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            values[setting.name] = overrides[setting.name]
            continue
        raw = source.get(setting.env)
        if raw is None or raw == "":
            values[setting.name] = setting.default() if setting.default else None
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            # A secret is not echoed: a URL keeps its shape with the password masked.
            shown = (mask_url(raw) if "://" in raw else "****") if setting.secret else raw
            raise ConfigError(f"{setting.env}={shown!r} is not valid: {exc}") from None
    if values.get("webhook_urls") and not values.get("webhook_secret"):
        # Refused before any command runs: an erasure must not be done and then fail
        # on sending its event.
        raise ConfigError(
            "CALLVAULT_WEBHOOK_URLS is set but CALLVAULT_WEBHOOK_SECRET is empty; "
            "set both or neither"
        )
    return Config(**values)


# Query parameters that carry a credential in the URLs people paste (webhook receivers,
# LLM gateways): their values are masked like a password.
_SECRET_PARAMS = re.compile(
    r"([?&;](?:[\w.-]*(?:key|token|secret|password|passwd|pwd|sig|signature|auth|"
    r"credential)[\w.-]*)=)[^&;#]*",
    flags=re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """`url` with the credentials it embeds masked: the password of `user:password@host`
    (`user:****@host`), a user-only part that is a token (`****@host`), and the values of
    query parameters named like a key, token, secret, password or signature."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    # A password may hold "@", "/", "?" or "#" (unescaped, as people paste them): with an
    # "@" or ":" before the first of those, the user part runs to the last "@". Masking
    # too much (a port and a path holding "@") beats showing a part of a password.
    at = rest.rfind("@") if "@" in rest[:end] or ":" in rest[:end] else -1
    if at != -1:
        user, colon, _password = rest[:at].partition(":")
        rest = f"{user + ':' if colon else ''}****@{rest[at + 1 :]}"
    return scheme + sep + _SECRET_PARAMS.sub(r"\1****", rest)


def masked_values(config: Config) -> list[tuple[Setting, str]]:
    """Each setting with its effective value as text, secrets masked."""
    rows = []
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if setting.name == "database_url":
            text = mask_url(config.effective_database_url)
        elif setting.name == "blob_store":
            text = mask_url(config.effective_blob_store)
        elif setting.name == "queue":
            text = mask_url(str(value))
        elif value is None:
            text = ""
        elif setting.secret:
            text = "****"
        elif isinstance(value, dict):
            text = ",".join(f"{k}={mask_url(str(v))}" for k, v in sorted(value.items()))
        elif isinstance(value, tuple):
            # Each item on its own: a list of URLs is split on commas before masking.
            text = ",".join(mask_url(str(v)) for v in value)
        else:
            text = mask_url(str(value))
        rows.append((setting, text))
    return rows
