"""The web pages through the ASGI app: each role sees the pages it may (others answer 403,
a call out of reach 404, never a 5xx), forms carry the CSRF token and every input has a
label, and the POST forms (sign-in, corrections, holds, rights, users, upload) work."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from _context import as_context
from _scripted_asr import CARD_CALL, ScriptedPipeline, said
from _stored import PASSWORD, PEOPLE, add_people, agent_call
from callvault.accounts import Accounts
from callvault.api import create_app
from callvault.config import Config
from callvault.contacts import ContactInput, Contacts
from callvault.services import process_call
from callvault.vault import Vault
from callvault.web._calls import call_view
from callvault.web._core import _marked


@pytest.fixture
def backend() -> str:
    # The pages use the services the API tests run on both databases; SQLite suffices.
    return "sqlite"


@dataclasses.dataclass
class Site:
    client: TestClient
    vault: Vault
    calls: dict[str, str]  # agent -> call id

    def login(self, username: str) -> str:
        """Sign in through the form; returns the CSRF token forms carry."""
        self.client.cookies.clear()
        page = self.client.get("/login")
        token = _field(page.text, "csrf_token")
        done = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        return _field(self.client.get("/upload" if username != "otto" else "/").text, "csrf_token")


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


# The customer's answer to the card question is cut whole (fail closed), so the customer
# says something after it for the sentiment filter to find.
THANKED_CALL = (*CARD_CALL, said("customer", 1, 7.8, "great thank you"))


@pytest.fixture
def site(config: Config, vault: Vault) -> Iterator[Site]:
    add_people(vault)
    calls = {agent: agent_call(vault, agent, seed) for seed, agent in enumerate(["alice", "carol"])}
    process_call(as_context(vault), calls["alice"], pipeline=ScriptedPipeline(THANKED_CALL))
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
        yield Site(client, vault, calls)


class _Labels(HTMLParser):
    """Inputs that need a label, and the ids that labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []
        self.labelled: set[str] = set()
        self.forms_without_csrf = 0
        self._form: dict[str, bool] | None = None
        # What the Content-Security-Policy refuses: inline scripts, event handler
        # attributes, <style> elements and style attributes (issue 17).
        self.inline: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.inline += [f"<{tag} {n}=...>" for n in a if n == "style" or n.startswith("on")]
        if tag == "style":
            self.inline.append("<style>")
        self._script = tag == "script" and not a.get("src")
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag == "form":
            self._form = {"post": (a.get("method") or "").lower() == "post", "csrf": False}
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append(str(a.get("id") or f"<{tag} name={a.get('name')} without id>"))
        if tag == "input" and a.get("name") == "csrf_token" and self._form is not None:
            self._form["csrf"] = bool(a.get("value"))

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.inline.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        self._script = False
        if tag == "form" and self._form is not None:
            if self._form["post"] and not self._form["csrf"]:
                self.forms_without_csrf += 1
            self._form = None


def _check_html(html: str) -> None:
    parser = _Labels()
    parser.feed(html)
    unlabelled = [f for f in parser.fields if f not in parser.labelled]
    assert not unlabelled, f"inputs without a label: {unlabelled}"
    assert parser.forms_without_csrf == 0
    assert parser.inline == [], "inline script or style, refused by the page's CSP"
    assert 'href="#main"' in html and '<main id="main"' in html


