"""Peak memory of the server while it receives an upload and while it serves one long
recording to three listeners at once (issue 17, finding 1: an 800 MiB upload held in
memory, three GETs of a 600 MB recording took the server from 158 MB to 3.6 GB).

Each figure is the peak resident memory (VmHWM) of a fresh server process (uvicorn and
the callvault app, as `callvault serve --no-workers` runs them, on a loopback port). Two
variants in the same run, on the same recordings:

* **now**: the app as it is (uploads streamed through an encrypted spool, audio streamed
  chunk by chunk);
* **before**: the same app with the two routes of the earlier code put in front
  (`UploadFile` read whole, then decoded and stored from memory; the audio response
  built from one `read_range` of the whole blob).

    python bench/memory_serve.py            # 64 MiB upload, 96 MB recording (minutes)
    python bench/memory_serve.py --full     # 800 MiB upload, 600 MB recording
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, File, Request, UploadFile

from _common import machine_line, table
from callvault.accounts import Accounts
from callvault.api._auth import principal
from callvault.services.access import Principal

MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_wav(path: Path, size: int, rate: int = 16000, channels: int = 2) -> None:
    """A 16-bit PCM WAV file of about `size` bytes (a quiet ramp, written in blocks)."""
    frames = (size - 44) // (2 * channels)
    data = frames * 2 * channels
    with open(path, "wb") as out:
        out.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt ")
        out.write(struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, 4, 16))
        out.write(b"data" + struct.pack("<I", data))
        block = bytes(range(256)) * (4 * MiB // 256)  # not silence: nothing compresses it
        left = data
        while left:
            piece = block[: min(left, len(block))]
            out.write(piece)
            left -= len(piece)


# -- the server side (a child process) -------------------------------------------------


def serve(data_dir: str, port: int, variant: str) -> None:
    import uvicorn
    from fastapi.responses import PlainTextResponse, Response

    from callvault.api import create_app, uvicorn_options
    from callvault.api._auth import context_of
    from callvault.capture import FileImportOptions, import_bytes
    from callvault.config import load_config
    from callvault.services import ingest_captured

    config = load_config({"CALLVAULT_DATA_DIR": data_dir})
    app = create_app(config)

    async def peak() -> PlainTextResponse:
        fields = dict(
            line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
        )
        return PlainTextResponse(f"{fields['VmRSS'].split()[0]} {fields['VmHWM'].split()[0]}")

    app.add_api_route("/bench/memory", peak)
    if variant == "before":
        # The routes as they were before issue 17, put in front of today's.
        async def old_upload(
            request: Request,
            file: Annotated[UploadFile, File()],
            who: Annotated[Principal, Depends(principal)],
        ) -> dict[str, Any]:
            data = await file.read()
            captured = import_bytes(data, "upload.wav", FileImportOptions(agent=who.username))
            (stored,) = ingest_captured(
                context_of(request), [captured], consent="pre-call-notice", actor="bench"
            )
            return stored.to_json()

        def old_audio(call_id: str, request: Request) -> Response:
            vault = context_of(request).vault
            with vault.calls.open_recording(call_id, action="recording.listen") as reader:
                return Response(reader.read_range(0, reader.size), media_type="audio/wav")

        app.add_api_route("/api/v1/calls", old_upload, methods=["POST"])
        app.add_api_route("/api/v1/calls/{call_id}/audio", old_audio)
        app.router.routes[:] = app.router.routes[-2:] + app.router.routes[:-2]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(config))


# -- the client side --------------------------------------------------------------------


class Server:
    def __init__(self, data_dir: Path, variant: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, __file__, "--serve", variant, str(data_dir), str(self.port)]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"the {variant} server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)

    def memory(self) -> tuple[float, float]:
        """(resident now, peak resident) in MiB."""
        rss, hwm = httpx.get(self.url + "/bench/memory").text.split()
        return int(rss) / 1024, int(hwm) / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def upload(server: Server, token: str, path: Path) -> float:
    started = time.monotonic()
    with open(path, "rb") as handle:
        sent = httpx.post(
            server.url + "/api/v1/calls",
            headers={"Authorization": f"Bearer {token}"},
            data={"consent": "pre-call-notice"},
            files={"file": (path.name, handle, "audio/wav")},
            timeout=600,
        )
    if sent.status_code not in (200, 201):
        raise SystemExit(f"upload: {sent.status_code} {sent.text[:300]}")
    return time.monotonic() - started


def listen(server: Server, token: str, call_id: str, readers: int, size: int) -> float:
    errors: list[str] = []

    def one() -> None:
        got = 0
        url = f"{server.url}/api/v1/calls/{call_id}/audio"
        headers = {"Authorization": f"Bearer {token}"}
        # A slow-ish player: reads 1 MiB at a time, so responses overlap.
        with httpx.stream("GET", url, headers=headers, timeout=600) as response:
            for piece in response.iter_bytes(MiB):
                got += len(piece)
        if got != size:
            errors.append(f"read {got} of {size} bytes")

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("; ".join(errors))
    return time.monotonic() - started


def prepare(root: Path, recording: Path) -> tuple[Path, str, str]:
    """A data directory with a rep, a token and one stored recording."""
    from callvault.capture import FileImportOptions, import_file
    from callvault.config import load_config
    from callvault.vault import Vault

    data = root / "data"
    config = load_config({"CALLVAULT_DATA_DIR": str(data)})
    with Vault.open(config) as vault:
        Accounts(vault).add_user("bench", "bench password 1", "rep")
        _, token = Accounts(vault).create_token(
            "bench", "bench", ["calls:read", "calls:write", "audio:read"], 1
        )
        options = FileImportOptions(agent="bench")
        captured = import_file(recording, options, max_bytes=8 << 30)
        call_id = vault.calls.store_call(captured).call_id
    return data, token, call_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="800 MiB upload, 600 MB recording")
    parser.add_argument("--readers", type=int, default=3)
    args = parser.parse_args()
    upload_size, serve_size = (800 * MiB, 600_000_000) if args.full else (64 * MiB, 96_000_000)
    with tempfile.TemporaryDirectory(prefix="cv-bench-", dir=os.getcwd()) as tmp:
        root = Path(tmp)
        long_wav, upload_wav = root / "long.wav", root / "upload.wav"
        write_wav(long_wav, serve_size)
        write_wav(upload_wav, upload_size)
        data, token, call_id = prepare(root, long_wav)
        size = long_wav.stat().st_size
        rows = []
        for variant in ("before", "now"):
            # A fresh server per measurement: VmHWM never goes down.
            server = Server(data, variant)
            try:
                idle, _ = server.memory()
                took = upload(server, token, upload_wav)
                _, peak_upload = server.memory()
            finally:
                server.stop()
            server = Server(data, variant)
            try:
                took_listen = listen(server, token, call_id, args.readers, size)
                _, peak_listen = server.memory()
            finally:
                server.stop()
            rows.append(
                [
                    variant,
                    f"{idle:.0f}",
                    f"{peak_upload:.0f} ({took:.1f} s)",
                    f"{peak_listen:.0f} ({took_listen:.1f} s)",
                ]
            )
            # The upload was stored; the next variant uploads the same bytes as a
            # duplicate, which still receives, probes and encrypts all of them.
    print(
        machine_line(
            ["uvicorn", "starlette", "cryptography"],
            "peak resident memory (VmHWM) of a fresh server process per cell, MiB",
        )
    )
    table(
        [
            "server",
            "idle",
            f"peak, upload of {upload_size / MiB:.0f} MiB",
            f"peak, {args.readers} readers of {size / 1e6:.0f} MB",
        ],
        rows,
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[3], int(sys.argv[4]), sys.argv[2])
    else:
        main()
