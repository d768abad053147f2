"""Live alert rules and the per-call monitor (issue 20), fed hand-made engine output with
realistic timings, and one real call transcript (Harper Valley Bank)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from callvault.analysis.live import (
    BUILTIN_RULES,
    Alert,
    CallMonitor,
    LiveEvent,
    LiveWord,
    RecorderAction,
    RuleSet,
    SpeechSpan,
    WordsUpdate,
)
from callvault.errors import ConfigError, InputError

AGENT, CUSTOMER = 0, 1
ROLES = {AGENT: "agent", CUSTOMER: "customer"}


def said(text: str, start: float, step: float = 0.35) -> tuple[LiveWord, ...]:
    """The words of `text`, one every `step` seconds from `start` (each 0.3 s long)."""
    return tuple(
        LiveWord(start + i * step, start + i * step + 0.3, word, 0.9)
        for i, word in enumerate(text.split())
    )


def final(channel: int, text: str, start: float, step: float = 0.35) -> WordsUpdate:
    return WordsUpdate(channel, final=said(text, start, step), language="en")


def partial(channel: int, text: str, start: float, step: float = 0.35) -> WordsUpdate:
    return WordsUpdate(channel, partial=said(text, start, step), language="en")


def monitor(rules: RuleSet | None = None, **kwargs: object) -> CallMonitor:
    options: dict[str, object] = {"roles": ROLES, "language": "en"}
    options.update(kwargs)
    return CallMonitor(rules or RuleSet.builtin(), **options)  # type: ignore[arg-type]


def alerts_of(events: Sequence[LiveEvent], rule: str | None = None) -> list[Alert]:
    return [
        e.alert
        for e in events
        if e.event == "alert" and e.alert is not None and (rule is None or e.alert.rule == rule)
    ]


def rules_named(monitor_: CallMonitor, rule: str) -> list[Alert]:
    return [a for a in monitor_.alerts if a.rule == rule]


# --- the rule set -------------------------------------------------------------------------


def test_builtin_rules_are_the_documented_nine() -> None:
    rules = RuleSet.builtin()
    assert tuple(r.name for r in rules.rules) == BUILTIN_RULES
    assert rules.get("disclosure-missing").phrases["en"]  # from the batch compliance check
    assert "guaranteed returns" in rules.get("prohibited-phrase").phrases["en"]
    assert rules.get("competitor").phrases == {}
    named = RuleSet.builtin(competitors=["Acme Dialer"])
    assert named.get("competitor").phrases["*"] == ("Acme Dialer",)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_overrides_disables_and_adds_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[rules.silence]
seconds = 8

[rules.talk-over]
enabled = false

[rules.competitor]
phrases = ["Zentra"]

[rules.cancel-intent]
kind = "phrase"
severity = "critical"
role = "customer"
phrases = { en = ["cancel my account"], de = ["Konto kündigen"] }
""",
    )
    rules = RuleSet.load(path, competitors=["Acme Dialer"])
    assert rules.get("silence").seconds == 8.0
    assert rules.get("silence").severity == "info"  # kept from the built-in rule
    assert not rules.get("talk-over").enabled
    assert rules.get("competitor").phrases["*"] == ("Zentra", "Acme Dialer")
    custom = rules.get("cancel-intent")
    assert (custom.kind, custom.severity, custom.role) == ("phrase", "critical", "customer")
    assert [r.name for r in rules.rules][: len(BUILTIN_RULES)] == list(BUILTIN_RULES)
    assert RuleSet.load(None) == RuleSet.builtin()

    m = monitor(rules)
    m.on_speech(SpeechSpan(AGENT, 0.0, 2.0))
    m.on_speech(SpeechSpan(CUSTOMER, 0.5, 6.0))  # talk-over of 1.5 s, and off anyway
    events = m.on_words(final(CUSTOMER, "I want to cancel my account today", 3.0))
    fired = alerts_of(events, "cancel-intent")
    assert [a.text for a in fired] == ["cancel my account"]
    assert fired[0].severity == "critical"
    assert alerts_of(m.tick(13.9), "silence") == []  # the customer's span ended at 6 s
    assert [a.call_time for a in alerts_of(m.tick(14.1), "silence")] == [pytest.approx(14.0)]
    assert rules_named(m, "talk-over") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.silence\nseconds = 3", "not valid TOML"),
        ('[rules.x]\nkind = "keyword"\nphrases = ["a b"]', "alert rule 'x': key 'kind': 'keyword'"),
        ("[rules.silence]\nsecnds = 3", "alert rule 'silence': key 'secnds' is unknown"),
        ('[rules.silence]\nseconds = "ten"', "rule 'silence': key 'seconds' must be a number"),
        ("[rules.silence]\nseconds = 0", "alert rule 'silence': key 'seconds' must be more than 0"),
        ('[rules.silence]\nkind = "phrase"', "alert rule 'silence': key 'kind': the built-in"),
        ('[rules.x]\nphrases = ["a"]', "alert rule 'x': key 'kind' is missing"),
        ('[rules.x]\nkind = "phrase"', "alert rule 'x': key 'phrases': give at least one"),
        ('[rules.x]\nkind = "phrase"\nphrases = ["the"]', "only stopwords"),
        ('[rules.x]\nkind = "pii"\nentities = ["dna"]', "key 'entities': 'dna' is unknown"),
        ('[rules.x]\nkind = "phrase"\nrole = "boss"\nphrases = ["a b"]', "key 'role': 'boss'"),
        ('[rules.card-data]\nseverity = "urgent"', "key 'severity': 'urgent' is unknown"),
        ("[other]\nx = 1", "unknown top-level key 'other'"),
    ],
)
def test_bad_rules_files_fail_closed_naming_file_rule_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        RuleSet.load(path)
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_missing_rules_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts\.toml: the alert rules file cannot be read"):
        RuleSet.load(tmp_path / "alerts.toml")


