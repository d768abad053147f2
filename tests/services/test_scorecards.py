"""Scorecards of stored calls (SQLite and PostgreSQL): scored after processing, read with
their evidence, overridden with a kept history that survives a re-score and a re-run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from _context import as_context
from _scripted_asr import CARD_CALL, ScriptedPipeline, store
from _stored import add_people
from callvault.config import Config
from callvault.errors import ConfigError, InputError, NotFound, Restricted
from callvault.services import Context, process_call, require_call
from callvault.services.access import CALLS_CORRECT, CALLS_INSIGHTS, Principal
from callvault.services.jobs import task_registry
from callvault.services.scorecards import (
    check_rubric,
    override_score,
    read_scorecard,
    score_call,
)
from callvault.vault import Vault

RUBRIC = """
name = "qa"
[[sections]]
id = "care"
title = "Care"
[[sections.questions]]
id = "follow-up"
text = "Did the agent promise a follow-up?"
[[sections.questions.evidence]]
kind = "phrase"
phrases = ["send the receipt"]
role = "agent"
found = 5
missing = 1
[[sections.questions]]
id = "disclosed"
text = "Was the recording disclosed?"
[[sections.questions.evidence]]
kind = "compliance"
check = "disclosure"
found = 5
missing = 1
"""


def processed(vault: Vault) -> str:
    call_id, _ = store(vault)
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    return call_id


def actions(vault: Vault) -> list[str]:
    return [e.action for e in vault.audit_entries()]


def test_scored_after_processing_with_evidence(config: Config, vault: Vault) -> None:
    call_id = processed(vault)
    assert "scorecard.store" in actions(vault)
    card = read_scorecard(as_context(vault), call_id, purpose="QA")
    assert actions(vault)[-3:] == ["scorecard.read", "correction.read", "transcript.read"]
    questions = {q.id: q for q in card.scorecard.questions()}
    assert card.scorecard.rubric == "default"
    assert questions["agreed-next-steps"].score == 5  # "I will send the receipt tomorrow"
    assert questions["agreed-next-steps"].evidence == (2,)
    assert card.evidence[2].text == "I will send the receipt tomorrow"
    assert card.evidence[2].speaker == "alice" and card.evidence[2].start == pytest.approx(5.8)
    assert questions["disclosure"].score == 5
    assert questions["acknowledged"].score is None  # no evidence either way
    assert card.scorecard.overall is not None and card.history == ()
    # The stored artifact holds indices only: the words are read at display time.
    raw = vault.artifacts.read_artifact(call_id, "scorecard")
    assert raw is not None and b"receipt" not in raw


def test_override_kept_with_history_and_survives_rescore_and_rerun(
    config: Config, vault: Vault, tmp_path: Path
) -> None:
    call_id = processed(vault)
    ctx = as_context(vault)
    rubric = tmp_path / "qa.toml"
    rubric.write_text(RUBRIC, encoding="utf-8")
    first = score_call(ctx, call_id, rubric=rubric)
    assert [q.score for q in first.scorecard.questions()] == [5, 5]
    done = override_score(ctx, call_id, "follow-up", 3, reason="receipt promised, not sent")
    assert (done.old, done.new, done.question) == (5, 3, "follow-up")

    def check() -> None:
        card = read_scorecard(ctx, call_id)
        follow = card.scorecard.questions()[0]
        assert follow.score == 3 and follow.machine_score == 5 and follow.overridden
        assert card.scorecard.sections[0].score == 4.0  # (3 + 5) / 2
        (entry,) = card.history
        assert (entry.old, entry.new, entry.reason) == (5, 3, "receipt promised, not sent")
        assert entry.actor == config.actor and entry.applied

    check()
    score_call(ctx, call_id, rubric=rubric)  # scored again: the override still applies
    check()
    with pytest.raises(InputError, match="already scores 3"):
        override_score(ctx, call_id, "follow-up", 3, reason="again")
    # The override is an insight correction, kept as they are, not shown as one.
    history = [c for c in vault.corrections.corrections(call_id) if c.target == "insight"]
    assert [c.key for c in history] == ["scorecard/qa:follow-up/score"]
    assert json.loads(history[0].new) == 3
    # Processed again (the audio is rewritten, the corrections re-keyed): scored with the
    # configured (default) rubric; scoring with qa again finds the override.
    process_call(ctx, call_id, pipeline=ScriptedPipeline(CARD_CALL))
    assert read_scorecard(ctx, call_id).scorecard.rubric == "default"
    score_call(ctx, call_id, rubric=rubric)
    check()


def test_bad_overrides_are_refused(config: Config, vault: Vault) -> None:
    call_id, _ = store(vault)
    ctx = as_context(vault)
    with pytest.raises(NotFound, match=f"call {call_id} has no scorecard yet"):
        override_score(ctx, call_id, "greeting", 3, reason="x")
    with pytest.raises(InputError, match="has no transcript and insights yet"):
        score_call(ctx, call_id)
    process_call(ctx, call_id, pipeline=ScriptedPipeline(CARD_CALL))
    with pytest.raises(InputError, match="rubric default has no question 'mood'; use one of"):
        override_score(ctx, call_id, "mood", 3, reason="x")
    with pytest.raises(InputError, match="score 6 is outside the scale 1..5"):
        override_score(ctx, call_id, "greeting", 6, reason="x")
    with pytest.raises(InputError, match="reason"):
        override_score(ctx, call_id, "greeting", 1, reason=" ")


def test_scoring_off_and_a_bad_rubric_fails_closed(
    config: Config, vault: Vault, tmp_path: Path
) -> None:
    off = Context(dataclasses.replace(config, scorecard_rubric="off"), vault)
    call_id, _ = store(vault)
    process_call(off, call_id, pipeline=ScriptedPipeline(CARD_CALL))
    assert "scorecard.store" not in actions(vault)
    with pytest.raises(NotFound, match="has no scorecard yet"):
        read_scorecard(off, call_id)
    bad = tmp_path / "bad.toml"
    bad.write_text(RUBRIC.replace('role = "agent"', 'role = "boss"'), encoding="utf-8")
    broken = Context(dataclasses.replace(config, scorecard_rubric=str(bad)), vault)
    message = f"rubric {bad}: section 'care' question 'follow-up' evidence 0 key 'role'"
    with pytest.raises(ConfigError, match=message):
        check_rubric(broken.config)
    with pytest.raises(ConfigError, match=message):
        task_registry(broken)  # the workers do not start


def test_another_teams_manager_gets_not_found(config: Config, vault: Vault) -> None:
    add_people(vault)
    call_id = processed(vault)  # agent alice, team east
    ctx = as_context(vault)
    require_call(ctx, Principal("mona", "manager", "east"), CALLS_CORRECT, call_id)
    with pytest.raises(NotFound):
        require_call(ctx, Principal("wes", "manager", "west"), CALLS_INSIGHTS, call_id)


def test_a_restricted_call_is_neither_read_nor_scored(config: Config, vault: Vault) -> None:
    call_id = processed(vault)
    ctx = as_context(vault)
    vault.restrictions.restrict("+442071838750", "accuracy contested")
    with pytest.raises(Restricted):
        read_scorecard(ctx, call_id)
    with pytest.raises(Restricted):
        score_call(ctx, call_id)
    with pytest.raises(Restricted):
        override_score(ctx, call_id, "greeting", 1, reason="x")
    assert "scorecard.read.refused" in actions(vault)
