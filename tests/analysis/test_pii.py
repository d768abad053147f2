"""PII detection and transcript redaction on hand-built transcripts."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.pii import (
    ADDRESS,
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    ENTITIES,
    IBAN,
    PAYMENT_ENTITIES,
    PERSON,
    PHONE,
    STAMP,
    US_SSN,
    PiiDetector,
    PiiFinding,
    PiiParams,
    placeholder,
    redact_transcript,
)

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
    findings = detector.detect(transcript(*utterances, language=language))
    return [(f.entity, f.utterance, f.first_word, f.last_word) for f in findings]


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
    findings = detector.detect(transcript(ASK_CARD, utt(invalid, start=4.0)))
    assert [(f.entity, f.utterance, f.first_word, f.last_word) for f in findings] == [
        (CREDIT_CARD, 1, 1, 4)
    ]
    assert findings[0].confidence == 0.6


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
    }
    dumped = json.dumps([f.to_json() for f in findings])
    assert "1111" not in dumped and "jane" not in dumped and "example" not in dumped
    assert findings[0].payment and not findings[1].payment
    assert findings[0].utterances == (0,)


def test_no_network_during_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    from callvault.analysis.pii import _recognizers

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
    monkeypatch.setattr(_recognizers, "_TLD", None)
    monkeypatch.setattr(_recognizers, "_TLDS", None)
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
    findings = detector.detect(original)
    redacted = redact_transcript(original, findings)
    assert redacted.utterances[0] == ASK_CARD
    out = redacted.utterances[1]
    assert out.text == "Sure, it's [CREDIT_CARD] thanks."
    assert out.words[2] == Word(5.0, 7.0, "[CREDIT_CARD]", 1.0)
    assert [w.text for w in out.words] == [" Sure,", " it's", "[CREDIT_CARD]", " thanks."]
    assert (out.start, out.end, out.speaker, out.channel) == (4.0, 9.0, "customer", 0)


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
    assert STAMP.name == "pii" and STAMP.version == "4"
    assert only_email.stamp.params["entities"] == [EMAIL]
    assert ENTITIES[:3] == (CREDIT_CARD, CVV, CARD_EXPIRY)
    assert PAYMENT_ENTITIES == {CREDIT_CARD, CVV, CARD_EXPIRY}


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
    assert found(detector, ask, answer) == [(EMAIL, 1, 0, 8)]


def test_an_unrecognised_answer_before_other_findings_is_cut(detector: PiiDetector) -> None:
    ask = utt("Thank you. Where should we send the mandate form?", "agent")
    answer = utt(
        "To account setting number not code not UK, please. And my direct line is "
        "020 7946 0123, in case you need me.",
        start=4.0,
    )
    found_here = found(detector, ask, answer)
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
    assert found(detector, ask, answer) == [(US_SSN, 1, 0, 10)]
    statement = utt("The social security office is closed today.", "agent")
    assert found(detector, statement, utt("Oh, 12 days.", start=4.0)) == []


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
    ask = utt("what is the card number please?", "agent", 0.0, 0)
    answer = utt("sure it is 4111 1111 1111 1111 okay", "customer", 3.0, 1)
    (finding,) = detector.detect(transcript(ask, answer))
    assert finding.entity == "CREDIT_CARD" and finding.recognizer != "callvault:asked-for"
    assert (finding.first_word, finding.last_word) == (3, 6)


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
