"""Scorecards: rubric validation names the file, section, question and key; scoring on
hand-made transcripts and insights documents; None for no evidence; the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callvault.analysis import Transcript, Utterance, Word
from callvault.analysis.scorecards import (
    ComplianceRule,
    MetricRule,
    PhraseRule,
    default_rubric,
    load_rubric,
    parse_rubric,
    score_call,
    with_overrides,
)
from callvault.analysis.scorecards._rubric import COMPLIANCE_CHECKS
from callvault.errors import ConfigError


def utt(speaker: str, start: float, text: str, confidence: float = 0.9) -> Utterance:
    words = tuple(
        Word(start + i * 0.5, start + i * 0.5 + 0.4, w, confidence)
        for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + 0.5 * len(words), text, confidence, words)


def call(*utterances: Utterance) -> Transcript:
    return Transcript("done", "en", "test", "1", utterances, True)


def insights(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metrics": {
            "duration": 300.0,
            "silence_share": 0.2,
            "confidence": 0.9,
            "speakers": [
                {
                    "speaker": "ann",
                    "role": "agent",
                    "talk_time": 100.0,
                    "talk_share": 0.5,
                    "questions": 4,
                    "interruption_count": 1,
                    "interruptions": [{"utterance": 1, "time": 10.0}],
                    "longest_monologue": {"duration": 30.0, "utterances": [0]},
                    "confidence": 0.9,
                },
                {
                    "speaker": "customer",
                    "role": "customer",
                    "talk_time": 90.0,
                    "talk_share": 0.45,
                    "questions": 1,
                    "confidence": 0.9,
                },
            ],
        },  # fmt: skip
        "trackers": {
            "hits": [
                {"tracker": "objection.price", "confidence": 1.0, "utterances": [1]},
            ],
            "compliance": {
                "passed": False,
                "checks": [
                    {"name": "disclosure", "passed": True, "confidence": 0.9, "utterances": [0]},
                    {
                        "name": "prohibited",
                        "passed": False,
                        "confidence": 0.8,
                        "utterances": [],
                        "hits": [{"utterances": [2]}],
                    },
                ],
            },  # fmt: skip
        },
    }
    doc.update(extra)
    return doc


RUBRIC = """
name = "sales"
version = "2"

[[sections]]
id = "opening"
title = "Opening"
weight = 2

[[sections.questions]]
id = "greeting"
text = "Greeted?"
[[sections.questions.evidence]]
kind = "phrase"
phrases = ["thank you for calling"]
role = "agent"
within_first = 20
found = 5
missing = 1

[[sections.questions]]
id = "price"
text = "Price objection raised?"
weight = 3
[[sections.questions.evidence]]
kind = "tracker"
tracker = "objection.price"
found = 2

[[sections]]
id = "compliance"
title = "Compliance"

[[sections.questions]]
id = "prohibited"
text = "No prohibited phrases?"
[[sections.questions.evidence]]
kind = "compliance"
check = "prohibited"
found = 5
missing = 1