# --- phrases ------------------------------------------------------------------------------


def finals_only(rules: RuleSet) -> RuleSet:
    """`rules` with every phrase rule firing on final words only (`partials = false`)."""
    return RuleSet(tuple(dataclasses.replace(rule, partials=False) for rule in rules.rules))


def test_a_phrase_fires_on_partial_words_heard_clearly_and_not_again_when_final() -> None:
    m = monitor(RuleSet.builtin(competitors=["Acme Dialer"]))
    [early] = alerts_of(m.on_words(partial(CUSTOMER, "we looked at Acme Dialer", 10.0)))
    assert early.rule == "competitor" and early.text == "Acme Dialer"
    assert early.detail == {"phrase": "Acme Dialer", "match": "exact", "partial": True}
    # The words agree and become final (times moved a little): no second alert.
    assert alerts_of(m.on_words(final(CUSTOMER, "we looked at Acme Dialer last", 10.05))) == []
    # Words heard unsurely do not fire early; they fire once final.
    m = monitor(RuleSet.builtin(competitors=["Zentra"]))
    unsure = partial(CUSTOMER, "maybe Zentra", 3.0)
    unsure = dataclasses.replace(
        unsure, partial=tuple(dataclasses.replace(w, confidence=0.3) for w in unsure.partial)
    )
    assert alerts_of(m.on_words(unsure)) == []
    [hit] = alerts_of(m.on_words(final(CUSTOMER, "maybe Zentra", 3.0)), "competitor")
    assert "partial" not in hit.detail


def test_competitor_fires_on_final_words_once_not_on_partials_nor_inside_words() -> None:
    m = monitor(finals_only(RuleSet.builtin(competitors=["Acme Dialer", "Zentra"])))
    assert alerts_of(m.on_words(partial(CUSTOMER, "we looked at Acme Dialer", 10.0))) == []
    events = m.on_words(final(CUSTOMER, "we looked at Acme Dialer last", 10.0))
    [hit] = alerts_of(events, "competitor")
    assert (hit.text, hit.confidence, hit.channel) == ("Acme Dialer", 1.0, CUSTOMER)
    assert hit.start == pytest.approx(11.05) and hit.call_time == pytest.approx(11.7)
    assert hit.detail == {"phrase": "Acme Dialer", "match": "exact"}
    [event] = [e for e in events if e.event == "alert"]
    assert event.speaker == "customer" and [w.text for w in event.words] == ["Acme", "Dialer"]
    # The next step reads the same words again (look-back): no second alert.
    assert alerts_of(m.on_words(final(CUSTOMER, "month and", 12.2))) == []
    # A name inside another word, and an inflected name, are no hit.
    assert alerts_of(m.on_words(final(CUSTOMER, "we met at Acmeville and Zentras", 14.0))) == []
    assert len(rules_named(m, "competitor")) == 1


