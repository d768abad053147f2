"""Use case: a party withdraws (or refuses) consent while a call is being recorded.

The withdrawal is recorded first, in its own transaction, so that it is never lost; then
`Config.on_withdrawal` decides what becomes of the recording:

* ``discard-call``: the whole call is erased (crypto-shredding, with a certificate);
* ``keep-before``: what was recorded before the moment is kept, sample-exact, and the
  rest is destroyed: the audio is cut (`RewriteRepository`, under a new data key), the
  transcript keeps the words that end by then, the search index the same.

A refusal (``refused=True``), a moment at or before the start, and a call in consent
quarantine erase the whole call whatever the setting. A legal hold refuses the erasure
or the cut (ErasureRefused) after the withdrawal itself is recorded.

The core takes a call id and a participant and knows nothing of the CLI: live capture
calls it when a party presses the withdrawal key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from callvault.media import CutAt
from callvault.services._context import Context
from callvault.services._rewrite import cut_utterance, rewrite_call
from callvault.services.calls import erase_call
from callvault.vault import CallWithdrawal, ErasureCertificate, RewriteResult

__all__ = ["WithdrawalOutcome", "withdraw_during_call"]

log = logging.getLogger("callvault.services")

CUT_ACTION = "recording.cut"


@dataclass(frozen=True)
class WithdrawalOutcome:
    """What a withdrawal during a call did: `outcome` is "erased" (the whole call, with
    `certificate`) or "cut" (audio and transcript kept up to the moment, `rewrite`)."""

    withdrawal: CallWithdrawal
    mode: str
    outcome: str
    certificate: ErasureCertificate | None = None
    rewrite: RewriteResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.withdrawal.to_json(),
            "mode": self.mode,
            "outcome": self.outcome,
            "erasure": self.certificate.to_json() if self.certificate is not None else None,
            "cut": self.rewrite.to_json() if self.rewrite is not None else None,
        }


def _outcome(withdrawal: CallWithdrawal, mode: str) -> str:
    if withdrawal.refused or CutAt(withdrawal.at_seconds).frame(withdrawal.sample_rate) <= 0:
        return "erased"  # nothing before the moment: not a sample would be kept
    if withdrawal.consent_state == "quarantined" or mode == "discard-call":
        return "erased"
    return "cut"


def withdraw_during_call(
    ctx: Context,
    call_id: str,
    participant: int | str,
    at_seconds: float,
    *,
    refused: bool = False,
    reason: str,
    actor: str | None = None,
) -> WithdrawalOutcome:
    """Record that `participant` (position from 0, or number or name) withdrew consent
    `at_seconds` into the call (or refused it), then erase or cut the recording.

    Raises ErasureRefused when a legal hold applies: the withdrawal stays recorded (and
    audited as `consent.withdraw.during-call`), the recording is untouched.
    """
    return _withdraw(ctx, call_id, participant, at_seconds, refused, reason, actor)


def _withdraw(
    ctx: Context,
    call_id: str,
    participant: int | str,
    at_seconds: float,
    refused: bool,
    reason: str,
    actor: str | None,
) -> WithdrawalOutcome:
    vault = ctx.vault
    mode = vault.config.on_withdrawal
    withdrawal = vault.rewrites.record_call_withdrawal(
        call_id, participant, at_seconds, refused=refused, reason=reason, mode=mode, actor=actor
    )
    why = reason.strip()
    outcome = _outcome(withdrawal, mode)
    if outcome == "erased":
        certificate = erase_call(ctx, call_id, reason=why, actor=actor)
        log.info("call %s erased after a withdrawal of consent", call_id)
        return WithdrawalOutcome(withdrawal, mode, outcome, certificate=certificate)
    rewrite = rewrite_call(
        vault,
        call_id,
        CutAt(withdrawal.at_seconds),
        cut_utterance(withdrawal.at_seconds),
        action=CUT_ACTION,
        reason=why,
        actor=actor,
    )
    log.info("call %s cut after a withdrawal of consent", call_id)
    return WithdrawalOutcome(withdrawal, mode, outcome, rewrite=rewrite)
