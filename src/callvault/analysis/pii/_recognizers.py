"""callvault's own recognizers for the spoken forms ASR writes: digit runs read as card
numbers, security codes, expiry dates, PINs, SSNs and phone numbers; spelled IBANs;
spoken e-mail addresses; dates; street addresses; German names. presidio lives in
`_presidio`, the context words and `Hit` in `_context`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from callvault.analysis._data import read_words
from callvault.analysis.pii._context import Context, Hit, nearest
from callvault.analysis.pii._presidio import (
    SPACY_MODEL,
    known_tlds,
    load_presidio,
    offline_tld_extractor,
    presidio_hits,
)
from callvault.analysis.pii._records import (
    ADDRESS,
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    IBAN,
    PERSON,
    PHONE,
    PIN,
    US_SSN,
)
from callvault.analysis.pii._spoken import (
    MONTHS,
    DigitRun,
    Token,
    alnum_runs,
    date_spans,
    digit_runs,
    misheard_digit,
    numeric_weight,
)

# Word lists of the recognizers below (data/recognizers.toml).
_WORDS = read_words("callvault.analysis.pii", "recognizers.toml")

__all__ = [
    "SPACY_MODEL",
    "Context",
    "Hit",
    "known_tlds",
    "load_presidio",
    "offline_tld_extractor",
    "presidio_hits",
    "spoken_hits",
]

# --- checks -----------------------------------------------------------------------------


def luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN without spaces."""
    if not 15 <= len(text) <= 34 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    rearranged = text[4:] + text[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _expiry_valid(digits: str) -> bool:
    if len(digits) == 4:
        return 1 <= int(digits[:2]) <= 12
    if len(digits) == 3:
        return digits[0] != "0"
    if len(digits) == 6:
        return 1 <= int(digits[:2]) <= 12 and digits[2:4] == "20"
    if len(digits) == 5:
        return digits[0] != "0" and digits[1:3] == "20"
    return False


_SSN_WRITTEN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_PHONE_WRITTEN = re.compile(r"^(\+\d{1,3}[- ]?)?\(?\d{2,4}\)?[- .]\d{3,4}[- .]?\d{0,4}$")

# --- spoken recognizers ---------------------------------------------------------------------

_CARD = "callvault:spoken-card"
_EXPIRY = "callvault:spoken-expiry"
_CVV = "callvault:spoken-cvv"
_PAYMENT_CONTEXT = ("card", "cvv", "expiry")


def spoken_hits(
    window: Sequence[int], tokens: Sequence[Token], ctx: Context, language: str | None
) -> list[Hit]:
    """Findings of callvault's own recognizers in one stretch (global token positions)."""
    local = [tokens[g] for g in window]
    hits: list[Hit] = []
    for run in digit_runs(local, language):
        hits.extend(_digit_hits(run, window, ctx))
    hits.extend(_code_hits(local, window, language))
    hits.extend(_iban_hits(local, window, ctx, language))
    hits.extend(_email_hits(local, window, language))
    hits.extend(_garbled_email_hits(local, window, ctx))
    hits.extend(_date_hits(local, window, ctx, language))
    hits.extend(_address_hits(local, window, language))
    if language == "de":
        hits.extend(_german_name_hits(local, window))
    return hits


def _positions(run: DigitRun, window: Sequence[int]) -> tuple[int, ...]:
    return tuple(window[p] for p in range(run.first, run.last + 1))


def _luhn_card(run: DigitRun) -> bool:
    digits = run.digits
    if 13 <= len(digits) <= 19 and luhn(digits):
        return True
    return any(13 <= b <= 19 and luhn(digits[:b]) for b in run.boundaries())


def _digit_hits(run: DigitRun, window: Sequence[int], ctx: Context) -> list[Hit]:
    lead = 0
    while lead < len(run.digits) and run.owners[lead] in run.soft:
        lead += 1
    if (
        0 < lead < len(run.digits)
        and not _luhn_card(run)
        and _luhn_card(run.sub(lead, len(run.digits)))
    ):
        run = run.sub(lead, len(run.digits))  # "pay for 4111 ...": "for" was a word after all
    near = ctx.near(window[run.first], window[run.last])
    digits = run.digits
    n = len(digits)
    card: DigitRun | None = None
    confidence = 0.0
    if n >= 13:
        ends = [b for b in run.boundaries() if 13 <= b <= 19]
        valid = [b for b in ends if luhn(digits[:b])]
        leading = nearest(near, ("card", "phone", "iban", "negative", "ssn"))
        if 13 <= n <= 19 and luhn(digits):
            card, confidence = run, 0.95
        elif valid:
            card, confidence = run.sub(0, max(valid)), 0.9
        elif "card" in near and leading == "card":
            # Digits the recogniser got wrong fail Luhn, but they are still a card number;
            # so is a run Whisper garbled into one long token ("8888...8818881").
            end = n if n <= 19 or not ends else (16 if 16 in ends else max(ends))
            card, confidence = run.sub(0, end), 0.6
    if card is None:
        return _short_hits(run, window, near)
    hits = [Hit(CREDIT_CARD, _positions(card, window), confidence, _CARD)]
    if len(card.digits) < n:  # "... 1111 oh five twenty seven one two three"
        rest = run.sub(len(card.digits), n)
        tail = _payment_tail(rest, window, near)
        if not tail and "card" in near and len(rest.digits) >= 2:
            # More digits straight after a card number in card context ("4 -1 -1 ... -1",
            # a number read twice): still payment data, muted with it.
            tail = [Hit(CREDIT_CARD, _positions(rest, window), 0.5, _CARD)]
        hits.extend(tail)
    return hits


def _payment_tail(run: DigitRun, window: Sequence[int], near: dict[str, int]) -> list[Hit]:
    """Expiry and/or security code read straight after a card number."""
    digits = run.digits
    hits = _payment_short(run, window, near, after_card=True)
    if hits:
        return hits
    for cut in run.boundaries():
        head, tail = digits[:cut], digits[cut:]
        if len(head) in (3, 4) and _expiry_valid(head) and len(tail) in (3, 4):
            return [
                Hit(CARD_EXPIRY, _positions(run.sub(0, cut), window), 0.75, _EXPIRY),
                Hit(CVV, _positions(run.sub(cut, len(digits)), window), 0.75, _CVV),
            ]
    return []


def _payment_short(
    run: DigitRun, window: Sequence[int], near: dict[str, int], after_card: bool = False
) -> list[Hit]:
    digits = run.digits
    n = len(digits)
    has_cvv, has_expiry = "cvv" in near, "expiry" in near
    written_expiry = any(re.fullmatch(r"\d{1,2}/\d{2,4}", w) for w in run.written)
    positions = _positions(run, window)
    if has_cvv and has_expiry:
        # Both asked for at once ("expiry and security code?"): a four-digit month-year
        # is the expiry, three digits the code.
        if (n == 4 and _expiry_valid(digits)) or written_expiry:
            return [Hit(CARD_EXPIRY, positions, 0.8, _EXPIRY)]
        if n in (3, 4):
            return [Hit(CVV, positions, 0.8, _CVV)]
        return []
    if has_expiry and (_expiry_valid(digits) or written_expiry):
        return [Hit(CARD_EXPIRY, positions, 0.85, _EXPIRY)]
    if has_cvv and n in (3, 4):
        return [Hit(CVV, positions, 0.85, _CVV)]
    if ("card" in near or after_card) and written_expiry:
        return [Hit(CARD_EXPIRY, positions, 0.7, _EXPIRY)]
    return []


# "code 123": a code of three or four digits said straight after "code" is a security code,
# by whoever says it, unless the word before names another code ("area code 212").
_CODE = _WORDS["code"]
_CODE_WORDS = frozenset(_CODE["words"])
_MISHEARD_CODE = frozenset(_CODE["misheard"])  # after "security"/"secure"
_NOT_CARD_CODES = frozenset(_CODE["not_card"])
_CODE_GLUE = frozenset(_CODE["glue"])
_CODE_GLUE_WORDS = 2


def _code_hits(local: Sequence[Token], window: Sequence[int], language: str | None) -> list[Hit]:
    """Three or four digits straight after "code" ("code 123", "the code is one two
    three", "security cold won to three"), misheard digit words included as long as one
    digit was heard as one: a security code, muted wherever it is said."""
    hits: list[Hit] = []
    norms = [t.norm for t in local]
    for i, norm in enumerate(norms):
        before = norms[i - 1] if i else ""
        if norm in _CODE_WORDS:
            if norm.startswith("code") and before in _NOT_CARD_CODES:
                continue
        elif not (norm in _MISHEARD_CODE and before in ("security", "secure")):
            continue
        j = i + 1
        while j < len(local) and j - i <= _CODE_GLUE_WORDS and norms[j] in _CODE_GLUE:
            j += 1
        digits = 0
        heard = False
        k = j
        while k < len(local) and digits <= 4:
            weight = numeric_weight(norms[k], language)
            if not weight:
                break
            digits += weight
            heard = heard or not misheard_digit(norms[k], language)
            k += 1
        if k > j and 3 <= digits <= 4 and heard:
            positions = tuple(window[p] for p in range(j, k))
            hits.append(Hit(CVV, positions, 0.8, _CVV))
    return hits


_PHONE_CLOSE = 4  # words between "phone number" and a short run that is part of it


def _short_hits(run: DigitRun, window: Sequence[int], near: dict[str, int]) -> list[Hit]:
    digits = run.digits
    n = len(digits)
    positions = _positions(run, window)
    leading = nearest(
        near,
        ("card", "cvv", "expiry", "pin", "ssn", "phone", "dob", "iban", "negative", "address"),
    )
    if leading == "negative":  # "order 12345", "reference number ..."
        return []
    if leading == "pin" and 4 <= n <= 8:  # "my PIN is 1234", "die Geheimzahl ist ..."
        return [Hit(PIN, positions, 0.8, "callvault:spoken-pin")]
    if leading in _PAYMENT_CONTEXT or (
        leading is not None and any(c in near for c in ("cvv", "expiry")) and n <= 6
    ):
        hits = _payment_short(run, window, near)
        if hits:
            return hits
    if leading == "card" and n >= 4:
        # Part of a card number (the rest said after a long pause, or misheard): still
        # payment data that must be muted.
        return [Hit(CREDIT_CARD, positions, 0.5, _CARD)]
    if n == 9 and "ssn" in near and leading != "phone":  # an SSN asked for before the phone
        return [Hit(US_SSN, positions, 0.85, "callvault:spoken-ssn")]
    if 8 <= n <= 10 and leading == "ssn":
        # A digit heard twice or lost ("zero five" -> "005"): still the number asked for.
        return [Hit(US_SSN, positions, 0.7, "callvault:spoken-ssn")]
    if any(_SSN_WRITTEN.match(w) for w in run.written) and n == 9:
        return [Hit(US_SSN, positions, 0.65, "callvault:spoken-ssn")]
    if leading == "dob" and n in (6, 8):
        return [Hit(DATE_OF_BIRTH, positions, 0.75, "callvault:spoken-date")]
    if 5 <= n <= 6 and leading == "phone" and near["phone"] <= _PHONE_CLOSE:
        # Part of a phone number read straight after "phone number" (the rest misheard:
        # "five five five, zero one four two" -> "fine, fine, fine, 014").
        return [Hit(PHONE, positions, 0.6, "callvault:spoken-phone")]
    if 7 <= n <= 15:
        if leading == "phone":
            return [Hit(PHONE, positions, 0.75, "callvault:spoken-phone")]
        if leading is None and any(_PHONE_WRITTEN.match(w) for w in run.written):
            return [Hit(PHONE, positions, 0.6, "callvault:spoken-phone")]
        if leading in _READ_OUT_CONTEXTS and (_read_out(run) or _read_out_after_soft_start(run)):
            # Seven or more digits read out one by one or in small groups, with nothing
            # said about what they are ("Mein Name ist null drei null 555 ..." when the
            # recogniser lost "Nummer"), or after words about something else that no
            # rule above took them for ("area code" heard as "every code", a CVV word):
            # most likely a phone number, and personal either way. Cut, at a low
            # confidence, rather than left in the audio.
            return [Hit(PHONE, positions, 0.5, "callvault:read-out-number")]
    return []


_READ_OUT_GROUP = 4  # digits one token may say in a read-out number ("555", "0123")
# What may be said before a read-out number for it to be cut as one: nothing, or words
# about something that is never seven digits or more (an SSN or a date of birth with
# the wrong number of digits is left to the answer to the request for it).
_READ_OUT_CONTEXTS = frozenset({None, "cvv", "expiry", "pin", "address"})
_READ_OUT_TOKENS = 4


def _read_out(run: DigitRun) -> bool:
    """Whether the digits of `run` were read out: at least `_READ_OUT_TOKENS` tokens, none
    saying more than `_READ_OUT_GROUP` digits (a written "120000" is an amount), and no
    misheard digit word among them: without context, "in 2024 for 3 4 5 seats" says
    "for", not "four"."""
    return (
        len(run.groups) >= _READ_OUT_TOKENS and max(run.groups) <= _READ_OUT_GROUP and not run.soft
    )


def _read_out_after_soft_start(run: DigitRun) -> bool:
    """Digits read out (`_read_out`) after misheard digit words at the start of the run
    only: "to one seven, five, five, five, zero, one eight eight" (the "two" of 217 heard
    as "to") is a number read out; "in 2024 for 3 4 5 seats", with "for" in the middle,
    is not."""
    tokens = sorted(set(run.owners))
    lead = 0
    while lead < len(tokens) and tokens[lead] in run.soft:
        lead += 1
    rest = run.groups[lead:]
    return (
        0 < lead < len(tokens)
        and not any(t in run.soft for t in tokens[lead:])
        and len(rest) >= _READ_OUT_TOKENS
        and max(rest) <= _READ_OUT_GROUP
        and sum(rest) >= 7
    )


def _iban_hits(
    local: Sequence[Token], window: Sequence[int], ctx: Context, language: str | None
) -> list[Hit]:
    hits: list[Hit] = []
    for run in alnum_runs(local, language):
        text = run.text
        ends = run.boundaries()
        i = 0
        while i + 4 <= len(text):
            starts_token = i == 0 or run.owners[i - 1] != run.owners[i]
            if not (starts_token and text[i : i + 2].isalpha() and text[i + 2 : i + 4].isdigit()):
                i += 1
                continue
            found = next((b for b in reversed(ends) if b - i >= 15 and iban_valid(text[i:b])), None)
            confidence = 0.97
            if found is None:
                near = ctx.near(window[run.owners[i]], window[run.owners[-1]])
                longest = [b for b in ends if 15 <= b - i <= 34]
                if "iban" in near and longest:
                    found, confidence = longest[-1], 0.6
            if found is None:
                i += 1
                continue
            owners = run.owners[i:found]
            positions = tuple(window[p] for p in range(owners[0], owners[-1] + 1))
            hits.append(Hit(IBAN, positions, confidence, "callvault:spoken-iban"))
            i = found
    return hits


_EMAIL_WRITTEN = re.compile(r"^[\w.+%-]+@([\w-]+(?:\.[\w-]+)+)$")
_EMAIL = _WORDS["email"]
_AT = set(_EMAIL["at"])
_DOT = set(_EMAIL["dot"])
_JOIN: dict[str, str] = dict(_EMAIL["join"])
_NOT_NAMES = set(_EMAIL["not_names"])
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _email_hits(local: Sequence[Token], window: Sequence[int], language: str | None) -> list[Hit]:
    hits: list[Hit] = []
    tlds = known_tlds()
    for i, token in enumerate(local):
        written = _EMAIL_WRITTEN.match(token.norm)
        if written and written[1].rsplit(".", 1)[-1] in tlds:
            hits.append(Hit(EMAIL, (window[i],), 0.95, "callvault:email"))
            continue
        if token.norm not in _AT or i == 0:
            continue
        last = _domain_end(local, i + 1, tlds)
        first = _local_start(local, i - 1)
        if last is None or first is None:
            continue
        hits.append(
            Hit(
                EMAIL,
                tuple(window[p] for p in range(first, last + 1)),
                0.9,
                "callvault:spoken-email",
            )
        )
    return hits


_LEAD_IN = set(_EMAIL["lead_in"])
_SENTENCE_END = (".", "?", "!")
_GARBLED_LOCAL = 6  # words of a local part at most


def _written_domain(token: Token, tlds: frozenset[str]) -> bool:
    """A token written as a domain ("example.org") or its tail (".org", ".co.uk")."""
    text = token.raw.lower().rstrip(",;:!?").removesuffix(".")
    labels = text.removeprefix(".").split(".")
    if len(labels) < 2 and not text.startswith("."):
        return False
    return all(_LABEL.match(label) for label in labels) and labels[-1] in tlds


def _garbled_email_hits(local: Sequence[Token], window: Sequence[int], ctx: Context) -> list[Hit]:
    """An address asked for whose "at" Whisper lost ("emily not to stone again, mimple
    .org"): the written domain and the words before it in its sentence, back to a lead-in
    ("please use", "it is"), when an e-mail was just asked for."""
    hits: list[Hit] = []
    tlds = known_tlds()
    for i, token in enumerate(local):
        if "@" in token.raw or not _written_domain(token, tlds):
            continue
        start = i
        if token.raw.startswith(".") and i > 0 and _LABEL.match(local[i - 1].norm):
            start = i - 1
        first = start
        while (
            first - 1 >= 0
            and start - (first - 1) <= _GARBLED_LOCAL
            and local[first - 1].utt == token.utt
            and local[first - 1].norm not in _LEAD_IN
            and not local[first - 1].raw.endswith(_SENTENCE_END)
            and local[first - 1].norm not in _AT
        ):
            first -= 1
        if first == start or "email" not in ctx.near(window[first], window[i]):
            continue
        positions = tuple(window[p] for p in range(first, i + 1))
        hits.append(Hit(EMAIL, positions, 0.6, "callvault:spoken-email"))
    return hits


def _domain_end(local: Sequence[Token], j: int, tlds: frozenset[str]) -> int | None:
    """Last token of a spoken domain starting at `j` ("example dot co dot uk")."""
    labels: list[str] = []
    last: int | None = None
    expect_label = True
    while j < len(local):
        norm = local[j].norm
        if expect_label:
            parts = norm.split(".")
            if not all(_LABEL.match(p) for p in parts) or norm in _DOT:
                break
            labels.extend(parts)
            expect_label = False
            if len(labels) >= 2 and labels[-1] in tlds:
                last = j
        elif norm in _DOT:
            expect_label = True
        else:
            break
        j += 1
    return last


def _local_start(local: Sequence[Token], j: int) -> int | None:
    """First token of a spoken local part ending at `j` ("jane dot doe", "j a n e")."""
    if j < 0:
        return None
    if len(local[j].norm) == 1 and local[j].norm.isalnum():  # spelled: "j a n e"
        k = j
        while k - 1 >= 0 and len(local[k - 1].norm) == 1 and local[k - 1].norm.isalnum():
            k -= 1
        return k if j - k >= 1 else None
    if not _LABEL.match(local[j].norm) or local[j].norm in _JOIN:
        return None
    k = j
    while k - 2 >= 0 and local[k - 1].norm in _JOIN and _LABEL.match(local[k - 2].norm):
        k -= 2
    if k == j and local[j].norm in _NOT_NAMES:
        return None
    return k


_ORDINAL_ENDS = ("st", "nd", "rd", "th")


def _date_hits(
    local: Sequence[Token], window: Sequence[int], ctx: Context, language: str | None
) -> list[Hit]:
    hits: list[Hit] = []
    for first, last, has_month in date_spans(local, language):
        near = ctx.near(window[first], window[last])
        leading = nearest(near, ("dob", "expiry", "card", "cvv", "phone", "negative"))
        positions = tuple(window[p] for p in range(first, last + 1))
        # "the third and the fourth of November" after card talk is a day, not an expiry
        # (month and year): a day said with an ordinal needs an expiry keyword.
        day = any(
            local[k].norm.endswith(_ORDINAL_ENDS) and local[k].norm not in MONTHS
            for k in range(first, last + 1)
        )
        if leading == "dob":
            hits.append(Hit(DATE_OF_BIRTH, positions, 0.85, "callvault:spoken-date"))
        elif (leading == "expiry" or (leading == "card" and not day)) and has_month:
            hits.append(Hit(CARD_EXPIRY, positions, 0.8, _EXPIRY))
    return hits


_SUFFIXES = set(_WORDS["address"]["street_suffixes"])
_DE_STREET = re.compile(r"^\w+(straße|strasse|str|weg|allee|platz|gasse|ring|damm|ufer)$")
_HOUSE = re.compile(r"^\d{1,5}[a-z]?$")


def _address_hits(local: Sequence[Token], window: Sequence[int], language: str | None) -> list[Hit]:
    hits: list[Hit] = []
    numbers = {p for run in digit_runs(local, language) for p in range(run.first, run.last + 1)}
    numbers |= {i for i, token in enumerate(local) if _HOUSE.match(token.norm)}  # "221b"
    for i, token in enumerate(local):
        if token.norm in _SUFFIXES and i >= 2:
            # house number, one to four name words, suffix: "12 Baker Street"
            for k in range(i - 1, max(i - 6, -1), -1):
                if k in numbers and k < i - 1:
                    start = k
                    while start - 1 in numbers:
                        start -= 1
                    positions = tuple(window[p] for p in range(start, i + 1))
                    hits.append(Hit(ADDRESS, positions, 0.7, "callvault:street-address"))
                    break
                if k in numbers or not local[k].norm.replace("'", "").isalpha():
                    break
        elif _DE_STREET.match(token.norm) and i + 1 < len(local):
            if _HOUSE.match(local[i + 1].norm) or i + 1 in numbers:
                end = i + 1
                while end + 1 in numbers:
                    end += 1
                positions = tuple(window[p] for p in range(i, end + 1))
                hits.append(Hit(ADDRESS, positions, 0.7, "callvault:street-address"))
    return hits


# --- German names -----------------------------------------------------------------------------

# How a German speaker says who they are or whom they address; the name follows.
_DE_INTROS: tuple[tuple[str, ...], ...] = tuple(
    tuple(intro) for intro in _WORDS["de_names"]["intros"]
)
_DE_TITLES = frozenset(_WORDS["de_names"]["titles"])
# Capitalised words after an introduction that are not names.
_DE_NOT_NAMES = frozenset(_WORDS["de_names"]["not_names"])
_DE_NAME_WORDS = 3
_NAME_END = (".", ",", "!", "?", ";", ":")


def _german_name_hits(local: Sequence[Token], window: Sequence[int]) -> list[Hit]:
    """Names in German speech, which spaCy's English model cannot tag: up to three
    capitalised words after an introduction ("mein Name ist Jonas Weber", "hier ist ...",
    "ich heiße ...") or after a title ("Frau Schmidt", "Herr Dr. Wagner"). The recogniser
    capitalises names; German capitalises nouns too, so a company or a misheard noun after
    "hier ist" is cut as well (the cheaper mistake)."""
    norms = [t.norm for t in local]
    hits: list[Hit] = []
    taken: set[int] = set()
    for i in range(len(local)):
        start: int | None = None
        for intro in _DE_INTROS:
            if tuple(norms[i : i + len(intro)]) == intro:
                start = i + len(intro)
                break
        if start is None and norms[i] in _DE_TITLES:
            start = i + 1
        if start is None:
            continue
        while start < len(local) and norms[start] in _DE_TITLES:
            start += 1  # "Frau Dr. Wagner": the name is after the titles
        end = start
        while (
            end < len(local)
            and end - start < _DE_NAME_WORDS
            and local[end].raw[:1].isupper()
            and norms[end] not in _DE_NOT_NAMES
            and norms[end] not in _DE_TITLES
            and not numeric_weight(norms[end], "de")  # "Mein Name ist Null 3 ..."
            and end not in taken
        ):
            end += 1
            if local[end - 1].raw.endswith(_NAME_END):
                break
        if end > start:
            taken.update(range(start, end))
            positions = tuple(window[p] for p in range(start, end))
            hits.append(Hit(PERSON, positions, 0.6, "callvault:de-name"))
    return hits
