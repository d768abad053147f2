"""How the values of callvault's settings are parsed and checked (`callvault.config`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

__all__ = [
    "BUCKET",
    "QUEUE_SCHEMES",
    "check_s3_url",
    "Setting",
    "default_model_cache",
    "http_host",
    "parse_blob_store",
    "parse_fraction",
    "parse_choice",
    "parse_chunk_size",
    "parse_int_range",
    "parse_log_level",
    "parse_model_map",
    "parse_names",
    "parse_networks",
    "parse_optional_path",
    "parse_positive_size",
    "parse_queue",
    "parse_seconds",
    "parse_size",
    "parse_urls",
]


def parse_size(raw: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B?|B)?\s*", raw, flags=re.IGNORECASE)
    if not match:
        raise ValueError("expected a byte count such as 4096, 64MiB or 2GiB")
    number, unit = int(match.group(1)), (match.group(2) or "B").upper().rstrip("B").rstrip("I")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    return number * scale


def default_model_cache() -> Path:
    return Path(platformdirs.user_cache_dir("callvault", appauthor=False)) / "models"


def parse_model_map(raw: str) -> dict[str, str]:
    """`en=tiny.en-path,de=/models/whisper-small`: a model name or path per language."""
    models: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        language, sep, model = item.partition("=")
        if not sep or not language.strip() or not model.strip():
            raise ValueError(f"expected language=model pairs separated by commas, got {item!r}")
        models[language.strip().lower()] = model.strip()
    return models


def parse_int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def parse_optional_path(raw: str) -> Path:
    return Path(raw).expanduser()


def parse_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        mode = raw.strip().lower()
        if mode not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return mode

    return parse


def parse_chunk_size(raw: str) -> int:
    size = parse_size(raw)
    if not (4096 <= size <= 16 << 20):
        raise ValueError("must be between 4KiB and 16MiB")
    return size


def parse_positive_size(raw: str) -> int:
    size = parse_size(raw)
    if size <= 0:
        raise ValueError("must be greater than zero")
    return size


# Bucket names of S3 (the bucket naming rules): 3 to 63 lowercase letters, digits, dots
# and hyphens, starting and ending with a letter or digit.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_blob_store(raw: str) -> str:
    """`file:///absolute/path` or `s3://bucket[/prefix]`, as given."""
    if raw.startswith("file://"):
        path = raw.removeprefix("file://")
        if not path.startswith("/"):
            raise ValueError("a file:// store needs an absolute path, such as file:///srv/blobs")
        return raw
    if raw.startswith("s3://"):
        return check_s3_url(raw, "recordings/eu")
    raise ValueError("expected file:///absolute/path or s3://bucket[/prefix]")


def check_s3_url(raw: str, example_prefix: str) -> str:
    """`raw` (`s3://bucket[/prefix]`) when its bucket and prefix are well formed."""
    bucket, _, prefix = raw.removeprefix("s3://").partition("/")
    if not BUCKET.fullmatch(bucket):
        raise ValueError(
            "the bucket name must be 3 to 63 lowercase letters, digits, dots or hyphens"
        )
    if "//" in prefix.strip("/") or any(c in prefix for c in "?#\\"):
        raise ValueError(f"the prefix must be a plain path such as {example_prefix}")
    return raw


def http_host(url: str) -> str | None:
    """The host of an http:// or https:// URL, None for any other URL or one without a
    host (what every webhook URL setting and option must be)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname


def parse_urls(raw: str) -> tuple[str, ...]:
    """URLs separated by commas, each http:// or https:// with a host."""
    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not all(http_host(url) for url in urls):
        raise ValueError("each URL must be http:// or https:// with a host")
    return urls


def parse_networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """IP addresses or CIDR networks separated by commas (an address is a /32 or /128)."""
    networks = []
    for part in filter(None, (item.strip() for item in raw.split(","))):
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or network; expected e.g. 10.0.0.5,10.1.0.0/16"
            ) from None
    return tuple(networks)


def parse_names(raw: str) -> tuple[str, ...]:
    """Names separated by commas, blanks dropped, each once (case-insensitively), in the
    order given."""
    names: list[str] = []
    seen: set[str] = set()
    for part in raw.split(","):
        name = " ".join(part.split())
        if not name:
            continue
        if not any(c.isalnum() for c in name):
            raise ValueError("each name needs a letter or digit; separate names with commas")
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return tuple(names)


QUEUE_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
"""Celery broker URL schemes `CALLVAULT_QUEUE` accepts besides `embedded` (issue 19)."""


def parse_queue(raw: str) -> str:
    """`embedded`, or a Celery broker URL (`redis://host:6379/0`, `amqp://user@host//`)."""
    value = raw.strip()
    if value.lower() == "embedded":
        return "embedded"
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in QUEUE_SCHEMES or not rest:
        raise ValueError(
            "expected 'embedded' or a broker URL starting with "
            + ", ".join(f"{s}://" for s in QUEUE_SCHEMES)
        )
    return value


def parse_seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of seconds from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number of seconds from {low} to {high}")
        return value

    return parse


def parse_fraction(raw: str) -> float:
    """A number from 0 to 1 (a confidence)."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError("expected a number from 0 to 1")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: where it comes from, what it means, how it is parsed."""

    name: str
    help: str
    parse: Callable[[str], Any]
    default: Callable[[], Any] | None
    secret: bool = False

    @property
    def env(self) -> str:
        return f"CALLVAULT_{self.name.upper()}"
