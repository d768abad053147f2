"""The SIPREC server's transaction memory (RFC 3261 section 17.2): the response already
sent to each request, for its retransmissions, and the final responses to INVITEs that
are resent over UDP until the ACK comes (section 13.3.1.4).
"""

from __future__ import annotations

import asyncio
import time

from callvault.capture.siprec._transport import Reply

__all__ = [
    "MAX_TRANSACTIONS",
    "T1",
    "T2",
    "TRANSACTION_LIFETIME",
    "Retransmits",
    "TransactionKey",
    "Transactions",
]

T1 = 0.5  # RFC 3261 section 17.1.1.1
T2 = 4.0
TRANSACTION_LIFETIME = 64 * T1
MAX_TRANSACTIONS = 4096

#: Call-ID, branch, method and CSeq number of a request
TransactionKey = tuple[str, str, str, int]


class Transactions:
    """The requests seen lately, with the response sent to each (None while pending);
    at most `MAX_TRANSACTIONS`, each kept `TRANSACTION_LIFETIME` seconds."""

    def __init__(self) -> None:
        self._seen: dict[TransactionKey, tuple[float, bytes | None]] = {}

    def get(self, key: TransactionKey) -> tuple[float, bytes | None] | None:
        return self._seen.get(key)

    def remember(self, key: TransactionKey, payload: bytes | None) -> None:
        self._seen[key] = (time.monotonic(), payload)
        while len(self._seen) > MAX_TRANSACTIONS:
            self._seen.pop(next(iter(self._seen)))

    def expire(self) -> None:
        horizon = time.monotonic() - TRANSACTION_LIFETIME
        for key in [k for k, v in self._seen.items() if v[0] < horizon]:
            del self._seen[key]


class Retransmits:
    """Final responses resent until their ACK, one task per (Call-ID, CSeq number)."""

    def __init__(self) -> None:
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}

    def start(self, key: tuple[str, int], reply: Reply, payload: bytes) -> None:
        self._tasks[key] = asyncio.create_task(self._retransmit(key, reply, payload))

    def restart(self, key: tuple[str, int], reply: Reply, payload: bytes) -> None:
        """`start`, cancelling what was being resent for `key` before."""
        self.stop(key)
        self.start(key, reply, payload)

    def stop(self, key: tuple[str, int]) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def stop_call(self, call_id: str) -> None:
        for key in [k for k in self._tasks if k[0] == call_id]:
            self._tasks.pop(key).cancel()

    def stop_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()

    async def _retransmit(self, key: tuple[str, int], reply: Reply, payload: bytes) -> None:
        """RFC 3261 section 13.3.1.4: resend the final response until the ACK comes."""
        interval, waited = T1, 0.0
        try:
            while waited < TRANSACTION_LIFETIME:
                await asyncio.sleep(interval)
                waited += interval
                if key not in self._tasks:
                    return
                reply(payload)
                interval = min(interval * 2, T2)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
