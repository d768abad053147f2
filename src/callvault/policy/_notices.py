"""Recording notices: what a recorded party hears and reads, in their language.

Each language has a short spoken announcement and a longer written notice
(`data/notices/<language>.toml`), both filled in with the organisation, how to refuse and
how to reach the data controller. The language is the one asked for (BCP 47), else the
one of the first participant whose country is known, else English.

Serbian is written in both scripts. Latin is the default for Serbian numbers because it
is what business correspondence and telephony in Serbia mostly use; ask for "sr-Cyrl" to
get Cyrillic. The Cyrillic file is the exact transliteration of the Latin one (a test
keeps the two in step).

`speak_notice` is the one place in `callvault.policy` that writes a file: it runs
espeak-ng, when installed, to turn a notice into a WAV announcement.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from callvault.errors import CallvaultError, InputError
from callvault.policy._files import read_data
from callvault.policy._jurisdiction import UNKNOWN, Jurisdiction

__all__ = [
    "NOTICE_LANGUAGES",
    "Notice",
    "NoticeOptions",
    "choose_language",
    "render_notice",
    "speak_notice",
    "transliterate_serbian",
]

NOTICE_LANGUAGES = ("en", "de", "sr-Latn", "sr-Cyrl", "hr", "fr", "es")
DEFAULT_LANGUAGE = "en"
NOTICE_FIELDS = ("spoken", "written", "refusal_continue", "refusal_end", "reach", "reach_in_call")

# espeak-ng voice per notice language; its Serbian voice reads both scripts.
_VOICES = {
    "en": "en",
    "de": "de",
    "sr-Latn": "sr",
    "sr-Cyrl": "sr",
    "hr": "hr",
    "fr": "fr",
    "es": "es",
}
_SPANISH = "ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY PR GQ"
_COUNTRY_LANGUAGE = {
    **dict.fromkeys(("DE", "AT", "CH", "LI"), "de"),
    **dict.fromkeys(("RS", "ME"), "sr-Latn"),
    "HR": "hr",
    **dict.fromkeys(("FR", "BE", "LU", "MC", "CA-QC"), "fr"),
    **dict.fromkeys(_SPANISH.split(), "es"),
}
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*")
_PLACEHOLDER = re.compile(r"(\{[a-z_]+\})")
_SPEAK_TIMEOUT_S = 120

_LATIN_TO_CYRILLIC = {
    **dict(zip("abcčćdđefghijklmnoprsštuvzž", "абцчћдђефгхијклмнопрсштувзж", strict=True)),
    **dict(zip("ABCČĆDĐEFGHIJKLMNOPRSŠTUVZŽ", "АБЦЧЋДЂЕФГХИЈКЛМНОПРСШТУВЗЖ", strict=True)),
    **{"dž": "џ", "Dž": "Џ", "DŽ": "Џ", "lj": "љ", "Lj": "Љ", "LJ": "Љ"},
    **{"nj": "њ", "Nj": "Њ", "NJ": "Њ"},
}
_SERBIAN_LETTER = re.compile("dž|lj|nj|[A-Za-zČĆĐŠŽčćđšž]", flags=re.IGNORECASE)


def transliterate_serbian(latin: str) -> str:
    """Serbian Latin text in Cyrillic, letter by letter; `{placeholders}` are kept.

    Digraphs (dž, lj, nj) become one letter each. Words where the pair is two sounds
    ("konjunkcija") would need a dictionary; callvault's texts avoid them.
    """
    parts = _PLACEHOLDER.split(latin)
    return "".join(
        part
        if _PLACEHOLDER.fullmatch(part)
        else _SERBIAN_LETTER.sub(lambda m: _LATIN_TO_CYRILLIC.get(m.group(), m.group()), part)
        for part in parts
    )


@dataclass(frozen=True)
class NoticeOptions:
    """How the notice is filled in: who to contact, which key refuses, what refusing does."""

    contact: str | None = None
    opt_out_key: str = "9"
    on_refusal: Literal["continue", "end"] = "continue"


@dataclass(frozen=True)
class Notice:
    """One language's notice, filled in."""

    language: str
    spoken: str
    written: str


