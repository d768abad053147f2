"""PII detection and transcript redaction on hand-built transcripts."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.pii import (
    ADDRESS,
    ASKED_FOR,
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    ENTITIES,
    IBAN,
    NATIONAL_ID,
    PASSWORD,
    PAYMENT_ENTITIES,
    PERSON,
    PHONE,
    PIN,
    RECOGNISED,
    STAMP,
    US_SSN,
    PiiDetector,
    PiiFinding,
    PiiParams,
    placeholder,
    redact_transcript,
)
from callvault.analysis.pii._asked import asked_kinds

STEP = 0.5  # seconds per word


def utt(
    text: str, speaker: str = "customer", start: float = 0.0, channel: int | None = None
) -> Utterance:
    """An utterance whose words are evenly spaced: word i runs from start + i*0.5 for 0.4 s."""
    words = tuple(
        Word(start + i * STEP, start + i * STEP + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    end = words[-1].end if words else start
    return Utterance(speaker, channel, start, end, text, 0.9, words)


def transcript(*utterances: Utterance, language: str | None = "en") -> Transcript:
    return Transcript("done", language, "test", "1", utterances, True)


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    pii = PiiDetector()
    pii.load()
    return pii


def found(
    detector: PiiDetector, *utterances: Utterance, language: str | None = "en"
) -> list[tuple[str, int, int, int]]:
    """What the recognizers found (answers cut because they were asked for: `cut`)."""
    findings = detector.detect(transcript(*utterances, language=language))
    return [
        (f.entity, f.utterance, f.first_word, f.last_word)
        for f in findings
        if f.reason == RECOGNISED
    ]


def cut(
    detector: PiiDetector, *utterances: Utterance, language: str | None = "en"
) -> list[tuple[str, int, int, int, str]]:
    """Every finding, with its reason."""
    findings = detector.detect(transcript(*utterances, language=language))
    return [(f.entity, f.utterance, f.first_word, f.last_word, f.reason) for f in findings]


ASK_CARD = utt("what's the card number please?", "agent")


@pytest.mark.parametrize(
    ("spoken", "first", "last"),
    [
        ("it is 4111 1111 1111 1111 okay", 2, 5),
        ("it is 4111-1111-1111-1111 okay", 2, 2),
        ("it is four one one one one one one one one one one one one one one one okay", 2, 17),
        ("it is four one one one, one one one one, one one one one, one one one one.", 2, 17),
        ("it is 41 11 11 11 11 11 11 11 okay", 2, 9),
        ("it is four 111 one 111 1111 1111 okay", 2, 7),
        ("it is four double one one double one double one one one one one one one one", 2, 16),
        ("it is forty one eleven eleven eleven eleven eleven eleven eleven okay", 2, 10),
        (
            "it is five five five five, five five five five, five five five five, 4444",
            2,
            14,
        ),
    ],
)
def test_card_number_spoken_variants(
    detector: PiiDetector, spoken: str, first: int, last: int
) -> None:
    assert found(detector, ASK_CARD, utt(spoken, start=4.0)) == [(CREDIT_CARD, 1, first, last)]


def test_card_without_context_found_by_luhn(detector: PiiDetector) -> None:
    findings = detector.detect(transcript(utt("so 4111 1111 1111 1111 right")))
    assert [(f.entity, f.first_word, f.last_word) for f in findings] == [(CREDIT_CARD, 1, 4)]
    assert findings[0].confidence >= 0.95


def test_luhn_invalid_run_is_a_card_only_in_card_context(detector: PiiDetector) -> None:
    invalid = "so 4111 1111 1111 1112 right"
    assert found(detector, utt(invalid)) == []
    everything = detector.detect(transcript(ASK_CARD, utt(invalid, start=4.0)))
    findings = [f for f in everything if f.reason == RECOGNISED]
    assert [(f.entity, f.utterance, f.first_word, f.last_word) for f in findings] == [
        (CREDIT_CARD, 1, 1, 4)
    ]
    assert findings[0].confidence == 0.6
    # The answer to the request is cut whole besides.
    assert [(f.entity, f.first_word, f.last_word) for f in everything if f not in findings] == [
        (CREDIT_CARD, 0, 5)
    ]


def test_phone_number_is_not_a_card(detector: PiiDetector) -> None:
    spoken = "you can call me on two one two five five five zero one two three"
    assert found(detector, utt(spoken)) == [(PHONE, 0, 5, 14)]
    assert found(detector, utt("call me at 2125550123")) == [(PHONE, 0, 3, 3)]


def test_order_numbers_are_not_pii(detector: PiiDetector) -> None:
    assert found(detector, utt("it is about order 12345 from Monday")) == []
    assert found(detector, utt("my order number is 1234567")) == []


def test_card_split_over_two_utterances(detector: PiiDetector) -> None:
    first = utt("4111 1111", start=4.0)  # ends at 4.9
    second = utt("1111 1111", start=7.0)  # a pause of 2.1 s split the reading
    findings = detector.detect(transcript(ASK_CARD, first, second))
    assert [(f.entity, f.utterance, f.first_word, f.last_word) for f in findings] == [
        (CREDIT_CARD, 1, 0, 1),
        (CREDIT_CARD, 2, 0, 1),
    ]
    assert [(f.start, f.end) for f in findings] == [(4.0, 4.9), (7.0, 7.9)]


def test_card_split_around_a_backchannel_in_spoken_words(detector: PiiDetector) -> None:
    first = utt("four one one one one one one one", start=4.0)
    agent = utt("mhm", "agent", start=8.5)
    second = utt("one one one one one one one one", start=9.5)
    assert found(detector, ASK_CARD, first, agent, second) == [
        (CREDIT_CARD, 1, 0, 7),
        (CREDIT_CARD, 3, 0, 7),
    ]


@pytest.mark.parametrize(
    ("question", "answer", "entity", "first", "last"),
    [
        ("and the security code on the back?", "one two three", CVV, 0, 2),
        ("what is the CVV?", "it's 987", CVV, 1, 1),
        ("and the expiry date?", "oh five twenty seven", CARD_EXPIRY, 0, 3),
        ("when does it expire?", "05/27", CARD_EXPIRY, 0, 0),
        ("and the expiry date?", "May twenty twenty-seven", CARD_EXPIRY, 0, 2),
    ],
)
def test_security_code_and_expiry(
    detector: PiiDetector, question: str, answer: str, entity: str, first: int, last: int
) -> None:
    asked = utt(question, "agent")
    assert found(detector, ASK_CARD, asked, utt(answer, start=6.0)) == [(entity, 2, first, last)]


def test_short_numbers_without_card_context_are_not_cvv(detector: PiiDetector) -> None:
    assert found(detector, utt("I have one two three apples")) == []


def test_ssn_spoken_and_written(detector: PiiDetector) -> None:
    spoken = "my social security number is one two three four five six seven eight nine"
    assert found(detector, utt(spoken)) == [(US_SSN, 0, 5, 13)]
    assert found(detector, utt("it's 123-45-6789")) == [(US_SSN, 0, 1, 1)]


def test_iban_spelled_and_written(detector: PiiDetector) -> None:
    spelled = (
        "my IBAN is D E eight nine three seven zero four zero zero four four zero five three "
        "two zero one three zero zero zero thanks"
    )
    findings = detector.detect(transcript(utt(spelled)))
    assert [(f.entity, f.first_word, f.last_word) for f in findings] == [(IBAN, 3, 24)]
    assert findings[0].confidence == 0.97
    assert found(detector, utt("IBAN DE89 3704 0044 0532 0130 00 thanks")) == [(IBAN, 0, 1, 6)]
    # one digit wrong: fails mod-97, not an IBAN outside IBAN context; its ten digits read
    # out one by one are still cut, as a read-out number
    wrong = utt("D E eight nine three seven zero four zero zero four four")
    assert found(detector, wrong) == [(PHONE, 0, 2, 11)]
    assert detector.detect(transcript(wrong))[0].recognizer == "callvault:read-out-number"


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("write to jane@example.com please", 2, 2),
        ("it's jane at example dot com", 1, 5),
        ("it's jane dot doe at example dot co dot uk thanks", 1, 9),
        ("it's j a n e at example dot com", 1, 8),
    ],
)
def test_email_written_and_spoken(detector: PiiDetector, text: str, first: int, last: int) -> None:
    assert found(detector, utt(text)) == [(EMAIL, 0, first, last)]


def test_spoken_email_needs_a_known_top_level_domain(detector: PiiDetector) -> None:
    assert found(detector, utt("it's jane at example dot notatld")) == []
    assert found(detector, utt("I'm at home dot")) == []


def test_date_of_birth(detector: PiiDetector) -> None:
    asked = utt("can I have your date of birth?", "agent")
    assert found(detector, asked, utt("May fifth nineteen eighty", start=4.0)) == [
        (DATE_OF_BIRTH, 1, 0, 3)
    ]
    assert found(detector, utt("I was born on 05/05/1980")) == [(DATE_OF_BIRTH, 0, 4, 4)]
    # a date without birth context is not personal data
    assert found(detector, utt("the meeting is on May fifth")) == []


def test_person_and_address(detector: PiiDetector) -> None:
    assert found(detector, utt("Hi, this is John Smith calling.")) == [(PERSON, 0, 3, 4)]
    assert found(detector, utt("I live at 12 Baker Street")) == [(ADDRESS, 0, 3, 5)]


def test_german_card_and_iban() -> None:
    detector = PiiDetector()
    asked = utt("Wie lautet die Kartennummer?", "agent")
    card = utt(
        "vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins", start=3.0
    )
    iban = utt(
        "meine IBAN ist D E acht neun drei sieben null vier null null vier vier null fünf drei "
        "zwo null eins drei null null null",
        start=20.0,
    )
    code = utt("und die Prüfziffer?", "agent", start=35.0)
    answer = utt("eins zwei drei", start=37.0)
    assert found(detector, asked, card, iban, code, answer, language="de") == [
        (CREDIT_CARD, 1, 0, 15),
        (IBAN, 2, 3, 24),
        (CVV, 4, 0, 2),
    ]


def test_german_number_words_are_not_read_in_english(detector: PiiDetector) -> None:
    text = "vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins"
    assert found(detector, utt(text)) == []


def test_finding_json_has_no_matched_text(detector: PiiDetector) -> None:
    said = utt("card 4111 1111 1111 1111 and mail jane@example.com", channel=1)
    findings = detector.detect(transcript(said))
    assert [f.entity for f in findings] == [CREDIT_CARD, EMAIL]
    assert findings[0].to_json() == {
        "entity": CREDIT_CARD,
        "utterance": 0,
        "words": [1, 4],
        "start": 0.5,
        "end": 2.4,
        "channel": 1,
        "speaker": "customer",
        "confidence": 1.0,
        "recognizer": "presidio:CreditCardRecognizer",
        "reason": "recognised",
    }
    assert [PiiFinding.from_json(f.to_json()) for f in findings] == list(findings)
    dumped = json.dumps([f.to_json() for f in findings])
    assert "1111" not in dumped and "jane" not in dumped and "example" not in dumped
    assert findings[0].payment and not findings[1].payment
    assert findings[0].utterances == (0,)


def test_no_network_during_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    from callvault.analysis.pii import _presidio

    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    def refuse_lookup(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[0] if args else kwargs)
        raise OSError("name lookup disabled in this test")

    # tldextract's downloader resolves the host name before it connects: refuse both.
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    # Start from presidio's own (downloading) tldextract and no cached extractor.
    monkeypatch.setattr(email_recognizer, "tldextract", tldextract)
    monkeypatch.setattr(_presidio, "_TLD", None)
    monkeypatch.setattr(_presidio, "_TLDS", None)
    detector = PiiDetector()
    said = utt("mail jane@example.co.uk or jane at example dot com and call 212-555-0123")
    assert found(detector, said) == [(EMAIL, 0, 1, 1), (EMAIL, 0, 3, 7), (PHONE, 0, 10, 10)]
    assert attempts == []


def test_redact_transcript_text_and_times(detector: PiiDetector) -> None:
    said = Utterance(
        "customer",
        0,
        4.0,
        9.0,
        "Sure, it's 4111 1111 1111 1111, thanks.",
        0.9,
        (
            Word(4.0, 4.3, " Sure,", 0.9),
            Word(4.4, 4.6, " it's", 0.9),
            Word(5.0, 5.5, " 4111", 0.8),
            Word(5.6, 6.0, " 1111", 0.8),
            Word(6.1, 6.5, " 1111", 0.8),
            Word(6.6, 7.0, " 1111,", 0.8),
            Word(7.5, 8.0, " thanks.", 0.9),
        ),
    )
    original = transcript(ASK_CARD, said)
    recognised = PiiDetector(PiiParams(asked_for=False))
    findings = recognised.detect(original)
    redacted = redact_transcript(original, findings)
    assert redacted.utterances[0] == ASK_CARD
    out = redacted.utterances[1]
    assert out.text == "Sure, it's [CREDIT_CARD] thanks."
    assert out.words[2] == Word(5.0, 7.0, "[CREDIT_CARD]", 1.0)
    assert [w.text for w in out.words] == [" Sure,", " it's", "[CREDIT_CARD]", " thanks."]
    assert (out.start, out.end, out.speaker, out.channel) == (4.0, 9.0, "customer", 0)
    # By default the answer to "what's the card number?" goes whole: one placeholder.
    whole = redact_transcript(original, detector.detect(original)).utterances[1]
    assert whole.text == "[CREDIT_CARD]"
    assert whole.words == (Word(4.0, 8.0, "[CREDIT_CARD]", 1.0),)


def _finding(entity: str, first: int, last: int) -> PiiFinding:
    return PiiFinding(entity, 0, first, last, first * STEP, last * STEP + 0.4, None, "c", 0.9, "t")


def test_redact_merges_overlaps_payment_first() -> None:
    original = transcript(utt("a b c d e f g"))
    findings = [_finding(PHONE, 1, 3), _finding(CREDIT_CARD, 2, 4), _finding(PERSON, 6, 6)]
    out = redact_transcript(original, findings).utterances[0]
    assert out.text == "a [CREDIT_CARD] f [PERSON]"
    assert out.words[1] == Word(0.5, 2.4, "[CREDIT_CARD]", 1.0)


def test_redact_rejects_findings_outside_the_transcript() -> None:
    with pytest.raises(ValueError, match="names words 5..9 of utterance 0, which has 3 words"):
        redact_transcript(transcript(utt("a b c")), [_finding(PHONE, 5, 9)])


def test_redact_scans_utterances_without_words(detector: PiiDetector) -> None:
    wordless = Utterance("customer", None, 4.0, 8.0, "it is 4111 1111 1111 1111", 0.9, ())
    plain = Utterance("customer", None, 9.0, 10.0, "thank you", 0.9, ())
    original = transcript(ASK_CARD, wordless, plain)
    redacted = redact_transcript(original, detector.detect(original), detector=detector)
    assert [u.text for u in redacted.utterances] == [ASK_CARD.text, "[CREDIT_CARD]", "thank you"]


def test_entities_filter_threshold_and_stamp(detector: PiiDetector) -> None:
    said = utt("Hi, this is John Smith, mail jane@example.com")
    only_email = PiiDetector(PiiParams(entities=(EMAIL,)))
    assert [f.entity for f in only_email.detect(transcript(said))] == [EMAIL]
    strict = PiiDetector(PiiParams(score_threshold=0.9))
    assert [f.entity for f in strict.detect(transcript(said))] == [EMAIL]
    assert STAMP.name == "pii" and STAMP.version == "5"
    assert only_email.stamp.params["entities"] == [EMAIL]
    assert ENTITIES[:3] == (CREDIT_CARD, CVV, CARD_EXPIRY)
    assert PAYMENT_ENTITIES == {CREDIT_CARD, CVV, CARD_EXPIRY, PIN}


def test_bad_parameters_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown PII entities"):
        PiiParams(entities=("PASSPORT",))
    with pytest.raises(ValueError, match="unknown PII entity 'PASSPORT'"):
        placeholder("PASSPORT")
    assert placeholder(IBAN) == "[IBAN]"


def test_other_languages_get_written_forms_only() -> None:
    detector = PiiDetector()
    said = utt("numéro 4111 1111 1111 1111 et quatre un un un")
    assert found(detector, said, language="fr") == [(CREDIT_CARD, 0, 1, 4)]


def test_card_expiry_and_code_in_one_breath(detector: PiiDetector) -> None:
    said = utt(
        "card number four one one one one one one one one one one one one one one one "
        "expiry oh five twenty seven cvv one two three"
    )
    assert found(detector, said) == [
        (CREDIT_CARD, 0, 2, 17),
        (CARD_EXPIRY, 0, 19, 22),
        (CVV, 0, 24, 26),
    ]
    asked = utt("what's the card number, expiry and security code?", "agent")
    assert found(detector, asked, utt("4111 1111 1111 1111 0527 123", start=4.0)) == [
        (CREDIT_CARD, 1, 0, 3),
        (CARD_EXPIRY, 1, 4, 4),
        (CVV, 1, 5, 5),
    ]


def test_card_fragments_after_a_long_pause_are_still_muted(detector: PiiDetector) -> None:
    first = utt("4111 1111 1111", start=4.0)  # ends at 5.4
    second = utt("1111", start=12.0)  # 6.6 s later: past join_gap, read on its own
    findings = detector.detect(transcript(ASK_CARD, first, second))
    assert [(f.entity, f.utterance, f.first_word, f.last_word, f.confidence) for f in findings] == [
        (CREDIT_CARD, 1, 0, 2, 0.5),
        (CREDIT_CARD, 2, 0, 0, 0.5),
    ]


def test_everyday_numbers_are_not_pii(detector: PiiDetector) -> None:
    said = utt("I have two kids and three dogs, we meet at five, twenty twenty-four was fine")
    assert found(detector, said, utt("call me at five please", start=20.0)) == []


# -- what Whisper tiny.en writes for read-out numbers (patterns written by hand) ------------


def test_hyphen_prefixed_digits_are_digits(detector: PiiDetector) -> None:
    spoken = "sure it is 4 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1."
    assert found(detector, ASK_CARD, utt(spoken, start=4.0)) == [(CREDIT_CARD, 1, 3, 18)]


def test_card_run_goes_on_over_a_misheard_nine(detector: PiiDetector) -> None:
    # "... eight six eight nine, nine eight five five": the second nine heard as "I'm"
    said = utt("you can charge my card, the number is 4556, 7375, 8689, I'm 855.")
    assert found(detector, said) == [(CREDIT_CARD, 0, 8, 12)]


def test_a_card_number_half_heard_as_a_phone_number_is_cut_whole(
    detector: PiiDetector,
) -> None:
    # What tiny.en made of the README demo's card number: "4556 7375" read as a phone
    # number, then "-868i." and "I'm 855." that no digit rule reads.
    said = utt("charge it to my card. The number is 4556-7375 -868i. I'm 855.")
    assert found(detector, said) == [(CREDIT_CARD, 0, 8, 11)]
    finding = detector.detect(transcript(said))[0]
    assert finding.recognizer == "callvault:card-context"
    # In the next utterance of the same reading too, and after a card question.
    rest = utt("and then 8689 9855", start=5.0)
    assert found(detector, utt("my card is 4556 7375"), rest)[-1] == (CREDIT_CARD, 1, 2, 3)


def test_card_context_leaves_short_numbers_and_other_findings(detector: PiiDetector) -> None:
    # Without a card named, digits are left to the other rules.
    assert found(detector, utt("order 12 34 56 78 shipped")) == []
    # An expiry ends the run: it stays an expiry.
    said = utt("my card 4111 1111 1111 1111 expires 12/27")
    kinds = [f[0] for f in found(detector, said)]
    assert kinds.count(CREDIT_CARD) == 1 and CARD_EXPIRY in kinds


def test_card_before_a_bare_number_beats_phone(detector: PiiDetector) -> None:
    ask = utt("which card would you like to use today?", "agent")
    answer = utt("the number is 4556 7375 8689", start=5.0)  # twelve digits, the rest lost
    assert found(detector, ask, answer) == [(CREDIT_CARD, 1, 3, 5)]
    # with no card said, a bare "number" is a phone number
    assert found(detector, utt("the number is 4556 7375 8689")) == [(PHONE, 0, 3, 5)]


def test_misheard_digit_words_only_inside_numbers(detector: PiiDetector) -> None:
    spoken = "it is fine, fine, fine, fine, 2222 4444 6666."
    assert found(detector, ASK_CARD, utt(spoken, start=4.0)) == [(CREDIT_CARD, 1, 2, 8)]
    # (The whole answer would be cut as unrecognised: see the asked-for tests.)
    plain = PiiDetector(PiiParams(asked_for=False))
    assert found(plain, ASK_CARD, utt("fine, thank you", start=4.0)) == []
    assert found(plain, ASK_CARD, utt("a table for 2 people", start=4.0)) == []


def test_garbled_card_token_in_card_context(detector: PiiDetector) -> None:
    spoken = "a different one. 5 .4 .3 .21212121212121212121212121"
    # "one." is read as a digit too: one word muted too many rather than one digit too few
    assert found(detector, ASK_CARD, utt(spoken, start=4.0)) == [(CREDIT_CARD, 1, 2, 6)]


def test_a_dotted_address_takes_the_name_before_its_at(detector: PiiDetector) -> None:
    assert found(detector, utt("To account at example .co .uk please.")) == [(EMAIL, 0, 1, 5)]


def test_the_answer_to_where_to_send_something_is_cut(detector: PiiDetector) -> None:
    ask = utt("Thank you. Where should we send the mandate form?", "agent")
    answer = utt("To account setting number not code not UK, please.", start=4.0)
    assert cut(detector, ask, answer) == [(EMAIL, 1, 0, 8, ASKED_FOR)]


def test_an_unrecognised_answer_before_other_findings_is_cut(detector: PiiDetector) -> None:
    ask = utt("Thank you. Where should we send the mandate form?", "agent")
    answer = utt(
        "To account setting number not code not UK, please. And my direct line is "
        "020 7946 0123, in case you need me.",
        start=4.0,
    )
    found_here = [c[:4] for c in cut(detector, ask, answer)]
    assert found_here[0] == (EMAIL, 1, 0, 13)
    assert found_here[1][0] == PHONE and found_here[1][2] == 14
    # Words after the other finding are part of the answer too.
    assert found_here[2][0] == EMAIL and found_here[2][3] == len(answer.words) - 1


def test_an_address_heard_as_domains_across_two_utterances(detector: PiiDetector) -> None:
    first = utt("Please send it to jane.gov.", start=52.3)
    second = utt("example.com.", start=first.end + 0.2)
    assert found(detector, first, second) == [(EMAIL, 0, 4, 4), (EMAIL, 1, 0, 0)]
    # One web address is not an e-mail address.
    assert found(detector, utt("See northwind.com for the terms.")) == []


def test_zero_misheard_as_nearo_inside_a_phone_number(detector: PiiDetector) -> None:
    said = utt("And my direct line is nearo to nearo, 7946, nearo 123, in case you need me.")
    assert found(detector, said) == [(PHONE, 0, 5, 10)]


def test_a_request_without_a_question_mark_or_please(detector: PiiDetector) -> None:
    # tiny.en heard "your social security number, please." as "... hum were pleased."
    ask = utt("And for the last check, your social security hum were pleased.", "agent")
    answer = utt("Sure, it is 0 .78, 0 .05, 1 .12, 0 .10.", start=6.0)
    assert cut(detector, ask, answer) == [(US_SSN, 1, 0, 10, ASKED_FOR)]
    statement = utt("The social security office is closed today.", "agent")
    assert cut(detector, statement, utt("Oh, 12 days.", start=4.0)) == []


def test_ssn_with_a_digit_too_many(detector: PiiDetector) -> None:
    ask = utt("and your social security number please", "agent")
    assert found(detector, ask, utt("sure it is 123, 045, 6789.", start=4.0)) == [(US_SSN, 1, 3, 5)]


def test_phone_after_an_ssn_question_is_a_phone(detector: PiiDetector) -> None:
    ssn = utt("and your social security number please", "agent")
    answer = utt("123 45 6789", start=4.0)
    ask = utt("and the new phone number?", "agent", start=8.0)
    said = utt("area code to 12, 5, 5, 5, 0, 1, 3.", start=11.0)  # nine digits
    assert found(detector, ssn, answer, ask, said)[-1] == (PHONE, 3, 2, 9)


def test_part_of_a_phone_number_read_after_phone_number(detector: PiiDetector) -> None:
    said = utt("is your phone number still fine, fine, fine, 027?", "agent")
    assert found(detector, said) == [(PHONE, 0, 5, 8)]


def test_days_after_card_talk_are_not_an_expiry(detector: PiiDetector) -> None:
    said = utt("I see charges on the second and the fifth of March, both the same.", "agent")
    assert CARD_EXPIRY not in [f[0] for f in found(detector, ASK_CARD, said)]


def test_email_whose_at_was_lost(detector: PiiDetector) -> None:
    ask = utt("which email address should I use?", "agent")
    said = utt("please use mark not to jones again, sample .net.", start=4.0)
    assert found(detector, ask, said) == [(EMAIL, 1, 2, 8)]
    assert found(detector, utt("I read it on news .org today")) == []


def test_a_misheard_word_before_a_valid_card_is_left_out(detector: PiiDetector) -> None:
    said = utt("so I'll pay for 4111 1111 1111 1111 right")  # no card context: Luhn alone
    assert found(detector, said) == [(CREDIT_CARD, 0, 4, 7)]


def test_an_unrecognised_answer_to_a_question_for_an_email_is_redacted_whole(
    detector: PiiDetector,
) -> None:
    # What tiny.en made of "jane dot doe at example dot com" in a scripted call.
    ask = utt("and what is your email address?", "agent", 0.0, 0)
    answer = utt("account setting number not code not UK", "customer", 3.0, 1)
    later = utt("thank you very much", "agent", 8.0, 0)
    findings = detector.detect(transcript(ask, answer, later))
    (finding,) = findings
    assert (finding.entity, finding.utterance, finding.first_word, finding.last_word) == (
        "EMAIL",
        1,
        0,
        6,
    )
    assert finding.recognizer == "callvault:asked-for" and finding.confidence == 0.4


def test_an_answer_in_which_the_asked_kind_was_found_is_not_redacted_whole(
    detector: PiiDetector,
) -> None:
    # An e-mail address or a phone number: only where recognition failed.
    ask = utt("what is your phone number please?", "agent", 0.0, 0)
    answer = utt("sure it is 020 7946 0123 okay", "customer", 3.0, 1)
    (finding,) = detector.detect(transcript(ask, answer))
    assert finding.entity == PHONE and finding.recognizer != "callvault:asked-for"
    assert (finding.first_word, finding.last_word) == (3, 5)
    # Payment and identity data: the answer goes whole, recognised or not.
    ask = utt("what is the card number please?", "agent", 0.0, 0)
    answer = utt("sure it is 4111 1111 1111 1111 okay", "customer", 3.0, 1)
    findings = detector.detect(transcript(ask, answer))
    assert [(f.entity, f.first_word, f.last_word, f.reason) for f in findings] == [
        (CREDIT_CARD, 0, 7, ASKED_FOR),
        (CREDIT_CARD, 3, 6, RECOGNISED),
    ]


def test_asked_for_needs_a_question_another_speaker_and_a_prompt_answer(
    detector: PiiDetector,
) -> None:
    statement = utt("we will send it to your email address", "agent", 0.0, 0)
    reply = utt("great thanks", "customer", 3.0, 1)
    assert detector.detect(transcript(statement, reply)) == ()
    ask = utt("what is your email?", "agent", 0.0, 0)
    late = utt("sorry I was away", "customer", 20.0, 1)
    assert detector.detect(transcript(ask, late)) == ()
    alone = [utt("what is your email?", "speaker", 0.0), utt("it is gone", "speaker", 3.0)]
    assert detector.detect(transcript(*alone)) == ()
    off = PiiDetector(PiiParams(asked_for=False))
    garbled = utt("account setting number not code", "customer", 3.0, 1)
    assert off.detect(transcript(ask, garbled)) == ()


def test_an_address_written_as_dotted_fragments_is_an_email(detector: PiiDetector) -> None:
    # What tiny.en wrote for "jane dot doe at example dot com" in a scripted call.
    said = utt("please send it to jane .gov. example .com. thanks", "customer", 0.0, 1)
    (finding,) = [f for f in detector.detect(transcript(said)) if f.entity == EMAIL]
    assert (finding.first_word, finding.last_word) == (4, 7)
    assert finding.recognizer == "callvault:dotted-address"
    one = utt("our site is example .com. have a look", "customer", 0.0, 1)
    assert [f for f in detector.detect(transcript(one)) if f.entity == EMAIL] == []


# -- German numbers and names as Whisper base writes them -----------------------------------


def test_german_zero_heard_as_nun_inside_a_phone_number(detector: PiiDetector) -> None:
    # "null drei null, fünf fünf fünf, null eins zwei drei" as Whisper base wrote it
    said = utt("Meine Nummer ist nun drei, nun, fünf, fünf, fünf, nun eins, zwei, drei.")
    assert found(detector, said, language="de") == [(PHONE, 0, 3, 12)]
    # on its own, "nun" is a word ("Nun, ich rufe morgen an")
    assert found(detector, utt("Nun, ich rufe morgen an, nun gut."), language="de") == []
    # and not a digit in English
    assert found(detector, utt("my number is nun three nun five five five")) == []


def test_digits_read_out_without_context_are_cut(detector: PiiDetector) -> None:
    # the recogniser heard "Meine Nummer" as "Mein Name": nothing says what the digits are
    said = utt("Mein Name ist Null 3 Null 555 Null 1 2 3.")
    assert found(detector, said, language="de") == [(PHONE, 0, 3, 10)]
    assert detector.detect(transcript(said, language="de"))[0].recognizer == (
        "callvault:read-out-number"
    )
    english = utt("it's zero two zero seven nine four six zero one two three okay")
    assert found(detector, english) == [(PHONE, 0, 1, 11)]
    # an amount, a year or a short read-out are not
    assert found(detector, utt("we paid 120000 in 2024 for 3 4 5 seats")) == []
    # an order number said as one is not personal data
    assert found(detector, utt("my order number is 4 5 6 7 8 9 1")) == []


def test_german_names_after_an_introduction_or_a_title(detector: PiiDetector) -> None:
    def names(text: str) -> list[str]:
        said = utt(text)
        findings = detector.detect(transcript(said, language="de"))
        return [
            " ".join(w.text for w in said.words[f.first_word : f.last_word + 1])
            for f in findings
            if f.entity == PERSON
        ]

    assert names("Guten Tag, mein Name ist Jonas Weber. Wie kann ich helfen?") == ["Jonas Weber."]
    assert names("Hallo, hier ist Lukas Becker von Northwind.") == ["Lukas Becker"]
    assert names("Danke, Frau Dr. Schmidt, bis morgen.") == ["Schmidt,"]
    assert names("Ich heiße Anna.") == ["Anna."]
    # a capitalised word that is not a name, lower-case words, no introduction
    assert names("Hier ist Ihre Rechnung.") == []
    assert names("hier ist alles gut, mein Name ist egal") == []
    assert names("Die Rechnung kam am Montag.") == []


# -- payment and identity data: the answer to a request is cut, recognised or not ----------


def _whole(
    detector: PiiDetector, ask: Utterance, answer: Utterance, language: str | None = "en"
) -> set[str]:
    """The entities asked for that cut the answer, asserting that every word of it is cut."""
    findings = detector.detect(transcript(ask, answer, language=language))
    words = {w for f in findings if f.utterance == 1 for w in range(f.first_word, f.last_word + 1)}
    assert words == set(range(len(answer.words)))
    return {f.entity for f in findings if f.reason == ASKED_FOR}


def test_an_ssn_heard_as_words_is_cut_as_asked_for(detector: PiiDetector) -> None:
    # 8 kHz call: "zero five, one one two ..." read digit by digit, as the recogniser wrote it.
    ask = utt("Can I have your social security number?", "agent", 0.0, 0)
    answer = utt("Nero Fime, one, one, two", "customer", 4.0, 1)
    thanks = utt("Thank you, that's all I need.", "agent", 8.0, 0)
    (finding,) = detector.detect(transcript(ask, answer, thanks))
    assert (finding.entity, finding.utterance, finding.first_word, finding.last_word) == (
        US_SSN,
        1,
        0,
        4,
    )
    assert finding.reason == ASKED_FOR and finding.recognizer == "callvault:asked-for"
    assert finding.to_json()["reason"] == "asked-for" and not finding.payment
    redacted = redact_transcript(transcript(ask, answer, thanks), (finding,))
    assert [u.text for u in redacted.utterances] == [ask.text, "[US_SSN]", thanks.text]


@pytest.mark.parametrize(
    ("said", "first", "last"),
    [
        ("code 123", 1, 1),
        ("Yeah, code 1 2 3.", 2, 4),
        ("the security code is 123", 4, 4),
        ("the code is one two three", 3, 5),
        ("security cold won to three", 2, 4),  # misheard "security code one two three"
        ("the code on the back says 4567", 6, 6),
    ],
)
def test_three_or_four_digits_after_code_are_a_cvv(
    detector: PiiDetector, said: str, first: int, last: int
) -> None:
    assert found(detector, utt(said)) == [(CVV, 0, first, last)]


def test_code_123_after_a_misheard_security_code_question(detector: PiiDetector) -> None:
    ask = utt("and the secure decode on the back?", "agent", 0.0, 0)
    answer = utt("code 123", "customer", 4.0, 1)
    assert found(detector, ask, answer) == [(CVV, 1, 1, 1)]
    assert cut(detector, ask, answer) == [(CVV, 1, 0, 1, ASKED_FOR), (CVV, 1, 1, 1, RECOGNISED)]


@pytest.mark.parametrize(
    "said",
    ["the area code 212 is New York", "use promo code 1234", "the code 12345", "code to reset"],
)
def test_other_codes_are_not_a_cvv(detector: PiiDetector, said: str) -> None:
    assert CVV not in [f[0] for f in found(detector, utt(said))]


def test_a_password_or_pin_answer_is_cut(detector: PiiDetector) -> None:
    ask = utt("And your telephone banking password, please.", "agent", 0.0, 0)
    answer = utt("it's blue horse forty two", "customer", 4.0, 1)
    assert cut(detector, ask, answer) == [(PASSWORD, 1, 0, 4, ASKED_FOR)]
    # "PIN number" heard as "pen number": the digits are cut as a PIN, payment data.
    ask = utt("what's your pen number?", "agent", 0.0, 0)
    answer = utt("one two three four", "customer", 4.0, 1)
    findings = detector.detect(transcript(ask, answer))
    assert [(f.entity, f.first_word, f.last_word, f.reason) for f in findings] == [
        (PIN, 0, 3, ASKED_FOR)
    ]
    assert findings[0].payment
    # A PIN said with its name is recognised wherever it is said.
    assert found(detector, utt("my PIN is 4321")) == [(PIN, 0, 3, 3)]


@pytest.mark.parametrize(
    ("question", "entity"),
    [
        ("and the secure decode?", CVV),
        ("what's your social?", US_SSN),
        ("can I get your day of birth", DATE_OF_BIRTH),
        ("And your passcode.", PASSWORD),
        ("your PIN number please", PIN),
        ("could you confirm your national insurance number?", NATIONAL_ID),
        ("and when does it expire?", CARD_EXPIRY),
        ("what are your bank details?", IBAN),
        ("what's the long number on the card?", CREDIT_CARD),
    ],
)
def test_english_requests_including_misheard_ones(
    detector: PiiDetector, question: str, entity: str
) -> None:
    ask = utt(question, "agent", 0.0, 0)
    answer = utt("hold on it is something like that", "customer", 4.0, 1)
    assert _whole(detector, ask, answer) == {entity}


@pytest.mark.parametrize(
    ("question", "entity"),
    [
        ("Wie lautet Ihre Sozialversicherungsnummer?", NATIONAL_ID),
        ("Nennen Sie mir bitte Ihre Personalausweisnummer.", NATIONAL_ID),
        ("Und Ihre Steuer-ID?", NATIONAL_ID),
        ("Bitte noch die Kartenprüfnummer.", CVV),
        ("Wie ist Ihre Bankverbindung?", IBAN),
        ("Und Ihre Kontonummer bitte.", IBAN),
        ("Und Ihr Geburtsdatum?", DATE_OF_BIRTH),
        ("Ihr Passwort bitte.", PASSWORD),
        ("Wie lautet Ihre Geheimzahl?", PIN),
        ("Wie lautet Ihre PIN?", PIN),
        ("Bis wann ist die Karte gültig? Das Ablaufdatum bitte.", CARD_EXPIRY),
    ],
)
def test_german_requests(question: str, entity: str) -> None:
    detector = PiiDetector(PiiParams(use_presidio=False))
    ask = utt(question, "agent", 0.0, 0)
    answer = utt("Moment, das ist so etwas wie blau", "customer", 5.0, 1)
    assert _whole(detector, ask, answer, language="de") == {entity}


@pytest.mark.parametrize(
    "statement",
    [
        "we will send your new card in the post",
        "The social security office is closed today.",
        "you can change your password online",
        "Your PIN will arrive by post.",
        "Wir schicken Ihnen die neue Karte zu.",
    ],
)
def test_statements_ask_for_nothing(detector: PiiDetector, statement: str) -> None:
    said = utt(statement, "agent", 0.0, 0)
    reply = utt("great thanks that sounds good", "customer", 4.0, 1)
    assert detector.detect(transcript(said, reply)) == ()


def test_the_answer_window_ends_when_the_asker_speaks_again(detector: PiiDetector) -> None:
    ask = utt("What's your date of birth?", "agent", 0.0, 0)
    first = utt("uh let me think", "customer", 3.0, 1)
    backchannel = utt("mm-hm", "agent", 5.0, 0)  # not the asker speaking again
    second = utt("it is the day after Easter", "customer", 6.0, 1)
    again = utt("Thanks. And how can I help you with your bill?", "agent", 10.0, 0)
    after = utt("my last bill is wrong", "customer", 14.0, 1)
    findings = cut(detector, ask, first, backchannel, second, again, after)
    assert [f for f in findings if f[4] == ASKED_FOR] == [
        (DATE_OF_BIRTH, 1, 0, 3, ASKED_FOR),
        (DATE_OF_BIRTH, 3, 0, 5, ASKED_FOR),
    ]
    assert not [f for f in findings if f[1] in (2, 4, 5)]


def test_the_answer_window_is_capped(detector: PiiDetector) -> None:
    ask = utt("And the card number please?", "agent", 0.0, 0)  # ends at 2.4 s
    answer = utt("one moment " + "la " * 20 + "okay", "customer", 4.0, 1)
    short = PiiDetector(PiiParams(answer_window_s=5.0))
    (finding,) = [f for f in short.detect(transcript(ask, answer)) if f.reason == ASKED_FOR]
    # Words that start before 2.4 + 5.0 s: 4.0, 4.5, ..., 7.0 (words 0..6).
    assert (finding.entity, finding.first_word, finding.last_word) == (CREDIT_CARD, 0, 6)
    assert finding.payment
    late = utt("sorry I was away", "customer", 30.0, 1)
    assert detector.detect(transcript(ask, late)) == ()
    with pytest.raises(ValueError, match="answer_window_s"):
        PiiParams(answer_window_s=0)


def test_a_follow_up_before_the_answer_moves_the_window(detector: PiiDetector) -> None:
    ask = utt("What's your PIN?", "agent", 0.0, 0)
    more = utt("Take your time, there is no rush.", "agent", 2.0, 0)
    answer = utt("it is one nine eight four", "customer", 6.0, 1)
    assert cut(detector, ask, more, answer) == [
        (PIN, 2, 0, 5, ASKED_FOR),
        (PIN, 2, 2, 5, RECOGNISED),  # the digits after "PIN", wherever it was said
    ]


def test_an_answer_begun_before_the_request_ends_is_cut(detector: PiiDetector) -> None:
    # Heard on an 8 kHz call: the customer reads the code while the agent still speaks.
    ask = utt("And the security code,", "agent", 44.2, 0)  # ends at 46.1 s
    answer = utt("is 4 to 9.", "customer", 45.0, 1)
    assert (CVV, 1, 0, 3, ASKED_FOR) in cut(detector, ask, answer)
    # A word said early in a long request is not part of the answer.
    long_ask = utt("And the security code, the three digits on the back, please", "agent", 44.2, 0)
    okay = utt("okay", "customer", 44.5, 1)
    assert not [f for f in cut(detector, long_ask, okay) if f[1] == 1]


def test_a_request_split_at_a_hyphen_by_the_recogniser_is_recognised(
    detector: PiiDetector,
) -> None:
    ask = utt("And the ex-pirimate, please.", "agent", 0.0, 0)
    answer = utt("oh nine twenty nine", "customer", 2.0, 1)
    assert [f for f in cut(detector, ask, answer) if f[4] == ASKED_FOR] == [
        (CARD_EXPIRY, 1, 0, 3, ASKED_FOR)
    ]
    # Hyphenated words the patterns spell with a hyphen still match as written.
    assert asked_kinds("What's your e-mail?") == [EMAIL]


def test_payment_data_named_and_then_read_out_counts_as_asked(detector: PiiDetector) -> None:
    # No question word, no question mark, too long for a prompt: heard on an 8 kHz call.
    named = utt("And the security code, the free ticket on the Mac,", "agent", 44.2, 0)
    answer = utt("is 4 to 9.", "customer", 49.0, 1)
    assert [f for f in cut(detector, named, answer) if f[4] == ASKED_FOR] == [
        (CVV, 1, 0, 3, ASKED_FOR)
    ]
    # Named, but the answer reads out nothing: not a request.
    words = utt("okay that is fine with me", "customer", 49.0, 1)
    assert [f for f in cut(detector, named, words) if f[4] == ASKED_FOR] == []
    # A kind that is not payment or identity data needs a real request.
    mail = utt("And the e-mail address on the account is the old one,", "agent", 0.0, 0)
    assert cut(detector, mail, utt("one two three", "customer", 6.0, 1)) == []


def test_a_short_code_read_after_a_card_number_is_its_cvv(detector: PiiDetector) -> None:
    ask = utt("Go ahead with the long number on the card please.", "agent", 0.0, 0)
    card = utt("it is 4012 8888 8888 1881", "customer", 5.0, 1)
    # The request for the code, as the recogniser wrote it on an 8 kHz call.
    garbled = utt("And McLift free on McBiggly Church trip.", "agent", 9.0, 0)
    please = utt("Please.", "agent", 12.5, 0)
    code = utt("731 more", "customer", 13.0, 1)
    findings = cut(detector, ask, card, garbled, please, code)
    assert (CVV, 4, 0, 0, RECOGNISED) in findings
    # Not in answer to a request, or long after the card: a number stays a number.
    told = utt("Thanks, that card went through fine.", "agent", 9.0, 0)
    remark = utt("we bought 150 of them", "customer", 13.0, 1)
    assert not [f for f in cut(detector, ask, card, told, remark) if f[1] == 3]
    seats = utt("How many seats do you need please?", "agent", 88.0, 0)
    late = utt("731", "customer", 92.0, 1)
    assert not [f for f in cut(detector, ask, card, told, seats, late) if f[1] == 4]


@pytest.mark.parametrize(
    ("request_text", "kind"),
    [
        ("Great! Go ahead with the long number on the card whenever you're ready.", CREDIT_CARD),
        ("I'll need the sixteen digits across the front.", CREDIT_CARD),
        ("And the three-digit code, please.", CVV),
        ("Then the last three on the signature strip, please.", CVV),
    ],
)
def test_everyday_wordings_of_a_card_request(
    detector: PiiDetector, request_text: str, kind: str
) -> None:
    ask = utt(request_text, "agent", 0.0, 0)
    answer = utt("sure it is what it is", "customer", 6.0, 1)
    assert (kind, 1, 0, 5, ASKED_FOR) in cut(detector, ask, answer)


def test_a_number_read_out_after_a_misheard_first_digit_is_cut(detector: PiiDetector) -> None:
    # "two one seven, ..." on an 8 kHz call, its first digit heard as "to".
    said = utt("No, the new one in every to one seven, five, five, five, zero, one eight eight.")
    assert found(detector, said) == [(PHONE, 0, 6, 15)]
    # A misheard digit word inside the digits is still no read-out number.
    assert found(detector, utt("we said in 2024 for 3 4 5 seats")) == []


def test_a_number_read_out_after_a_word_about_something_else_is_cut(
    detector: PiiDetector,
) -> None:
    # "the area code is two one seven, ..." heard with "every code": "code" is a CVV word.
    said = utt("No, the new one in every code to one seven, five, five, five, zero, one eight.")
    assert found(detector, said) == [(PHONE, 0, 7, 15)]
