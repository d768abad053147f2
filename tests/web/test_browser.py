"""The web app in a real browser (Debian's headless Chromium driven by Playwright) against
a real `callvault serve` process: sign in, upload a spoken call and wait for its
processing, play the demo call and seek by selecting transcript words, open a search hit
at its moment, record from a fake microphone after the consent gate, and erase a data
subject from the compliance page (with confirmation); all of it under the
Content-Security-Policy every response carries, with no violation reported by the browser
on any page, the API docs (Swagger UI and ReDoc, from the installed package) included.
A screenshot of each page lands in test-artifacts/."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from _stored import PASSWORD
from callvault.accounts import Accounts
from callvault.config import load_config
from callvault.services import synthesize_demo_wav
from callvault.vault import Vault

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

DEMO_CALLER = "+442071838750"  # services.demo: the customer's number

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(env: Mapping[str, str], *, stop_timeout: float = 60) -> Iterator[str]:
    """A real `callvault serve` with `env` on a free port: its URL once `/readyz` says
    ready (60 s at most). On leaving, SIGINT, and the process must stop cleanly (exit 0)
    within `stop_timeout` seconds."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "callvault", "serve", "--port", str(port)],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                    if json.loads(answer.read())["status"] == "ready":
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=stop_timeout)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]


# A short two-voice call, one voice per channel (the demo's synthesiser, another script).
UPLOAD_SCRIPT = (
    (0, "en-gb+f3", "Hello, I would like to cancel my subscription please."),
    (1, "en-us+m3", "Of course, I can help you with the cancellation today."),
)


def _playing_at(seconds: float) -> str:
    """A predicate for wait_for_function: the player is within 0.3 s of `seconds`."""
    return f"() => Math.abs(document.getElementById('player').currentTime - {seconds}) <= 0.3"


class Server:
    def __init__(self, url: str, demo_call: str) -> None:
        self.url = url
        self.demo_call = demo_call


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)")
    data = tmp_path / "data"
    env = {**os.environ, "CALLVAULT_DATA_DIR": str(data), "CALLVAULT_DATABASE_URL": ""}
    demo = subprocess.run(
        [sys.executable, "-m", "callvault", "demo"], env=env, capture_output=True, timeout=300
    )
    assert demo.returncode == 0, demo.stderr.decode(errors="replace")[-2000:]
    demo_call = json.loads(demo.stdout)["call"]["id"]
    with Vault.open(load_config(env={}, data_dir=data, actor="test:pytest")) as vault:
        Accounts(vault).add_user("root", PASSWORD, "admin", display_name="Root Admin")
    with serving(env) as url:
        yield Server(url, demo_call)