def test_competitor_heard_as_other_words_fires_phonetically_at_lower_confidence() -> None:
    m = monitor(RuleSet.builtin(competitors=["Acme Dialer"]))
    [hit] = alerts_of(m.on_words(final(CUSTOMER, "we use hackman iler now", 5.0)), "competitor")
    assert hit.detail["match"] == "phonetic" and hit.text == "hackman iler"
    assert 0.5 < hit.confidence < 0.8


def test_a_phrase_said_across_two_engine_steps_is_found() -> None:
    m = monitor(RuleSet.builtin(competitors=["Acme Dialer"]))
    assert alerts_of(m.on_words(final(CUSTOMER, "we went with Acme", 5.0))) == []
    [hit] = alerts_of(m.on_words(final(CUSTOMER, "Dialer in the end", 6.4)))
    assert hit.start == pytest.approx(6.05)


def test_prohibited_phrase_is_the_agents_only(tmp_path: Path) -> None:
    m = monitor()
    events = m.on_words(final(CUSTOMER, "you said guaranteed returns", 20.0))
    assert alerts_of(events, "prohibited-phrase") == []
    events = m.on_words(final(AGENT, "these are guaranteed returns for you", 22.0))
    [hit] = alerts_of(events, "prohibited-phrase")
    assert hit.rule == "prohibited-phrase" and hit.text == "guaranteed returns"
    anyone = monitor(RuleSet.load(write(tmp_path, '[rules.prohibited-phrase]\nrole = "any"\n')))
    events = anyone.on_words(final(CUSTOMER, "you said guaranteed returns", 20.0))
    assert [a.confidence for a in alerts_of(events, "prohibited-phrase")] == [1.0]
    unknown = monitor(roles={})
    [loose] = alerts_of(unknown.on_words(final(0, "guaranteed returns", 1.0)), "prohibited-phrase")
    assert loose.confidence == pytest.approx(0.7)  # no agent known: anyone, at 0.7


# --- the recording disclosure -------------------------------------------------------------


def test_disclosure_said_in_time_does_not_fire() -> None:
    m = monitor(answered_at=2.0)
    m.on_words(final(AGENT, "hello this call is recorded for quality", 3.0))
    m.tick(60.0)
    m.finish(61.0)
    assert rules_named(m, "disclosure-missing") == []
    assert [a.rule for a in m.alerts] == ["silence"]  # nobody spoke from 5 s to 60 s


def test_disclosure_missing_fires_at_the_deadline_once() -> None:
    m = monitor(answered_at=2.0)
    m.on_words(final(AGENT, "hello how can I help", 3.0))
    # 32 s is the deadline; final words may still come for 5 s (grace_s).
    assert alerts_of(m.tick(33.0), "disclosure-missing") == []
    [late] = alerts_of(m.tick(37.0), "disclosure-missing")
    assert late.rule == "disclosure-missing" and late.call_time == pytest.approx(32.0)
    assert late.text == "no recording disclosure within 30 s" and late.channel is None
    assert alerts_of(m.tick(40.0) + m.finish(50.0), "disclosure-missing") == []


def test_disclosure_fires_as_soon_as_the_agents_words_pass_the_deadline() -> None:
    m = monitor()
    m.on_words(final(AGENT, "hi there", 1.0))
    events = m.on_words(final(AGENT, "let me check that this call is recorded", 29.0))
    [late] = alerts_of(events, "disclosure-missing")  # "call" at 30.75 s: too late
    assert late.text == "recording disclosure said at 30.8 s, after 30 s"
    assert late.detail["said_at"] == pytest.approx(30.75)


# --- card and identity data ---------------------------------------------------------------

CARD = "four one one one one one one one one one one one one one one one"


