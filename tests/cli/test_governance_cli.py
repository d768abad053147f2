"""`callvault hold`, `retention` and `consent` through CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from _receiver import SECRET, Receiver
from callvault.cli import cli


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str, more: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            cli, list(args), env={**env, **(more or {})}, catch_exceptions=False
        )

    return invoke


def ingest(run, tmp_path: Path, seed: int = 0) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(1.0, 8000, 2, seed), 8000))
    result = run(
        "ingest", "--consent", "pre-call-notice", str(path), "--caller", "+14155550100", "--json"
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["calls"][0]["call_id"])


def ok(result: Result) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_hold_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = ingest(run, tmp_path)
    hold = ok(run("hold", "add", call_id, "--reason", "case 17", "--json"))
    assert (hold["call_id"], hold["subject"], hold["reason"], hold["active"]) == (
        call_id,
        None,
        "case 17",
        True,
    )
    assert hold["created_by"] == "test:cli"
    subject = ok(
        run("hold", "add", "--subject", "+1 415 555 0100", "--reason", "inquiry", "--json")
    )
    assert subject["subject"] == "+14155550100"
    listed = ok(run("hold", "list", "--json"))["holds"]
    assert [h["id"] for h in listed] == [hold["id"], subject["id"]]

    refused = run("delete", call_id, "--reason", "asked", "--yes")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: call {call_id} is under legal hold {hold['id']} ")
    assert "(case 17) and 1 more;" in refused.stderr

    released = ok(run("hold", "remove", hold["id"], "--reason", "closed", "--json"))
    assert released["active"] is False and released["release_reason"] == "closed"
    plain = run("hold", "remove", subject["id"], "--reason", "over")
    assert plain.exit_code == 0 and plain.stdout.startswith(f"hold {subject['id']}  subject ")
    assert ok(run("hold", "list", "--json"))["holds"] == []
    assert len(ok(run("hold", "list", "--all", "--json"))["holds"]) == 2
    assert run("delete", call_id, "--reason", "asked", "--yes").exit_code == 0
    actions = [e["action"] for e in ok(run("audit", "list", "--json"))["entries"]]
    assert actions.count("hold.add") == 2 and actions.count("hold.release") == 2
    assert run("audit", "verify").exit_code == 0


def test_retention_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    expired = ingest(run, tmp_path, 0)
    held = ingest(run, tmp_path, 1)
    kept = ingest(run, tmp_path, 2)
    for call_id in (expired, held):
        info = ok(
            run(
                "retention",
                "set",
                call_id,
                "--class",
                "short",
                "--until",
                "2026-01-01T00:00Z",
                "--json",
            )
        )
        assert info == {
            "call_id": call_id,
            "retention_class": "short",
            "retain_until": "2026-01-01T00:00:00+00:00",
        }
    hold = ok(run("hold", "add", held, "--reason", "litigation", "--json"))

    dry = ok(run("retention", "run", "--dry-run", "--json"))
    assert dry["dry_run"] is True
    assert [(e["call_id"], e["certificate"]) for e in dry["erased"]] == [(expired, None)]
    assert len(ok(run("list", "--json"))["calls"]) == 3

    result = run("retention", "run", "--json", "--now", "2026-02-01T00:00:00Z")
    report = ok(result)
    assert result.stderr == "retention: 1/2 expired call(s) handled\n" + (
        "retention: 2/2 expired call(s) handled\n"
    )
    assert report["now"] == "2026-02-01T00:00:00+00:00" and report["dry_run"] is False
    (erased,) = report["erased"]
    assert erased["call_id"] == expired
    assert erased["certificate"]["method"] == "crypto-shredding"
    assert report["skipped"] == [
        {
            "call_id": held,
            "retention_class": "short",
            "retain_until": "2026-01-01T00:00:00+00:00",
            "reason": "legal-hold",
            "hold_ids": [hold["id"]],
            "restriction_id": None,
        }
    ]
    remaining = sorted(c["id"] for c in ok(run("list", "--json"))["calls"])
    assert remaining == sorted([held, kept])
    text = run("retention", "run")
    assert text.exit_code == 0
    assert text.stdout == f"kept   call {held}  (hold {hold['id']})\n0 call(s) erased, 1 kept\n"
    assert run("audit", "verify").exit_code == 0


def test_consent_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = ingest(run, tmp_path)
    # Ingest recorded how the parties agreed (--consent pre-call-notice), one per party.
    at_ingest = ok(run("consent", "list", "--json"))["consents"]
    assert at_ingest and {(c["call_id"], c["method"]) for c in at_ingest} == {
        (call_id, "pre-call-notice")
    }
    from_ingest = {c["id"] for c in at_ingest}
    record = ok(
        run(
            "consent",
            "add",
            "--participant",
            "+14155550100",
            "--call",
            call_id,
            "--method",
            "dtmf",
            "--scope",
            "record",
            "--scope",
            "analyse",
            "--at",
            "2026-03-01T09:00:00+01:00",
            "--json",
        )
    )
    assert record["scopes"] == ["analyse", "record"]
    assert record["given_at"] == "2026-03-01T08:00:00+00:00"
    assert record["call_id"] == call_id and record["active"] is True
    other = ok(
        run("consent", "add", "--participant", "+442071838750", "--method", "web", "--scope",
            "training", "--json")
    )  # fmt: skip
    assert {c["id"] for c in ok(run("consent", "list", "--json"))["consents"]} == {
        *from_ingest,
        record["id"],
        other["id"],
    }
    assert {
        c["id"] for c in ok(run("consent", "list", "--call", call_id, "--json"))["consents"]
    } == {*from_ingest, record["id"]}
    by_number = ok(run("consent", "list", "--participant", "+442071838750", "--json"))
    assert [c["id"] for c in by_number["consents"]] == [other["id"]]
    withdrawn = ok(run("consent", "withdraw", record["id"], "--at", "2026-03-05T00:00Z", "--json"))
    assert withdrawn["withdrawn_at"] == "2026-03-05T00:00:00+00:00"
    assert withdrawn["active"] is False

    # Erasing the call keeps the consent, detached from it.
    assert run("delete", call_id, "--reason", "asked", "--yes").exit_code == 0
    kept = {c["id"]: c for c in ok(run("consent", "list", "--json"))["consents"]}
    assert set(kept) == {*from_ingest, record["id"], other["id"]}
    assert all(kept[i]["call_id"] is None for i in (*from_ingest, record["id"]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["hold", "add", "--reason", "x"],
            "error: give either a CALL_ID or --subject, not both or neither\n",
        ),
        (
            ["hold", "add", "CALL", "--subject", "+14155550100", "--reason", "x"],
            "error: give either a CALL_ID or --subject, not both or neither\n",
        ),
        (
            ["hold", "add", "nope", "--reason", "x"],
            "error: call nope does not exist; `callvault list` shows the calls\n",
        ),
        (
            ["hold", "remove", "nope", "--reason", "x"],
            "error: hold nope does not exist; `callvault hold list --all` shows the holds\n",
        ),
        (
            ["retention", "run", "--now", "yesterday"],
            "error: --now 'yesterday' is not an ISO 8601 date and time; for example "
            "2026-11-23T14:05:00+01:00\n",
        ),
        (
            ["retention", "run", "--now", "2026-01-01T00:00:00"],
            "error: --now '2026-01-01T00:00:00' has no time zone; add Z for UTC or an offset "
            "such as +01:00\n",
        ),
        (
            ["consent", "add", "--participant", "+14155550100", "--method", "fax", "--scope",
             "record"],
            "error: consent method 'fax' is unknown; use one of verbal, dtmf, web, ivr, "
            "pre-call-notice\n",
        ),
        (
            ["consent", "add", "--participant", "+14155550100", "--method", "web", "--scope",
             "sales"],
            "error: consent scope 'sales' is unknown; use one or more of record, analyse, "
            "training\n",
        ),
        (
            ["consent", "add", "--participant", "+1415", "--method", "web", "--scope", "record"],
            "error: the participant is not an E.164 phone number; write it with + and the "
            "country code, for example +442071234567\n",
        ),
        (
            ["consent", "withdraw", "nope"],
            "error: consent nope does not exist; `callvault consent list` shows the consents\n",
        ),
        (
            ["retention", "set", "nope", "--class", "Bad Class"],
            "error: retention class 'Bad Class' is not a class name; use up to 32 lower-case "
            "letters, digits, '.', '_' or '-', such as standard\n",
        ),
    ],
)  # fmt: skip
def test_bad_input_exits_2(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message


def test_erasures_from_the_command_line_send_call_erased(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, receiver: Receiver
) -> None:
    hooks = {"CALLVAULT_WEBHOOK_URLS": receiver.url, "CALLVAULT_WEBHOOK_SECRET": SECRET}
    first, second, third = (ingest(run, tmp_path, seed) for seed in range(3))
    assert run("delete", first, "--reason", "asked", "--yes", more=hooks).exit_code == 0
    receiver.wait_for(1)
    assert receiver.verified(0)["event"] == "call.erased"
    assert receiver.verified(0)["data"] == {"call_id": first}

    set_until = ("--class", "short", "--until", "2026-01-01T00:00Z")
    assert run("retention", "set", second, *set_until).exit_code == 0
    dry = run("retention", "run", "--dry-run", "--now", "2026-02-01T00:00Z", more=hooks)
    assert dry.exit_code == 0 and len(receiver.received) == 1  # a dry run erases nothing
    assert run("retention", "run", "--now", "2026-02-01T00:00Z", more=hooks).exit_code == 0
    receiver.wait_for(2)
    assert receiver.verified(1)["data"] == {"call_id": second}

    # A subscriber that refuses (4xx is final): the erasure stands, stderr says so.
    receiver.answers = [410]
    erased = run(
        "rights", "erase", "--subject", "+14155550100", "--reason", "art. 17", "--yes",
        more=hooks,
    )  # fmt: skip
    assert erased.exit_code == 0, erased.output
    assert f"erased call {third}" in erased.stdout
    assert receiver.verified(2)["data"] == {"call_id": third}
    assert erased.stderr.startswith("webhooks: 1 call.erased deliveries not made (refused, ")
    assert ok(run("list", "--json"))["calls"] == []

    entries = ok(run("audit", "list", "--json"))["entries"]
    deliveries = [e for e in entries if e["action"] == "webhook.deliver"]
    assert [(d["object_id"], d["details"]["ok"]) for d in deliveries] == [
        (first, True),
        (second, True),
        (third, False),
    ]
    assert SECRET not in json.dumps(entries)
    # Without webhook settings nothing is sent.
    fourth = ingest(run, tmp_path, 4)
    assert run("delete", fourth, "--reason", "asked", "--yes").exit_code == 0
    assert len(receiver.received) == 3
