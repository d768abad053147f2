"""Audio responses stream chunk by chunk from the encrypted store (issue 17, finding 1:
three plain GETs of a 600 MB recording took the server from 158 MB to 3.6 GB): memory
stays at a few chunks whatever the length, Range stays exact across chunk borders, every
read is audited, and a changed chunk fails the read before any of its bytes go out."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from _stored import add_people
from callvault.api import create_app
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import IntegrityError
from callvault.vault import DataPaths, Vault

CHUNK = 64 * 1024
SECONDS = 150.0  # 16 kHz stereo: 9.6 MB of WAV, 147 chunks


@dataclasses.dataclass
class Player:
    client: TestClient
    vault: Vault
    call_id: str
    audio: bytes
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return f"/api/v1/calls/{self.call_id}/audio"


@pytest.fixture
def player(config: Config) -> Iterator[Player]:
    config = dataclasses.replace(config, chunk_size=CHUNK)  # blobs in 64 KiB chunks
    with Vault.open(config) as vault:
        tokens = add_people(vault, ["calls:read", "audio:read"])
        audio = wav_bytes(tone(SECONDS, 16000, 2, seed=7), 16000)
        options = FileImportOptions(caller="+14155550100", direction="outbound", agent="alice")
        call_id = vault.calls.store_call(import_bytes(audio, "long.wav", options)).call_id
        bearer = {"Authorization": f"Bearer {tokens['alice']}"}
        with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
            yield Player(client, vault, call_id, audio, bearer)


def streamed_peak(player: Player, headers: dict[str, str]) -> tuple[int, int, bytes, int]:
    """Status, peak bytes Python allocated while the response was read (in 64 KiB
    pieces, hashed and dropped, as a player would), a digest-free copy of its first and
    last pieces, and its length."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with player.client.stream("GET", player.url, headers=headers) as response:
            total = 0
            edges = b""
            for piece in response.iter_bytes(CHUNK):
                if total == 0:
                    edges = piece[:16]
                total += len(piece)
            status = response.status_code
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return status, peak, edges, total


def test_the_whole_recording_streams_in_bounded_memory(player: Player) -> None:
    size = len(player.audio)
    assert size > 9_000_000
    status, peak, first, total = streamed_peak(player, player.headers)
    assert (status, total, first) == (200, size, player.audio[:16])
    # A few chunks in flight (the decrypted one, its ciphertext, the transport's
    # buffers), never the recording: the whole body buffered was 9.6 MB and more.
    assert peak < 2_000_000, peak
    ranged = {**player.headers, "Range": f"bytes=1000-{size - 1000}"}
    status, peak, first, total = streamed_peak(player, ranged)
    assert (status, total, first) == (206, size - 1999, player.audio[1000:1016])
    assert peak < 2_000_000, peak


def test_ranges_are_exact_across_chunks(player: Player) -> None:
    size = len(player.audio)
    ranges = [
        (0, 0),
        (CHUNK - 1, CHUNK),  # across a chunk border
        (CHUNK, 2 * CHUNK - 1),  # exactly one chunk
        (3 * CHUNK - 10, 7 * CHUNK + 10),  # several, cut at both ends
        (None, 5000),  # the last 5000 bytes
        (size - 10, size + 50),  # past the end: clipped
    ]
    for first, last in ranges:
        spec = f"bytes=-{last}" if first is None else f"bytes={first}-{last}"
        got = player.client.get(player.url, headers={**player.headers, "Range": spec})
        start, end = (size - last, size - 1) if first is None else (first, min(last, size - 1))
        assert got.status_code == 206, spec
        assert got.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert got.headers["content-length"] == str(end - start + 1)
        assert got.content == player.audio[start : end + 1], spec
    whole = player.client.get(player.url, headers=player.headers)
    assert whole.headers["content-length"] == str(size) and whole.content == player.audio
    beyond = player.client.get(player.url, headers={**player.headers, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    listens = player.vault.audit_entries(action="recording.listen")
    assert len(listens) == len(ranges) + 2 and {e.actor for e in listens} == {"user:alice"}


def tamper(player: Player, chunk: int) -> None:
    """Flip one byte of the ciphertext of plaintext chunk `chunk` on disk."""
    record = player.vault.calls.get_call(player.call_id)
    blobs = DataPaths(player.vault.config.data_dir).blobs
    (path,) = [p for p in blobs.rglob("*") if p.is_file() and p.name == record.recording.id]
    data = bytearray(path.read_bytes())
    data[24 + chunk * (CHUNK + 16) + 100] ^= 0x01  # header, then chunk + tag each
    path.write_bytes(bytes(data))


def test_a_changed_chunk_fails_the_read_and_verify(player: Player) -> None:
    tamper(player, 5)
    # A range inside the changed chunk: the read fails before any status goes out.
    inside = player.client.get(
        player.url, headers={**player.headers, "Range": f"bytes={5 * CHUNK}-{5 * CHUNK + 99}"}
    )
    assert inside.status_code == 500
    assert inside.json()["error"] == {
        "type": "IntegrityError",
        "message": f"recording {player.vault.calls.get_call(player.call_id).recording.id}: chunk 5 "
        "of the blob fails authentication (the ciphertext was changed or damaged)",
    }
    # A range that ends before it is served whole.
    before = player.client.get(
        player.url, headers={**player.headers, "Range": f"bytes=0-{5 * CHUNK - 1}"}
    )
    assert before.status_code == 206 and before.content == player.audio[: 5 * CHUNK]
    # The whole recording: the transfer stops at the changed chunk; not one of its bytes
    # (nor any after it) reaches the client.
    received = b""
    with pytest.raises(RuntimeError) as failed:  # the app's error after the status went out
        with player.client.stream("GET", player.url, headers=player.headers) as response:
            assert response.status_code == 200
            for piece in response.iter_bytes():
                received += piece
    assert isinstance(failed.value.__cause__, IntegrityError)
    assert "chunk 5 of the blob fails authentication" in str(failed.value.__cause__)
    assert received == player.audio[: len(received)] and len(received) <= 5 * CHUNK
    # Every read was audited, the failed ones too; `verify` names the recording.
    assert len(player.vault.audit_entries(action="recording.listen")) == 3
    (result,) = player.vault.calls.verify(player.call_id)
    assert not result.ok
