"""The native API's OpenAPI document, fetched from a real `gatehouse serve`, is valid OpenAPI
(openapi-spec-validator) and declares errors as the problem documents they are sent as."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = harness.start_server(tmp_path_factory.mktemp("openapi"))
    yield srv
    harness.stop(srv.proc)


def test_the_served_document_validates(server):
    doc = requests.get(server.base_url + "/auth/v1/openapi.json", timeout=10).json()
    validate(doc)  # raises on the first violation, naming it
    assert doc["openapi"].startswith("3.1")


def test_errors_are_declared_and_sent_as_problem_json(server):
    doc = requests.get(server.base_url + "/auth/v1/openapi.json", timeout=10).json()
    declared = doc["paths"]["/auth/v1/me"]["get"]["responses"]["401"]["content"]
    assert list(declared) == ["application/problem+json"]
    r = requests.get(server.base_url + "/auth/v1/me", timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