PAGES = {
    # path: roles that may see it (others: 403)
    "/": {"root", "cora", "mona", "alice", "bob", "carol", "otto"},
    "/search?q=card": {"root", "cora", "mona", "alice", "bob", "carol"},
    "/contacts": {"root", "cora", "mona", "alice", "bob", "carol", "otto"},
    "/upload": {"root", "mona", "alice", "bob", "carol"},
    "/record": {"root", "mona", "alice", "bob", "carol"},
    "/compliance": {"root", "cora", "otto"},
    "/compliance/rights": {"root", "cora"},
    "/compliance/retention": {"root", "cora"},
    "/compliance/holds": {"root", "cora"},
    "/compliance/refusals": {"cora"},
    "/compliance/audit": {"root", "cora", "otto"},
    "/admin": {"root"},
    "/live": {"root", "cora", "mona", "alice", "bob", "carol"},
    "/team": {"root", "cora", "mona", "alice", "bob", "carol"},
}


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_each_role_sees_its_pages_and_no_other(site: Site, who: str) -> None:
    site.login(who)
    for path, allowed in PAGES.items():
        page = site.client.get(path)
        expected = 200 if who in allowed else 403
        assert page.status_code == expected, (who, path, page.text[:300])
        _check_html(page.text)
    # The live page is linked for the supervisors (a rep may open it for their own calls).
    nav = site.client.get("/").text
    assert ('href="/live"' in nav) == (who in ("root", "cora", "mona")), who
    consents = site.client.get(f"/compliance/consents?call_id={site.calls['alice']}")
    assert consents.status_code == (200 if who in ("root", "cora") else 403)


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("root", {"alice", "carol"}),
        ("cora", {"alice", "carol"}),
        ("mona", {"alice"}),
        ("alice", {"alice"}),
        ("carol", {"carol"}),
        ("otto", {"alice", "carol"}),
    ],
)
def test_a_call_out_of_reach_is_not_found(site: Site, who: str, visible: set[str]) -> None:
    site.login(who)
    listed = site.client.get("/").text
    for agent, call_id in site.calls.items():
        page = site.client.get(f"/calls/{call_id}")
        if agent in visible:
            assert page.status_code == 200, page.text[:300]
            assert f'href="/calls/{call_id}"' in listed
            _check_html(page.text)
        else:
            assert page.status_code == 404
            assert call_id not in listed
    assert site.client.get("/calls/0123456789abcdef").status_code == 404


def test_signed_out_pages_redirect_to_the_login(site: Site) -> None:
    for path in [*PAGES, f"/calls/{site.calls['alice']}"]:
        page = site.client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    login = site.client.get("/login")
    assert login.status_code == 200
    _check_html(login.text)
    bad = site.client.post(
        "/login",
        data={
            "username": "alice",
            "password": "nope",
            "csrf_token": _field(login.text, "csrf_token"),
        },
    )
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    # Without the sign-in form's token: refused.
    site.client.cookies.clear()
    forged = site.client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert forged.status_code == 403
    assert "callvault_session" not in forged.headers.get("set-cookie", "")


def test_the_call_page_has_a_synced_player_transcript_and_insights(site: Site) -> None:
    site.login("alice")
    call_id = site.calls["alice"]
    html = site.client.get(f"/calls/{call_id}").text
    assert (
        f'<audio id="player" controls preload="metadata" src="/api/v1/calls/{call_id}/audio"'
        in html
    )
    words = re.findall(r'class="w" role="button" tabindex="0" data-start="([0-9.]+)"', html)
    assert len(words) > 5 and [float(w) for w in words] == sorted(float(w) for w in words)
    assert "/static/player.js" in html
    assert "<svg" in html and "Talk time per speaker" in html
    assert "Action items" in html and "Sentiment over the call" in html
    # The card number was redacted: the transcript shows placeholders, never the digits.
    assert "4556" not in html
    assert site.client.get("/static/player.js").status_code == 200
    assert site.client.get("/static/app.css").status_code == 200
    # The auditor sees the metadata only.
    site.login("otto")
    html = site.client.get(f"/calls/{call_id}").text
    assert "<audio" not in html and 'class="w"' not in html


