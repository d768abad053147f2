"""The live page in a real browser (Debian's headless Chromium driven by Playwright)
against a real `callvault serve` process, while a monitor in another thread (and another
process's storage over the same database) publishes a call as it goes on: the manager
sees the partial words greyed, then the final words in their place, then the alert with
its rule, time and confidence; Acknowledge posts with the CSRF token and the page shows
who acknowledged it; a call of another team never appears; the call leaves the page when
it ends. No Content-Security-Policy violation is reported. A screenshot lands in
test-artifacts/live.png."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import ARTIFACTS, CHROMIUM, serving

from _stored import PASSWORD
from callvault.accounts import Accounts
from callvault.analysis.live import Alert, LiveEvent, LiveWord
from callvault.config import Config, load_config
from callvault.services import Context, LiveBoard
from callvault.vault import Vault

pytestmark = pytest.mark.slow

WAIT_MS = 15000


def said(kind: str, text: str, at: float, channel: int = 1) -> LiveEvent:
    words = tuple(
        LiveWord(at - 0.3 * (n + 1), at - 0.3 * n, w, 0.9) for n, w in enumerate(text.split())
    )
    return LiveEvent(kind, at, channel, "customer", text, words)  # type: ignore[arg-type]


class Served:
    def __init__(self, url: str, config: Config) -> None:
        self.url = url
        self.config = config


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)")
    data = tmp_path / "data"
    env = {**os.environ, "CALLVAULT_DATA_DIR": str(data), "CALLVAULT_DATABASE_URL": ""}
    config = load_config(env={}, data_dir=data, actor="test:monitor")
    with Vault.open(config) as vault:
        accounts = Accounts(vault)
        accounts.add_user("mona", PASSWORD, "manager", team="east", display_name="Mona")
        accounts.add_user("alice", PASSWORD, "rep", team="east")
        accounts.add_user("carol", PASSWORD, "rep", team="west")
    with serving(env) as url:
        yield Served(url, config)


class Monitor(threading.Thread):
    """A monitor publishing one call of alice (and one of carol, another team), step by
    step: each step waits until the test has seen the one before on the page."""

    def __init__(self, config: Config) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.go = [threading.Event() for _ in range(3)]
        self.live_id = ""
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with Vault.open(self.config) as vault:
                board = LiveBoard(Context(self.config, vault))
                self.live_id = board.open_call(
                    source="siprec",
                    roles={0: "agent", 1: "customer"},
                    agent="alice",
                    label="Line 7",
                )
                other = board.open_call(source="siprec", roles={0: "agent"}, agent="carol")
                board.publish(other, [said("final", "west team words", 1.0, channel=0)])
                board.publish(self.live_id, [said("partial", "I would", 1.0)])
                time.sleep(0.3)
                board.publish(self.live_id, [said("partial", "I would like to pay", 2.0)])
                assert self.go[0].wait(30)
                fired = Alert(
                    "card-data", "pii", 1, 5.2, 3.0, "my card number is ****", 0.95, "critical"
                )
                board.publish(
                    self.live_id,
                    [
                        said("final", "I would like to pay by card", 3.0),
                        said("partial", "my card number", 4.5),
                        LiveEvent("alert", 5.2, 1, "customer", fired.text, alert=fired),
                    ],
                )
                assert self.go[1].wait(30)
                board.close_call(self.live_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc


def test_the_live_page_follows_a_call_and_acknowledges_its_alert(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    base = served.url
    monitor = Monitor(served.config)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
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
            page.goto(f"{base}/live")
            page.get_by_label("User name").fill("mona")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/live")
            expect(page.locator("#live-empty")).to_be_visible()
            expect(page.locator("#live-status")).to_contain_text("Live", timeout=WAIT_MS)

            monitor.start()
            card = page.locator(".live-call")
            expect(card).to_have_count(1, timeout=WAIT_MS)  # carol's call is another team's
            expect(card.locator("h2")).to_have_text("Line 7")
            expect(card).to_contain_text("agent alice")
            customer = card.locator(".live-leg")
            partial = customer.locator(".live-partial")
            expect(partial).to_have_text("I would like to pay", timeout=WAIT_MS)
            assert customer.locator(".live-final").count() == 0
            expect(customer.locator("h3")).to_have_text("customer")
            monitor.go[0].set()

            # The final words take the partial's place; the next partial follows them.
            expect(customer.locator(".live-final")).to_have_text(
                ["I would like to pay by card"], timeout=WAIT_MS
            )
            expect(partial).to_have_text("my card number")
            alert = card.locator(".live-alert")
            expect(alert).to_have_count(1, timeout=WAIT_MS)
            expect(alert.locator(".rule")).to_have_text("card-data")
            expect(alert.locator(".time")).to_have_text("at 0:05.2")
            expect(alert.locator(".confidence")).to_have_text("confidence 95%")
            expect(alert.locator(".said")).to_have_text("my card number is ****")
            assert "west team words" not in page.content()
            page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)

            alert.get_by_role("button", name="Acknowledge").click()
            expect(alert).to_have_class("live-alert acknowledged", timeout=WAIT_MS)
            expect(alert).to_contain_text("acknowledged by mona")
            with Vault.open(served.config) as vault:
                (entry,) = vault.audit_entries(action="live.ack")
                assert entry.actor == "user:mona"
                assert [a.acknowledged_by for a in vault.live.alerts(monitor.live_id)] == ["mona"]

            # The call ends: it leaves the page.
            monitor.go[1].set()
            expect(card).to_have_count(0, timeout=WAIT_MS)
            expect(page.locator("#live-empty")).to_be_visible()
            monitor.join(30)
            assert monitor.failure is None, monitor.failure
            assert violations == []
        finally:
            for gate in monitor.go:
                gate.set()
            browser.close()