def test_the_web_app_in_a_browser(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import Page, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    upload_file = tmp_path / "cancel-call.wav"
    upload_file.write_bytes(synthesize_demo_wav(UPLOAD_SCRIPT))
    base = server.url

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--autoplay-policy=no-user-gesture-required",
                "--mute-audio",
                # A fake microphone (a beeping tone) that needs no permission prompt.
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # Chromium reports each thing the policy blocked as a console error.
            violations: list[str] = []
            context.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if message.type == "error" and "Content Security Policy" in message.text
                    else None
                ),
            )
            page = context.new_page()

            # Sign in: a page behind the login sends the browser there and back.
            page.goto(f"{base}/calls/{server.demo_call}")
            assert "/login?next=" in page.url
            shot(page, "login")
            page.get_by_label("User name").fill("root")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/calls/{server.demo_call}")
            page.goto(f"{base}/")
            assert page.locator(f'a[href="/calls/{server.demo_call}"]').count() == 1
            shot(page, "calls")

            # Upload a call, then wait for the in-process workers to transcribe it.
            page.goto(f"{base}/upload")
            shot(page, "upload")
            page.get_by_label("Recording (WAV").set_input_files(str(upload_file))
            page.get_by_label("Caller number").fill("+14155550123")
            page.get_by_label("How every party agreed").select_option("verbal")
            page.get_by_role("button", name="Upload").click()
            page.wait_for_url(f"{base}/calls/*")
            uploaded = page.url.rsplit("/", 1)[-1]
            assert uploaded != server.demo_call
            deadline = time.monotonic() + 180
            while page.locator(".w[data-start]").count() == 0:
                assert time.monotonic() < deadline, "the uploaded call was not processed"
                time.sleep(1.0)
                page.reload()
            assert "cancel" in page.locator("#transcript").inner_text().lower()

            # The demo call: play, then select a word; the player seeks to its start.
            page.goto(f"{base}/calls/{server.demo_call}")
            # Functions, not expressions: Playwright evaluates a string expression with
            # eval() in the page, which the Content-Security-Policy refuses.
            page.wait_for_function(
                "() => document.getElementById('player').readyState >= 1", timeout=30_000
            )
            page.evaluate("document.getElementById('player').play()")
            page.wait_for_function(
                "() => document.getElementById('player').currentTime > 0.3", timeout=30_000
            )
            page.evaluate("document.getElementById('player').pause()")
            words = page.locator(".w[data-start]")
            assert words.count() > 20
            word = words.nth(words.count() - 5)
            start = float(word.get_attribute("data-start") or "nan")
            assert start > 5
            word.click()
            page.wait_for_function(
                _playing_at(start),
                timeout=10_000,
            )
            assert "current" in (word.get_attribute("class") or "")
            # Keyboard: Enter on another word seeks too.
            other = words.nth(2)
            other_start = float(other.get_attribute("data-start") or "nan")
            other.focus()
            page.keyboard.press("Enter")
            page.wait_for_function(
                _playing_at(other_start),
                timeout=10_000,
            )
            shot(page, "call")
            phone = context.new_page()
            phone.set_viewport_size({"width": 375, "height": 812})
            phone.goto(f"{base}/calls/{server.demo_call}")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 380, f"the call page is {width} px wide on a phone"
            shot(phone, "call-phone")
            phone.close()

            # Search, open a hit: the URL has #t=START and the player seeks there.
            page.goto(f"{base}/search?q=replacement")
            hit = page.locator("ol.hits a").first
            assert page.locator("ol.hits mark").count() >= 1
            shot(page, "search")
            hit.click()
            page.wait_for_url("**#t=*")
            seconds = float(page.url.rsplit("#t=", 1)[1])
            page.wait_for_function(
                _playing_at(seconds),
                timeout=30_000,
            )

            # The other pages render.
            for path, name in [
                ("/contacts", "contacts"),
                ("/record", "record"),
                ("/compliance", "compliance"),
                ("/compliance/retention", "retention"),
                ("/compliance/holds", "holds"),
                ("/compliance/audit", "audit"),
                (f"/compliance/consents?call_id={server.demo_call}", "consents"),
                ("/admin", "admin"),
            ]:
                answer = page.goto(f"{base}{path}")
                assert answer is not None and answer.status == 200, path
                shot(page, name)
            # The record button waits for the other party's agreement.
            page.goto(f"{base}/record")
            assert page.get_by_role("button", name="Record").is_disabled()
            page.get_by_label("The other party has agreed").check()
            assert page.get_by_role("button", name="Record").is_enabled()
            page.get_by_role("button", name="They did not agree").click()
            assert page.get_by_role("button", name="Record").is_disabled()
            assert "Nothing was recorded" in page.locator("#status").inner_text()
            # Agreed: the browser records, uploads with consent "verbal" and opens the call.
            page.get_by_label("The other party has agreed").check()
            page.get_by_role("button", name="Record").click()
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('Recording')",
                timeout=10_000,
            )
            time.sleep(2.5)
            page.get_by_role("button", name="Stop and upload").click()
            page.wait_for_url(f"{base}/calls/*", timeout=30_000)
            recorded = page.url.rsplit("/", 1)[-1]
            assert recorded not in (server.demo_call, uploaded)
            started = page.locator("dl.facts").inner_text()
            assert time.strftime("%Y-%m-%d", time.gmtime()) in started
            shot(page, "recorded")

            # Erase the demo call's customer, with the confirmation step.
            page.goto(f"{base}/compliance/rights")
            page.get_by_label("Subject: phone number (+E.164) or name").last.fill(DEMO_CALLER)
            page.get_by_label("Reason (written to the audit log)").fill("art. 17 request")
            page.get_by_role("button", name="Review erasure").click()
            # The form posts to the page's own URL: wait for the answer to be shown, not
            # for a URL change (checking at once raced the navigation).
            page.get_by_role("heading", name="Confirm the erasure").wait_for(timeout=10_000)
            assert server.demo_call in page.content()
            shot(page, "rights-confirm")
            page.get_by_role("button", name="Erase now").click()
            assert "Erased 1 call" in page.locator("p[role=status]").inner_text()
            shot(page, "rights-erased")
            page.goto(f"{base}/")
            assert page.locator(f'a[href="/calls/{server.demo_call}"]').count() == 0
            assert page.locator(f'a[href="/calls/{uploaded}"]').count() == 1
            assert page.locator(f'a[href="/calls/{recorded}"]').count() == 1
            gone = page.goto(f"{base}/calls/{server.demo_call}")
            assert gone is not None and gone.status == 404
            assert violations == [], violations

            # The API docs, drawn by the installed Swagger UI and ReDoc.
            page.goto(f"{base}/docs")
            page.locator(".opblock").first.wait_for(timeout=30_000)
            shot(page, "docs")
            assert violations == [], violations
            page.goto(f"{base}/redoc")
            page.locator(".api-content").wait_for(timeout=30_000)
            page.get_by_placeholder("Search...").fill("calls")  # the search worker
            page.locator("[data-role='search:results'] li").first.wait_for(timeout=10_000)
            shot(page, "redoc")
            page.wait_for_timeout(500)
            # ReDoc's sidebar shows Redocly's logo from Redocly's server: the policy
            # blocks it, and that is all it blocks.
            assert len(violations) == 1, violations
            assert violations[0].startswith(
                "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"
            ), violations
            context.close()
        finally:
            browser.close()
