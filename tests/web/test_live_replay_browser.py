"""The live page in a real browser (Debian's headless Chromium driven by Playwright)
against a real `callvault serve` process, while `callvault monitor replay --realtime
--live` runs in another process on the same data directory with the real tiny.en model
(issue 20): a compliance user sees the replayed call appear, its rolling transcript
(words of the recording's reference), the alert of a user's phrase rule; Acknowledge is
stored and audited; the call leaves the page when the replay ends. A screenshot lands in
test-artifacts/live-replay.png."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_browser import ARTIFACTS, CHROMIUM, serving

from _stored import PASSWORD
from callvault.accounts import Accounts
from callvault.config import Config, load_config
from callvault.vault import Vault

pytestmark = pytest.mark.slow

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
OSR = EVAL / "asr" / "en" / "OSR_us_000_0034_8k.wav"
CLIP_S = 20.0  # five Harvard sentences: time to see the alert and acknowledge it
RULES = (
    '[rules.ring]\nkind = "phrase"\nrole = "any"\nseverity = "critical"\nphrases = ["gold ring"]\n'
)
WAIT_MS = 20000


class Served:
    def __init__(self, url: str, config: Config, env: dict[str, str]) -> None:
        self.url = url
        self.config = config
        self.env = env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)")
    data = tmp_path / "data"
    env = {**os.environ, "CALLVAULT_DATA_DIR": str(data), "CALLVAULT_DATABASE_URL": ""}
    config = load_config(env={}, data_dir=data, actor="test:monitor")
    with Vault.open(config) as vault:
        Accounts(vault).add_user("cora", PASSWORD, "compliance")
    with serving(env) as url:
        yield Served(url, config, env)


def _clip(tmp_path: Path) -> Path:
    """The first CLIP_S seconds of OSR (8 kHz telephone read speech), as a mono WAV."""
    if not OSR.exists():
        pytest.fail(f"eval data missing: {OSR} (set CALLVAULT_EVAL_DATA)")
    with wave.open(str(OSR)) as source:
        pcm = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    path = tmp_path / "line-4.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm[: int(CLIP_S * 8000)].tobytes())
    return path


def test_the_live_page_follows_a_replayed_call(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    base = served.url
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "callvault",
        "monitor",
        "replay",
        str(_clip(tmp_path)),
        "--realtime",
        "--live",
        "--json",
        "--channels",
        "customer",
        "--language",
        "en",
        "--rules",
        str(rules),
    ]
    replaying: subprocess.Popen[bytes] | None = None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/live")
            page.get_by_label("User name").fill("cora")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/live")
            expect(page.locator("#live-empty")).to_be_visible()
            expect(page.locator("#live-status")).to_contain_text("Live", timeout=WAIT_MS)

            replaying = subprocess.Popen(
                command, env=served.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            card = page.locator(".live-call")
            expect(card).to_have_count(1, timeout=WAIT_MS)
            expect(card.locator("h2")).to_have_text("line-4.wav")
            leg = card.locator(".live-leg")
            expect(leg.locator("h3")).to_have_text("customer")
            # The rolling transcript: the first sentence's words, final.
            expect(leg.locator(".live-final").first).to_contain_text(
                "gold ring", ignore_case=True, timeout=WAIT_MS
            )
            alert = card.locator(".live-alert")
            expect(alert).to_have_count(1, timeout=WAIT_MS)
            expect(alert.locator(".rule")).to_have_text("ring")
            expect(alert.locator(".said")).to_contain_text("gold ring", ignore_case=True)
            page.screenshot(path=str(ARTIFACTS / "live-replay.png"), full_page=True)
            assert replaying.poll() is None, "the replay ended before the alert was acknowledged"

            alert.get_by_role("button", name="Acknowledge").click()
            expect(alert).to_have_class("live-alert acknowledged", timeout=WAIT_MS)
            expect(alert).to_contain_text("acknowledged by cora")

            # The replay ends: the call leaves the page.
            out, err = replaying.communicate(timeout=120)
            assert replaying.returncode == 0, err.decode(errors="replace")[-2000:]
            expect(card).to_have_count(0, timeout=WAIT_MS)
            expect(page.locator("#live-empty")).to_be_visible()
        finally:
            if replaying is not None and replaying.poll() is None:
                replaying.kill()
                replaying.wait()
            browser.close()

    events = [json.loads(line) for line in out.decode().splitlines()]
    (fired,) = [e for e in events if e["event"] == "alert" and e["rule"] == "ring"]
    print(f"replayed alert: call_time {fired['call_time']} s, delay {fired['delay_s']} s")
    with Vault.open(served.config) as vault:
        (ack,) = vault.audit_entries(action="live.ack")
        assert ack.actor == "user:cora"
        (call,) = vault.live.calls(active=False)
        assert call.ended_at is not None
        (stored,) = vault.live.alerts(call.id)
        assert (stored.rule, stored.acknowledged_by) == ("ring", "cora")
        assert stored.call_time == pytest.approx(fired["call_time"], abs=1e-3)
