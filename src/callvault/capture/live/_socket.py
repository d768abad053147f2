"""A Linux AF_PACKET raw socket on one interface, with an optional classic BPF filter.

Filters are written as tcpdump expressions and compiled by libpcap itself, through
ctypes (`pcap_open_dead` + `pcap_compile`): no tcpdump binary and no Python binding are
needed, only the shared library (Debian `libpcap0.8`, present wherever tcpdump or
tshark are). The program is attached with SO_ATTACH_FILTER before the socket is bound,
so no packet slips past it. On a loopback interface every packet would be seen twice
(once leaving, once arriving); as libpcap does, the outgoing copy is dropped, here in
the kernel by a prefix that tests the packet type (SKF_AD_PKTTYPE).

Frames arrive through a TPACKET_V3 ring (PACKET_RX_RING, `buffer_bytes` of kernel
memory mapped into the process): the kernel fills 1 MiB blocks and the reader takes a
whole block at a time, with no system call per packet (recvmsg costs about 5 us a
packet, the ring well under 1). Kernel counters come from PACKET_STATISTICS, which
resets on every read: they are added up here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import select
import socket
import struct
from pathlib import Path

from callvault.errors import CaptureError

__all__ = ["PacketSocket", "compile_filter"]

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
SO_ATTACH_FILTER = 26
BLOCK_SIZE = 1 << 20
FRAME_SIZE = 1 << 11
BLOCK_TIMEOUT_MS = 20  # a block not yet full is handed over after this long
# struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, (tp_len, tp_status), tp_mac
_PACKET_HEADER = struct.Struct("IIII8xH")
PACKET_OUTGOING = 4
# Classic BPF (linux/filter.h): ld [SKF_AD_OFF + SKF_AD_PKTTYPE]; jeq #OUTGOING; ret
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_SKF_AD_PKTTYPE = (-0x1000 + 4) & 0xFFFFFFFF
_ACCEPT_ALL = 0x40000
# ARPHRD_* (linux/if_arp.h) to pcap link types (https://www.tcpdump.org/linktypes.html)
_LINKTYPES = {1: 1, 772: 1, 65534: 101}  # Ethernet, loopback, none (tun): raw IP
_DLT_FOR_COMPILE = {1: 1, 101: 12}  # libpcap compiles raw IP as DLT_RAW (12) on Linux

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


class _BpfInsn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


def compile_filter(expression: str, linktype: int = 1) -> list[Instruction]:
    """A tcpdump filter expression as classic BPF instructions, compiled by libpcap."""
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise CaptureError(
            "compiling a capture filter needs libpcap; install it with "
            "`apt-get install libpcap0.8` or capture without --filter"
        )
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgram),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    ]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    handle = lib.pcap_open_dead(_DLT_FOR_COMPILE.get(linktype, linktype), 65535)
    if not handle:
        raise CaptureError("libpcap could not open a handle to compile the capture filter")
    program = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, 0xFFFFFFFF):
            reason = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
            raise CaptureError(f"capture filter {expression!r} does not compile: {reason}")
        try:
            return [
                (insn.code, insn.jt, insn.jf, insn.k)
                for insn in (program.bf_insns[i] for i in range(program.bf_len))
            ]
        finally:
            lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)


def _attach(sock: socket.socket, program: list[Instruction]) -> None:
    if not 0 < len(program) <= 4096:  # BPF_MAXINSNS
        raise CaptureError(f"a capture filter of {len(program)} instructions cannot be attached")
    array = (_BpfInsn * len(program))(*(_BpfInsn(*insn) for insn in program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HL", len(program), ctypes.addressof(array))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class PacketSocket:
    """Frames from one interface: `recv_batch()` gives (time, frame) pairs; `linktype`
    says how to decode them."""

    def __init__(
        self, interface: str, bpf_filter: str | None = None, *, buffer_bytes: int = 64 << 20
    ) -> None:
        self.interface = interface
        hatype = _hardware_type(interface)
        linktype = _LINKTYPES.get(hatype)
        if linktype is None:
            raise CaptureError(
                f"interface {interface!r} has link type ARPHRD {hatype}, which live capture "
                "does not read; capture on an Ethernet, loopback or tun interface"
            )
        self.linktype = linktype
        program: list[Instruction] = []
        if hatype == 772:  # loopback: drop the outgoing copy of every packet
            program = [
                (_BPF_LD_W_ABS, 0, 0, _SKF_AD_PKTTYPE),
                (_BPF_JEQ_K, 0, 1, PACKET_OUTGOING),
                (_BPF_RET_K, 0, 0, 0),
            ]
        if bpf_filter:
            program += compile_filter(bpf_filter, linktype)
        elif program:
            program.append((_BPF_RET_K, 0, 0, _ACCEPT_ALL))
        try:
            # Protocol 0: nothing is received until bind(), after the filter is in place.
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError as error:
            raise CaptureError(
                "live capture needs root or the CAP_NET_RAW capability; run it as root"
            ) from error
        try:
            if program:
                _attach(self.sock, program)
            self._ring, self._block_size, self._blocks = _map_ring(self.sock, buffer_bytes)
            self.sock.bind((interface, ETH_P_ALL))
        except OSError as error:
            self.sock.close()
            raise CaptureError(
                f"cannot capture on interface {interface!r} ({error.strerror}); "
                "check the name with `ip link`"
            ) from error
        self._block = 0
        self.kernel_packets = 0
        self.kernel_drops = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait(self, timeout: float) -> None:
        """Until the kernel hands over a block, or `timeout` seconds."""
        select.select([self.sock], [], [], timeout)

    def recv_batch(self) -> list[tuple[float, bytes]]:
        """The frames of the next block the kernel filled, with their receive times.

        The block is copied out and given back to the kernel at once, so the ring never
        waits on the caller; an empty list means no block is ready yet.
        """
        ring = self._ring
        base = self._block * self._block_size
        if not struct.unpack_from("I", ring, base + 8)[0] & TP_STATUS_USER:
            return []
        count, first, length = struct.unpack_from("III", ring, base + 12)
        data = ring[base : base + length]
        struct.pack_into("I", ring, base + 8, TP_STATUS_KERNEL)
        self._block = (self._block + 1) % self._blocks
        frames: list[tuple[float, bytes]] = []
        unpack = _PACKET_HEADER.unpack_from
        offset = first
        for _ in range(count):
            next_offset, seconds, nanoseconds, snaplen, mac = unpack(data, offset)
            start = offset + mac
            frames.append((seconds + nanoseconds * 1e-9, data[start : start + snaplen]))
            offset += next_offset
        return frames

    def statistics(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted for this socket since it was opened."""
        if self.sock.fileno() >= 0:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            packets, drops = struct.unpack("II", raw)
            # The kernel's tp_packets includes the drops (net/packet/af_packet.c).
            self.kernel_packets += packets
            self.kernel_drops += drops
        return self.kernel_packets, self.kernel_drops

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.statistics()
            self._ring.close()
            self.sock.close()


def _map_ring(sock: socket.socket, size: int) -> tuple[mmap.mmap, int, int]:
    """A TPACKET_V3 receive ring of about `size` bytes, in blocks of BLOCK_SIZE."""
    blocks = max(4, size // BLOCK_SIZE)
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    # struct tpacket_req3: block size and count, frame size and count, block timeout
    # (ms), private area size, feature word.
    frames = BLOCK_SIZE // FRAME_SIZE * blocks
    request = struct.pack("7I", BLOCK_SIZE, blocks, FRAME_SIZE, frames, BLOCK_TIMEOUT_MS, 0, 0)
    sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
    ring = mmap.mmap(
        sock.fileno(), BLOCK_SIZE * blocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
    )
    return ring, BLOCK_SIZE, blocks


def _hardware_type(interface: str) -> int:
    try:
        if not interface or "/" in interface or interface.startswith("."):
            raise ValueError(interface)
        return int(Path("/sys/class/net", interface, "type").read_text().strip())
    except (OSError, ValueError) as error:
        raise CaptureError(
            f"no network interface {interface!r}; check the name with `ip link`"
        ) from error
