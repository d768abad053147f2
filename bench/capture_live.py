"""Benchmark of callvault.capture.live: concurrent G.711 calls recorded from loopback.

What one run measures (this machine, root, two processes):

1. A sender process (spawned) sets up ``--calls`` SIP calls (INVITE with SDP offer,
   200 OK with SDP answer, ACK) on 127.0.0.1, then sends G.711 RTP both ways, 20 ms
   packets of 160 bytes, on a 20 ms schedule, for ``--seconds``; then a BYE per call.
   ``--calls`` 1000 is about 100,000 packets/s (the issue's target load, with 60 s).
   It counts what it sent, and how far it fell behind its schedule.
2. This process runs ``LiveCapture("lo", "udp and portrange ...")`` meanwhile; the
   callback keeps only packet counts of each delivered call (or segment), so the
   memory measured is the recorder's own.
3. Reported: RTP packets sent vs captured (kept in delivered calls), packets the kernel
   dropped (PACKET_STATISTICS), calls delivered, and the recorder's peak RSS (which
   includes the pages of the kernel ring, ``--buffer-mb``, once they are used). Target
   (issue 5): 0 packets lost by the recorder and at most 1 GB, at 1,000 calls for 60 s.

The exit status is 0 whatever the verdict: this is a benchmark, not a test. There is no
peer in this run: no other live recorder (VoIPmonitor, Oreka) is packaged for Debian.

    sudo .venv/bin/python bench/capture_live.py                       # 50 calls, 10 s
    sudo .venv/bin/python bench/capture_live.py --calls 1000 --seconds 60 --segment 20
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import struct
import sys
import time
from typing import Any

from _common import machine_line, rss_mb, table, verdict
from callvault.capture.live import LiveCapture, LiveNetworkCall

HOST = "127.0.0.1"
# Below the ephemeral range (32768-60999), so other programs' sockets rarely collide;
# only calls whose Call-ID is this bench's are counted all the same (the machine may
# carry other SIP traffic on loopback, and the recorder rightly records it).
SIP_CALLER, SIP_CALLEE = 21060, 21062
MEDIA_BASE = 22000  # call i: caller receives at MEDIA_BASE + 4i, callee at MEDIA_BASE + 4i + 2
PTIME = 0.02


def _sip(call: int, first_line: str, cseq: str, body: str, *, from_callee: bool) -> bytes:
    tags = (f"<sip:a{call}@bench>;tag=a{call}", f"<sip:b{call}@bench>;tag=b{call}")
    sender, receiver = (tags[1], tags[0]) if from_callee else tags
    if first_line.startswith("SIP/2.0"):
        sender, receiver = tags  # a response keeps the request's From and To
    head = (
        f"{first_line}\r\nVia: SIP/2.0/UDP {HOST}:{SIP_CALLER};branch=z9hG4bK{call}\r\n"
        f"From: {sender}\r\nTo: {receiver}\r\nCall-ID: bench-{call}@{HOST}\r\nCSeq: {cseq}\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


def _sdp(port: int) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def send_calls(calls: int, seconds: float) -> dict[str, Any]:
    """The sender process: SIP set-up, paced RTP both ways, BYE; returns its counts."""
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((HOST, SIP_CALLER))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    media.bind((HOST, 0))
    callee_sip = (HOST, SIP_CALLEE)
    for call in range(calls):
        caller_port, callee_port = MEDIA_BASE + 4 * call, MEDIA_BASE + 4 * call + 2
        sip.sendto(
            _sip(
                call,
                f"INVITE sip:b{call}@bench SIP/2.0",
                "1 INVITE",
                _sdp(caller_port),
                from_callee=False,
            ),
            callee_sip,
        )
        sip.sendto(
            _sip(call, "SIP/2.0 200 OK", "1 INVITE", _sdp(callee_port), from_callee=True),
            (HOST, SIP_CALLER),
        )
        sip.sendto(
            _sip(call, f"ACK sip:b{call}@bench SIP/2.0", "1 ACK", "", from_callee=False), callee_sip
        )
    time.sleep(0.5)
    payload = bytes(range(1, 161))
    targets = [
        (MEDIA_BASE + 4 * call + 2 * (1 - side), 0x10000 * side + call)
        for call in range(calls)
        for side in (0, 1)
    ]  # (destination port, SSRC): side 0, the caller, sends to the callee's port
    ticks = int(round(seconds / PTIME))
    sent = 0
    worst_lag = 0.0
    begin = time.monotonic()
    for tick in range(ticks):
        lag = time.monotonic() - (begin + tick * PTIME)
        if lag < 0:
            time.sleep(-lag)
        worst_lag = max(worst_lag, lag)
        header = struct.Struct("!BBHII")
        for port, ssrc in targets:
            media.sendto(
                header.pack(0x80, 0, tick & 0xFFFF, tick * 160, ssrc) + payload, (HOST, port)
            )
            sent += 1
    elapsed = time.monotonic() - begin
    for call in range(calls):
        sip.sendto(
            _sip(call, f"BYE sip:b{call}@bench SIP/2.0", "2 BYE", "", from_callee=False), callee_sip
        )
    sip.close()
    media.close()
    return {"sent": sent, "elapsed": elapsed, "worst_lag": worst_lag}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--segment", type=float, default=300.0, help="segment_seconds")
    parser.add_argument("--buffer-mb", type=int, default=256, help="kernel ring (MiB)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/capture_live.py needs root (an AF_PACKET socket on lo)", file=sys.stderr)
        return 2
    delivered = {"calls": 0, "segments": 0, "packets": 0, "duplicates": 0, "foreign": 0}

    def on_call(call: LiveNetworkCall) -> None:
        if not (call.call_id or "").startswith("bench-"):
            delivered["foreign"] += 1
            return
        delivered["segments"] += 1
        delivered["calls"] += call.final
        for leg in call.legs:
            if leg.quality is not None:  # distinct packets, by sequence number
                delivered["packets"] += leg.quality.packets_received
                delivered["duplicates"] += leg.quality.duplicates

    top = MEDIA_BASE + 4 * args.calls + 2
    capture = LiveCapture(
        "lo",
        f"udp and (port {SIP_CALLER} or port {SIP_CALLEE} or portrange {MEDIA_BASE}-{top})",
        on_call=on_call,
        rtp_timeout=10.0,
        segment_seconds=args.segment,
        buffer_bytes=args.buffer_mb << 20,
    )
    base_rss = rss_mb()
    capture.start()
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result = pool.apply(send_calls, (args.calls, args.seconds))
    deadline = time.monotonic() + 30
    while delivered["calls"] < args.calls and time.monotonic() < deadline:
        time.sleep(0.1)
    capture.stop()
    stats = capture.stats()
    peak = rss_mb()
    sent = result["sent"]
    lost = sent - delivered["packets"]
    print(
        machine_line(
            ["numpy"],
            f"{args.calls} calls x {args.seconds:g} s, segment {args.segment:g} s, "
            f"sender paced at 20 ms (worst lag {result['worst_lag'] * 1000:.0f} ms, "
            f"{sent / result['elapsed']:,.0f} packets/s sent)",
        )
    )
    table(
        ["figure", "value"],
        [
            ["RTP packets sent", f"{sent:,}"],
            ["RTP packets in delivered calls", f"{delivered['packets']:,}"],
            ["duplicates in delivered calls", f"{delivered['duplicates']:,}"],
            ["lost by the recorder (sent - delivered)", f"{lost:,}"],
            ["kernel: packets / dropped", f"{stats.kernel_packets:,} / {stats.kernel_drops:,}"],
            ["calls delivered / segments", f"{delivered['calls']} / {delivered['segments']}"],
            ["other calls seen on lo (not counted)", f"{delivered['foreign']}"],
            ["recorder peak RSS (MiB)", f"{peak:,.0f} (before start {base_rss:,.0f})"],
        ],
    )
    ok = lost == 0 and delivered["calls"] == args.calls and peak <= 1024
    print(f"0 packets lost and <= 1 GB: {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
