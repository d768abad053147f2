"""Benchmark of callvault.capture.net: a large pcap to per-call audio, against tshark.

What one run measures (this machine, single process):

1. Input: a classic pcap (Ethernet/IPv4/UDP), generated once into a temporary directory:
   ``--calls`` concurrent G.711 calls (default 250, PCMU and PCMA alternately), each
   with SIP INVITE (SDP offer) / 200 OK (SDP answer) / ACK, then ``--seconds`` of RTP
   (20 ms packets, 160 bytes, both directions), then BYE / 200 OK. Default 250 calls x
   40 s = 1,000,000 RTP packets plus the SIP. Generation time is not measured.
2. callvault: ``read_captures([file])`` to finished calls, i.e. every packet parsed,
   streams mapped to dialogs, ordered, measured (loss, jitter, MOS) and decoded to
   int16 PCM per leg. Best of ``--repeats`` (default 1) runs. Reported in packets/s.
3. tshark (if installed): ``tshark -q -z rtp,streams -r FILE``, heuristics off, which
   only lists the RTP streams and their statistics (it decodes no audio). Same file,
   same run, best of ``--repeats``.
   Target: callvault >= 2x tshark's packets/s.

The file is freshly written, so both read it from the page cache. Results are a
Markdown table on stdout; the exit status is 0 whatever the verdict: this is a
benchmark, not a test.

Run it from the repository root::

    .venv/bin/python bench/capture.py                  # full run: 1,000,000+ packets
    .venv/bin/python bench/capture.py --calls 20 --seconds 10    # quick check
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine_line, rss_mb, table, verdict
from callvault.capture.net import read_captures

TARGET_RATIO = 2.0
PTIME = 0.02
START = 1_790_000_000.0  # capture start, UNIX seconds


def _frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp


def _sip(lines: list[str], body: str = "") -> bytes:
    head = "\r\n".join(lines + [f"Content-Length: {len(body)}", "", ""])
    return (head + body).encode()


def _sdp(address: str, port: int, pt: int) -> str:
    name = "PCMU" if pt == 0 else "PCMA"
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\na=sendrecv\r\n"
    )


def write_capture(path: Path, calls: int, seconds: float) -> int:
    """Write the benchmark pcap; returns the number of packets written."""
    rng = np.random.default_rng(2026)
    payloads = [rng.integers(0, 256, 160, dtype=np.uint8).tobytes() for _ in range(64)]
    record = struct.Struct("<IIII")
    count = 0
    with open(path, "wb", buffering=1 << 22) as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def put(moment: float, frame: bytes) -> None:
            nonlocal count
            sec = int(moment)
            out.write(record.pack(sec, int((moment - sec) * 1e6), len(frame), len(frame)))
            out.write(frame)
            count += 1

        parties = []
        for n in range(calls):
            a = f"10.1.{n // 250}.{n % 250 + 1}"
            b = f"10.2.{n // 250}.{n % 250 + 1}"
            parties.append((a, b, bytes(map(int, a.split("."))), bytes(map(int, b.split(".")))))
        for n, (a, b, a_raw, b_raw) in enumerate(parties):
            pt = n % 2 * 8
            cid = f"bench-{n}@callvault"
            common = [f"Call-ID: {cid}", "From: <sip:+4420700{n:05d}@a>;tag=a", "To: <sip:b@b>"]
            t = START + n * 0.001
            invite = _sip(
                [
                    "INVITE sip:b@b SIP/2.0",
                    *common,
                    "CSeq: 1 INVITE",
                    "Content-Type: application/sdp",
                ],
                _sdp(a, 20000, pt),
            )
            put(t, _frame(a_raw, 5060, b_raw, 5060, invite))
            ok = _sip(
                [
                    "SIP/2.0 200 OK",
                    *common[:2],
                    "To: <sip:b@b>;tag=b",
                    "CSeq: 1 INVITE",
                    "Content-Type: application/sdp",
                ],
                _sdp(b, 30000, pt),
            )
            put(t + 0.0002, _frame(b_raw, 5060, a_raw, 5060, ok))
            ack = _sip(["ACK sip:b@b SIP/2.0", *common[:2], "To: <sip:b@b>;tag=b", "CSeq: 1 ACK"])
            put(t + 0.0004, _frame(a_raw, 5060, b_raw, 5060, ack))
        t0 = START + 1.0
        ticks = int(seconds / PTIME)
        for tick in range(ticks):
            moment = t0 + tick * PTIME
            for n, (_a, _b, a_raw, b_raw) in enumerate(parties):
                pt = n % 2 * 8
                payload = payloads[(tick + n) % 64]
                head = struct.pack("!BBHII", 0x80, pt, tick & 0xFFFF, 160 * tick, 1000 + n)
                put(moment + n * 1e-5, _frame(a_raw, 20000, b_raw, 30000, head + payload))
                head = struct.pack("!BBHII", 0x80, pt, tick & 0xFFFF, 160 * tick, 5000 + n)
                put(moment + n * 1e-5 + 5e-6, _frame(b_raw, 30000, a_raw, 20000, head + payload))
        t_end = t0 + ticks * PTIME + 0.5
        for n, (_a, _b, a_raw, b_raw) in enumerate(parties):
            cid = f"bench-{n}@callvault"
            bye = _sip(
                [
                    "BYE sip:b@b SIP/2.0",
                    f"Call-ID: {cid}",
                    "From: <sip:x@a>;tag=a",
                    "To: <sip:b@b>;tag=b",
                    "CSeq: 2 BYE",
                ]
            )
            put(t_end + n * 0.001, _frame(a_raw, 5060, b_raw, 5060, bye))
    return count


def time_callvault(path: Path, calls: int, seconds: float) -> tuple[float, float]:
    """Seconds to finished per-call audio, and the check value (audio seconds decoded)."""
    started = time.perf_counter()
    result = read_captures([path])
    elapsed = time.perf_counter() - started
    assert len(result.calls) == calls, f"expected {calls} calls, got {len(result.calls)}"
    audio = sum(len(leg.pcm) / leg.sample_rate for call in result.calls for leg in call.legs)
    assert abs(audio - 2 * calls * seconds) < 2 * calls, "decoded audio is missing"
    return elapsed, audio


def time_tshark(tshark: str, path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [tshark, "-q", "-n", "-z", "rtp,streams", "-r", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    streams = sum(1 for line in done.stdout.splitlines() if " 0x" in line)
    return elapsed, streams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=250, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=40.0, help="RTP seconds per call")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="callvault-bench-capture-") as tmp:
        path = Path(tmp) / "bench.pcap"
        started = time.perf_counter()
        packets = write_capture(path, args.calls, args.seconds)
        print(
            f"Generated {packets:,} packets ({path.stat().st_size / 1e6:.0f} MB, "
            f"{args.calls} calls) in {time.perf_counter() - started:.1f} s\n",
            file=sys.stderr,
        )
        ours = min(time_callvault(path, args.calls, args.seconds)[0] for _ in range(args.repeats))
        peak = rss_mb()
        rows = [
            [
                "callvault read_captures (to decoded audio)",
                f"{packets:,}",
                f"{ours:.2f}",
                f"{packets / ours:,.0f}",
                f"{peak:,.0f}",
            ]
        ]
        tshark = shutil.which("tshark")
        ratio = None
        if tshark is not None:
            runs = [time_tshark(tshark, path) for _ in range(args.repeats)]
            theirs = min(r[0] for r in runs)
            ratio = (packets / ours) / (packets / theirs)
            rows.append(
                [
                    f"tshark -q -z rtp,streams ({runs[0][1]} streams)",
                    f"{packets:,}",
                    f"{theirs:.2f}",
                    f"{packets / theirs:,.0f}",
                    "-",
                ]
            )
        print(machine_line(["av", "numpy"], f"best of {args.repeats}, page-cached input"))
        table(["reader", "packets", "seconds", "packets/s", "peak RSS MiB"], rows)
        if ratio is None:
            print("tshark is not installed: no comparison (apt-get install tshark)")
        else:
            print(
                f"callvault / tshark packets/s: {ratio:.2f} "
                f"(target >= {TARGET_RATIO:.1f}: {verdict(ratio >= TARGET_RATIO)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
