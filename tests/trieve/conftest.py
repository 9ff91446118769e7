"""Fixtures for driving a real `gatehouse serve` process with trieve-python-client 1.0.0.

The session starts one server on a free loopback port with a fresh data directory. Users,
their first key and organisations are made with the gatehouse CLI against the same data
directory (the CLI works while the server runs); files and chunks, which the Trieve API only
reads, are written through the native API (`/auth/v1/files`, `/auth/v1/chunks`).

The SDK has no auth scheme (its `auth_settings()` is empty): like every user of it, the
fixtures put the key in the `Authorization` header themselves, raw, as Trieve's server reads it.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests
import trieve_python_client as tc

# The server, the gatehouse CLI and the log summary shared by the client suites.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402
from gatehouse_harness import pytest_terminal_summary  # noqa: E402,F401 (a pytest hook)
from gatehouse_harness import unique  # noqa: E402


class Server(harness.Server):
    TOKEN_NAME = "trieve-suite"

    def create_user(self, username: str, email_address: str, admin: bool = False) -> str:
        """`gatehouse user create`; returns the new user's id."""
        out = super().create_user(username, email_address, admin=admin)
        uuid.UUID(out)  # the CLI prints the id and nothing else
        return out

    def create_org(self, name: str) -> str:
        out = self.cli("org", "create", "--data-dir", str(self.data_dir), "--name", name).strip()
        uuid.UUID(out)
        return out

    def add_member(self, org: str, username: str, role: str) -> None:
        self.cli("org", "add-member", "--data-dir", str(self.data_dir), "--org", org,
                 "--user", username, "--role", role)

    def user_api(self, key: Optional[str]) -> tc.UserApi:
        """The SDK's `UserApi` with `key` as the raw `Authorization` value (none: no header)."""
        cfg = tc.Configuration(host=self.base_url)
        if key is None:
            return tc.UserApi(tc.ApiClient(cfg))
        return tc.UserApi(tc.ApiClient(cfg, header_name="Authorization", header_value=key))

    def native(self, method: str, path: str, key: str, **kwargs) -> requests.Response:
        """A call to the native API (set-up the Trieve API cannot do)."""
        return requests.request(method, f"{self.base_url}/auth/v1{path}",
                                headers={"Authorization": f"Bearer {key}"}, timeout=30, **kwargs)


# The session's one server (fixture `server`), and its log in the summary if a test failed.
server = harness.server_fixture(Server)


# ---------------------------------------------------------------------------
# Accounts


@dataclass
class Account:
    id: str
    username: str
    email: str
    key: str
    api: tc.UserApi


@pytest.fixture
def make_account(server) -> Callable[..., Account]:
    """Factory: a user made with the CLI, with one key (`gatehouse token create`)."""

    def make(prefix: str = "u", admin: bool = False) -> Account:
        username = unique(prefix)
        email_address = f"{username}@example.com"
        user_id = server.create_user(username, email_address, admin=admin)
        key = server.create_token(username)
        return Account(user_id, username, email_address, key, server.user_api(key))

    return make


@pytest.fixture
def alice(make_account) -> Account:
    return make_account("alice")


@pytest.fixture
def bob(make_account) -> Account:
    return make_account("bob")


@pytest.fixture(scope="session")
def root(server) -> Account:
    """An instance administrator."""
    username = unique("root")
    email_address = f"{username}@example.com"
    user_id = server.create_user(username, email_address, admin=True)
    key = server.create_token(username)
    return Account(user_id, username, email_address, key, server.user_api(key))