[[sections.questions]]
id = "silence"
text = "Little dead air?"
[[sections.questions.evidence]]
kind = "metric"
metric = "silence_share"
bands = [[0, 0.3, 5], [0.3, 1.01, 2]]
"""


def transcript() -> Transcript:
    return call(
        utt("ann", 1.0, "Thanks for calling Northwind, thank you for calling us"),
        utt("customer", 9.0, "Honestly it is too expensive"),
        utt("ann", 15.0, "I guarantee you will make money"),
    )


def test_scores_each_question_with_evidence_and_confidence() -> None:
    card = score_call(parse_rubric(RUBRIC, "sales.toml"), transcript(), insights())
    by_id = {q.id: q for q in card.questions()}
    assert by_id["greeting"].score == 5 and by_id["greeting"].evidence == (0,)
    assert 0.8 < by_id["greeting"].confidence <= 1.0
    assert by_id["price"].score == 2 and by_id["price"].evidence == (1,)
    assert by_id["prohibited"].score == 1 and by_id["prohibited"].evidence == (2,)
    assert by_id["silence"].score == 5
    # Weighted: opening (5*1 + 2*3) / 4 = 2.75; compliance (1 + 5) / 2 = 3.0;
    # overall (2.75*2 + 3.0*1) / 3 = 2.83.
    opening, compliance = card.sections
    assert opening.score == 2.75 and compliance.score == 3.0
    assert card.overall == 2.83
    assert card.rubric == "sales" and card.version == "2"
    assert "Northwind" not in str(card.to_json())  # no transcript text is kept


def test_no_evidence_either_way_scores_none_and_is_not_weighted() -> None:
    # No hits for the tracker and no `missing` score: the question has no evidence.
    doc = insights(trackers={"hits": [], "compliance": None})
    card = score_call(parse_rubric(RUBRIC, "sales.toml"), transcript(), doc)
    by_id = {q.id: q for q in card.questions()}
    assert by_id["price"].score is None and by_id["price"].confidence == 0.0
    assert by_id["prohibited"].score is None  # no compliance section at all
    (note,) = by_id["price"].notes
    assert note == "tracker objection.price: 0 hit(s), 1 needed; no score for missing"
    assert card.sections[0].score == 5.0  # greeting only: price is skipped, not a 0
    assert card.sections[1].score == 5.0  # silence only
    assert card.unscored == 2


def test_absent_evidence_is_less_sure_than_contrary_evidence() -> None:
    late = call(utt("ann", 25.0, "thank you for calling"), utt("customer", 30.0, "hi"))
    card = score_call(parse_rubric(RUBRIC, "sales.toml"), late, insights())
    greeting = card.questions()[0]
    assert greeting.score == 1 and greeting.evidence == ()  # said, but after 20 s
    found = score_call(parse_rubric(RUBRIC, "sales.toml"), transcript(), insights())
    assert greeting.confidence < found.questions()[0].confidence


def test_phrase_matching_is_case_and_inflection_tolerant_and_role_bound() -> None:
    rubric = parse_rubric(
        RUBRIC.replace('"thank you for calling"', '"SCHEDULE a follow-up call"'), "s.toml"
    )
    said = call(utt("ann", 2.0, "let me schedules a follow-up call"))
    assert score_call(rubric, said, insights()).questions()[0].score == 5
    by_customer = call(utt("customer", 2.0, "schedule a follow-up call"), utt("ann", 3.0, "ok"))
    assert score_call(rubric, by_customer, insights()).questions()[0].score == 1
    # Nobody in the agent role: nothing to judge, not a 1.
    nobody = insights(metrics={"speakers": [], "duration": 60.0})
    assert score_call(rubric, said, nobody).questions()[0].score is None


def test_low_asr_confidence_lowers_the_confidence() -> None:
    rubric = parse_rubric(RUBRIC, "sales.toml")
    sure = score_call(rubric, transcript(), insights()).questions()[0]
    mumbled = call(utt("ann", 1.0, "thank you for calling", confidence=0.2))
    unsure = score_call(rubric, mumbled, insights()).questions()[0]
    assert unsure.score == sure.score == 5
    assert unsure.confidence < sure.confidence - 0.2


def test_a_metric_near_a_band_edge_is_less_sure() -> None:
    rubric = parse_rubric(RUBRIC, "sales.toml")
    far = score_call(rubric, transcript(), insights()).questions()[-1]
    near_doc = insights()
    near_doc["metrics"]["silence_share"] = 0.295
    near = score_call(rubric, transcript(), near_doc).questions()[-1]
    assert far.score == near.score == 5
    assert near.confidence < far.confidence * 0.75


def test_default_rubric_scores_speaker_metrics() -> None:
    card = score_call(default_rubric(), transcript(), insights())
    by_id = {q.id: q for q in card.questions()}
    assert by_id["asked-questions"].score == 5  # 4 questions
    assert by_id["no-interrupting"].score == 3 and by_id["no-interrupting"].evidence == (1,)
    assert by_id["listened"].score == 5  # talk share 0.5, monologue 30 s
    assert by_id["disclosure"].score == 5 and by_id["no-prohibited"].score == 1
    assert by_id["acknowledged"].score is None  # never said; no `missing` score
    assert card.overall is not None


def test_overrides_replace_scores_and_reweight() -> None:
    card = score_call(parse_rubric(RUBRIC, "sales.toml"), transcript(), insights())
    changed = with_overrides(card, {"price": 5, "unknown": 1})
    price = {q.id: q for q in changed.questions()}["price"]
    assert price.score == 5 and price.machine_score == 2 and price.overridden
    assert changed.sections[0].score == 5.0 and changed.overall == 4.33
    assert type(card).from_json(changed.to_json()) == changed


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("version = \"2\"", "version = \"2\"\ncolour = 1"),
         "rubric r.toml: key 'colour': unknown key; expected name, scale, sections, version"),
        (("weight = 3", "weight = -3"),
         "rubric r.toml: section 'opening' question 'price' key 'weight': must be a finite "
         "number >= 0, not -3"),
        (("role = \"agent\"", "role = \"boss\""),
         "rubric r.toml: section 'opening' question 'greeting' evidence 0 key 'role': must be "
         "one of agent, customer, any, not 'boss'"),
        (("found = 2", "found = 9"),
         "rubric r.toml: section 'opening' question 'price' evidence 0 key 'found': 9 is "
         "outside the scale 1..5"),
        (("metric = \"silence_share\"", "metric = \"agent.charm\""),
         "rubric r.toml: section 'compliance' question 'silence' evidence 0 key 'metric': "
         "unknown metric 'agent.charm'"),
        (("check = \"prohibited\"", "check = \"greeting\""),
         "rubric r.toml: section 'compliance' question 'prohibited' evidence 0 key 'check': "
         "unknown check 'greeting'"),
        (("kind = \"tracker\"", "kind = \"vibes\""),
         "rubric r.toml: section 'opening' question 'price' evidence 0 key 'kind': unknown "
         "kind 'vibes'"),
        (("tracker = \"objection.price\"", "tracker = \"objection.price\"\nspeaker = \"x\""),
         "rubric r.toml: section 'opening' question 'price' evidence 0 key 'speaker': "
         "unknown key"),
        (("bands = [[0, 0.3, 5], [0.3, 1.01, 2]]", "bands = [[0, 0.5, 5], [0.3, 1.01, 2]]"),
         "rubric r.toml: section 'compliance' question 'silence' evidence 0 key 'bands': band "
         "1 overlaps band 0"),
        (("id = \"silence\"", "id = \"greeting\""),
         "rubric r.toml: question id 'greeting' is used twice"),
        (("within_first = 20", "within_first = 20\nwithin_last = 5"),
         "rubric r.toml: section 'opening' question 'greeting' evidence 0 key 'within_last': "
         "give within_first or within_last, not both"),
    ],
)  # fmt: skip
def test_rubric_errors_name_file_section_question_and_key(
    edit: tuple[str, str], message: str
) -> None:
    assert edit[0] in RUBRIC
    with pytest.raises(ConfigError) as caught:
        parse_rubric(RUBRIC.replace(edit[0], edit[1], 1), "r.toml")
    assert str(caught.value).startswith(message)


def test_rubric_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_rubric(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"rubric {bad} is not valid TOML"):
        load_rubric(bad)
    good = tmp_path / "good.toml"
    good.write_text(RUBRIC, encoding="utf-8")
    assert load_rubric(good).source == str(good)


def test_default_rubric_uses_phrases_metrics_and_both_checks() -> None:
    rubric = default_rubric()
    kinds = {rule.kind for _, q in rubric.questions() for rule in q.rules}
    assert kinds == {"phrase", "metric", "compliance"}
    assert rubric.scale_min == 1 and rubric.scale_max == 5
    assert any(
        isinstance(r, PhraseRule) and r.within_last for _, q in rubric.questions() for r in q.rules
    )
    assert any(isinstance(r, MetricRule) for _, q in rubric.questions() for r in q.rules)
    checks = {
        r.check for _, q in rubric.questions() for r in q.rules if isinstance(r, ComplianceRule)
    }
    assert checks == set(COMPLIANCE_CHECKS)


def test_the_phrase_itself_must_be_inside_the_window() -> None:
    rubric = parse_rubric(RUBRIC, "sales.toml")
    # The utterance starts at 15 s (inside the first 20 s) but the phrase is said at
    # 15 + 0.5 * 12 = 21 s, after the window.
    late = call(
        utt("ann", 15.0, "so um well ok right then yes sure fine now here thank you for calling")
    )
    assert score_call(rubric, late, insights()).questions()[0].score == 1
    early = call(utt("ann", 15.0, "thank you for calling so um well ok right then yes sure fine"))
    assert score_call(rubric, early, insights()).questions()[0].score == 5
