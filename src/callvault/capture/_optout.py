"""The DTMF opt-out window: which key press withdraws consent (issue 20).

A key press is not always an opt-out: an agent asks a customer to "press nine to confirm
the refund", a card or account number keyed in contains the digit, an IVR menu choice.
The recorder honours the withdrawal digit only where the notice offers it:

* **A single press.** No other DTMF digit (any key, either party) on that call within
  `inter_digit_s` before or after it. The decision therefore waits `inter_digit_s`
  after the press (`decide_after`); the cut, when there is one, is still at the moment
  of the press.
* **In the opt-out window.** The window opens at the answer (the 200 OK to the INVITE;
  for SIPREC the start of the Recording Session) and closes when the agent first speaks
  after the notice, or `window_s` after the answer, whichever comes first. The notice
  lasts `notice_s` from the answer (0: it was played before the answer or is not on the
  agent's leg), and speech before its end does not close the window.

A press outside the window or inside a longer sequence stays a DTMF event of the call
(muted in the delivered audio, see `_control.edit_call`) and never withdraws consent.
Presses from either party count the same way (the notice is addressed to the customer,
but which leg is the customer is a deployment setting, `agent_channel`).

"The agent speaks" is decided by `SpeechGate`, an energy gate over the decoded audio of
the agent's leg: 20 ms frames whose RMS is at least `threshold_dbfs` (-40 dBFS, well
above the -55 to -65 dBFS of line noise and comfort noise, well below the -15 to -30
dBFS of telephone speech) are voiced; speech starts at the first voiced frame of a run
holding `min_speech_s` (0.2 s) of voiced frames with gaps of at most `hangover_s`
(0.15 s) between them, so a click or a single key tone does not count. It is cheap (one
RMS per frame, run only while the window is open) and knows nothing of language; a
streaming monitor with a real voice activity detector can say it instead through
`OptOutTracker.speech` (`LiveSession.speech_started`). A tone played on the agent's
leg (an in-band DTMF tone, music on hold) counts as speech: the window then closes early,
the safe side for a key press that is not an opt-out.

Times are seconds on the capture's clock (UNIX seconds of arrival), as the frames carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "AGENT_SIDES",
    "DTMF_KEYS",
    "OptOutDecision",
    "OptOutRules",
    "OptOutTracker",
    "SpeechGate",
    "agent_channel",
]

#: the keys a DTMF press can be (RFC 4733 section 3.2, events 0-15)
DTMF_KEYS = "0123456789*#ABCD"
#: which party is the agent: "caller" (channel 0) or "callee" (channel 1)
AGENT_SIDES = ("caller", "callee")
#: the decision never comes sooner than this after a press: the speech gate needs
#: `min_speech_s` plus a packet or two of jitter to confirm speech that began before it
MIN_DECISION_WAIT_S = 0.5


def agent_channel(side: str | None, direction: str | None = None) -> int:
    """The agent's channel: `side` when given, else from the call direction (an outbound
    call is placed by the agent, the caller; inbound and unknown calls are answered by
    the agent, the callee: a contact centre takes calls)."""
    if side is not None:
        if side not in AGENT_SIDES:
            raise ValueError(f"agent side {side!r} is not one of: caller, callee")
        return AGENT_SIDES.index(side)
    return 0 if direction == "outbound" else 1


@dataclass(frozen=True)
class OptOutRules:
    """What the recorder honours as a DTMF withdrawal (`digit` None: none at all)."""

    digit: str | None = "9"
    window_s: float = 30.0
    notice_s: float = 0.0
    inter_digit_s: float = 2.0
    agent_channel: int = 1

    def validate(self) -> None:
        if self.digit is not None and (len(self.digit) != 1 or self.digit not in DTMF_KEYS):
            raise ValueError(
                f"withdraw digit {self.digit!r} is not a DTMF key; use one of 0-9 * # A-D"
            )
        for name in ("window_s", "notice_s", "inter_digit_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds, 0 or more, not {value}")
        if self.agent_channel not in (0, 1):
            raise ValueError("agent_channel must be 0 (the caller) or 1 (the callee)")

    @property
    def decide_after(self) -> float:
        """Seconds after a press before it is decided (others may follow it)."""
        return max(self.inter_digit_s, MIN_DECISION_WAIT_S)


@dataclass(frozen=True)
class OptOutDecision:
    """A press honoured as a withdrawal: who pressed, and when (capture clock)."""

    channel: int
    at: float


class SpeechGate:
    """An RMS gate over 20 ms frames with a minimum speech length and a hangover.

    `feed(at, pcm, rate)` takes consecutive audio of one leg (`at`: the time of its
    first sample) and returns the time speech started once it is confirmed, else None.
    """

    def __init__(
        self,
        *,
        threshold_dbfs: float = -40.0,
        min_speech_s: float = 0.2,
        hangover_s: float = 0.15,
        frame_s: float = 0.02,
    ) -> None:
        self.threshold = 32768.0 * 10.0 ** (threshold_dbfs / 20.0)
        self.min_speech_s = min_speech_s
        self.hangover_s = hangover_s
        self.frame_s = frame_s
        self.onset: float | None = None
        self._run_start: float | None = None
        self._voiced_s = 0.0
        self._last_voiced_end = -math.inf

    def feed(self, at: float, pcm: npt.NDArray[np.int16], rate: int) -> float | None:
        if self.onset is not None:
            return self.onset
        size = max(1, int(round(rate * self.frame_s)))
        count = len(pcm) // size
        if len(pcm) - count * size >= size // 2:  # a short packet still makes a frame
            count += 1
        if count == 0:
            return None
        padded = np.zeros(count * size, dtype=np.float64)
        padded[: len(pcm)] = pcm[: count * size]
        rms = np.sqrt(np.mean(np.square(padded.reshape(count, size)), axis=1))
        seconds = size / rate
        for index in np.flatnonzero(rms >= self.threshold).tolist():
            start = at + index * seconds
            if self._run_start is None or start - self._last_voiced_end > self.hangover_s:
                self._run_start = start
                self._voiced_s = 0.0
            self._voiced_s += seconds
            self._last_voiced_end = start + seconds
            if self._voiced_s >= self.min_speech_s - 1e-9:
                self.onset = self._run_start
                return self.onset
        return None


@dataclass
class OptOutTracker:
    """The opt-out state of one call: presses seen, the answer, the agent's first words.

    The capture calls `answer`, `press` (every DTMF press, once per press), `audio`
    (decoded audio of a leg, while `listening` says it is wanted) or `speech`, and then
    `due(now)` now and then, which returns the press to honour once it is decidable;
    `flush()` decides what is still pending when the call ends. At most one press is
    ever honoured per call.
    """

    rules: OptOutRules
    answered_at: float | None = None
    speech_at: float | None = None
    presses: list[tuple[float, str, int]] = field(default_factory=list)
    candidates: list[tuple[float, int]] = field(default_factory=list)
    honoured: OptOutDecision | None = None
    gate: SpeechGate = field(default_factory=SpeechGate)

    def answer(self, at: float) -> None:
        if self.answered_at is None:
            self.answered_at = at

    @property
    def window_end(self) -> float | None:
        """When the window closes (None before the answer)."""
        if self.answered_at is None:
            return None
        end = self.answered_at + self.rules.window_s
        return end if self.speech_at is None else min(end, self.speech_at)

    def listening(self, channel: int, now: float) -> bool:
        """Whether audio of `channel` at `now` is wanted to spot the agent's first words."""
        return (
            self.rules.digit is not None
            and channel == self.rules.agent_channel
            and self.answered_at is not None
            and self.speech_at is None
            and self.honoured is None
            and now <= self.answered_at + self.rules.window_s
        )

    def audio(self, channel: int, at: float, pcm: npt.NDArray[np.int16], rate: int) -> None:
        if not self.listening(channel, at) or self.answered_at is None:
            return
        notice_end = self.answered_at + self.rules.notice_s
        skip = int(math.ceil((notice_end - at) * rate)) if at < notice_end else 0
        if skip >= len(pcm):
            return
        onset = self.gate.feed(at + skip / rate, pcm[skip:], rate)
        if onset is not None:
            self.speech(channel, onset)

    def speech(self, channel: int, at: float) -> None:
        """The agent (or whoever speaks on `channel`) started speaking at `at`."""
        if channel != self.rules.agent_channel or self.answered_at is None:
            return
        if at < self.answered_at + self.rules.notice_s:
            return
        if self.speech_at is None or at < self.speech_at:
            self.speech_at = at

    def press(self, digit: str, at: float, channel: int) -> None:
        self.presses.append((at, digit, channel))
        if digit == self.rules.digit and self.honoured is None:
            self.candidates.append((at, channel))

    @property
    def pending(self) -> bool:
        return bool(self.candidates) and self.honoured is None

    def due(self, now: float) -> OptOutDecision | None:
        """The press to honour, if one became decidable by `now` and qualifies."""
        wait = self.rules.decide_after
        ready = [c for c in self.candidates if c[0] + wait <= now]
        if not ready:
            return None
        self.candidates = [c for c in self.candidates if c[0] + wait > now]
        return self._decide(ready)

    def flush(self) -> OptOutDecision | None:
        """The call ended: decide every press still waiting with what is known."""
        ready, self.candidates = self.candidates, []
        return self._decide(ready)

    def _decide(self, ready: list[tuple[float, int]]) -> OptOutDecision | None:
        if self.honoured is not None:
            return None
        for at, channel in sorted(ready):
            if self.qualifies(at):
                self.honoured = OptOutDecision(channel, at)
                self.candidates = []
                return self.honoured
        return None

    def qualifies(self, at: float) -> bool:
        """Whether a press of the digit at `at` is a single press inside the window."""
        answered = self.answered_at
        if answered is None or not answered <= at <= answered + self.rules.window_s:
            return False
        if self.speech_at is not None and at >= self.speech_at:
            return False
        gap = self.rules.inter_digit_s
        others = sum(1 for when, _, _ in self.presses if abs(when - at) < gap)
        return others <= 1  # the press itself
