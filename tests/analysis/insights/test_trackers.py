from __future__ import annotations

from types import MappingProxyType

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._records import CallFacts
from callvault.analysis.insights._trackers import (
    BUILTIN_TRACKERS,
    ComplianceParams,
    TrackerParams,
    TrackerSpec,
    check_compliance,
    run,
    tracker_from_config,
)
from callvault.errors import ConfigError

ROLES = {"A": "agent", "B": "customer"}


def utt(speaker: str, start: float, text: str, step: float = 0.5) -> Utterance:
    """An utterance whose words start every `step` seconds from `start`."""
    words = tuple(
        Word(start + i * step, start + i * step + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + step * len(words), text, 0.9, words)


def call(*utterances: Utterance, language: str | None = "en") -> Transcript:
    return Transcript("done", language, "test", "1", utterances, True)


def facts(roles: dict[str, str] | None = None, language: str | None = None) -> CallFacts:
    return CallFacts(duration=60.0, language=language, roles=ROLES if roles is None else roles)


NO_COMPLIANCE = TrackerParams(compliance=None)


def test_builtin_hits_with_time_speaker_and_confidence() -> None:
    transcript = call(
        utt("A", 0.0, "Thanks for taking the time today."),
        utt("B", 6.0, "Honestly it's too expensive, and my boss decides."),
        utt("B", 14.0, "How soon can we start? Send me the contracts."),
    )
    result = run(transcript, facts(), NO_COMPLIANCE)
    got = [(h.tracker, h.phrase, h.time, h.speaker, h.role, h.confidence) for h in result.hits]
    assert got == [
        ("objection.price", "too expensive", 7.0, "B", "customer", 1.0),
        ("objection.authority", "my boss", 8.5, "B", "customer", 1.0),
        ("buying-signal", "how soon can", 14.0, "B", "customer", 1.0),
        # "contracts" is the plural of "contract": a variant
        ("buying-signal", "send me the contract", 16.5, "B", "customer", 0.8),
    ]
    assert [h.utterances for h in result.hits] == [(1,), (1,), (2,), (2,)]
    assert result.counts() == {"objection.price": 1, "objection.authority": 1, "buying-signal": 2}
    assert result.compliance is None


def test_objections_only_count_for_the_customer() -> None:
    transcript = call(utt("A", 0.0, "I know it may look too expensive at first"))
    assert run(transcript, facts(), NO_COMPLIANCE).hits == ()


def test_objections_without_roles_count_anyone_at_lower_confidence() -> None:
    transcript = call(utt("S1", 0.0, "That is too expensive for us"))
    result = run(transcript, facts(roles={}), NO_COMPLIANCE)
    assert [(h.tracker, h.role, h.confidence) for h in result.hits] == [
        ("objection.price", "speaker", 0.7)
    ]


def test_overlapping_phrases_count_once() -> None:
    transcript = call(utt("B", 0.0, "So what are the next steps?"))
    hits = run(transcript, facts(), NO_COMPLIANCE).hits
    assert [(h.phrase, h.time) for h in hits] == [("what are the next steps", 0.5)]


def test_whole_words_only() -> None:
    # "design" contains "sign", "signature" starts with it: neither is the word "sign"
    transcript = call(utt("B", 0.0, "We like the design and the signature block"))
    assert run(transcript, facts(), NO_COMPLIANCE).hits == ()


def test_german_is_umlaut_insensitive_and_uses_the_call_language() -> None:
    transcript = call(
        utt("B", 0.0, "Das ist uns zu teuer, das muss die Geschaeftsfuehrung entscheiden."),
        utt("B", 8.0, "Wann können wir starten?"),
        language="de",
    )
    hits = run(transcript, facts(), NO_COMPLIANCE).hits
    assert [(h.tracker, h.phrase, h.time) for h in hits] == [
        ("objection.price", "zu teuer", 1.5),
        ("objection.authority", "Geschäftsführung", 4.0),
        ("buying-signal", "wann können wir starten", 8.0),
    ]


def test_competitors_are_whole_words_case_insensitive() -> None:
    transcript = call(
        utt("B", 0.0, "We compared you with ACME and Globex Corp."),
        utt("B", 5.0, "Acmes pricing and acmeville are something else."),
    )
    params = TrackerParams(competitors=("Acme", "Globex Corp"), builtin=False, compliance=None)
    hits = run(transcript, facts(), params).hits
    assert [(h.tracker, h.kind, h.phrase, h.time) for h in hits] == [
        ("competitor", "competitor", "Acme", 2.0),
        ("competitor", "competitor", "Globex Corp", 3.0),
    ]


def test_custom_tracker_with_wildcard_and_inflection() -> None:
    spec = tracker_from_config(
        "security",
        {"kind": "custom", "phrases": {"en": ["data * policy", "encrypted"]}},
    )
    transcript = call(
        utt("A", 0.0, "Our data retention policy is strict"),
        utt("B", 4.0, "Is everything encrypting at rest?"),
    )
    params = TrackerParams(trackers=(spec,), builtin=False, compliance=None)
    hits = run(transcript, facts(), params).hits
    assert [(h.phrase, h.time, h.confidence) for h in hits] == [
        ("data * policy", 0.5, 1.0),
        ("encrypted", 5.0, 0.8),
    ]


def test_tracker_from_config_fails_closed() -> None:
    with pytest.raises(ConfigError, match="tracker 'x': unknown key 'phrase'; allowed keys"):
        tracker_from_config("x", {"kind": "custom", "phrase": {"en": ["a b"]}})
    with pytest.raises(ConfigError, match="kind 'objections' is unknown"):
        tracker_from_config("x", {"kind": "objections", "phrases": {"en": ["price"]}})
    with pytest.raises(ConfigError, match="tracker 'x' has no phrases"):
        tracker_from_config("x", {"phrases": {"en": []}})
    with pytest.raises(ConfigError, match="phrase 'to the' \\(en\\) has only stopwords"):
        tracker_from_config("x", {"phrases": {"en": ["to the"]}})
    with pytest.raises(ConfigError, match="phrases.en must be a list of strings"):
        tracker_from_config("x", {"phrases": {"en": "price"}})
    with pytest.raises(ConfigError, match="tracker name is empty"):
        TrackerSpec(" ", "custom", MappingProxyType({"en": ("price",)})).validate()


def test_tracker_from_config_reads_a_table() -> None:
    spec = tracker_from_config(
        "price", {"kind": "objection", "phrases": {"en": ["pricey"]}, "speaker": "customer"}
    )
    assert spec.to_json() == {
        "name": "price",
        "kind": "objection",
        "phrases": {"en": ["pricey"]},
        "speaker_role": "customer",
    }


def test_builtin_trackers_are_valid() -> None:
    for spec in BUILTIN_TRACKERS:
        spec.validate()
    assert {s.name for s in BUILTIN_TRACKERS} >= {
        "objection.price",
        "objection.timing",
        "objection.authority",
        "objection.need",
        "objection.competitor",
        "buying-signal",
    }


def test_duplicate_tracker_name_is_refused() -> None:
    spec = TrackerSpec("buying-signal", "custom", MappingProxyType({"en": ("price",)}))
    with pytest.raises(ConfigError, match="'buying-signal' is defined twice"):
        run(call(), facts(), TrackerParams(trackers=(spec,)))


# --- compliance --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tracker", "confidence"),
    [
        ("we just don't need call recording anymore", "objection.need", 0.7),
        ("we don't need call recording anymore", "objection.need", 1.0),
        ("the price is way above what we budgeted", "objection.price", 1.0),
        ("how long does the rollout usually take", "buying-signal", 1.0),
    ],
)
def test_a_phrase_said_with_a_word_between_is_a_looser_hit(
    text: str, tracker: str, confidence: float
) -> None:
    transcript = call(utt("A", 0.0, "Hello there."), utt("B", 3.0, text))
    hits = [h for h in run(transcript, facts(), NO_COMPLIANCE).hits if h.tracker == tracker]
    assert [h.confidence for h in hits] == [confidence]


