"""Anchoring audit checkpoints (issue 21) in real places: a directory, an S3 bucket with
object lock (moto's server, an S3 emulator, speaking the REST protocol to boto3), and a
real RFC 3161 timestamp authority (`openssl ts -reply` behind a local HTTP server).
"""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from callvault.backup import AnchorSink, S3AnchorSink, TsaClient, read_anchors, verify_timestamp
from callvault.errors import AnchorError, ConfigError
from callvault.services import Context, anchor_audit, verify_anchors
from callvault.services.anchors import ANCHOR_TASK
from callvault.services.jobs import task_registry
from callvault.vault import Vault

REGION = "us-east-1"


def context(vault: Vault, **settings: Any) -> Context:
    return Context(dataclasses.replace(vault.config, **settings), vault)


def add_entries(vault: Vault, count: int, tag: str = "x") -> None:
    with vault.transaction() as tx:
        for n in range(count):
            tx.audit("test.event", "test", f"{tag}{n}", details={"n": n})


# -- an append-only directory -----------------------------------------------------------


def test_anchor_to_a_directory(vault: Vault, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    ctx = context(vault)
    add_entries(vault, 2)
    first = anchor_audit(ctx, to=str(place))
    assert first.written and first.name is not None and not first.timestamped
    assert first.name.startswith(f"audit-anchor-{first.seq:012d}-")
    path = place / first.name
    assert path.stat().st_mode & 0o777 == 0o400
    assert not [p for p in place.iterdir() if p.name.startswith(".")]  # no temp left
    again = anchor_audit(ctx, to=str(place))
    assert not again.written
    assert again.message == (
        f"the audit head (entry {first.seq}) has not moved since the last checkpoint at "
        f"{place}; nothing written"
    )
    add_entries(vault, 3, "y")
    second = anchor_audit(ctx, to=str(place))
    assert second.written and second.seq == first.seq + 3
    report = verify_anchors(ctx, str(place))
    assert report.ok, report.faults
    assert [(c.name, c.seq, c.ok) for c in report.checkpoints] == [
        (first.name, first.seq, True),
        (second.name, second.seq, True),
    ]


def test_the_directory_never_overwrites(tmp_path: Path) -> None:
    sink = AnchorSink(tmp_path / "anchors")
    name = "audit-anchor-000000000007-20261207T120000Z.json"
    sink.put(name, b"{}")
    with pytest.raises(AnchorError) as caught:
        sink.put(name, b"{}")
    assert str(caught.value) == (
        f"{tmp_path / 'anchors' / name} exists already; an anchored checkpoint is never overwritten"
    )
    assert read_anchors(str(tmp_path / "anchors")) == [(b"{}", None, name)]
    with pytest.raises(AnchorError, match="is not the name of an audit checkpoint"):
        sink.put("../escape.json", b"{}")


def test_nowhere_to_anchor_is_an_error(vault: Vault) -> None:
    with pytest.raises(ConfigError) as caught:
        anchor_audit(context(vault))
    assert str(caught.value) == (
        "nowhere to anchor: give --to DIR|s3://bucket or --tsa URL, or set audit_anchor_to "
        "or audit_anchor_tsa"
    )


def test_an_empty_source_does_not_verify(vault: Vault, tmp_path: Path) -> None:
    report = verify_anchors(context(vault), str(tmp_path / "none"))
    assert not report.ok
    assert report.faults == (f"no audit checkpoint is anchored at {tmp_path / 'none'}",)


# -- periodic -------------------------------------------------------------------------------


def test_the_periodic_task_anchors_once_per_head(vault: Vault, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    assert ANCHOR_TASK not in task_registry(context(vault))
    ctx = context(vault, audit_anchor_to=str(place), audit_anchor_every=900.0)
    registry = task_registry(ctx)
    assert registry.queue_of(ANCHOR_TASK) == "maintenance"
    assert [(p.task, p.every_s) for p in registry.periodic() if p.task == ANCHOR_TASK] == [
        (ANCHOR_TASK, 900.0)
    ]
    add_entries(vault, 1)
    task = registry.get(ANCHOR_TASK)
    seen: list[str] = []
    task({}, lambda fraction, what: seen.append(what))
    task({}, lambda fraction, what: seen.append(what))
    assert seen == ["anchored", "head unchanged"]
    assert len(list(place.glob("audit-anchor-*.json"))) == 1


# -- S3 with object lock ------------------------------------------------------------------


def _s3(url: str) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=url, region_name=REGION)


def test_anchor_to_a_bucket_with_object_lock(vault: Vault, moto_server: str, aws_env: None) -> None:
    s3 = _s3(moto_server)
    bucket = f"anchors-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    ctx = context(vault, s3_endpoint_url=moto_server, s3_region=REGION, audit_anchor_retain_days=30)
    add_entries(vault, 2)
    result = anchor_audit(ctx, to=f"s3://{bucket}/audit")
    assert result.written and result.location == f"s3://{bucket}/audit"
    key = f"audit/{result.name}"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert abs(until - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    # moto enforces compliance mode: deleting the locked version is refused.
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert not anchor_audit(ctx, to=f"s3://{bucket}/audit").written
    add_entries(vault, 1, "y")
    assert anchor_audit(ctx, to=f"s3://{bucket}/audit").written
    report = verify_anchors(ctx, f"s3://{bucket}/audit")
    assert report.ok, report.faults
    assert len(report.checkpoints) == 2


def test_a_bucket_without_object_lock_is_refused(
    vault: Vault, moto_server: str, aws_env: None
) -> None:
    s3 = _s3(moto_server)
    bucket = f"plain-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    ctx = context(vault, s3_endpoint_url=moto_server, s3_region=REGION)
    with pytest.raises(AnchorError) as caught:
        anchor_audit(ctx, to=f"s3://{bucket}")
    assert str(caught.value).startswith(f"bucket {bucket} has no object lock")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


# -- an RFC 3161 timestamp authority ------------------------------------------------------

_TSA_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

_EXTENSIONS = """\
[tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, pem = folder / f"{name}.key", folder / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(pem), "-days", "30",
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return key, pem


@dataclasses.dataclass(frozen=True)
class Tsa:
    url: str
    root: Path  # the CA that issued the TSA's certificate
    other_root: Path  # a CA that has nothing to do with it


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    """A real RFC 3161 TSA: `openssl ts -reply` answering HTTP POSTs on 127.0.0.1.

    Without `-chain`: openssl writes the token's SET OF certificates in the order given
    (signer first), not in DER order, and rfc3161-client's strict DER parser refuses
    that ("InvalidSetOrdering"). With the signer's certificate alone the token is the
    same DER either way; the verifier gets the root from `audit_anchor_tsa_cert`."""
    folder = tmp_path_factory.mktemp("tsa")
    ca_key, ca_pem = _make_ca(folder, "Test Root CA")
    _, other_pem = _make_ca(folder, "Unrelated CA")
    (folder / "ext.cnf").write_text(_EXTENSIONS)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_TSA_CONFIG.format(dir=folder))
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(folder / "tsa.key"), "-out", str(folder / "tsa.csr"),
        "-subj", "/CN=Test TSA",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(folder / "tsa.csr"), "-CA", str(ca_pem),
        "-CAkey", str(ca_key), "-CAcreateserial", "-days", "30",
        "-out", str(folder / "tsa.pem"), "-extfile", str(folder / "ext.cnf"),
        "-extensions", "tsa",
    )  # fmt: skip
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                (folder / "q.tsq").write_bytes(query)
                subprocess.run(
                    [
                        "openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"),
                        "-queryfile", str(folder / "q.tsq"),
                        "-signer", str(folder / "tsa.pem"), "-inkey", str(folder / "tsa.key"),
                        "-out", str(folder / "r.tsr"),
                    ],
                    check=True,
                    capture_output=True,
                )  # fmt: skip
                reply = (folder / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_port}/tsa", ca_pem, other_pem)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_anchor_with_a_timestamp_authority(vault: Vault, tsa: Tsa, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    ctx = context(vault, audit_anchor_tsa_cert=tsa.root)
    add_entries(vault, 2)
    result = anchor_audit(ctx, to=str(place), tsa=tsa.url)
    assert result.written and result.timestamped
    ((checkpoint, token, name),) = read_anchors(str(place))
    assert name == result.name and token is not None
    assert (place / name.replace(".json", ".tsr")).stat().st_mode & 0o777 == 0o400
    stamped = verify_timestamp(token, checkpoint, tsa.root.read_bytes())
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=5)
    # A token vouches for one digest only.
    with pytest.raises(AnchorError, match="the timestamp token does not verify"):
        verify_timestamp(token, checkpoint + b" ", tsa.root.read_bytes())
    # Nor does it verify under a root that did not issue the TSA's certificate.
    with pytest.raises(AnchorError, match="the timestamp token does not verify"):
        verify_timestamp(token, checkpoint, tsa.other_root.read_bytes())
    report = verify_anchors(ctx, str(place))
    assert report.ok, report.faults
    assert report.checkpoints[0].timestamped_at is not None


def test_a_tsa_only_anchor_lands_in_the_data_dir(vault: Vault, tsa: Tsa) -> None:
    ctx = context(vault, audit_anchor_tsa=tsa.url, audit_anchor_tsa_cert=tsa.root)
    add_entries(vault, 1)
    result = anchor_audit(ctx)
    place = vault.config.data_dir / "anchors"
    assert result.location == str(place)
    assert [name for _, token, name in read_anchors(str(place)) if token] == [result.name]


def test_a_tsa_not_chained_to_the_configured_root_is_refused(
    vault: Vault, tsa: Tsa, tmp_path: Path
) -> None:
    ctx = context(vault, audit_anchor_tsa_cert=tsa.other_root)
    add_entries(vault, 1)
    with pytest.raises(AnchorError, match="the timestamp token does not verify"):
        anchor_audit(ctx, to=str(tmp_path / "anchors"), tsa=tsa.url)
    assert not (tmp_path / "anchors").exists() or not any((tmp_path / "anchors").iterdir())


def test_a_tsa_needs_its_certificate_chain(vault: Vault, tsa: Tsa, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="audit_anchor_tsa_cert is not set"):
        anchor_audit(context(vault), to=str(tmp_path / "a"), tsa=tsa.url)


def test_the_bucket_never_overwrites(moto_server: str, aws_env: None) -> None:
    s3 = _s3(moto_server)
    bucket = f"again-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    sink = S3AnchorSink(s3, bucket, "p", retain_days=1)
    name = "audit-anchor-000000000007-20261207T120000Z.json"
    sink.put(name, b"{}")
    # moto honours the conditional write (If-None-Match: *) and answers 412.
    with pytest.raises(AnchorError) as caught:
        sink.put(name, b"{}")
    assert str(caught.value) == (
        f"s3://{bucket}/p/{name} exists already; an anchored checkpoint is never overwritten"
    )
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 1


def test_verify_reports_a_token_for_another_checkpoint(
    vault: Vault, tsa: Tsa, tmp_path: Path
) -> None:
    place = tmp_path / "anchors"
    ctx = context(vault, audit_anchor_tsa_cert=tsa.root)
    add_entries(vault, 1)
    result = anchor_audit(ctx, to=str(place))
    assert result.name is not None
    # A genuine token of this TSA, but over other bytes, put next to the checkpoint.
    other = TsaClient(tsa.url, tsa.root.read_bytes()).timestamp(b"another checkpoint")
    (place / result.name.replace(".json", ".tsr")).write_bytes(other)
    report = verify_anchors(ctx, str(place))
    assert not report.ok
    (check,) = report.checkpoints
    assert check.messages == (
        f"{result.name}: the timestamp token does not verify: Mismatch between messages",
    )