def test_card_data_fires_early_on_partials_pauses_and_resumes_when_the_agent_speaks() -> None:
    actions: list[RecorderAction] = []
    m = monitor(on_action=actions.append)
    m.on_words(final(AGENT, "can I have the card number please", 10.0))
    assert alerts_of(m.on_words(partial(CUSTOMER, "sure it is four one one", 13.0))) == []
    early = alerts_of(m.on_words(partial(CUSTOMER, "sure it is four one one one one one", 13.0)))
    [alert] = early
    assert alert.rule == "card-data" and alert.severity == "critical"
    assert alert.text == "card number (6 digits) being read" and alert.detail["early"] is True
    assert alert.confidence == pytest.approx(0.5)  # 0.3 + 0.04 * 6: six digits heard
    assert alert.start == pytest.approx(14.05)  # "four", the first digit
    assert actions == [RecorderAction("pci-pause", CUSTOMER, pytest.approx(14.05), "card-data")]
    # The number becomes final and is read on: the same occurrence, no second alert.
    events = m.on_words(final(CUSTOMER, "sure it is " + CARD, 13.0))
    assert alerts_of(events) == []
    last_digit_end = 13.0 + 18 * 0.35 + 0.3
    # A backchannel of the agent while the number is read does not resume.
    m.on_words(final(AGENT, "mhm", 16.0))
    assert [a.action for a in actions] == ["pci-pause"]
    m.on_words(final(AGENT, "okay thank you and the expiry", last_digit_end + 0.5))
    assert [a.action for a in actions] == ["pci-pause", "pci-resume"]
    assert actions[1].call_time == pytest.approx(last_digit_end + 0.5 + 0.35)  # "thank"
    assert m.actions == tuple(actions)
    assert len(rules_named(m, "card-data")) == 1
    # The expiry is read afterwards: a new occurrence, paused again.
    events = m.on_words(final(CUSTOMER, "oh five twenty seven", last_digit_end + 3.0))
    [expiry] = alerts_of(events, "card-data")
    assert expiry.text == "card expiry (4 digits)"
    assert [a.action for a in actions] == ["pci-pause", "pci-resume", "pci-pause"]


def test_card_alerts_and_events_never_carry_the_digits() -> None:
    m = monitor()
    m.on_words(final(AGENT, "what is the card number", 10.0))
    events = m.on_words(final(CUSTOMER, "4111 1111 1111 1111", 12.0, step=0.9))
    [event] = [e for e in events if e.event == "alert"]
    assert event.alert is not None and event.alert.text == "card number (16 digits)"
    assert event.words == () and event.text == "card number (16 digits)"
    assert event.alert.confidence == pytest.approx(0.95)  # Luhn-valid
    dumped = json.dumps(event.to_json())
    assert not re.search(r"\d{3}", dumped.replace("16 digits", "")), dumped


def test_a_card_number_without_context_fires_when_luhn_says_so() -> None:
    m = monitor()
    events = m.on_words(final(CUSTOMER, "it's 4111 1111 1111 1111 okay", 40.0))
    [alert] = alerts_of(events, "card-data")
    assert alert.rule == "card-data" and alert.text == "card number (16 digits)"


@pytest.mark.parametrize(
    "text",
    [
        "press nine to talk to someone",
        "my order number is one two three four five six",
        "you can call me on five five five one two three four",
        "I paid one hundred and thirty five dollars",
    ],
)
def test_digits_that_are_not_card_data_do_not_fire(text: str) -> None:
    m = monitor()
    m.on_words(final(AGENT, "how can I help", 1.0))
    events = m.on_words(partial(CUSTOMER, text, 3.0)) + m.on_words(final(CUSTOMER, text, 3.0))
    assert alerts_of(events, "card-data") == [] and m.actions == ()


def test_identity_data_is_masked_and_fires_once() -> None:
    m = monitor()
    m.on_words(final(AGENT, "and your social security number", 5.0))
    events = m.on_words(final(CUSTOMER, "it is zero seven eight zero five one one two zero", 7.5))
    [alert] = alerts_of(events)
    assert alert.rule == "identity-data" and alert.text == "social security number (9 digits)"
    assert m.actions == ()  # identity data pauses nothing (pause = false)
    assert alerts_of(m.on_words(final(CUSTOMER, "yes", 11.5))) == []


