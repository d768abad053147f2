"""Outcomes and outcome prediction on stored calls (issue 22), on SQLite and PostgreSQL:
recording, CSV import with line numbers, erasure taking outcomes along, training on
stored insights, a prediction and deal warnings."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from sqlalchemy import text

from _audio import tone, wav_bytes
from _outcome_model import store_synthetic_model
from callvault.analysis import Transcript, Utterance
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import InputError, NotFound
from callvault.services import Context
from callvault.services.calls import erase_call
from callvault.services.contacts import import_contacts_csv
from callvault.services.outcomes import (
    import_outcomes_csv,
    list_outcomes,
    record_outcome,
    resolve_labels,
)
from callvault.services.predict import deal_warnings, predict_call, train_outcome_model
from callvault.vault import Vault


@pytest.fixture
def ctx(vault: Vault) -> Context:
    return Context(config=vault.config, vault=vault)


def store(vault: Vault, seed: int, caller: str = "+14155550100") -> str:
    opts = FileImportOptions(
        caller=caller,
        callee="+442071838750",
        started_at=f"2026-03-{1 + seed % 28:02d}T09:{seed % 60:02d}:00Z",
        agent="alice",
        direction="inbound",
    )
    call = import_bytes(wav_bytes(tone(0.3, 8000, 2, seed), 8000), f"c{seed}.wav", opts)
    return vault.calls.store_call(call).call_id


def doc(sentiment_end: float, steps: int) -> bytes:
    """An insights document: the customer's closing sentiment and agreed next steps."""
    insights = {
        "metrics": {"duration": 240.0, "speakers": [{"role": "agent", "talk_share": 0.5}]},
        "sentiment": {"items": [{"score": sentiment_end}],
                      "customer": {"start": 0.0, "end": sentiment_end, "trend": sentiment_end}},
        "actions": {"items": [{"kind": "commitment"}] * steps},
    }  # fmt: skip
    return json.dumps({"insights": insights, "redactions": {}}).encode()


def process(vault: Vault, call_id: str, sentiment_end: float, steps: int = 1) -> None:
    transcript = Transcript(
        "done", "en", "test", "1", (Utterance("S0", 0, 0.0, 0.3, "hello", 0.9, ()),), False
    )
    vault.transcripts.store_transcript(
        call_id, transcript.to_json().encode(), status="done", language="en",
        model_name="test", model_version="1", utterances=1, words=1,
        insights=(doc(sentiment_end, steps), {"format": 1}),
    )  # fmt: skip


