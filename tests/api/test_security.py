"""Issue 17, finding 6 at the HTTP edge: the security headers on every response, the API
docs served from the installed package, 422 answers that never repeat the request body,
and the session cookie's Secure flag decided by configuration and the connection, never
by the client's Host header."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from html.parser import HTMLParser
from ipaddress import ip_network

import pytest
from fastapi.testclient import TestClient

from _stored import PASSWORD, add_people
from callvault.api import create_app
from callvault.config import Config
from callvault.vault import Vault

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.fixture
def backend() -> str:
    # Headers, docs and cookies do not touch the database beyond signing in.
    return "sqlite"


@pytest.fixture
def people(vault: Vault) -> Vault:
    add_people(vault)
    return vault


def _client(config: Config, vault: Vault, base_url: str, **kwargs: object) -> TestClient:
    return TestClient(create_app(config, vault=vault), base_url=base_url, **kwargs)  # type: ignore[arg-type]


def _directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


def _assert_hardened(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, response)
    assert "microphone=(self)" in headers["permissions-policy"]
    assert "camera=()" in headers["permissions-policy"]
    policy = _directives(headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-eval" not in headers["content-security-policy"]


def test_every_kind_of_response_carries_the_security_headers(config: Config, people: Vault) -> None:
    app = create_app(config, vault=people)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        answers = {
            "health": client.get("/healthz"),
            "metrics": client.get("/metrics"),
            "page": client.get("/login"),
            "redirect to sign-in": client.get("/", follow_redirects=False),
            "static": client.get("/static/app.css"),
            "docs": client.get("/docs"),
            "docs asset": client.get("/docs/assets/swagger-ui.css"),
            "openapi": client.get("/openapi.json"),
            "api 401": client.get("/api/v1/calls"),
            "api 404": client.get("/no/such/path"),
            "api 422": client.post("/api/v1/auth/login", json={}),
            "NUL refused by middleware": client.get("/healthz?q=%00"),
            "server error": client.get("/boom"),
            "signed in": client.post(
                "/api/v1/auth/login", json={"username": "root", "password": PASSWORD}
            ),
        }
    expected = {
        "health": 200,
        "metrics": 200,
        "page": 200,
        "redirect to sign-in": 303,
        "static": 200,
        "docs": 200,
        "docs asset": 200,
        "openapi": 200,
        "api 401": 401,
        "api 404": 404,
        "api 422": 422,
        "NUL refused by middleware": 400,
        "server error": 500,
        "signed in": 200,
    }
    assert {name: a.status_code for name, a in answers.items()} == expected
    for answer in answers.values():
        _assert_hardened(answer)
        # Plain HTTP on loopback: no HSTS (a browser ignores it over HTTP anyway).
        assert "strict-transport-security" not in answer.headers


def test_hsts_over_https_only_from_the_connection_or_a_trusted_proxy(
    config: Config, vault: Vault
) -> None:
    with _client(config, vault, "https://calls.example") as client:
        assert client.get("/healthz").headers["strict-transport-security"] == "max-age=31536000"
    forged = {"X-Forwarded-Proto": "https"}
    with _client(config, vault, "http://127.0.0.1", client=("10.0.0.7", 5000)) as client:
        assert "strict-transport-security" not in client.get("/healthz", headers=forged).headers
    proxied = dataclasses.replace(config, trusted_proxies=(ip_network("10.0.0.0/24"),))
    with _client(proxied, vault, "http://127.0.0.1", client=("10.0.0.7", 5000)) as client:
        answer = client.get("/healthz", headers=forged)
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert "strict-transport-security" not in client.get("/healthz").headers
    always = dataclasses.replace(config, cookie_secure="always")
    with _client(always, vault, "http://127.0.0.1") as client:
        assert "strict-transport-security" in client.get("/healthz").headers


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "data-openapi", "action"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline_styles += 1
        self._script = tag == "script" and not found.get("src")
        if tag == "style":
            self.inline_styles += 1

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._script = False


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "redoc-init.js", "favicon.png"}),
    ],
)
def test_api_docs_load_nothing_from_another_host(
    config: Config, vault: Vault, path: str, assets: set[str]
) -> None:
    with _client(config, vault, "http://127.0.0.1") as client:
        page = client.get(path)
        assert page.status_code == 200
        refs = _References()
        refs.feed(page.text)
        assert refs.inline_scripts == 0 and refs.inline_styles == 0
        assert "//" not in page.text.replace("<!doctype", "")  # no scheme-relative or absolute URL
        assert all(url.startswith("/") for url in refs.urls), refs.urls
        assert {url.rsplit("/", 1)[1] for url in refs.urls} == assets | {"openapi.json"}
        for url in refs.urls:
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert len(answer.content) > 40, url
            _assert_hardened(answer)
        init = client.get(f"/docs/assets/{'swagger' if path == '/docs' else 'redoc'}-init.js")
        assert init.headers["content-type"].startswith("text/javascript")
        assert "http" not in init.text
    if path == "/docs":
        # Swagger UI asks no online validator about the schema.
        assert "validatorUrl: null" in init.text
        _assert_hardened(page)
    else:
        # ReDoc alone may inject styles and run its search in a blob: worker; its scripts
        # are still this origin's files only.
        policy = _directives(page.headers["content-security-policy"])
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self' 'unsafe-inline'"
        assert policy["worker-src"] == "blob:"


def test_validation_errors_never_echo_the_request_body(config: Config, people: Vault) -> None:
    secret = "Tr0ub4dor&3-never-echoed"
    body = f'{{"username": "root", "password": "{secret}"}}'
    with _client(config, people, "http://127.0.0.1") as client:
        answers = [
            # The password as the body of the wrong content type.
            client.post("/api/v1/auth/login", content=body, headers={"content-type": "text/plain"}),
            # Broken JSON.
            client.post(
                "/api/v1/auth/login",
                content=body[:-1],
                headers={"content-type": "application/json"},
            ),
            # A field that fails its constraint: the empty user name and a long password.
            client.post("/api/v1/auth/login", json={"username": "", "password": secret * 50}),
            # Form-encoded where JSON is expected.
            client.post("/api/v1/auth/login", data={"username": "root", "password": secret}),
        ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert secret[:8] not in answer.text
        detail = answer.json()["detail"]
        assert detail and all(set(item) == {"type", "loc", "msg"} for item in detail)
    assert answers[0].json() == {
        "detail": [
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
            }
        ]
    }


def _cookie_flags(response: object, name: str) -> set[str]:
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        if header.startswith(f"{name}="):
            return {part.strip().lower() for part in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie set")


def _api_login(client: TestClient, **headers: str) -> set[str]:
    answer = client.post(
        "/api/v1/auth/login", json={"username": "root", "password": PASSWORD}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return _cookie_flags(answer, "callvault_session")


def _page_login(client: TestClient, **headers: str) -> set[str]:
    page = client.get("/login", headers=headers)
    login_flags = _cookie_flags(page, "callvault_login_csrf")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    # Sent by hand: the test client keeps a Secure cookie to itself over http://.
    client.cookies.clear()
    done = client.post(
        "/login",
        data={"username": "root", "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
        headers={**headers, "cookie": f"callvault_login_csrf={token.group(1)}"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    flags = _cookie_flags(done, "callvault_session")
    assert ("secure" in flags) == ("secure" in login_flags)
    assert ("secure" in flags) == ("secure" in _cookie_flags(done, "callvault_csrf"))
    return flags


@pytest.mark.parametrize("sign_in", [_api_login, _page_login], ids=["api", "page"])
def test_a_forged_host_header_does_not_drop_the_secure_flag(
    config: Config, people: Vault, sign_in: Callable[..., set[str]]
) -> None:
    # A server reached at a public name over plain HTTP: a client claiming to talk to
    # 127.0.0.1 used to get its session cookie without Secure.
    with _client(config, people, "http://calls.example") as client:
        assert "secure" in sign_in(client, host="127.0.0.1")
        assert "secure" in sign_in(client, host="localhost")
    # `callvault serve` on loopback: plain HTTP works whatever Host is sent.
    with _client(config, people, "http://127.0.0.1") as client:
        assert "secure" not in sign_in(client, host="calls.example")


def test_secure_follows_configuration_and_a_trusted_proxy_only(
    config: Config, people: Vault
) -> None:
    https = {"x-forwarded-proto": "https"}
    peer = ("10.0.0.7", 5000)
    # An untrusted peer cannot switch it on (or off) with X-Forwarded-Proto.
    with _client(config, people, "http://127.0.0.1", client=peer) as client:
        assert "secure" not in _api_login(client, **https)
    with _client(config, people, "http://calls.example", client=peer) as client:
        assert "secure" in _api_login(client, **{"x-forwarded-proto": "http"})
    proxied = dataclasses.replace(config, trusted_proxies=(ip_network("10.0.0.7"),))
    with _client(proxied, people, "http://127.0.0.1", client=peer) as client:
        assert "secure" in _api_login(client, **https)
        assert "secure" not in _api_login(client)
        # The nearest proxy's value counts, not what the client put before it.
        assert "secure" not in _api_login(client, **{"x-forwarded-proto": "https, http"})
    always = dataclasses.replace(config, cookie_secure="always")
    with _client(always, people, "http://127.0.0.1") as client:
        assert "secure" in _api_login(client)
    never = dataclasses.replace(config, cookie_secure="never")
    with _client(never, people, "https://calls.example") as client:
        assert "secure" not in _api_login(client)