def test_one_content_word_never_matches_loosely() -> None:
    # "no need" has one content word: "we need nothing" is not an objection.
    transcript = call(utt("B", 3.0, "the weather is nice and we need nothing more"))
    assert run(transcript, facts(), NO_COMPLIANCE).hits == ()


def test_disclosure_by_the_agent_in_time() -> None:
    transcript = call(
        utt("B", 0.0, "Hi there"),
        utt("A", 2.0, "Hello, this call is being recorded for training."),
    )
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert (check.passed, check.time, check.utterances, check.reason, check.confidence) == (
        True,
        2.5,
        (1,),
        None,
        1.0,
    )


@pytest.mark.parametrize(
    "text",
    [
        "Just so you know this call will be recorded.",
        "We are recording this call, okay?",
        "Please note the call is being recorded",
        "This call... may be recorded for quality and training",
        "I need to let you know this conversation is being recorded.",
        "Calls to this line are recorded and may be monitored.",
        "Our calls are always recorded.",
    ],
)
def test_disclosure_survives_asr_variation(text: str) -> None:
    transcript = call(utt("A", 1.0, text))
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert check.passed
    assert check.utterances == (0,)


@pytest.mark.parametrize(
    "text",
    [
        "Dieses Gespräch wird zu Qualitäts- und Schulungszwecken aufgezeichnet.",
        # tiny ASR of espeak-ng saying "... wird zu Schulungszwecken aufgezeichnet"
        "Dieses Gespräch mit Social - und Zwecken aufgezeichnet.",
        "Bevor wir anfangen: Unsere Telefonate werden aufgezeichnet.",
        "Ihr Anruf wird zur Qualitätssicherung aufgezeichnet.",
    ],
)
def test_german_disclosure_with_words_between(text: str) -> None:
    transcript = call(utt("A", 1.0, text), language="de")
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert check.passed
    said = "Das Gespräch von gestern mit Herrn Meier haben wir leider nicht"
    late = call(utt("A", 1.0, said), language="de")
    assert not check_compliance(late, facts(), ComplianceParams()).check("disclosure").passed


