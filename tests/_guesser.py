"""Password guessing from another process, for the tests that a server stays usable
under it: `python _guesser.py BASE_URL THREADS` posts wrong sign-ins from THREADS
threads, each with a name of its own and (for a server that trusts 127.0.0.1 as a proxy)
an X-Forwarded-For address of its own, until its standard input closes; then it prints
{status: count} as JSON. A separate process, so that the guessing does not take the
test process's interpreter lock from the server it measures."""

from __future__ import annotations

import collections
import json
import sys
import threading

import httpx


def main(base_url: str, threads: int) -> None:
    statuses: collections.Counter[int] = collections.Counter()
    stop = threading.Event()
    ready = threading.Barrier(threads + 1)

    def guess(n: int) -> None:
        headers = {"X-Forwarded-For": f"10.{n}.0.1"}
        body = {"username": f"guess{n}", "password": "not the password"}
        with httpx.Client(base_url=base_url, timeout=120) as client:
            ready.wait()
            while not stop.is_set():
                answer = client.post("/api/v1/auth/login", json=body, headers=headers)
                statuses[answer.status_code] += 1

    workers = [threading.Thread(target=guess, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    print("started", flush=True)
    sys.stdin.read()
    stop.set()
    for worker in workers:
        worker.join()
    print(json.dumps(dict(statuses)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
