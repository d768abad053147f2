"""The compliance page of spoken refusals in headless Chromium against a real `callvault
serve` (issue 20): a compliance user sees the decision, the words and the confidence of a
refusal that cut a call, reverses it with a reason, and the recording is whole again."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from test_browser import ARTIFACTS, CHROMIUM, serving

from _audio import tone, wav_bytes
from _stored import PASSWORD, stored_frames, transcribe
from callvault.accounts import Accounts
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import load_config
from callvault.services import Context
from callvault.services.access import Principal
from callvault.services.refusals import detect_and_honour
from callvault.vault import Vault

pytestmark = pytest.mark.slow


def _said(channel: int, start: float, text: str) -> Utterance:
    words = tuple(
        Word(start + i * 0.2, start + i * 0.2 + 0.15, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(f"S{channel}", channel, words[0].start, words[-1].end, text, 0.9, words)


def _cut_call(data: Path) -> tuple[str, np.ndarray]:
    """A stored call cut by a spoken refusal, and its audio before the cut."""
    config = dataclasses.replace(
        load_config(env={}, data_dir=data, actor="test:pytest"), on_withdrawal="keep-before"
    )
    with Vault.open(config) as vault:
        Accounts(vault).add_user("cora", PASSWORD, "compliance", display_name="Cora")
        opts = FileImportOptions(caller="+14155550100", callee="+442071838750")
        audio = wav_bytes(tone(4.0, 8000, 2, 5), 8000)
        call_id = vault.calls.store_call(import_bytes(audio, "c.wav", opts)).call_id
        original = stored_frames(vault, call_id)
        said = (
            _said(0, 0.1, "hello how can I help"),
            _said(1, 2.0, "I do not want to be recorded"),
        )
        transcribe(vault, call_id, *said)
        ctx = Context(config, vault, principal=Principal("cora", "compliance"))
        transcript = Transcript("done", "en", "test", "1", said, False)
        detection = detect_and_honour(ctx, call_id, transcript)
        assert detection is not None and detection.outcome == "cut"
        assert stored_frames(vault, call_id).shape[0] < original.shape[0]
    return call_id, original


def test_compliance_reverses_a_refusal_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)")
    data = tmp_path / "data"
    call_id, original = _cut_call(data)
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(data),
        "CALLVAULT_DATABASE_URL": "",
        "CALLVAULT_ON_WITHDRAWAL": "keep-before",
    }
    with serving(env, stop_timeout=120) as base:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM))
            try:
                page = browser.new_page()
                violations: list[str] = []
                page.on(
                    "console",
                    lambda m: (
                        violations.append(m.text)
                        if m.type == "error" and "Content Security Policy" in m.text
                        else None
                    ),
                )
                page.goto(f"{base}/compliance")
                page.get_by_label("User name").fill("cora")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/compliance")
                page.get_by_role("link", name="Spoken refusals").click()
                page.wait_for_url(f"{base}/compliance/refusals")
                row = page.locator("tr[data-refusal]")
                assert row.count() == 1
                assert "want to be recorded" in row.locator("td.words").inner_text()
                assert row.locator("td.status").inner_text() == "applied (cut)"
                assert float(row.locator("td.confidence").inner_text()) >= 0.5
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "refusals.png"), full_page=True)
                row.get_by_label("Reason").first.fill("she agreed later in the call")
                row.get_by_role("button", name="Reverse").click()
                page.wait_for_url(f"{base}/compliance/refusals")
                assert page.locator("tr[data-refusal] td.status").inner_text() == "reversed (cut)"
                assert "she agreed later" in page.locator("tr[data-refusal]").inner_text()
                assert violations == [], violations
            finally:
                browser.close()
    with Vault.open(load_config(env={}, data_dir=data, actor="test:pytest")) as vault:
        assert np.array_equal(stored_frames(vault, call_id), original)
        (entry,) = vault.audit_entries(action="refusal.reverse")
        assert entry.actor == "user:cora" and entry.purpose == "she agreed later in the call"
