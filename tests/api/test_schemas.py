"""The declared response models write a body as the route gave it, key for key (issue 18):
the optional keys of a search hit (`methods`) and of a subject erasure (`scope`,
`partial`) are written only when given, as before the routes were declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.utils import create_model_field
from pydantic import BaseModel, TypeAdapter

from callvault.api import create_app
from callvault.api.schemas import SearchPage, SubjectErasureOut
from callvault.config import load_config

HIT = {
    "call_id": "c1",
    "utterance": 3,
    "speaker": "S1",
    "role": None,
    "start": 1.5,
    "end": 2,
    "snippet": "a «receipt»",
    "score": 1e-05,
}


def _written(model: type[BaseModel], body: dict[str, Any]) -> bytes:
    """The body as FastAPI writes it for a route declared with `model` and
    `response_model_exclude_unset`."""
    field = create_model_field(name="response", type_=model, mode="serialization")
    value, errors = field.validate(body, {}, loc=("response",))
    assert not errors
    return field.serialize_json(value, exclude_unset=True)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (SubjectErasureOut, {"subject": "+15551234567", "erased": ["c1"]}),
        (
            SubjectErasureOut,
            {"subject": "+15551234567", "erased": [], "scope": "leg", "partial": ["c1"]},
        ),
        (SearchPage, {"hits": [HIT], "ranked": True, "matches": 1, "limit": 20, "offset": 0}),
        (
            SearchPage,
            {
                "hits": [{**HIT, "methods": ["fts", "semantic"]}],
                "ranked": True,
                "matches": None,
                "limit": 20,
                "offset": 0,
            },
        ),
    ],
)
def test_optional_keys_are_written_only_when_given(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    undeclared = TypeAdapter(dict[str, Any]).dump_json(body)
    assert _written(model, body) == undeclared


DECLARED = {
    ("get", "/api/v1/users"): "UserList",
    ("post", "/api/v1/users"): "UserOut",
    ("patch", "/api/v1/users/{username}"): "UserOut",
    ("post", "/api/v1/users/{username}/unlock"): "UserOut",
    ("post", "/api/v1/users/{username}/tokens"): "TokenCreatedOut",
    ("delete", "/api/v1/tokens/{token_id}"): "TokenOut",
    ("post", "/api/v1/policy/check"): "PolicyDecisionOut",
    ("post", "/api/v1/auth/login"): "LoginOut",
    ("post", "/api/v1/auth/logout"): "LogoutOut",
    ("get", "/api/v1/auth/me"): "MeOut",
    ("get", "/api/v1/contacts"): "ContactList",
    ("post", "/api/v1/contacts/import"): "ImportedContactsOut",
    ("get", "/api/v1/contacts/{contact_id}"): "ContactTimeline",
    ("get", "/api/v1/search"): "SearchPage",
    ("get", "/api/v1/team"): "TeamDashboardOut",
    ("post", "/api/v1/rights/erase"): "SubjectErasureOut",
}


def test_openapi_declares_the_responses() -> None:
    paths = create_app(load_config(env={}, data_dir=Path("unused"))).openapi()["paths"]
    found = {}
    for method, path in DECLARED:
        responses = paths[path][method]["responses"]
        ok = responses.get("200") or responses["201"]
        found[method, path] = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
    assert found == DECLARED
