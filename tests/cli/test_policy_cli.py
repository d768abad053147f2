"""`callvault policy check` through click's CliRunner: decisions, rules files, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callvault.cli import cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": "",
        "CALLVAULT_ORGANISATION": "Northwind Support",
        "CALLVAULT_PRIVACY_CONTACT": "privacy@northwind.example",
        "CALLVAULT_POLICY_RULES": "",
        "CALLVAULT_POLICY_JURISDICTIONS": "",
    }


def check(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["policy", "check", *args], env=env)


def decision(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = check(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_one_party_state_needs_no_notice(env: dict[str, str]) -> None:
    got = decision(env, "--participant", "+12125550100", "--at", "2026-11-23T10:00:00Z")
    assert (got["record"], got["consent"], got["notice_required"]) == (True, "one-party", False)
    assert got["jurisdictions"][0]["region"] == "US-NY"
    assert got["retention_class"] == "standard"
    assert got["reasons"] and all(r["said"] for r in got["reasons"])
    assert "+12125550100" not in json.dumps(got["reasons"])  # reasons never repeat numbers


def test_strictest_participant_wins_and_the_notice_is_filled_in(env: dict[str, str]) -> None:
    got = decision(env, "--participant", "+4930901820", "--participant", "+12125550100")
    assert (got["consent"], got["notice_required"], got["notice_language"]) == (
        "all-party",
        True,
        "de",
    )
    assert "Northwind Support" in got["notice_text"]
    assert "privacy@northwind.example" in got["notice_text"]
    assert "{" not in got["notice_text"]
    french = decision(env, "--participant", "+4930901820", "--language", "fr")
    assert french["notice_language"] == "fr"


def test_rules_file_and_deny_list(env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'default = "do-not-record"\n'
        "[deny]\n"
        'numbers = ["+4420*"]\n'
        "[[rule]]\n"
        'name = "sales"\n'
        'action = "record"\n'
        'team = "sales"\n'
        'retention = "mifid-5y"\n',
        encoding="utf-8",
    )
    env["CALLVAULT_POLICY_RULES"] = str(rules)
    sales = decision(env, "--participant", "+441612345678", "--team", "sales")
    assert (sales["record"], sales["retention_class"]) == (True, "mifid-5y")
    assert decision(env, "--participant", "+441612345678")["record"] is False  # the default
    denied = decision(env, "--participant", "+442071838750", "--team", "sales")
    assert denied["record"] is False  # the deny-list wins over the sales rule
    assert decision(env, "--participant", "112")["record"] is False  # emergency numbers
    plain = check(env, "--participant", "+441612345678", "--team", "sales")
    assert plain.exit_code == 0 and plain.stdout.startswith("record; consent: all-party")


def test_bad_input_is_refused_with_exit_code_2(env: dict[str, str], tmp_path: Path) -> None:
    no_org = {**env, "CALLVAULT_ORGANISATION": ""}
    result = check(no_org, "--participant", "+4930901820")
    assert result.exit_code == 2
    assert "CALLVAULT_ORGANISATION" in result.stderr
    not_a_number = check(env, "--participant", "030 901820")
    assert not_a_number.exit_code == 2 and "E.164" in not_a_number.stderr
    assert check(env).exit_code == 2  # --participant is required
    rules = tmp_path / "bad.toml"
    rules.write_text('[[rule]]\naction = "keep"\n', encoding="utf-8")
    bad = check({**env, "CALLVAULT_POLICY_RULES": str(rules)}, "--participant", "+4930901820")
    assert bad.exit_code == 2
    assert "action" in bad.stderr and "record, do-not-record" in bad.stderr
    no_zone = check(env, "--participant", "+4930901820", "--at", "2026-11-23T10:00:00")
    assert no_zone.exit_code == 2


# -- the gate at ingest ------------------------------------------------------------------


def _wav(tmp_path: Path, seed: int = 0) -> Path:
    from _audio import tone, wav_bytes

    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(1.0, 8000, 2, seed), 8000))
    return path


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def _nothing_stored(env: dict[str, str]) -> bool:
    listed = _run(env, "list", "--json")
    return listed.exit_code == 0 and json.loads(listed.stdout)["calls"] == []


def test_one_party_call_is_stored_with_its_retention(env: dict[str, str], tmp_path: Path) -> None:
    result = _run(
        env, "ingest", str(_wav(tmp_path)), "--caller", "+12125550100", "--callee",
        "+12125550111", "--direction", "inbound", "--started-at", "2026-03-01T10:00:00Z", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = json.loads(result.stdout)["calls"]
    entries = json.loads(_run(env, "audit", "list", "--json").stdout)["entries"]
    decision = next(e for e in entries if e["action"] == "policy.decision")
    assert decision["object_id"] == call["call_id"]
    assert (decision["details"]["consent"], decision["details"]["record"]) == ("one-party", True)
    assert "+1212" not in json.dumps(decision)  # reasons name participants by index
    retention = next(e for e in entries if e["action"] == "retention.set")
    assert retention["object_id"] == call["call_id"]
    assert "consent.record" not in [e["action"] for e in entries]  # none was asked for


def test_all_party_call_needs_consent_and_then_records_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = _wav(tmp_path)
    numbers = ("--caller", "+4930901820", "--callee", "+12125550100")
    refused = _run(env, "ingest", str(path), *numbers)
    assert refused.exit_code == 2
    assert "(DE, US-NY) needs the consent of every party" in refused.stderr
    assert "--consent" in refused.stderr and "nothing was stored" in refused.stderr
    assert "+49" not in refused.stderr  # the numbers are personal data
    assert _nothing_stored(env)
    bad = _run(env, "ingest", str(path), *numbers, "--consent", "nodded")
    assert bad.exit_code == 2 and "is not a consent method" in bad.stderr
    assert _nothing_stored(env)

    stored = _run(env, "ingest", str(path), *numbers, "--consent", "verbal", "--json")
    assert stored.exit_code == 0, stored.output
    (call,) = json.loads(stored.stdout)["calls"]
    consents = json.loads(_run(env, "consent", "list", "--json").stdout)["consents"]
    assert sorted(c["participant"] for c in consents) == ["+12125550100", "+4930901820"]
    expected = (call["call_id"], "verbal", ["analyse", "record"])
    assert all((c["call_id"], c["method"], c["scopes"]) == expected for c in consents)


def test_rules_that_forbid_a_call_store_nothing(env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('default = "record"\n[deny]\nnumbers = ["+1212555*"]\n', encoding="utf-8")
    env["CALLVAULT_POLICY_RULES"] = str(rules)
    good = _wav(tmp_path, 1)
    denied = _wav(tmp_path, 2)
    # Two files in one command: the second is refused, so neither is stored.
    result = _run(
        env, "ingest", str(good), "--caller", "+14165550100", "--consent", "verbal",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    both = _run(env, "ingest", str(good), str(denied), "--caller", "+12125550100")
    assert both.exit_code == 2
    assert "the recording rules do not allow keeping this call" in both.stderr
    assert len(json.loads(_run(env, "list", "--json").stdout)["calls"]) == 1
