"""The live state of one call: what the streaming engine gives goes in (`WordsUpdate`,
`SpeechSpan`, the clock), `LiveEvent`s come out (partials, finals, alerts), and the
recorder is told when to pause, resume or stop keeping audio (`RecorderAction`).

Method, per rule kind (`_rules` for the parameters):

- Words. A leg's final words are kept in order; rules that read words look at the new
  final words together with up to `_LOOKBACK` earlier ones of the same leg, cut at a
  pause longer than `_PHRASE_GAP` s, so a phrase said across two engine steps is found.
  Phrase matching is the batch trackers' (`insights._matching.matches`; competitor names
  also by sound, `insights._phonetic`), the disclosure check the batch compliance check's
  fuzzy match (`fuzzy_find`), so live and batch judge the same words alike.
- Roles. A rule with a `role` reads the legs of that role; when no leg has it, legs not
  of the other role count, and when neither role is known every leg counts at 0.7 times
  the confidence (as the batch trackers do).
- "disclosure": satisfied once the agent says a disclosure starting at most `within_s`
  after `answered_at`. Otherwise it fires, at `answered_at + within_s`, as soon as the
  agent's final words reach past that moment (they come in order, so nothing earlier is
  still to come) or the clock is `grace_s` past it, or at `finish` when the call lasted
  that long.
- "pii": the pii package's spoken-form recognizers on the leg's current stretch, with
  context words from every leg (`_pii`: what fires live is what batch redaction cuts).
  Final words fire; for a card number the partial tail counts too, once the hit has
  `early_digits` digits, at a confidence that says how much was heard (`0.3 + 0.04 *
  digits`, at most the recogniser's; detail `early: true`): the pause must begin while
  the number is being read. Alert text is masked, never the digits: "card number (16
  digits)"; a finding overlapping or within `JOIN_GAP` s of one already reported on the
  leg is the same occurrence.
- PCI pause/resume (rules with `pause = true`, built-in: card-data): the first hit on a
  leg opens an *episode* and the recorder gets `pci-pause` at the start of the first
  digit word; further hits on the leg while it is open extend it without a new alert.
  It closes with `pci-resume` at the first final word of an agent leg (any other leg
  when no agent is known) that starts after the last digit word, is not a backchannel
  ("mhm", "okay", "yes", ...) and says no digit. A later hit opens a new episode.
- "consent": the refusal detector given to the monitor (`refusal=`, the signature of
  `callvault.analysis._refusal.detect_refusals`) reads the leg's final words of the last
  `_REFUSAL_S` s; each refusal fires once, and the recorder gets `stop-recording` for
  that leg from the refusal's start. No detector: the rule is inactive.
- "sentiment": a leg's final words become utterances at pauses of more than `_UTT_GAP`
  s (or when the VAD ends its span, or at the clock/finish); each is scored like the
  batch stage (VADER for English, the German lexicon for German, nothing for other or
  unknown languages). The rule fires when the confidence-weighted mean of the last
  `window_s` s (at least `utterances` of them) is at or below `threshold` and at least
  `drop` below the mean before the window (neutral 0 when there was none); once, until
  the mean rises above the threshold again.
- "silence": no speech on any leg (no open VAD span, no word) for `seconds`, counted from
  the end of the last speech (or `answered_at`): fires once per stretch, at its start +
  `seconds` (on the clock, or when the next speech shows the stretch was that long).
- "talk-over": spans of two legs overlapping for `seconds`: fires once per overlap.

Each alert fires once per occurrence: hits are keyed by rule, leg and start time (and
phrase), so a partial becoming final, or a phrase seen again in the next step's look-back,
never fires twice. Only final words fire, except card numbers as above.

Limits. Words are judged as the engine gives them; a final word the engine got wrong is
not revisited. Sentiment on single utterances of a few words says little (the batch
stage's confidence is kept in the alert). Silence and talk-over need the VAD's spans to
be timely; silence is also seen from words alone, a little later. `partial` and `final`
events carry the words as said (digits included): masking the live transcript is the
board's business; alerts never carry digits.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from callvault.analysis.insights._matching import (
    EXACT,
    VARIANT,
    Token,
    fuzzy_find,
    matches,
    phrases_for,
    words_of,
)
from callvault.analysis.insights._phonetic import PhoneticName, find
from callvault.analysis.insights._sentiment import score_english, score_german
from callvault.analysis.live._events import Alert, LiveEvent, LiveWord, SpeechSpan, WordsUpdate
from callvault.analysis.live._pii import (
    CONTEXT_S,
    JOIN_GAP,
    SpokenData,
    find_spoken_data,
    masked,
    pii_language,
    says_more_than_a_backchannel,
)
from callvault.analysis.live._rules import ENTITIES, AlertRule, RuleSet
from callvault.analysis.live._state import (
    Action,
    RecorderAction,
    RefusalDetector,
    RefusalLike,
    _Episode,
    _Leg,
    _Utterance,
)
from callvault.analysis.pii import CREDIT_CARD

__all__ = ["CallMonitor", "RecorderAction", "RefusalLike", "RefusalDetector"]

_LOOKBACK = 12  # earlier final words a word rule reads with the new ones
_PHRASE_GAP = 2.0  # a pause that ends a phrase
_REFUSAL_S = 20.0
# A phrase rule fires on partial words heard at least this surely (Whisper's word
# probability), and not again when the same phrase, starting within `_SAME_PHRASE_S` of
# it, becomes final.
_EARLY_PROBABILITY = 0.5
_SAME_PHRASE_S = 1.0
_UTT_GAP = 1.0  # a pause that ends an utterance (sentiment)
_UTT_LAG = 2.0  # clock time after the last word at which an utterance is taken as ended
_UNKNOWN_ROLE = 0.7
_OTHER_ROLE = {"agent": "customer", "customer": "agent"}
_SAME_TIME = 0.05  # seconds: two findings this close are one

_HOW = {EXACT: "exact", VARIANT: "variant"}


class CallMonitor:
    """The live state of one call: feed it what the engine gives, get LiveEvents back.

    `roles` maps a leg's channel to "agent" or "customer"; `answered_at` is the call time
    the call was answered (the disclosure clock starts there); `refusal` is the refusal
    detector (None: the consent rule is inactive); `on_action` is called with every
    `RecorderAction` the moment it is known (they are also kept in `actions`).
    Not thread-safe: one caller feeds one monitor.
    """

    def __init__(
        self,
        rules: RuleSet,
        *,
        roles: Mapping[int, str],
        language: str | None = None,
        answered_at: float = 0.0,
        refusal: RefusalDetector | None = None,
        on_action: Callable[[RecorderAction], None] | None = None,
    ) -> None:
        self.rules = rules
        self.roles = dict(roles)
        self.language = language
        self.answered_at = answered_at
        self._refusal = refusal
        self._on_action = on_action
        self._active = rules.enabled
        self._legs: dict[int, _Leg] = {}
        self._alerts: list[Alert] = []
        self._actions: list[RecorderAction] = []
        self._seen: set[tuple[object, ...]] = set()
        self._now = answered_at
        self._last_speech = answered_at
        self._disclosed: dict[str, float] = {}  # rule -> when the disclosure was said
        self._episodes: dict[tuple[str, int], list[_Episode]] = {}
        self._occurrences: dict[tuple[str, int], list[list[float]]] = {}
        self._armed: dict[tuple[str, int], bool] = {}
        self._finished = False

    # --- public -----------------------------------------------------------------------

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(self._alerts)

    @property
    def actions(self) -> tuple[RecorderAction, ...]:
        return tuple(self._actions)

    def on_words(self, update: WordsUpdate) -> list[LiveEvent]:
        """The update as `partial`/`final` events, then the alerts it set off."""
        leg = self._leg(update.channel)
        if update.language:
            self.language = update.language
        events: list[LiveEvent] = []
        speaker = leg.role
        previous_partial = leg.partial
        leg.partial = update.partial
        if update.final:
            events.append(
                LiveEvent(
                    "final",
                    update.final[-1].end,
                    leg.channel,
                    speaker,
                    " ".join(w.text.strip() for w in update.final),
                    words=update.final,
                )
            )
        if update.partial or previous_partial:  # an empty partial clears the board's tail
            events.append(
                LiveEvent(
                    "partial",
                    update.partial[-1].end if update.partial else self._now,
                    leg.channel,
                    speaker,
                    " ".join(w.text.strip() for w in update.partial),
                    words=update.partial,
                )
            )
        alerts: list[Alert] = []
        words = update.final + update.partial
        if words:
            alerts += self._silence_until(words[0].start)
            self._last_speech = max(self._last_speech, max(w.end for w in words))
            self._now = max(self._now, self._last_speech)
        if update.final:
            first_new = len(leg.words)
            leg.words.extend(update.final)
            self._resume(leg, update.final)
            alerts += self._on_final(leg, first_new)
        if update.partial:
            alerts += self._early_phrases(leg, update.partial)
        alerts += self._pii(leg, with_partial=bool(update.partial))
        if update.final:  # again after `_pii`: "4111 ... 1111, correct?" resumes at "correct"
            self._resume(leg, update.final)
        alerts += self._timers(self._now)
        return events + [self._event(alert) for alert in alerts]

    def on_speech(self, span: SpeechSpan) -> list[LiveEvent]:
        """Alerts set off by a VAD span starting or ending (silence, talk-over)."""
        leg = self._leg(span.channel)
        alerts: list[Alert] = []
        for item in leg.spans:
            if item[0] is not None and abs(item[0] - span.start) < _SAME_TIME:
                item[1] = span.end
                break
        else:
            alerts += self._silence_until(span.start)
            leg.spans.append([span.start, span.end])
            del leg.spans[:-20]
        latest = span.end if span.end is not None else span.start
        self._now = max(self._now, latest)
        if span.end is not None:
            self._last_speech = max(self._last_speech, span.end)
            alerts += self._close_utterance(leg, before=span.end + _SAME_TIME)
        alerts += self._talk_over(self._now)
        alerts += self._timers(self._now)
        return [self._event(alert) for alert in alerts]

    def tick(self, call_time: float) -> list[LiveEvent]:
        """Timer rules at `call_time`: a missing disclosure, silence, talk-over still going
        on, utterances ended by a pause."""
        self._now = max(self._now, call_time)
        alerts = self._talk_over(self._now) + self._timers(self._now)
        for leg in list(self._legs.values()):
            if leg.pending and self._now - leg.pending[-1].end >= _UTT_LAG:
                alerts += self._close_utterance(leg, before=self._now)
        return [self._event(alert) for alert in alerts]

    def finish(self, call_time: float) -> list[LiveEvent]:
        """The call ended at `call_time`: the last utterances are scored, open spans end,
        and the timers run one last time."""
        self._now = max(self._now, call_time)
        alerts: list[Alert] = []
        for leg in list(self._legs.values()):
            alerts += self._close_utterance(leg, before=self._now + 1.0)
            for item in leg.spans:
                if item[1] is None:
                    item[1] = self._now
        alerts += self._talk_over(self._now)
        self._finished = True
        alerts += self._timers(self._now)
        return [self._event(alert) for alert in alerts]

    # --- common -----------------------------------------------------------------------

    def _leg(self, channel: int) -> _Leg:
        if channel not in self._legs:
            self._legs[channel] = _Leg(channel, self.roles.get(channel))
        return self._legs[channel]

    def _rules(self, kind: str) -> list[AlertRule]:
        return [rule for rule in self._active if rule.kind == kind]

    def _factor(self, role: str | None, leg: _Leg) -> float | None:
        """How much a rule bound to `role` trusts what `leg` says (None: not at all)."""
        if role is None:
            return 1.0
        known = set(self.roles.values())
        if role in known:
            return 1.0 if leg.role == role else None
        other = _OTHER_ROLE.get(role)
        if other in known:
            return None if leg.role == other else 1.0
        return _UNKNOWN_ROLE

    def _fire(self, key: tuple[object, ...], alert: Alert) -> list[Alert]:
        if key in self._seen:
            return []
        self._seen.add(key)
        self._alerts.append(alert)
        return [alert]

    def _act(self, action: Action, channel: int, call_time: float, rule: str) -> None:
        item = RecorderAction(action, channel, call_time, rule)
        self._actions.append(item)
        if self._on_action is not None:
            self._on_action(item)

    def _event(self, alert: Alert) -> LiveEvent:
        words: tuple[LiveWord, ...] = ()
        if alert.kind not in ("pii",) and alert.channel is not None:
            leg = self._legs.get(alert.channel)
            if leg is not None:
                words = tuple(
                    w for w in leg.words if alert.start <= w.start and w.end <= alert.call_time
                )[:40]
        return LiveEvent(
            "alert",
            alert.call_time,
            alert.channel,
            self.roles.get(alert.channel) if alert.channel is not None else None,
            alert.text,
            words=words,
            rule=alert.rule,
            confidence=alert.confidence,
            alert=alert,
        )

    def _alert(
        self,
        rule: AlertRule,
        channel: int | None,
        call_time: float,
        start: float,
        text: str,
        confidence: float,
        **detail: object,
    ) -> Alert:
        return Alert(
            rule=rule.name,
            kind=rule.kind,
            channel=channel,
            call_time=call_time,
            start=start,
            text=text,
            confidence=round(min(max(confidence, 0.0), 1.0), 3),
            severity=rule.severity,
            detail=dict(detail),
        )

    def _recent(self, leg: _Leg, first_new: int) -> int:
        """Where the words a word rule reads start: up to `_LOOKBACK` before the new ones,
        not across a pause of more than `_PHRASE_GAP` s."""
        lo = max(0, first_new - _LOOKBACK)
        for i in range(first_new, lo, -1):
            if i < len(leg.words) and leg.words[i].start - leg.words[i - 1].end > _PHRASE_GAP:
                return i
        return lo

    @staticmethod
    def _tokens(words: Sequence[LiveWord]) -> tuple[list[Token], list[int]]:
        tokens: list[Token] = []
        owners: list[int] = []
        for index, word in enumerate(words):
            for part in words_of(word.text):
                tokens.append(Token(part, word.start))
                owners.append(index)
        return tokens, owners

    # --- final words ------------------------------------------------------------------

    def _on_final(self, leg: _Leg, first_new: int) -> list[Alert]:
        alerts: list[Alert] = []
        lo = self._recent(leg, first_new)
        words = leg.words[lo:]
        tokens, owners = self._tokens(words)
        for rule in self._rules("phrase"):
            alerts += self._phrase(rule, leg, words, tokens, owners)
        for rule in self._rules("disclosure"):
            self._disclosure_said(rule, leg, tokens)
        for rule in self._rules("consent"):
            alerts += self._consent(rule, leg)
        alerts += self._sentiment_words(leg, leg.words[first_new:])
        return alerts

    def _early_phrases(self, leg: _Leg, partial: Sequence[LiveWord]) -> list[Alert]:
        """Phrase rules on the leg's recent final words plus its partial tail: a phrase
        that reaches into the tail fires now, a decode or two before its words would
        agree and become final, when each of its partial words was heard with a
        probability of at least `_EARLY_PROBABILITY`. The same phrase becoming final
        later (at a start within `_SAME_PHRASE_S`) does not fire again."""
        rules = [rule for rule in self._rules("phrase") if rule.partials]
        if not rules:
            return []
        lo = self._recent(leg, len(leg.words))
        words = list(leg.words[lo:]) + list(partial)
        first_partial = len(words) - len(partial)
        tokens, owners = self._tokens(words)
        alerts: list[Alert] = []
        for rule in rules:
            for alert in self._phrase(rule, leg, words, tokens, owners, fire=False):
                said = [
                    w for w in words[first_partial:] if alert.start <= w.start < alert.call_time
                ]
                if not said or min(w.confidence for w in said) < _EARLY_PROBABILITY:
                    continue  # all final (the final path fires it) or not heard clearly
                alert = replace(alert, detail={**alert.detail, "partial": True})
                alerts += self._fire_once(alert)
        return alerts

    def _fire_once(self, alert: Alert) -> list[Alert]:
        """`alert` unless the same rule already fired on the same phrase of the leg
        starting within `_SAME_PHRASE_S` (as partial words it may have moved a little)."""
        phrase = alert.detail.get("phrase")
        for earlier in self._alerts:
            if (
                earlier.rule == alert.rule
                and earlier.channel == alert.channel
                and earlier.detail.get("phrase") == phrase
                and abs(earlier.start - alert.start) < _SAME_PHRASE_S
            ):
                return []
        key = (alert.rule, alert.channel, phrase, round(alert.start, 2))
        return self._fire(key, alert)

    def _phrase(
        self,
        rule: AlertRule,
        leg: _Leg,
        words: Sequence[LiveWord],
        tokens: Sequence[Token],
        owners: Sequence[int],
        *,
        fire: bool = True,
    ) -> list[Alert]:
        factor = self._factor(rule.role, leg)
        if factor is None or not tokens:
            return []
        any_language = {"*": rule.phrases["*"]} if "*" in rule.phrases else {}
        per_language = {k: v for k, v in rule.phrases.items() if k != "*"}
        patterns = phrases_for(per_language, self.language) + phrases_for(any_language, None)
        found: list[tuple[str, int, int, float, str]] = []  # phrase, first, last, conf, how
        for phrase, at, confidence in matches(patterns, tokens, exact_only=rule.match == "exact"):
            length = len(words_of(phrase))
            how = _HOW.get(confidence, "loose")
            last = min(at + length - 1 + (how == "loose"), len(tokens) - 1)
            found.append((phrase, at, last, confidence, how))
        if rule.phonetic:
            found += self._phonetic(rule, tokens, found)
        alerts: list[Alert] = []
        for phrase, at, last, confidence, how in found:
            said = words[owners[at] : owners[last] + 1]
            alert = self._alert(
                rule,
                leg.channel,
                said[-1].end,
                said[0].start,
                " ".join(w.text.strip() for w in said),
                confidence * factor,
                phrase=phrase,
                match=how,
            )
            alerts += self._fire_once(alert) if fire else [alert]
        return alerts

    def _phonetic(
        self,
        rule: AlertRule,
        tokens: Sequence[Token],
        exact: Sequence[tuple[str, int, int, float, str]],
    ) -> list[tuple[str, int, int, float, str]]:
        """Names heard as other words, outside the exact hits (as the batch trackers)."""
        names = []
        for phrases in rule.phrases.values():
            for phrase in phrases:
                name = PhoneticName.of(phrase, words_of(phrase))
                if name.usable:
                    names.append(name)
        taken = {i for _, at, last, _, _ in exact for i in range(at, last + 1)}
        texts = [token.text for token in tokens]
        candidates = sorted(
            (
                (score, length, at, name)
                for score, at, length, name in find(names, texts, self.language)
                if not taken & set(range(at, at + length))
            ),
            key=lambda c: (-c[0], c[1], c[2]),
        )
        out: list[tuple[str, int, int, float, str]] = []
        for score, length, at, name in candidates:
            span = set(range(at, at + length))
            if span & taken:
                continue
            taken |= span
            out.append((name.name, at, at + length - 1, score, "phonetic"))
        return out

    # --- disclosure -------------------------------------------------------------------

    def _disclosure_said(self, rule: AlertRule, leg: _Leg, tokens: Sequence[Token]) -> None:
        if self._factor(rule.role, leg) is None or rule.name in self._disclosed:
            return
        for _, pattern in phrases_for(rule.phrases, self.language):
            located = fuzzy_find(pattern, tokens)
            if located is not None:
                self._disclosed[rule.name] = tokens[located[0]].start
                return

    def _disclosure_due(self, rule: AlertRule, now: float) -> list[Alert]:
        deadline = self.answered_at + rule.within_s
        said = self._disclosed.get(rule.name)
        if said is not None and said <= deadline:
            return []
        legs = [leg for leg in self._legs.values() if self._factor(rule.role, leg) is not None]
        covered = bool(legs) and all(leg.words and leg.words[-1].end >= deadline for leg in legs)
        due = covered or now >= deadline + rule.grace_s or (self._finished and now >= deadline)
        if not due:
            return []
        if said is not None:
            text = f"recording disclosure said at {said:.1f} s, after {rule.within_s:g} s"
        else:
            text = f"no recording disclosure within {rule.within_s:g} s"
        known = rule.role is None or bool(
            {rule.role, _OTHER_ROLE.get(rule.role)} & set(self.roles.values())
        )
        alert = self._alert(
            rule, None, deadline, self.answered_at, text, 0.9 if known else 0.5, said_at=said
        )
        return self._fire((rule.name,), alert)

    # --- consent ----------------------------------------------------------------------

    def _consent(self, rule: AlertRule, leg: _Leg) -> list[Alert]:
        factor = self._factor(rule.role, leg)
        if self._refusal is None or factor is None:
            return []
        since = leg.words[-1].end - _REFUSAL_S
        recent = [w for w in leg.words if w.end >= since]
        alerts: list[Alert] = []
        for found in self._refusal(recent, language=self.language):
            if found.confidence < rule.min_confidence:
                continue
            key = (rule.name, leg.channel, round(found.start, 1))
            if key in self._seen:
                continue
            alert = self._alert(
                rule,
                leg.channel,
                found.end,
                found.start,
                found.text,
                found.confidence * factor,
                phrase=found.phrase,
            )
            fired = self._fire(key, alert)
            stopped = any(
                a.action == "stop-recording" and a.channel == leg.channel for a in self._actions
            )
            if fired and not stopped:  # one stop per leg, whichever consent rule saw it
                self._act("stop-recording", leg.channel, found.start, rule.name)
            alerts += fired
        return alerts

    # --- pii --------------------------------------------------------------------------

    def _pii(self, leg: _Leg, *, with_partial: bool) -> list[Alert]:
        rules = [r for r in self._rules("pii") if self._factor(r.role, leg) is not None]
        if not rules or not (leg.words or leg.partial):
            return []
        horizon = self._now - CONTEXT_S - JOIN_GAP  # older words are never read
        found = find_spoken_data(
            ((other.channel, _since(other.words, horizon)) for other in self._legs.values()),
            leg.channel,
            leg.partial if with_partial else (),
            now=self._now,
            language=self.language,
        )
        alerts: list[Alert] = []
        for data in found:
            for rule in rules:
                if data.entity not in {ENTITIES[e] for e in rule.entities}:
                    continue
                confidence = data.confidence * (self._factor(rule.role, leg) or 0.0)
                if data.partial:
                    if data.entity != CREDIT_CARD or data.digits < rule.early_digits:
                        continue
                    confidence = min(confidence, 0.3 + 0.04 * data.digits)
                alerts += self._pii_occurrence(rule, leg, data, confidence)
        return alerts

    def _pii_occurrence(
        self, rule: AlertRule, leg: _Leg, data: SpokenData, confidence: float
    ) -> list[Alert]:
        key = (rule.name, leg.channel)
        start, end = data.start, data.end
        if rule.pause:
            for episode in self._episodes.setdefault(key, []):
                if episode.resumed is None:
                    episode.last_end = max(episode.last_end, end)
                    return []
                if episode.start - _SAME_TIME <= start < episode.resumed:
                    if end <= episode.resumed + _SAME_TIME:
                        return []  # read before the agent spoke again: already cut
                    # Read on after the agent spoke: cut again from then (fail closed).
                    start = episode.resumed
        else:
            occurrences = self._occurrences.setdefault(key, [])
            for item in occurrences:
                if start <= item[1] + JOIN_GAP and end >= item[0] - _SAME_TIME:
                    item[0], item[1] = min(item[0], start), max(item[1], end)
                    return []
            occurrences.append([start, end])
        text = masked(data.entity, data.digits, early=data.partial)
        alert = self._alert(
            rule, leg.channel, end, start, text, confidence, entity=data.entity, early=data.partial
        )
        fired = self._fire((rule.name, leg.channel, round(start, 2)), alert)
        if fired and rule.pause:
            self._episodes[key].append(_Episode(start, end))
            self._act("pci-pause", leg.channel, start, rule.name)
        return fired

    def _resume(self, speaker: _Leg, words: Sequence[LiveWord]) -> None:
        """PCI resume: a word of an agent leg (another leg when no agent is known) after
        the last digit word of an open episode, neither a backchannel nor a digit."""
        agents = {c for c, role in self.roles.items() if role == "agent"}
        language = pii_language(self.language)
        for (rule, channel), episodes in self._episodes.items():
            if agents and speaker.channel not in agents:
                continue
            if not agents and speaker.channel == channel:
                continue
            for episode in episodes:
                if episode.resumed is not None:
                    continue
                for word in words:
                    if word.start <= episode.last_end:
                        continue
                    if not says_more_than_a_backchannel(word, language):
                        continue
                    episode.resumed = word.start
                    self._act("pci-resume", channel, word.start, rule)
                    break

    # --- sentiment --------------------------------------------------------------------

    def _sentiment_words(self, leg: _Leg, words: Sequence[LiveWord]) -> list[Alert]:
        if not any(self._factor(r.role, leg) is not None for r in self._rules("sentiment")):
            return []
        alerts: list[Alert] = []
        for word in words:
            if leg.pending and word.start - leg.pending[-1].end > _UTT_GAP:
                alerts += self._close_utterance(leg, before=word.start)
            leg.pending.append(word)
        return alerts

    def _close_utterance(self, leg: _Leg, *, before: float) -> list[Alert]:
        said = [w for w in leg.pending if w.start < before]
        if not said:
            return []
        leg.pending = [w for w in leg.pending if w.start >= before]
        text = " ".join(w.text.strip() for w in said)
        code = (self.language or "").split("-")[0].split("_")[0].lower()
        if code == "en":
            score, confidence = score_english(text)
        elif code == "de":
            score, confidence = score_german(text)
        else:
            return []
        if confidence <= 0:
            return []
        leg.utterances.append(_Utterance(said[0].start, said[-1].end, score, confidence))
        alerts: list[Alert] = []
        for rule in self._rules("sentiment"):
            factor = self._factor(rule.role, leg)
            if factor is not None:
                alerts += self._sentiment_check(rule, leg, factor)
        return alerts

    def _sentiment_check(self, rule: AlertRule, leg: _Leg, factor: float) -> list[Alert]:
        last = leg.utterances[-1]
        since = last.end - rule.window_s
        window = [u for u in leg.utterances if u.end >= since]
        before = [u for u in leg.utterances if u.end < since]
        key = (rule.name, leg.channel)
        mean = _weighted(window)
        earlier = _weighted(before) if before else 0.0
        if mean > rule.threshold:
            self._armed[key] = True
            return []
        if len(window) < rule.utterances or not self._armed.get(key, True):
            return []
        if earlier - mean < rule.drop:
            return []
        self._armed[key] = False
        confidence = sum(u.confidence for u in window) / len(window) * factor
        text = (
            f"{leg.role or 'caller'} sentiment {mean:+.2f} over the last {len(window)} "
            f"utterances (before: {earlier:+.2f})"
        )
        alert = self._alert(
            rule,
            leg.channel,
            last.end,
            window[0].start,
            text,
            confidence,
            mean=round(mean, 3),
            before=round(earlier, 3),
            utterances=len(window),
        )
        return self._fire((rule.name, leg.channel, round(window[0].start, 2)), alert)

    # --- timers -----------------------------------------------------------------------

    def _timers(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        for rule in self._rules("disclosure"):
            alerts += self._disclosure_due(rule, now)
        if not self._speaking():
            alerts += self._silence_until(now, ongoing=True)
        return alerts

    def _speaking(self) -> bool:
        return any(item[1] is None for leg in self._legs.values() for item in leg.spans)

    def _silence_until(self, until: float, *, ongoing: bool = False) -> list[Alert]:
        """The silence rules for the stretch from the last speech to `until` (speech
        starting there, or the clock when `ongoing`)."""
        alerts: list[Alert] = []
        quiet_from = self._last_speech
        if self._speaking() and not ongoing:
            return []
        for rule in self._rules("silence"):
            if until - quiet_from < rule.seconds:
                continue
            text = f"no speech on any leg for {rule.seconds:g} s"
            alert = self._alert(
                rule, None, quiet_from + rule.seconds, quiet_from, text, 0.9, ongoing=ongoing
            )
            alerts += self._fire((rule.name, round(quiet_from, 2)), alert)
        return alerts

    def _talk_over(self, now: float) -> list[Alert]:
        rules = self._rules("talk-over")
        if not rules:
            return []
        legs = sorted(self._legs.values(), key=lambda leg: leg.channel)
        alerts: list[Alert] = []
        for i, one in enumerate(legs):
            for other in legs[i + 1 :]:
                for a_start, a_end in one.spans:
                    for b_start, b_end in other.spans:
                        assert a_start is not None and b_start is not None
                        start = max(a_start, b_start)
                        end = min(now if a_end is None else a_end, now if b_end is None else b_end)
                        for rule in rules:
                            if end - start < rule.seconds:
                                continue
                            text = f"both legs speaking at once for {rule.seconds:g} s"
                            alert = self._alert(
                                rule,
                                None,
                                start + rule.seconds,
                                start,
                                text,
                                0.8,
                                channels=[one.channel, other.channel],
                            )
                            key = (rule.name, one.channel, other.channel, round(start, 2))
                            alerts += self._fire(key, alert)
        return alerts


def _weighted(utterances: Sequence[_Utterance]) -> float:
    total = sum(u.confidence for u in utterances)
    return sum(u.score * u.confidence for u in utterances) / total if total else 0.0


def _since(words: list[LiveWord], time: float) -> list[LiveWord]:
    """The words that end at or after `time` (final words come in time order)."""
    return words[bisect.bisect_left(words, time, key=lambda w: w.end) :]