# --- consent --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeRefusal:
    start: float
    end: float
    text: str
    confidence: float
    phrase: str


class FakeRefusalDetector:
    """TEST DOUBLE standing in for `callvault.analysis._refusal.detect_refusals` (written
    on another branch): reports "don't want to be recorded" wherever it is said."""

    PHRASE = ("don't", "want", "to", "be", "recorded")

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []

    def __call__(self, words: Sequence[LiveWord], *, language: str | None) -> list[FakeRefusal]:
        self.calls.append((len(words), language))
        texts = [w.text.lower().strip(".,") for w in words]
        found = []
        for i in range(len(texts) - len(self.PHRASE) + 1):
            if tuple(texts[i : i + len(self.PHRASE)]) == self.PHRASE:
                run = words[i : i + len(self.PHRASE)]
                text = " ".join(w.text for w in run)
                found.append(FakeRefusal(run[0].start, run[-1].end, text, 0.9, "not recorded"))
        return found


def test_a_refusal_fires_once_and_stops_keeping_that_legs_audio() -> None:
    detector = FakeRefusalDetector()
    m = monitor(refusal=detector)
    # "record" in another sense is the detector's business: it finds nothing here.
    assert alerts_of(m.on_words(final(CUSTOMER, "I have a record of the order", 8.0))) == []
    events = m.on_words(final(CUSTOMER, "sorry I don't want to be recorded", 12.0))
    [alert] = alerts_of(events, "consent-refused")
    assert alert.text == "don't want to be recorded" and alert.severity == "critical"
    assert alert.start == pytest.approx(12.7) and alert.detail == {"phrase": "not recorded"}
    stop = RecorderAction("stop-recording", CUSTOMER, pytest.approx(12.7), "consent-refused")
    assert m.actions == (stop,)
    # The refusal is still in the next step's window: not reported again.
    assert alerts_of(m.on_words(final(CUSTOMER, "thanks", 15.0))) == []
    assert len(m.actions) == 1 and detector.calls[-1][1] == "en"


def test_without_a_detector_the_consent_rule_is_inactive() -> None:
    m = monitor()
    assert alerts_of(m.on_words(final(CUSTOMER, "I don't want to be recorded", 4.0))) == []


# --- sentiment, silence, talk-over ----------------------------------------------------------


def test_sentiment_drop_fires_once_on_the_customer_only() -> None:
    m = monitor()
    m.on_words(final(CUSTOMER, "hi thanks so much this is great I love the service", 2.0))
    m.on_words(final(AGENT, "this is terrible awful horrible and I hate it", 8.0))
    m.on_words(final(AGENT, "what a terrible awful mess really bad", 12.0))
    assert rules_named(m, "sentiment-drop") == []
    m.on_words(final(CUSTOMER, "this is terrible and I am really angry now", 40.0))
    events = m.on_words(final(CUSTOMER, "awful just awful I hate this stupid mess", 45.0))
    events += m.tick(50.0)
    [alert] = alerts_of(events, "sentiment-drop")
    assert alert.channel == CUSTOMER and alert.detail["mean"] < -0.3
    assert alert.detail["before"] > 0.3 and alert.start == pytest.approx(40.0)
    m.on_words(final(CUSTOMER, "horrible terrible bad", 52.0))
    m.tick(60.0)
    assert len(rules_named(m, "sentiment-drop")) == 1


def test_silence_fires_once_per_stretch() -> None:
    m = monitor()
    m.on_speech(SpeechSpan(AGENT, 1.0, None))
    m.on_speech(SpeechSpan(AGENT, 1.0, 4.0))
    assert m.tick(23.9) == []
    [hold] = alerts_of(m.tick(24.2))
    assert (hold.rule, hold.start, hold.call_time) == ("silence", 4.0, 24.0)
    assert alerts_of(m.tick(40.0), "silence") == []
    m.on_speech(SpeechSpan(CUSTOMER, 41.0, None))
    assert alerts_of(m.tick(70.0), "silence") == []  # someone is speaking
    m.on_speech(SpeechSpan(CUSTOMER, 41.0, 72.0))
    # The next speech shows a second stretch of 25 s even without a tick in between.
    [again] = alerts_of(m.on_speech(SpeechSpan(AGENT, 97.0, None)), "silence")
    assert again.start == 72.0 and again.call_time == 92.0


