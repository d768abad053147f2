"""Ingest, queue, transcribe and show, on SQLite and PostgreSQL, with a real recording."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from _audio import wav_bytes
from callvault.cli import cli

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
STEREO = EVAL / "asr" / "en" / "stereo_diarization.wav"


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not STEREO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"eval data missing: {STEREO}")
        pytest.skip(f"eval data missing: {STEREO}")
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_MODEL_CACHE": str(tmp_path / "models"),
    }

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.env = env  # type: ignore[attr-defined]  # the settings the commands see
    return invoke


def ingest_outbound_call(run, *extra: str):  # type: ignore[no-untyped-def]
    """The stereo eval call as an outbound call of agent alice, transcribed at once."""
    return run(
        "ingest",
        "--consent",
        "pre-call-notice",
        str(STEREO),
        "--caller",
        "+14155550100",
        "--callee",
        "+442071838750",
        "--direction",
        "outbound",
        "--agent",
        "alice",
        *extra,
        "--wait",
        "--json",
    )


def test_ingest_wait_then_show_has_the_transcript(run) -> None:  # type: ignore[no-untyped-def]
    result = ingest_outbound_call(run, "--language", "en")
    assert result.exit_code == 0, result.output
    (call,) = json.loads(result.stdout)["calls"]
    shown = json.loads(run("show", call["call_id"], "--json").stdout)
    transcript = shown["transcript"]
    assert transcript["status"] == "done"
    assert transcript["language"] == "en"
    assert transcript["model"] == {"name": "whisper-tiny.en", "version": "0.1.0"}
    speakers = {u["speaker"] for u in transcript["utterances"]}
    assert speakers == {"alice", "customer"}  # outbound: the caller on channel 0 is the agent
    starts = [u["start"] for u in transcript["utterances"]]
    assert starts == sorted(starts)
    for u in transcript["utterances"]:
        assert u["words"] and 0 <= u["confidence"] <= 1
        assert all(
            u["start"] - 0.01 <= w["start"] <= w["end"] <= u["end"] + 0.01 for w in u["words"]
        )
    jobs = json.loads(run("jobs", "list", "--json").stdout)["jobs"]
    assert [(j["task"], j["status"]) for j in jobs] == [("process_call", "succeeded")]
    actions = [e["action"] for e in json.loads(run("audit", "list", "--json").stdout)["entries"]]
    assert "transcript.store" in actions and "transcript.read" in actions
    assert run("verify", "--all").exit_code == 0
    # Ingesting the same bytes again queues nothing new.
    again = json.loads(run("ingest", "--consent", "pre-call-notice", str(STEREO), "--json").stdout)[
        "calls"
    ][0]
    assert again["duplicate"] and again["job_id"] == call["job_id"]


def test_no_speech_is_a_status_not_an_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    silence = tmp_path / "silence.wav"
    silence.write_bytes(wav_bytes(np.zeros((16000 * 3, 2), dtype="<i2"), 16000))
    result = run(
        "ingest",
        "--consent",
        "pre-call-notice",
        str(silence),
        "--language",
        "en",
        "--wait",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (call,) = json.loads(result.stdout)["calls"]
    transcript = json.loads(run("show", call["call_id"], "--json").stdout)["transcript"]
    assert transcript["status"] == "no_speech" and transcript["utterances"] == []
    assert "no speech detected" in run("show", call["call_id"]).stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_failed_job_names_the_model_and_retries(tmp_path: Path, backend: str) -> None:
    if not STEREO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"eval data missing: {STEREO}")
        pytest.skip(f"eval data missing: {STEREO}")
    data = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": "",
        "CALLVAULT_MODEL_CACHE": str(tmp_path / "models"),
    }
    broken = {**data, "CALLVAULT_ASR_MODELS": f"en={tmp_path / 'no-such-model'}"}
    result = CliRunner().invoke(
        cli,
        ["ingest", "--consent", "pre-call-notice", str(STEREO), "--language", "en", "--wait"],
        env=broken,
    )
    assert result.exit_code == 1
    *progress_lines, error = result.stderr.rstrip("\n").split("\n")
    assert all(line.startswith("job ") for line in progress_lines)
    assert error.startswith("error: job ") and error.endswith("runs it again")
    assert "ended failed: ConfigError: ASR model for 'en'" in error
    listed = CliRunner().invoke(cli, ["jobs", "list", "--json"], env=data)
    (job,) = json.loads(listed.stdout)["jobs"]
    assert job["status"] == "failed" and job["attempts"] == 3
    # A failed job keeps its call: `jobs run` does not queue it again behind the user's back.
    swept = CliRunner().invoke(cli, ["jobs", "run", "--json"], env=data)
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.stdout) == {"queued": [], "jobs": []}
    retried = CliRunner().invoke(cli, ["jobs", "retry", job["id"], "--wait"], env=data)
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.endswith(f"job {job['id']} succeeded\n")
    again = CliRunner().invoke(cli, ["process", job["payload"]["call_id"], "--json"], env=data)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["status"] == "done"


def test_search_finds_the_call_and_erasure_removes_it(run) -> None:  # type: ignore[no-untyped-def]
    result = ingest_outbound_call(run, "--started-at", "2026-03-02T10:00:00Z", "--language", "en")
    assert result.exit_code == 0, result.output
    call_id = json.loads(result.stdout)["calls"][0]["call_id"]

    def hits(*args: str) -> list[dict[str, object]]:
        found = run("search", *args, "--json")
        assert found.exit_code == 0, found.output
        return list(json.loads(found.stdout)["hits"])

    (hit,) = hits("wizard")
    assert (hit["call_id"], hit["speaker"], hit["role"]) == (call_id, "alice", "agent")
    ranked = json.loads(run("search", "wizard", "--json").stdout)
    assert (ranked["order"], ranked["matches"]) == ("relevance", 1)
    # Past the rank limit the hits come newest first, and the command says so.
    run.env["CALLVAULT_SEARCH_RANK_LIMIT"] = "0"
    newest = run("search", "wizard", "--json")
    assert json.loads(newest.stdout)["order"] == "newest"
    assert json.loads(newest.stdout)["matches"] is None
    plain = run("search", "wizard")
    assert plain.stderr.startswith("more than 0 utterances match: newest first")
    del run.env["CALLVAULT_SEARCH_RANK_LIMIT"]
    assert "«wizard»" in str(hit["snippet"])
    assert [h["role"] for h in hits('"extremely distant"')] == ["customer"]
    assert hits("horiz*", "--speaker", "customer")[0]["call_id"] == call_id
    assert hits("wizard", "--speaker", "customer") == []
    assert hits("wizard", "--agent", "bob") == []
    assert hits("wizard", "--since", "2026-03-03") == []
    assert len(hits("wizard", "--since", "2026-03-02", "--until", "2026-03-03")) == 1
    bad = run("search", "--since", "yesterday", "wizard")
    assert (bad.exit_code, bad.stderr) == (
        2,
        "error: --since 'yesterday' is not an ISO 8601 date and time; for example "
        "2026-11-23T14:05:00+01:00\n",
    )
    actions = [e["action"] for e in json.loads(run("audit", "list", "--json").stdout)["entries"]]
    assert "transcript.search" in actions
    assert run("delete", call_id, "--reason", "erasure request", "--yes").exit_code == 0
    assert hits("wizard") == []
    assert hits("horiz*") == []


def test_jobs_run_queues_a_call_stored_without_a_job(run) -> None:  # type: ignore[no-untyped-def]
    """A crash between storing a call and queueing its job leaves a call with neither
    transcript nor job; `jobs run` finds it, transcribes it, and queues nothing twice."""
    from callvault.capture import FileImportOptions, import_file
    from callvault.config import load_config
    from callvault.vault import Vault

    assert run("init").exit_code == 0
    config = load_config(env=run.env)
    with Vault.open(config) as vault:  # what ingest does, without the queueing
        call = import_file(STEREO, FileImportOptions(language="en"), max_bytes=10**8)
        stored = vault.calls.store_call(call)
    assert json.loads(run("jobs", "list", "--json").stdout)["jobs"] == []

    result = run("jobs", "run", "--json")
    assert result.exit_code == 0, result.output
    assert "queued 1 call(s) that had no transcription job" in result.stderr
    report = json.loads(result.stdout)
    (job,) = report["jobs"]
    assert report["queued"] == [job["id"]] and job["status"] == "succeeded"
    assert job["payload"] == {"call_id": stored.call_id, "run": job["payload"]["run"]}
    transcript = json.loads(run("show", stored.call_id, "--json").stdout)["transcript"]
    assert transcript["status"] == "done"

    again = run("jobs", "run", "--json")  # nothing left: nothing queued, nothing run
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"queued": [], "jobs": []}
