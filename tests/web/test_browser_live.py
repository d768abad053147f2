"""The in-browser recorder monitored live (issue 20), in a real browser (Debian's headless
Chromium driven by Playwright) against a real `callvault serve` with the real engine
(Whisper tiny.en). Chromium's fake microphone plays a WAV (eval-data OSR read speech,
resampled to 48 kHz as a sound card gives it); the page taps it with an AudioWorklet,
brings it to 16 kHz and POSTs it in quarter-second chunks:

* while the recording goes on, the rep's manager sees a "browser" call of the rep on the
  live board with final words of the reference; Stop uploads the recording as before and
  the call leaves the board;
* a recording in which the other party says "I don't want to be recorded" (espeak-ng,
  between OSR sentences) stops by itself, the page says why and uploads what was
  recorded; the board has the consent-refused alert, and processing the upload honours
  the same refusal (the recording cut or erased at it);
* with no model for live transcription, the page says so and records and uploads as
  before.

No Content-Security-Policy violation is reported. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_browser import ARTIFACTS, CHROMIUM, serving

from _stored import PASSWORD
from callvault.accounts import Accounts
from callvault.config import load_config
from callvault.vault import Vault

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
OSR = EVAL / "asr" / "en" / "OSR_us_000_0034_8k.wav"
CARD_RATE = 48000
REFUSED = "The other party asked not to be recorded: recording stopped."

pytestmark = pytest.mark.slow


class Served:
    def __init__(self, url: str, token: str, compliance: str) -> None:
        self.url = url
        self.token = token  # mona's (the rep's manager) API token
        self.compliance = compliance  # cora's (compliance) API token

    def get(self, path: str, *, token: str | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


@contextlib.contextmanager
def _serve(data: Path, **settings: str) -> Iterator[Served]:
    """`callvault serve` over a new data directory, with users alice (a rep of team
    east), mona (her manager) and cora (compliance), these two with an API token, and
    the CALLVAULT_* `settings`."""
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(data),
        "CALLVAULT_DATABASE_URL": "",
        **{f"CALLVAULT_{k.upper()}": v for k, v in settings.items()},
    }
    with Vault.open(load_config(env={}, data_dir=data, actor="test:pytest")) as vault:
        accounts = Accounts(vault)
        accounts.add_user("alice", PASSWORD, "rep", team="east", display_name="Alice")
        accounts.add_user("mona", PASSWORD, "manager", team="east", display_name="Mona")
        token = accounts.create_token("mona", "test", ["calls:read"], 1)[1]
        accounts.add_user("cora", PASSWORD, "compliance", display_name="Cora")
        compliance = accounts.create_token("cora", "test", ["compliance"], 1)[1]
    with serving(env, stop_timeout=90) as url:
        yield Served(url, token, compliance)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)")
    with _serve(tmp_path_factory.mktemp("browser-live") / "data") as opened:
        yield opened


def _resample(pcm: np.ndarray, rate: int, to: int) -> np.ndarray:
    frames = int(len(pcm) * to / rate)
    up = np.interp(np.arange(frames) * rate / to, np.arange(len(pcm)), pcm.astype(np.float64))
    return np.clip(up, -32768, 32767).astype(np.int16)


def _osr() -> np.ndarray:
    if not OSR.exists():
        pytest.fail(f"eval data missing: {OSR}")
    with wave.open(str(OSR)) as source:
        speech = np.frombuffer(source.readframes(source.getnframes()), "<i2")
        return _resample(speech, source.getframerate(), CARD_RATE)


def _refusal() -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing (apt-get install espeak-ng)")
    spoken = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "--stdout", "I don't want to be recorded."],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(spoken)) as synth:
        voice = np.frombuffer(synth.readframes(synth.getnframes()), "<i2")
        return _resample(voice, synth.getframerate(), CARD_RATE)


def _microphone(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(CARD_RATE)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


def _record(served: Served, microphone: Path, shot: str, then: Any, *, live: bool = True) -> None:
    """Sign alice in, record from `microphone` (the consent gate ticked), wait for the
    live session (with `live`), and hand the page and the moment Record was pressed to
    `then`; no CSP violation may be reported meanwhile."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
            ],
        )
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
            page.goto(f"{served.url}/record")  # sends the browser to sign in and back
            page.get_by_label("User name").fill("alice")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{served.url}/record")
            page.locator("#agreed").check()
            clicked = time.monotonic()
            page.locator("#record").click()
            if live:  # the live session is open once the page says so (the model first)
                page.wait_for_function(
                    "() => document.getElementById('status').textContent"
                    ".includes('monitored live')",
                    timeout=60_000,
                )
                assert page.locator("#live-note").is_hidden()
            then(page, clicked)
            page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
            assert violations == []
        finally:
            browser.close()


