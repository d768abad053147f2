"""A webhook subscriber on 127.0.0.1 for tests (a real HTTP server standing in for a
CRM or another subscriber, which cannot run here)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from callvault.services.contacts import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from callvault.services.webhooks import EVENT_HEADER

SECRET = "whsec-test-0123456789"


class Receiver:
    """A subscriber: answers the statuses in `answers` in turn (then 200), keeps what
    it received."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.arrived:
                    outer.received.append((dict(self.headers), body))
                    status = outer.answers.pop(0) if outer.answers else 200
                    outer.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 10) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def verified(self, index: int) -> dict[str, Any]:
        """The JSON of request `index`, after checking its signature."""
        headers, body = self.received[index]
        assert verify_signature(
            SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=time.time()
        )
        assert not verify_signature(
            "another secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER],
            now=time.time(),
        )  # fmt: skip
        document: dict[str, Any] = json.loads(body)
        assert headers[EVENT_HEADER] == document["event"]
        return document
