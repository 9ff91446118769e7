"""Fixtures for driving a real `gatehouse serve` process with freechat-sdk 0.1.0.

The session starts one server on a free loopback port with a fresh data directory.
Users and tokens are made with the gatehouse CLI against the same data directory
(the CLI works while the server runs); every test gets its own user.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

import freechat_sdk as fc

# The server, the gatehouse CLI and the log summary shared by the client suites.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402
from gatehouse_harness import pytest_terminal_summary  # noqa: E402,F401 (a pytest hook)
from gatehouse_harness import TOKEN_RE, Server, unique  # noqa: E402,F401 (tests import TOKEN_RE)


# The session's one server (fixture `server`), and its log in the summary if a test failed.
server = harness.server_fixture(Server, public_url=False)


# ---------------------------------------------------------------------------
# Accounts


def api_for(server: Server, token: Optional[str]) -> fc.AccountApi:
    cfg = fc.Configuration(host=server.base_url, access_token=token)
    return fc.AccountApi(fc.ApiClient(cfg))


@dataclass
class Account:
    server: Server
    username: str
    email: str
    user_id: str
    token: str  # made by the CLI
    api: fc.AccountApi = field(repr=False)

    def api_with(self, token: Optional[str]) -> fc.AccountApi:
        return api_for(self.server, token)

    def cli_token(self, **kw) -> str:
        return self.server.create_token(self.username, **kw)


@pytest.fixture
def new_account(server) -> Callable[..., Account]:
    """Factory: a fresh user with one CLI-made token and an AccountApi using it."""

    def make(prefix: str = "fc") -> Account:
        username = unique(prefix)
        email = f"{username}@example.com"
        user_id = server.create_user(username, email)
        token = server.create_token(username, name="freechat-suite")
        return Account(server, username, email, user_id, token, api_for(server, token))

    return make


@pytest.fixture
def account(new_account) -> Account:
    return new_account()