@pytest.mark.parametrize(
    "text",
    [
        "I will call you later, the meeting was recorded yesterday",
        "The conversion rate we recorded last year was fine",
        "Your payment is recorded on the account",
    ],
)
def test_disclosure_does_not_match_scattered_words(text: str) -> None:
    transcript = call(utt("A", 1.0, text))
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert (check.passed, check.reason) == (False, "not said")


def test_disclosure_too_late() -> None:
    transcript = call(utt("A", 44.7, "By the way this call is being recorded"))
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert (check.passed, check.time, check.reason) == (False, 46.2, "said at 46.2 s, after 30 s")
    assert check.utterances == (0,)


def test_disclosure_by_the_customer_does_not_count() -> None:
    transcript = call(utt("B", 1.0, "Is this call being recorded?"))
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert (check.passed, check.reason, check.utterances) == (False, "not said", ())


def test_disclosure_without_roles_counts_anyone_and_says_so() -> None:
    transcript = call(utt("S1", 3.0, "This call is being recorded"))
    check = check_compliance(transcript, facts(roles={}), ComplianceParams()).check("disclosure")
    assert (check.passed, check.confidence) == (True, 0.5)
    assert check.reason == "no agent known: any speaker counted"


def test_disclosure_in_german() -> None:
    transcript = call(
        utt("A", 0.0, "Guten Tag, dieses Gespräch wird aufgezeichnet."), language="de"
    )
    check = check_compliance(transcript, facts(), ComplianceParams()).check("disclosure")
    assert (check.passed, check.time) == (True, 1.0)


def test_prohibited_phrases_by_the_agent() -> None:
    transcript = call(
        utt("A", 0.0, "It is risk-free and we offer guaranteed returns."),
        utt("B", 10.0, "Can you guarantee that?"),
    )
    result = check_compliance(transcript, facts(), ComplianceParams())
    check = result.check("prohibited")
    assert not check.passed and not result.passed
    assert [(h.phrase, h.time, h.speaker, h.utterances) for h in check.hits] == [
        ("risk-free", 1.0, "A", (0,)),
        ("guaranteed returns", 3.0, "A", (0,)),
    ]
    assert check.reason == "2 prohibited phrase(s) said"


def test_prohibited_passes_when_none() -> None:
    transcript = call(utt("A", 0.0, "Our prices are listed on the website."))
    check = check_compliance(transcript, facts(), ComplianceParams()).check("prohibited")
    assert (check.passed, check.hits, check.utterances) == (True, (), ())


def test_run_includes_compliance_and_json() -> None:
    transcript = call(utt("A", 0.0, "This call is being recorded. Our offer is risk-free!"))
    data = run(transcript, facts(), TrackerParams()).to_json()
    assert data["compliance"]["passed"] is False
    assert [c["name"] for c in data["compliance"]["checks"]] == ["disclosure", "prohibited"]
    assert data["compliance"]["checks"][1]["hits"] == [
        {
            "phrase": "risk-free",
            "time": 4.0,
            "speaker": "A",
            "role": "agent",
            "confidence": 1.0,
            "utterances": [0],
        }
    ]
    assert data["stamp"]["name"] == "trackers"
    assert data["stamp"]["version"] == "4"
    assert data["compliance"]["stamp"]["version"] == "4"
    assert data["stamp"]["params"]["compliance"]["disclosure_within_s"] == 30.0


def test_compliance_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="disclosure_within_s must be more than 0"):
        check_compliance(call(), facts(), ComplianceParams(disclosure_within_s=0))


def test_an_objection_hides_the_buying_signal_inside_it() -> None:
    transcript = call(utt("B", 0.0, "My boss has to sign off on this."))
    hits = run(transcript, facts(), NO_COMPLIANCE).hits
    assert [(h.tracker, h.phrase) for h in hits] == [
        ("objection.authority", "my boss"),
        ("objection.authority", "sign off"),
    ]


def test_an_empty_transcript() -> None:
    result = run(Transcript("no_speech", None, "test", "1", (), False), facts(), TrackerParams())
    assert result.hits == ()
    assert result.compliance is not None
    assert [(c.name, c.passed) for c in result.compliance.checks] == [
        ("disclosure", False),
        ("prohibited", True),
    ]