@cache
def _texts(language: str) -> dict[str, str]:
    data = read_data("notices", f"{language}.toml")
    return {name: str(data[name]) for name in NOTICE_FIELDS}


def _supported(tag: str) -> str | None:
    """The notice language for a BCP 47 tag, or None when there is none for it."""
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise InputError(
            f"language {tag!r} is not a BCP 47 language tag; use one such as en, de-AT, "
            "sr-Latn or sr-Cyrl"
        )
    primary, *subtags = tag.replace("_", "-").lower().split("-")
    if primary == "sr":
        return "sr-Cyrl" if "cyrl" in subtags else "sr-Latn"
    return primary if primary in NOTICE_LANGUAGES else None


def choose_language(
    requested: str | None, jurisdictions: Sequence[Jurisdiction]
) -> tuple[str, str]:
    """The notice language and why: the requested one, else by country, else English."""
    if requested is not None:
        language = _supported(requested)
        if language is not None:
            return language, f"{language}: requested ({requested})"
    unsupported = f"{requested} has no notice; " if requested is not None else ""
    for jurisdiction in jurisdictions:
        if jurisdiction.country == UNKNOWN:
            continue
        for key in (jurisdiction.key, jurisdiction.country):
            if key in _COUNTRY_LANGUAGE:
                language = _COUNTRY_LANGUAGE[key]
                return language, f"{language}: {unsupported}language of {key}"
        place = jurisdiction.country if jurisdiction.key == UNKNOWN else jurisdiction.key
        return DEFAULT_LANGUAGE, f"{DEFAULT_LANGUAGE}: {unsupported}default for {place}"
    return DEFAULT_LANGUAGE, f"{DEFAULT_LANGUAGE}: {unsupported}no participant's country known"


def render_notice(
    language: str, *, organisation: str, options: NoticeOptions | None = None
) -> Notice:
    """The spoken and written notice in `language` (one of `NOTICE_LANGUAGES`), filled in."""
    if language not in NOTICE_LANGUAGES:
        raise InputError(f"no notice in {language!r}; available: {', '.join(NOTICE_LANGUAGES)}")
    if not organisation.strip():
        raise InputError("organisation is empty; name the organisation that records the call")
    opts = options or NoticeOptions()
    texts = _texts(language)
    # Values are inserted with str.replace, not str.format, so braces in an organisation's
    # name or contact cannot be read as placeholders.
    refusal = texts[f"refusal_{opts.on_refusal}"].replace("{key}", opts.opt_out_key)
    reach = (
        texts["reach"].replace("{contact}", opts.contact)
        if opts.contact
        else texts["reach_in_call"]
    )

    def fill(template: str) -> str:
        filled = template.replace("{refusal}", refusal).replace("{reach}", reach)
        return filled.replace("{organisation}", organisation)

    return Notice(language, fill(texts["spoken"]), fill(texts["written"]))


def speak_notice(text: str, language: str, out_path: Path) -> Path | None:
    """Write `text` spoken in `language` to the WAV file `out_path` with espeak-ng.

    Returns None, writing nothing, when espeak-ng is not installed.
    """
    if language not in _VOICES:
        raise InputError(f"no voice for {language!r}; available: {', '.join(_VOICES)}")
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    try:
        result = subprocess.run(
            [espeak, "-v", _VOICES[language], "-w", str(out_path), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=_SPEAK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CallvaultError(
            f"espeak-ng did not finish within {_SPEAK_TIMEOUT_S} s; check the installation"
        ) from None
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip()[:200]
        raise CallvaultError(
            f"espeak-ng failed with exit status {result.returncode} ({detail}); check "
            "that its voice data is installed"
        )
    return out_path