def test_a_correction_form_posts_with_csrf_and_redirects_back(site: Site) -> None:
    csrf = site.login("alice")
    call_id = site.calls["alice"]
    html = site.client.get(f"/calls/{call_id}").text
    assert 'action="/calls/' + call_id + '/corrections"' in html
    body = {
        "section": "actions",
        "index": "0",
        "field": "owner",
        "value": "Alice",
        "reason": "named",
    }
    refused = site.client.post(f"/calls/{call_id}/corrections", data=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    done = site.client.post(
        f"/calls/{call_id}/corrections", data={**body, "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/calls/{call_id}#insights"
    assert "<td>Alice</td>" in site.client.get(f"/calls/{call_id}").text
    # Carol may not correct alice's call: it does not exist for her.
    csrf = site.login("carol")
    other = site.client.post(f"/calls/{call_id}/corrections", data={**body, "csrf_token": csrf})
    assert other.status_code == 404


def test_search_marks_matches_and_links_to_the_moment(site: Site) -> None:
    site.login("alice")
    html = site.client.get("/search?q=receipt").text
    assert "<mark>receipt</mark>" in html
    assert re.search(rf'href="/calls/{site.calls["alice"]}#t=5\.8', html)
    semantic = site.client.get("/search?q=receipt&semantic=on")
    assert semantic.status_code == 200 and f"/calls/{site.calls['alice']}#t=" in semantic.text
    site.login("carol")
    assert "<mark>" not in site.client.get("/search?q=receipt").text
    assert str(_marked("<b>«x»</b>")) == "&lt;b&gt;<mark>x</mark>&lt;/b&gt;"


def test_the_contact_page_shows_only_the_calls_in_reach(site: Site) -> None:
    # Both calls of the site have the caller +14155550100.
    Contacts(site.vault).import_rows([ContactInput(name="Jane Roe", phone="+14155550100")])
    (contact,) = Contacts(site.vault).find(query="Jane")
    site.login("carol")
    assert f'href="/contacts/{contact.id}"' in site.client.get("/contacts?q=jane").text
    page = site.client.get(f"/contacts/{contact.id}")
    assert page.status_code == 200
    assert f"/calls/{site.calls['carol']}" in page.text
    assert f"/calls/{site.calls['alice']}" not in page.text
    _check_html(page.text)


def test_filters_and_pagination_of_the_calls_list(site: Site) -> None:
    site.login("root")
    assert "2 calls." in site.client.get("/").text
    assert "1 call." in site.client.get("/?agent=carol").text
    assert "0 calls." in site.client.get("/?direction=inbound").text
    assert "1 call." in site.client.get("/?sentiment=" + _customer_label(site)).text
    assert site.client.get("/?since=2026-03-03").text.count("0 calls.") == 1
    assert site.client.get("/?since=not-a-date").status_code == 400
    assert site.client.get("/?page=99").status_code == 200


def _customer_label(site: Site) -> str:
    raw = site.vault.artifacts.read_insights(site.calls["alice"])
    assert raw is not None
    import json

    return str(json.loads(raw)["insights"]["sentiment"]["customer"]["label"])


def test_compliance_forms_hold_and_erase_with_confirmation(site: Site) -> None:
    csrf = site.login("cora")
    added = site.client.post(
        "/compliance/holds",
        data={"call_id": site.calls["carol"], "reason": "litigation", "csrf_token": csrf},
    )
    assert added.status_code == 200 and "litigation" in added.text
    hold_id = site.vault.holds.holds()[0].id
    released = site.client.post(
        f"/compliance/holds/{hold_id}/release", data={"reason": "settled", "csrf_token": csrf}
    )
    assert released.status_code == 200 and not site.vault.holds.holds()
    found = site.client.post(
        "/compliance/rights",
        data={"action": "find", "subject": "+14155550100", "csrf_token": csrf},
    )
    assert site.calls["alice"] in found.text
    exported = site.client.post(
        "/compliance/rights",
        data={"action": "export", "subject": "+14155550100", "csrf_token": csrf},
    )
    assert exported.headers["content-type"] == "application/zip"
    review = site.client.post(
        "/compliance/rights",
        data={
            "action": "erase",
            "subject": "+14155550100",
            "reason": "art. 17",
            "csrf_token": csrf,
        },
    )
    assert "Confirm the erasure" in review.text and len(site.vault.calls.list_calls()) == 2
    erased = site.client.post(
        "/compliance/rights",
        data={
            "action": "erase",
            "subject": "+14155550100",
            "reason": "art. 17",
            "confirm": "yes",
            "csrf_token": csrf,
        },
    )
    assert "Erased 2 calls" in erased.text
    assert site.client.get(f"/calls/{site.calls['alice']}").status_code == 404
    audit = site.client.get("/compliance/audit")
    assert "The chain of" in audit.text and "verifies" in audit.text


def test_admin_adds_changes_and_disables_users(site: Site) -> None:
    csrf = site.login("root")
    site.client.post(
        "/admin/users",
        data={
            "username": "dave",
            "password": PASSWORD,
            "role": "rep",
            "team": "east",
            "csrf_token": csrf,
        },
    )
    assert Accounts(site.vault).get_user("dave").role == "rep"
    site.client.post(
        "/admin/users/dave",
        data={"role": "manager", "team": "west", "action": "update", "csrf_token": csrf},
    )
    assert (
        Accounts(site.vault).get_user("dave").role,
        Accounts(site.vault).get_user("dave").team,
    ) == (
        "manager",
        "west",
    )
    site.client.post("/admin/users/dave", data={"action": "disable", "csrf_token": csrf})
    assert Accounts(site.vault).get_user("dave").disabled
    short = site.client.post(
        "/admin/users",
        data={"username": "eve", "password": "short", "role": "rep", "csrf_token": csrf},
    )
    assert short.status_code == 400


def test_upload_form_ingests_and_opens_the_call(site: Site) -> None:
    csrf = site.login("alice")
    data = wav_bytes(tone(3.0, 16000, 2, seed=9), 16000)
    done = site.client.post(
        "/upload",
        data={"csrf_token": csrf, "caller": "+14155550111", "consent": "verbal"},
        files={"file": ("new.wav", data, "audio/wav")},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = site.client.get(done.headers["location"])
    assert page.status_code == 200 and "alice" in page.text
    record = site.client.get("/record").text
    assert 'id="agreed" type="checkbox"' in record and 'id="record" disabled' in record
    assert "recorded" in record.lower()


def test_upload_form_says_which_channel_is_the_agent(site: Site) -> None:
    # issue 16: a select of the channel layouts, the default being today's convention
    csrf = site.login("alice")
    form = site.client.get("/upload").text
    assert '<select id="channels" name="channels"><option value="">' in form
    assert '<option value="agent,customer">agent on channel 0, customer on channel 1' in form
    assert '<option value="customer,agent">customer on channel 0, agent on channel 1' in form
    data = wav_bytes(tone(3.0, 16000, 2, seed=10), 16000)
    fields = {"csrf_token": csrf, "direction": "inbound", "consent": "verbal"}
    done = site.client.post(
        "/upload",
        data={**fields, "channels": "agent,customer"},
        files={"file": ("left.wav", data, "audio/wav")},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    record = site.vault.calls.get_call(done.headers["location"].removeprefix("/calls/"))
    agent = next(p.id for p in record.participants if p.is_agent and p.name == "alice")
    assert [leg.channel for leg in record.legs if leg.participant_id == agent] == [0]
    before = len(site.vault.calls.list_calls())
    refused = site.client.post(
        "/upload",
        data={**fields, "channels": "agent,agent"},
        files={"file": ("other.wav", wav_bytes(tone(3.0, 16000, 2, seed=11), 16000))},
    )
    assert refused.status_code == 400
    assert (
        "--channels &#39;agent,agent&#39; is not a channel layout; give the role of each "
        "channel in order: agent,customer (the agent on channel 0) or customer,agent"
    ) in refused.text
    assert len(site.vault.calls.list_calls()) == before


def test_logout_ends_the_session(site: Site) -> None:
    csrf = site.login("alice")
    done = site.client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_the_call_view_of_an_unprocessed_call_is_empty() -> None:
    view = call_view({"recording": {"duration_s": 3.0}, "transcript": None, "insights": None})
    assert view["utterances"] == [] and view["talk"] == [] and view["redaction_count"] == 0