def write(tmp_path: Path, body: str, name: str = "outcomes.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_record_list_and_refusals(ctx: Context, vault: Vault) -> None:
    call_id = store(vault, 1)
    won = record_outcome(ctx, call_id=call_id, outcome="Won", note="signed")
    assert (won.outcome, won.source, won.call_id, won.recorded_by) == (
        "won", "cli", call_id, ctx.actor,
    )  # fmt: skip
    record_outcome(ctx, deal="D-7", outcome="open", source="crm")
    assert [o.outcome for o in list_outcomes(ctx)] == ["won", "open"]
    assert [o.id for o in list_outcomes(ctx, call_id=call_id)] == [won.id]
    with pytest.raises(InputError, match="outcome 'maybe' is not one of won, lost"):
        record_outcome(ctx, call_id=call_id, outcome="maybe")
    with pytest.raises(InputError, match="needs a call id, a contact id or a deal"):
        record_outcome(ctx, outcome="won")
    with pytest.raises(NotFound, match="call 0123 does not exist"):
        record_outcome(ctx, call_id="0123", outcome="won")
    with pytest.raises(NotFound, match="contact ffff does not exist"):
        record_outcome(ctx, contact_id="ffff", outcome="won")
    entries = [e for e in vault.audit_entries() if e.action == "outcome.record"]
    assert [e.object_id for e in entries] == [won.id, list_outcomes(ctx)[1].id]
    assert "signed" not in json.dumps([e.details for e in entries])


def test_csv_import_is_all_or_nothing_and_names_the_line(
    ctx: Context, vault: Vault, tmp_path: Path
) -> None:
    calls = [store(vault, n) for n in range(2)]
    import_contacts_csv(ctx, write(tmp_path, "name,phone\nJane,(415) 555-0100\n", "c.csv"))
    bad = write(tmp_path, f"call_id,outcome\n{calls[0]},won\n\n{calls[1]},sideways\n")
    with pytest.raises(InputError) as caught:
        import_outcomes_csv(ctx, bad)
    assert str(caught.value) == (
        f"{bad}, line 4: outcome must be one of won, lost, churned, resolved, open"
    )
    missing = write(tmp_path, f"call_id,outcome\n{calls[0]},won\n{'f' * 32},lost\n")
    with pytest.raises(NotFound, match=r"line 3: call f{32} does not exist"):
        import_outcomes_csv(ctx, missing)
    assert list_outcomes(ctx) == []
    good = write(
        tmp_path,
        "Outcome,call_id,contact,deal,date\n"
        f"won,{calls[0]},,,2026-04-01\n"
        "lost,,415-555-0100,D-1,2026-04-02T10:00:00+00:00\n",
    )
    records = import_outcomes_csv(ctx, good)
    assert [(r.outcome, r.source, r.deal) for r in records] == [
        ("won", "csv", None), ("lost", "csv", "D-1"),
    ]  # fmt: skip
    assert records[1].contact_id is not None
    # Both calls are the contact's (caller +14155550100): the deal labels them lost,
    # the first call's own outcome wins over it.
    assert resolve_labels(ctx).calls == {calls[0]: "won", calls[1]: "lost"}


def test_erasure_takes_the_outcomes_along(ctx: Context, vault: Vault, tmp_path: Path) -> None:
    kept, erased = store(vault, 3), store(vault, 4)
    import_contacts_csv(ctx, write(tmp_path, "name,phone\nJane,+14155550100\n", "c.csv"))
    record_outcome(ctx, call_id=kept, outcome="won")
    record_outcome(ctx, call_id=erased, outcome="lost")
    contact_id = resolve_contact(vault)
    record_outcome(ctx, contact_id=contact_id, outcome="churned")
    erase_call(ctx, erased, reason="test")
    assert sorted(o.outcome for o in list_outcomes(ctx)) == ["churned", "won"]
    # Erasing the contact (no erasure path of its own yet: the row goes) takes its outcome.
    with vault.transaction() as tx:
        tx.session.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": contact_id})
    assert [o.outcome for o in list_outcomes(ctx)] == ["won"]


def resolve_contact(vault: Vault) -> str:
    with vault.transaction() as tx:
        return str(tx.session.execute(text("SELECT id FROM contacts")).scalar_one())


def test_train_predict_and_warn(ctx: Context, vault: Vault) -> None:
    rng = random.Random(7)
    with pytest.raises(NotFound, match="no outcome model has been trained yet"):
        deal_warnings(ctx)
    first = store(vault, 100)
    process(vault, first, 0.5)
    record_outcome(ctx, call_id=first, outcome="won")
    with pytest.raises(InputError, match=r"has 1 \(1 won/resolved, 0 lost/churned\)"):
        train_outcome_model(ctx)
    for n in range(44):
        call_id = store(vault, 200 + n)
        end = rng.uniform(-1, 1)
        process(vault, call_id, end, steps=rng.randint(0, 2))
        won = rng.random() < 1 / (1 + math.exp(-5 * end))
        record_outcome(ctx, call_id=call_id, outcome="won" if won else "lost")
    report = train_outcome_model(ctx)
    assert report.n == 45 and report.skipped == {"restricted": 0, "unreadable": 0}
    assert 0.5 < report.evaluation.auc <= 1.0
    assert report.evaluation.brier < report.evaluation.baseline_brier

    gloomy, bright = store(vault, 300), store(vault, 301)
    process(vault, gloomy, -0.9)
    process(vault, bright, 0.9)
    low, high = predict_call(ctx, gloomy), predict_call(ctx, bright)
    assert 0 <= low.probability < 0.35 < 0.65 < high.probability <= 1
    assert low.factors[0].direction == "down"
    record_outcome(ctx, call_id=gloomy, deal="D-9", outcome="open", source="crm")
    record_outcome(ctx, call_id=bright, deal="D-10", outcome="open", source="crm")
    warnings = deal_warnings(ctx)
    assert [(w.kind, w.id, w.call_ids) for w in warnings] == [("deal", "D-9", (gloomy,))]
    assert warnings[0].probability == pytest.approx(low.probability)
    assert any(e.action == "outcome_model.store" for e in vault.audit_entries())


def test_no_prediction_from_a_model_that_did_not_beat_the_base_rate(
    ctx: Context, vault: Vault
) -> None:
    # A model whose held-out Brier score was no better than the base rate's (what 30
    # calls often give: bench/outcomes.py) is kept, and refuses to predict.
    store_synthetic_model(vault)
    _, body = vault.outcomes.load_model() or ("", b"")
    model = json.loads(body)
    measured = {"auc": 0.49, "brier": 0.251, "baseline_brier": 0.246, "beats_baseline": False}
    vault.outcomes.store_model(json.dumps({**model, "metrics": measured}).encode())
    call_id = store(vault, 400)
    process(vault, call_id, 0.3)
    with pytest.raises(InputError, match=r"Brier 0\.251 against 0\.246, AUC 0\.49, 60 calls"):
        predict_call(ctx, call_id)
    with pytest.raises(InputError, match="did no better than always predicting the base rate"):
        deal_warnings(ctx)
    # The same model measured as better than the base rate predicts.
    skilled = {**measured, "brier": 0.2, "beats_baseline": True}
    vault.outcomes.store_model(json.dumps({**model, "metrics": skilled}).encode())
    assert 0.0 <= predict_call(ctx, call_id).probability <= 1.0


def test_the_model_survives_a_key_rotation(ctx: Context, vault: Vault) -> None:
    model_id = store_synthetic_model(vault)
    before = vault.outcomes.load_model()
    result = vault.rotate_keys()
    assert result.rewrapped == 1  # no recording: the model's key only
    after = vault.outcomes.load_model()
    assert after == before and after is not None and after[0] == model_id
    assert json.loads(after[1])["format"] == 1