def test_silence_is_seen_from_words_alone() -> None:
    m = monitor()
    m.on_words(final(AGENT, "one moment please", 2.0))
    [hold] = alerts_of(m.on_words(final(AGENT, "thanks for waiting", 30.0)), "silence")
    assert hold.start == pytest.approx(3.0) and hold.call_time == pytest.approx(23.0)


def test_talk_over_fires_past_the_threshold_only() -> None:
    m = monitor()
    m.on_speech(SpeechSpan(AGENT, 10.0, 14.0))
    m.on_speech(SpeechSpan(CUSTOMER, 12.5, 15.0))  # 1.5 s at once
    assert rules_named(m, "talk-over") == []
    m.on_speech(SpeechSpan(AGENT, 20.0, None))
    m.on_speech(SpeechSpan(CUSTOMER, 21.0, None))
    assert m.tick(23.5) == []
    [alert] = alerts_of(m.tick(24.1))
    assert (alert.rule, alert.start, alert.call_time) == ("talk-over", 21.0, 24.0)
    assert alert.detail == {"channels": [AGENT, CUSTOMER]}
    m.on_speech(SpeechSpan(CUSTOMER, 21.0, 26.0))
    assert m.tick(27.0) == [] and len(rules_named(m, "talk-over")) == 1


def test_events_carry_partials_finals_and_json() -> None:
    m = monitor()
    events = m.on_words(partial(AGENT, "hello this", 1.0))
    assert [(e.event, e.text, e.speaker) for e in events] == [("partial", "hello this", "agent")]
    events = m.on_words(final(AGENT, "hello this is Anna", 1.0))
    assert [(e.event, e.text) for e in events] == [("final", "hello this is Anna"), ("partial", "")]
    assert events[0].to_json()["words"][0]["text"] == "hello"


# --- a real call ------------------------------------------------------------------------------


def _harper_valley(path: Path) -> list[tuple[int, tuple[LiveWord, ...]]]:
    """A Harper Valley Bank transcript as final words per segment, spread evenly over it."""
    segments = json.loads(path.read_text(encoding="utf-8"))["segments"]
    out = []
    for segment in sorted(segments, key=lambda s: s["start_ms"]):
        words = segment["human_transcript"].split()
        if not words or segment["human_transcript"].startswith("["):
            continue
        start, step = segment["start_ms"] / 1000, segment["duration_ms"] / 1000 / len(words)
        channel = AGENT if segment["speaker_role"] == "agent" else CUSTOMER
        out.append(
            (
                channel,
                tuple(
                    LiveWord(start + i * step, start + (i + 1) * step, w, 0.9)
                    for i, w in enumerate(words)
                ),
            )
        )
    return out


def test_a_real_call_transcript_fires_a_phrase_rule_at_the_right_time(
    eval_data: Path, tmp_path: Path
) -> None:
    rules = RuleSet.load(
        write(
            tmp_path,
            '[rules.lost-card]\nkind = "phrase"\nrole = "customer"\n'
            'phrases = { en = ["lost my debit card"] }\n',
        )
    )
    calls = sorted((eval_data / "call_transcripts" / "harper_valley_bank").glob("*.json"))
    assert len(calls) == 3
    fired: dict[str, list[Alert]] = {}
    for path in calls:
        m = monitor(rules)
        for channel, words in _harper_valley(path):
            half = len(words) // 2
            m.on_words(WordsUpdate(channel, partial=words[:half], language="en"))
            m.on_words(WordsUpdate(channel, final=words, language="en"))
            m.tick(words[-1].end + 0.5)
        m.finish(words[-1].end + 2.0)
        fired[path.stem] = list(m.alerts)
    lost = [a for a in fired["0002f70f7386445b"] if a.rule == "lost-card"]
    # "i lost my debit card", 17.42 s for 0.96 s: "lost" is its second of five words.
    assert [(a.text, a.channel) for a in lost] == [("lost my debit card", CUSTOMER)]
    assert lost[0].start == pytest.approx(17.42 + 0.96 / 5) and lost[0].call_time == pytest.approx(
        18.38
    )
    for name, alerts in fired.items():
        rules_fired = {a.rule for a in alerts}
        # No bank call here says that it is recorded; none reads card or identity data
        # ("one hundred and thirty five dollars" is an amount).
        assert "disclosure-missing" in rules_fired, name
        assert not rules_fired & {"card-data", "identity-data", "consent-refused"}, name
        if name != "0002f70f7386445b":
            assert "lost-card" not in rules_fired


