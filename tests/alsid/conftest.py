"""Fixtures for driving a real `gatehouse serve` process with pyTenable's `tenable.ie`.

The session starts one server on a free loopback port with a fresh data directory (no SMTP
relay, so mail is written as .eml files under <data>/mail, where the tests read reset
links). The first administrator and every key are made with the gatehouse CLI against the
same data directory (the CLI works while the server runs); tests make their own users.
"""

from __future__ import annotations

import email
import email.policy
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests
from tenable.ie import TenableIE

# The server, the gatehouse CLI and the log summary shared by the client suites.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402
from gatehouse_harness import pytest_terminal_summary  # noqa: E402,F401 (a pytest hook)
from gatehouse_harness import PASSWORD, unique  # noqa: E402 (tests import these)

LINK_TOKEN_RE = re.compile(r"token=([0-9A-Za-z]+)")
MAIL_TIMEOUT_S = 15.0


class Server(harness.Server):
    ENV_DROP = ("GATEHOUSE_", "TIE_")  # nothing GATEHOUSE_* or TIE_* is inherited
    TOKEN_NAME = "alsid-suite"

    def client(self, key: Optional[str]) -> TenableIE:
        # retries=1: a 429 or 5xx must fail the test, not stall it in back-off. Without a
        # key pyTenable warns that the session is unauthenticated, which is the point.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Starting an unauthenticated session")
            return TenableIE(api_key=key, url=self.base_url, retries=1)

    def login(self, email_address: str, password: str) -> requests.Response:
        """`POST /api/login` (pyTenable has no call for it)."""
        return requests.post(f"{self.base_url}/api/login",
                             json={"email": email_address, "password": password}, timeout=30)

    def reset_link_token(self, email_address: str) -> str:
        """The link token of the newest reset message written for `email_address`."""
        mail_dir = self.data_dir / "mail"
        deadline = time.monotonic() + MAIL_TIMEOUT_S
        while True:
            found = []
            for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if email_address.lower() not in str(msg["To"]).lower():
                    continue
                body = msg.get_body(preferencelist=("plain",))
                match = LINK_TOKEN_RE.search(body.get_content() if body else "")
                if match:
                    found.append(match.group(1))
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                pytest.fail(f"no reset mail for {email_address} in {mail_dir} within "
                            f"{MAIL_TIMEOUT_S:.0f}s", pytrace=False)
            time.sleep(0.1)


# The session's one server (fixture `server`), and its log in the summary if a test failed.
server = harness.server_fixture(Server)


# ---------------------------------------------------------------------------
# Accounts


@dataclass
class CliAccount:
    username: str
    email: str
    key: str
    tie: TenableIE


@pytest.fixture(scope="session")
def admin(server) -> CliAccount:
    """The instance administrator, made with `gatehouse user create --admin`."""
    username = unique("root")
    email_address = f"{username}@example.com"
    server.create_user(username, email_address, admin=True)
    key = server.create_token(username)
    return CliAccount(username, email_address, key, server.client(key))


@pytest.fixture
def plain(server) -> CliAccount:
    """A user with only the built-in `user` role."""
    username = unique("plain")
    email_address = f"{username}@example.com"
    server.create_user(username, email_address)
    key = server.create_token(username)
    return CliAccount(username, email_address, key, server.client(key))


@pytest.fixture
def new_user(admin) -> Callable[..., dict]:
    """Factory: a user created through `tie.users.create`; returns the created record."""

    def make(**kwargs) -> dict:
        local = unique("u")
        email_address = kwargs.pop("email", f"{local}@example.com")
        name = kwargs.pop("name", local.capitalize())
        password = kwargs.pop("password", PASSWORD)
        created = admin.tie.users.create(name=name, email=email_address, password=password,
                                         **kwargs)
        assert len(created) == 1
        return created[0]

    return make