def _browser_call(served: Served, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        calls = [c for c in served.get("/live/calls")["calls"] if c["source"] == "browser"]
        if calls:
            (call,) = calls
            return dict(call)
        assert time.monotonic() < deadline, "no browser call on the live board"
        time.sleep(0.3)


def _finals(served: Served, live_id: str) -> str:
    events = served.get(f"/live/calls/{live_id}/events")["events"]
    return " ".join(e["text"] or "" for e in events if e["kind"] == "final").lower()


def _ended(served: Served, live_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while served.get(f"/live/calls/{live_id}")["ended_at"] is None:
        assert time.monotonic() < deadline, "the browser call never left the live board"
        time.sleep(0.3)


def test_a_browser_recording_is_transcribed_live_and_uploaded(
    served: Served, tmp_path: Path
) -> None:
    microphone = _microphone(tmp_path / "mic.wav", _osr())

    def during(page: Any, began: float) -> None:
        call = _browser_call(served)
        assert (call["agent"], call["team"], call["roles"]) == ("alice", "east", {"0": "speaker"})
        # Within about 15 s of speech, the first sentences are final on the board.
        deadline = began + 40
        while not ("gold ring" in (said := _finals(served, call["id"])) and "journey" in said):
            assert time.monotonic() < deadline, f"no final words of the reference: {said!r}"
            time.sleep(0.5)
        print(f"first sentences final {time.monotonic() - began:.1f} s after Record was pressed")
        assert page.locator("#live-note").is_hidden()  # nothing went wrong
        page.locator("#stop").click()
        page.wait_for_url(f"{served.url}/calls/*", timeout=60_000)  # uploaded as before
        assert page.url.rsplit("/", 1)[-1] != "calls"
        _ended(served, call["id"])

    _record(served, microphone, "record-live", during)


def test_a_spoken_refusal_stops_the_browser_recording(served: Served, tmp_path: Path) -> None:
    speech, refusal = _osr(), _refusal()
    gap = np.zeros(CARD_RATE // 2, np.int16)
    head = speech[: int(7.5 * CARD_RATE)]  # "A gold ring... The long journey home took a year."
    tail = speech[int(7.5 * CARD_RATE) : int(10.5 * CARD_RATE)]
    quiet = np.zeros(30 * CARD_RATE, np.int16)  # the fake microphone loops: not soon
    microphone = _microphone(
        tmp_path / "refusing.wav", np.concatenate([head, gap, refusal, gap, tail, quiet])
    )
    said_at = (len(head) + len(gap)) / CARD_RATE
    said_to = said_at + len(refusal) / CARD_RATE

    def during(page: Any, began: float) -> None:
        call = _browser_call(served)
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('asked not to be')",
            timeout=60_000,
        )
        stopped = time.monotonic() - began
        print(
            f"recording stopped {stopped:.1f} s after Record was pressed; the refusal is "
            f"said from {said_at:.1f} s to {said_to:.1f} s of the microphone's audio"
        )
        assert REFUSED in page.locator("#status").inner_text()
        assert page.locator("#stop").is_disabled()
        # What was recorded before the refusal is uploaded; the page stays to say why.
        page.wait_for_selector("#recorded-call", timeout=60_000)
        assert "/record" in page.url
        view = served.get(f"/live/calls/{call['id']}")
        refusals = [a for a in view["alerts"] if a["rule"] == "consent-refused"]
        assert refusals and said_at - 1.5 <= refusals[0]["start"] <= said_at + 2.0, refusals
        _ended(served, call["id"])
        # Processing the upload finds the same refusal and honours it (cut or erased, as
        # the policy says), so nothing after it is kept.
        call_id = page.locator("#recorded-call").get_attribute("href").rsplit("/", 1)[-1]
        deadline = time.monotonic() + 180
        while not (
            found := served.get(f"/refusals?call_id={call_id}", token=served.compliance)["refusals"]
        ):
            assert time.monotonic() < deadline, "processing did not honour the refusal"
            time.sleep(1.0)
        (detection,) = found
        assert detection["status"] == "applied", detection
        assert said_at - 1.5 <= detection["start"] <= said_at + 2.0, detection

    _record(served, microphone, "record-refused", during)


def test_live_monitoring_failing_never_stops_the_recording(tmp_path: Path) -> None:
    microphone = _microphone(tmp_path / "mic.wav", _osr())

    def during(page: Any, began: float) -> None:
        note = page.locator("#live-note")
        note.wait_for(state="visible", timeout=30_000)
        assert "Live monitoring stopped" in note.inner_text()
        assert "not available on this server" in note.inner_text()
        assert "the recording goes on" in note.inner_text()
        assert page.locator("#status").inner_text() == "Recording…"
        time.sleep(2.0)  # still recording
        page.locator("#stop").click()
        page.wait_for_url(f"{served.url}/calls/*", timeout=60_000)  # uploaded as ever

    # No model for live transcription on this server.
    with _serve(tmp_path / "data", asr_models=f"auto={tmp_path / 'no-such-model'}") as served:
        _record(served, microphone, "record-live-unavailable", during, live=False)
        assert served.get("/live/calls")["calls"] == []