# --- the documentation ----------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_documented_example_file_loads_and_is_shown_whole() -> None:
    example = DOCS / "alerts.example.toml"
    rules = RuleSet.load(example, competitors=["Acme Dialer", "Foo"])
    assert rules.get("competitor").phrases["*"] == ("Acme Dialer", "Zentra", "Foo")
    assert not rules.get("talk-over").enabled
    assert rules.get("bank-details").pause and rules.get("card-data").early_digits == 4
    assert example.read_text(encoding="utf-8") in (DOCS / "alerts.md").read_text(encoding="utf-8")
    # Two consent rules see one refusal: two alerts, one stop for the leg.
    m = monitor(rules, refusal=FakeRefusalDetector())
    m.on_words(final(CUSTOMER, "I don't want to be recorded", 4.0))
    assert {a.rule for a in m.alerts} >= {"consent-refused", "refusal-strict"}
    assert [a.action for a in m.actions] == ["stop-recording"]


@pytest.mark.slow
def test_words_of_the_real_recogniser_fire_a_phrase_rule_where_it_heard_the_phrase(
    eval_data: Path, model_cache: Path, tmp_path: Path
) -> None:
    """Whisper tiny.en on a telephone-band (8 kHz) Harvard recording, its words fed to the
    monitor three at a time as if the engine had committed them."""
    from callvault.analysis import AsrParams, Transcriber, decode_legs, resolve_model

    path = eval_data / "asr" / "en" / "OSR_us_000_0034_8k.wav"
    audio = decode_legs(lambda: path.open("rb"))[0]
    result = Transcriber(resolve_model("en", cache_dir=model_cache)).transcribe_leg(
        audio, language="en", params=AsrParams(beam_size=1)
    )
    heard = [
        LiveWord(w.start, w.end, w.text, w.confidence) for s in result.segments for w in s.words
    ]
    folded = [re.sub(r"[^\w]", "", w.text.lower()) for w in heard]
    at = folded.index("storm")  # "A severe storm tore down the barn."
    assert folded[at - 1] == "severe"
    rules = RuleSet.load(
        write(tmp_path, '[rules.storm]\nkind = "phrase"\nphrases = ["severe storm"]\n')
    )
    m = monitor(rules, roles={0: "customer"})
    fired: list[Alert] = []
    for i in range(0, len(heard), 3):
        fired += alerts_of(m.on_words(WordsUpdate(0, final=tuple(heard[i : i + 3]))), "storm")
    assert len(fired) == 1
    assert fired[0].start == heard[at - 1].start and fired[0].call_time == heard[at].end
    assert not {a.rule for a in m.alerts} & {"card-data", "identity-data", "competitor"}


def test_german_card_number_and_an_agent_reading_it_back() -> None:
    m = monitor(language="de")
    m.on_words(WordsUpdate(AGENT, final=said("und Ihre Kartennummer bitte", 5.0), language="de"))
    text = "vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins"
    events = m.on_words(WordsUpdate(CUSTOMER, final=said(text, 7.0), language="de"))
    [alert] = alerts_of(events, "card-data")
    assert alert.text == "card number (16 digits)" and alert.start == pytest.approx(7.0)
    # The agent reads it back and asks on in one step: its own pause, resumed at "richtig".
    back = said("also 4111 1111 1111 1111 richtig", 14.0)
    m.on_words(WordsUpdate(AGENT, final=back, language="de"))
    assert [(a.action, a.channel) for a in m.actions] == [
        ("pci-pause", CUSTOMER),
        ("pci-resume", CUSTOMER),
        ("pci-pause", AGENT),
        ("pci-resume", AGENT),
    ]
    assert m.actions[1].call_time == back[0].start  # "also": the agent spoke again
    assert m.actions[2].call_time == back[1].start and m.actions[3].call_time == back[5].start
