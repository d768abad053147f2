"""The /ask page: the answer and its quotes linking to the moment in the call, only from
calls in reach; refused to the auditor; valid, CSP-clean HTML with labelled inputs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_pages import Site, _check_html

from _asked import DOG_CALL, TRANSFER_CALL, asked_world
from callvault.api import create_app
from callvault.config import Config
from callvault.vault import Vault


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the service is tested on both databases in tests/services


@pytest.fixture
def site(config: Config, vault: Vault) -> Iterator[Site]:
    calls, _ = asked_world(config, vault)
    with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
        yield Site(client, vault, calls)


def test_the_answer_links_each_quote_to_its_moment(site: Site) -> None:
    site.login("mona")
    empty = site.client.get("/ask")
    assert empty.status_code == 200 and "Answer" not in empty.text
    _check_html(empty.text)
    assert 'href="/ask"' in empty.text  # in the navigation
    html = site.client.get("/ask", params={"q": "how much money was transferred?"}).text
    _check_html(html)
    assert TRANSFER_CALL[1].text in html and "Quoted from the calls" in html
    assert re.search(rf'href="/calls/{site.calls["alice"]}#t=2\.0\d*"', html)
    dog = site.client.get("/ask", params={"q": "what breed is the customer's dog"}).text
    assert "Nothing found" in dog and DOG_CALL[1].text not in dog
    site.login("root")
    assert DOG_CALL[1].text in site.client.get("/ask", params={"q": "what breed is the dog"}).text
    site.login("otto")
    assert site.client.get("/ask", params={"q": "dog"}).status_code == 403
