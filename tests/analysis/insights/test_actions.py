from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._actions import ActionParams, run
from callvault.analysis.insights._records import CallFacts
from callvault.errors import ConfigError

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROLES = {"A": "agent", "B": "customer"}


def utt(speaker: str, start: float, text: str, step: float = 0.5) -> Utterance:
    """An utterance whose words start every `step` seconds from `start`."""
    words = tuple(
        Word(start + i * step, start + i * step + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + step * len(words), text, 0.9, words)


def call(*lines: tuple[str, str], language: str = "en") -> Transcript:
    utterances = tuple(utt(speaker, 10.0 * i, text) for i, (speaker, text) in enumerate(lines))
    return Transcript("done", language, "test", "1", utterances, True)


def facts(roles: dict[str, str] | None = None, started: datetime | None = MONDAY) -> CallFacts:
    return CallFacts(duration=300.0, started_at=started, roles=ROLES if roles is None else roles)


def test_commitments_and_requests_with_owner_and_due() -> None:
    transcript = call(
        ("A", "I'll send you the proposal by Friday."),
        ("A", "Let me check with my team and get back to you tomorrow."),
        ("B", "Can you send me the security whitepaper?"),
        ("A", "Tomorrow I will call [PERSON] about the discount."),
    )
    items = run(transcript, facts(), ActionParams()).items
    got = [(i.owner, i.kind, i.text, i.due, i.due_text, i.utterances) for i in items]
    assert got == [
        (
            "agent",
            "commitment",
            "Send you the proposal by Friday",
            datetime(2026, 11, 27, 17, 0, tzinfo=UTC),
            "by Friday",
            (0,),
        ),
        (
            "agent",
            "commitment",
            "Check with my team and get back to you tomorrow",
            datetime(2026, 11, 24, 17, 0, tzinfo=UTC),
            "tomorrow",
            (1,),
        ),
        # asked by the customer: the agent owns it
        ("agent", "request", "Send me the security whitepaper", None, None, (2,)),
        (
            "agent",
            "commitment",
            "Call [PERSON] about the discount",
            datetime(2026, 11, 24, 17, 0, tzinfo=UTC),
            "Tomorrow",
            (3,),
        ),
    ]
    assert [i.confidence for i in items] == [0.9, 0.8, 0.75, 0.9]
    assert [i.speaker for i in items] == ["A", "A", "B", "A"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm going to set up a demo for Thursday.", "Set up a demo for Thursday"),
        ("We'll loop in our engineer.", "Loop in our engineer"),
        ("I will definitely forward the invoice.", "Forward the invoice"),
        ("I'll be sending you the contract by 3 pm.", "Sending you the contract by 3 pm"),
        ("I can send the invoice on Monday.", "Send the invoice on Monday"),
        ("I’ll follow up with an email.", "Follow up with an email"),
        ("I'd be happy to share the case study.", "Share the case study"),
        ("We are going to review the numbers.", "Review the numbers"),
        ("I'll be in touch.", "Be in touch"),
        ("I promise to fix that bug.", "Fix that bug"),
        ("We will get back to you on pricing.", "Get back to you on pricing"),
        ("I need to check with my boss first.", "Check with my boss first"),
        ("I'll make sure to email the recap.", "Email the recap"),
        ("I'm gonna ask legal about the clause.", "Ask legal about the clause"),
        ("Yes, let me find out who owns that.", "Find out who owns that"),
    ],
)
def test_commitment_recall(text: str, expected: str) -> None:
    items = run(call(("A", text)), facts(), ActionParams()).items
    assert [(i.kind, i.owner, i.text) for i in items] == [("commitment", "agent", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "I'll be honest with you, it's a lot.",
        "I will say the demo was great.",
        "I'll tell you what, that sounds fine.",
        "We'll see how it goes.",
        "I won't sign anything today.",
        "I will not do that.",
        "I'll admit it looks good.",
        "I can see that on my screen.",
        "Let me see.",
        "Let me know if that works.",
        "Could you hear me?",
        "Please hold on a second.",
        "I'll put it this way.",
        "Would you like a coffee?",
        "What can you do on price?",
        "I'll let you go then.",
        "Okay, I'll talk to you soon.",
        "If I can get approval, great.",
    ],
)
def test_non_commitments_are_not_items(text: str) -> None:
    assert run(call(("A", text), ("B", "Okay.")), facts(), ActionParams()).items == ()


