"""Every SIPREC offer of the eval corpus parses, with the participants and labels it holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callvault.capture.net._sip import SipMessage
from callvault.capture.siprec import SiprecOffer, parse_siprec_offer
from callvault.capture.siprec._offer import parse_metadata_update, parse_offer_parts
from callvault.errors import ParseError
from capture_net._build import EVAL

BODIES = Path(EVAL) / "siprec_bodies"


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _offer(name: str) -> SiprecOffer:
    path = BODIES / name
    if not path.is_file():
        _missing(f"the evaluation corpus is not at {BODIES} (set CALLVAULT_EVAL_DATA)")
    data = path.read_bytes()
    if data.startswith(b"INVITE "):
        message = SipMessage.parse(data)
        return parse_siprec_offer(message.body, message.header("content-type") or "")
    # The bodies were saved without their headers: the boundary is read from the body.
    return parse_siprec_offer(data, "multipart/mixed")


# file: (labels, [(aor, name, labels sent)], caller AOR, callee AOR, channel per m= line)
EXPECTED = {
    "acme-siprec-offer.txt": (
        ("16777227", "16777228"),
        [
            ("sip:9000@192.168.50.102", "9000", ("16777227",)),
            ("sip:1002@192.168.50.10", "1002", ("16777228",)),
        ],
        "sip:9000@192.168.50.102",
        "sip:1002@192.168.50.10",
        (0, 1),
    ),
    "avaya-siprec-offer.txt": (
        ("201835599", "201835600"),
        [
            ("sip:31624895902@10.10.128.62", "31624895902", ("201835599",)),
            ("sip:33187164021@sip.webhelpgroupe.lan", "33187164021", ("201835600",)),
        ],
        "sip:31624895902@10.10.128.62",
        "sip:33187164021@sip.webhelpgroupe.lan",
        (0, 1),
    ),
    "broadworks-offer-2.txt": (
        ("10", "20"),
        [
            ("sip:9878942259@212.188.68.145", None, ("10",)),
            ("sip:ASBCE@asbce.com", None, ("20",)),
        ],
        "sip:9878942259@212.188.68.145",
        "sip:ASBCE@asbce.com",
        (0, 1),
    ),
    "broadworks-offer.txt": (("1",), [], None, None, (0,)),
    "cisco-siprec-offer.txt": (
        ("1", "2"),
        [
            ("sip:7301@35.162.237.204", None, ("1",)),
            ("sip:7300@35.162.237.204", "7300", ("2",)),
        ],
        "sip:7301@35.162.237.204",
        "sip:7300@35.162.237.204",
        (0, 1),
    ),
    "connectel-offer.txt": (
        ("1", "2"),
        [
            ("sip:0771121212@52.57.92.239", "test_user;lang=en-US;id=22", ("1",)),
            ("sip:0760516936@sip-cust1.connectel.io", None, ("2",)),
        ],
        "sip:0771121212@52.57.92.239",
        "sip:0760516936@sip-cust1.connectel.io",
        (0, 1),
    ),
    "intrado-siprec-invite.txt": (
        ("1",),
        [("4058327108@10.105.190.136:5060", None, ("1",))],
        "4058327108@10.105.190.136:5060",
        None,
        (0,),
    ),
    "procomm-siprec-offer.txt": (
        ("a_leg", "b_leg"),
        [
            ("sip:016190200@87.252.209.116", "016190200", ("a_leg",)),
            ("Extension-016190619@speechpath.ie", "Speechpath-Main-Line 016190619", ("b_leg",)),
        ],
        "sip:016190200@87.252.209.116",
        "Extension-016190619@speechpath.ie",
        (0, 1),
    ),
    # Sonus: the caller (From in callData) sends label 2, so m= line 0 is the callee's voice.
    "sonus-siprec-offer.txt": (
        ("1", "2"),
        [
            ("2249888500@172.16.198.55", "Extension 8500", ("2",)),
            ("2249888012@172.16.195.72", None, ("1",)),
        ],
        "2249888500@172.16.198.55",
        "2249888012@172.16.195.72",
        (1, 0),
    ),
}


def test_every_offer_in_the_corpus_is_covered() -> None:
    if not BODIES.is_dir():
        _missing(f"the evaluation corpus is not at {BODIES} (set CALLVAULT_EVAL_DATA)")
    names = {p.name for p in BODIES.iterdir()} - {"non-siprec-payload.txt"}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_offer_parses_with_its_participants_and_labels(name: str) -> None:
    labels, participants, caller, callee, channels = EXPECTED[name]
    offer = _offer(name)
    assert offer.labels == labels
    found = [
        (p.aor, p.name, tuple(s.label for s in offer.streams if s.stream_id in p.send))
        for p in offer.participants
    ]
    assert found == participants
    assert (offer.caller.aor if offer.caller else None) == caller
    assert (offer.callee.aor if offer.callee else None) == callee
    assert tuple(offer.channel_of(i) for i in range(len(offer.media))) == channels
    for aor, _name, sent in participants:
        for label in sent:
            sender = offer.sender_of(label)
            assert sender is not None and sender.aor == aor


def test_vendor_details() -> None:
    avaya = _offer("avaya-siprec-offer.txt")
    # The second m= line lists static PCMA (8) with an rtpmap for 101 only.
    assert avaya.media[1].description.payload_types == (8, 101)
    assert avaya.caller is not None and avaya.caller.calling is True
    assert avaya.caller.party().user == "31624895902"
    cisco = _offer("cisco-siprec-offer.txt")
    assert cisco.participants[0].recv == ("kQOH5VdEEeeJ/dD/VsPGWA==",)
    assert cisco.session_ids == ("kQNhKFdEEeeJ9tD/VsPGWA==",)
    intrado = _offer("intrado-siprec-invite.txt")
    assert intrado.participants[0].calling is True  # <role>calling</role>
    assert intrado.participants[0].party().user == "4058327108"
    assert intrado.media[0].description.payload_types == (0, 8, 101)
    sonus = _offer("sonus-siprec-offer.txt")
    assert sonus.caller is not None and sonus.caller.party().display_name == "Extension 8500"
    assert sonus.callee is not None and sonus.callee.name is None  # "<name> </name>"
    connectel = _offer("connectel-offer.txt")
    assert connectel.warnings == (
        "metadata has no participantstreamassoc: the n-th stream is taken to be sent by "
        "the n-th participant",
    )
    broadworks = _offer("broadworks-offer.txt")
    assert broadworks.has_metadata and broadworks.participants == ()
    assert broadworks.warnings == (
        "metadata root element is <recording_metadata>, not <recording> (RFC 7865 "
        "section 6): participants are unknown",
    )
    assert broadworks.media[0].description.payload_types == (8, 101, 0, 9, 18)


def test_non_siprec_payload_is_refused_with_a_clear_error() -> None:
    path = BODIES / "non-siprec-payload.txt"
    if not path.is_file():
        _missing(f"the evaluation corpus is not at {BODIES} (set CALLVAULT_EVAL_DATA)")
    expected = (
        "not a SIPREC offer: the body is an SDP alone, without the "
        "application/rs-metadata+xml part a SIPREC INVITE carries (RFC 7866 section 8)"
    )
    for content_type in ("application/sdp", "multipart/mixed", ""):
        with pytest.raises(ParseError) as caught:
            parse_siprec_offer(path.read_bytes(), content_type)
        assert str(caught.value) == expected


def test_multipart_without_metadata_or_sdp_is_not_siprec() -> None:
    sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    sdp += b"m=audio 4000 RTP/AVP 0\r\na=label:1\r\n"
    only_sdp = b"--b\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n--b--\r\n"
    with pytest.raises(ParseError) as caught:
        parse_siprec_offer(only_sdp, "multipart/mixed;boundary=b")
    assert str(caught.value) == (
        "not a SIPREC offer: the multipart body has no application/rs-metadata+xml part "
        "(RFC 7866 section 9)"
    )
    # The server accepts it (RFC 7866 lets metadata come later): streams go by position.
    offer = parse_offer_parts(only_sdp, "multipart/mixed;boundary=b", require_metadata=False)
    assert offer.labels == ("1",) and not offer.has_metadata and offer.channel_of(0) == 0
    only_xml = b"--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording/>\r\n--b--"
    with pytest.raises(ParseError) as caught:
        parse_siprec_offer(only_xml, 'multipart/mixed; boundary="b"')
    assert str(caught.value) == "not a SIPREC offer: the multipart body has no application/sdp part"
    with pytest.raises(ParseError) as caught:
        parse_siprec_offer(b"hello", "text/plain")
    assert str(caught.value).startswith("not a SIPREC offer: the body is text/plain")


def test_hostile_or_broken_metadata_becomes_a_warning() -> None:
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    for xml, warning in (
        (
            '<!DOCTYPE r [<!ENTITY a "aaaa">]><recording>&a;</recording>',
            "metadata declares a DTD or entities, which RFC 7865 never uses: ignored",
        ),
        ("<recording><participant", "metadata is not well-formed XML"),
    ):
        body = (
            f"--b\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--b\r\n"
            f"Content-Type: application/rs-metadata+xml\r\n\r\n{xml}\r\n--b--\r\n"
        ).encode()
        offer = parse_siprec_offer(body, "multipart/mixed;boundary=b")
        assert offer.participants == ()
        assert offer.warnings[0].startswith(warning)


def test_metadata_update_merges_participants() -> None:
    offer = _offer("cisco-siprec-offer.txt")
    update = b"""<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
<datamode>partial</datamode>
<participant participant_id="kQNhKFdEEeeJ99D/VsPGWA==">
<nameID aor="sip:7301@35.162.237.204"><name>Front desk</name></nameID></participant>
</recording>"""
    updated = parse_metadata_update(offer, update)
    assert [p.name for p in updated.participants] == ["Front desk", "7300"]
    assert updated.channel_of(1) == 1