def test_two_items_in_one_sentence_keep_their_own_due_date() -> None:
    transcript = call(("A", "I'll set up a call next week, and we'll loop in [PERSON]."))
    items = run(transcript, facts(), ActionParams()).items
    assert [(i.text, i.due_text) for i in items] == [
        ("Set up a call next week", "next week"),
        ("Loop in [PERSON]", None),
    ]


def test_request_owner_is_the_other_party() -> None:
    transcript = call(
        ("A", "Could you send us your current contract by end of the month?"),
        ("B", "Sure."),
    )
    (item,) = run(transcript, facts(), ActionParams()).items
    assert (item.owner, item.kind, item.text, item.due_text, item.confidence) == (
        "customer",
        "request",
        "Send us your current contract by end of the month",
        "by end of the month",
        0.75,
    )
    assert item.due == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def test_request_in_a_three_party_call_has_no_owner() -> None:
    transcript = call(("A", "Please send the logs."), ("B", "Yes."), ("C", "Fine."))
    (item,) = run(transcript, facts(), ActionParams()).items
    assert (item.owner, item.text, item.confidence) == (None, "Send the logs", 0.5)


def test_speaker_label_when_roles_are_unknown_and_no_call_time() -> None:
    transcript = call(("S1", "I will email the summary on Monday."), ("S2", "Thanks."))
    (item,) = run(transcript, facts(roles={}, started=None), ActionParams()).items
    assert (item.owner, item.due, item.due_text) == ("S1", None, "on Monday")


def test_requests_can_be_turned_off() -> None:
    transcript = call(("B", "Can you send me the deck?"), ("A", "I'll send it today."))
    items = run(transcript, facts(), ActionParams(requests=False)).items
    assert [i.text for i in items] == ["Send it today"]


def test_german() -> None:
    transcript = call(
        ("A", "Ich schicke Ihnen das Angebot bis Freitag."),
        ("B", "Könnten Sie mir bitte die Preisliste schicken?"),
        ("A", "Wir melden uns nächste Woche."),
        ("A", "Ich werde ehrlich sein, das ist knapp."),
        ("A", "Das schicke ich Ihnen morgen."),
        ("B", "Können Sie mich hören?"),
        language="de",
    )
    items = run(transcript, facts(), ActionParams()).items
    assert [(i.owner, i.kind, i.text, i.due_text, i.utterances) for i in items] == [
        ("agent", "commitment", "Schicke Ihnen das Angebot bis Freitag", "bis Freitag", (0,)),
        ("agent", "request", "Die Preisliste schicken", None, (1,)),
        ("agent", "commitment", "Melden uns nächste Woche", "nächste Woche", (2,)),
        ("agent", "commitment", "Das schicke ich Ihnen morgen", "morgen", (4,)),
    ]
    assert items[2].due == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich rufe Sie morgen an.", "Rufe Sie morgen an"),
        ("Ich kümmere mich darum.", "Kümmere mich darum"),
        ("Ich spreche mit meinem Chef.", "Spreche mit meinem Chef"),
        ("Ich werde mich bis übermorgen melden.", "Mich bis übermorgen melden"),
        ("Wir lassen Ihnen die Unterlagen zukommen.", "Lassen Ihnen die Unterlagen zukommen"),
    ],
)
def test_german_commitment_recall(text: str, expected: str) -> None:
    items = run(call(("A", text), language="de"), facts(), ActionParams()).items
    assert [(i.kind, i.text) for i in items] == [("commitment", expected)]


def test_json_shape() -> None:
    result = run(call(("A", "I'll send the deck tomorrow.")), facts(), ActionParams())
    assert result.to_json() == {
        "method": "rules",
        "items": [
            {
                "owner": "agent",
                "text": "Send the deck tomorrow",
                "due": "2026-11-24T17:00:00+00:00",
                "due_text": "tomorrow",
                "kind": "commitment",
                "speaker": "A",
                "confidence": 0.9,
                "utterances": [0],
            }
        ],
        "utterances": [0],
        "stamp": {
            "name": "actions",
            "version": "1",
            "params": {"method": "rules", "requests": True, "min_confidence": 0.0},
        },
    }


def test_an_empty_transcript() -> None:
    empty = Transcript("no_speech", None, "test", "1", (), False)
    assert run(empty, facts(), ActionParams()).items == ()


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="min_confidence must be between 0 and 1"):
        run(call(), facts(), ActionParams(min_confidence=2.0))
