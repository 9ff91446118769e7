"""Fixtures for driving a real `gatehouse serve` process with the published Cloudsmith SDK
(`cloudsmith_api`) and command line (`cloudsmith`).

The session starts one server on a free loopback port with a fresh data directory. Users and
their first keys are made with the gatehouse CLI against the same data directory (the CLI
works while the server runs); two-factor users turn TOTP on through the native API
(`/auth/v1/me/second-factor`), and the tests compute their codes (RFC 6238) from the secret
that enrolment shows. Every test makes its own users, so no test depends on another.

The CLI runs with HOME set to a scratch directory (it writes its config files there), from
that directory (it also reads ./config.ini), with every inherited CLOUDSMITH_* variable
dropped and the offline switches api-reference.md lists set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cloudsmith_api
import pytest
import requests

# The server, the gatehouse CLI and the log summary shared by the client suites.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402
from gatehouse_harness import pytest_terminal_summary  # noqa: E402,F401 (a pytest hook)
from gatehouse_harness import CLI_TIMEOUT_S, PASSWORD, REPO_ROOT, unique  # noqa: E402,F401

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TOTP_STEP_S = 30


def cloudsmith_bin() -> Path:
    venv = Path(os.environ.get("VENV") or REPO_ROOT / "target" / "cloudsmith-venv")
    return venv / "bin" / "cloudsmith"


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


# ---------------------------------------------------------------------------
# TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, as the enrolment's otpauth URI says)


def current_step() -> int:
    return int(time.time()) // TOTP_STEP_S


def totp(secret: bytes, step: int) -> str:
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[19] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---------------------------------------------------------------------------
# The server


class Server(harness.Server):
    # gatehouse and cloudsmith processes inherit nothing GATEHOUSE_* or CLOUDSMITH_*
    ENV_DROP = ("GATEHOUSE_", "CLOUDSMITH_")
    TOKEN_NAME = "cloudsmith-suite"

    @property
    def host(self) -> str:
        """The SDK/CLI host with the `/v1` prefix (no trailing slash)."""
        return self.base_url + "/v1"

    def native(self, method: str, path: str, key: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base_url}{path}",
                                headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                **kwargs)


# The session's one server (fixture `server`), and its log in the summary if a test failed.
server = harness.server_fixture(Server)


# ---------------------------------------------------------------------------
# Accounts and clients


@dataclass
class Account:
    username: str
    email: str
    key: str
    user_id: str
    #: The TOTP secret, for accounts with a second factor.
    totp_secret: Optional[bytes] = None

    def code(self, step: Optional[int] = None) -> str:
        assert self.totp_secret is not None
        return totp(self.totp_secret, current_step() if step is None else step)


def sdk(server: Server, key: Optional[str] = None, username: Optional[str] = None,
        password: Optional[str] = None, host: Optional[str] = None) -> cloudsmith_api.UserApi:
    """The SDK's UserApi as its docs set it up, with client-side validation on (its default),
    so every answer is also checked against the models' rules."""
    cfg = cloudsmith_api.Configuration()
    cfg.host = host or server.host
    if key:
        cfg.api_key["X-Api-Key"] = key
    if username is not None:
        cfg.username = username
        cfg.password = password or ""
    assert cfg.client_side_validation is True
    return cloudsmith_api.UserApi(cloudsmith_api.ApiClient(cfg))


def _account(server: Server) -> Account:
    username = unique("cs")
    email_address = f"{username}@example.com"
    user_id = server.create_user(username, email_address)
    key = server.create_token(username)
    return Account(username, email_address, key, user_id)


@pytest.fixture
def account(server) -> Account:
    """A user with the built-in `user` role and one API token (`cloudsmith-suite`)."""
    return _account(server)


@pytest.fixture
def totp_account(server) -> Account:
    """Like `account`, with TOTP turned on through the native API, from a session just
    signed in with the password (an API token never changes a second factor). The enrolment
    is confirmed with the previous step's code, so the current step is still unused."""
    acct = _account(server)
    r = requests.post(f"{server.base_url}/auth/v1/login", timeout=30,
                      json={"login": acct.username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session = r.json()["token"]
    r = server.native("POST", "/auth/v1/me/second-factor", session)
    assert r.status_code == 200, r.text
    secret_text = r.json()["secret"]
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    r = server.native("POST", "/auth/v1/me/second-factor/confirm", session,
                      json={"code": totp(secret, current_step() - 1)})
    assert r.status_code == 200, r.text
    assert len(r.json()["recovery_codes"]) == 10
    acct.totp_secret = secret
    return acct


# ---------------------------------------------------------------------------
# The command line


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class Cli:
    """`cloudsmith` with a scratch HOME and working directory of its own."""

    def __init__(self, server: Server, home: Path):
        self.server = server
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)

    def env(self, key: Optional[str], host: Optional[str] = None) -> dict:
        env = harness.clean_env(Server.ENV_DROP)
        env.update({
            "HOME": str(self.home),
            "CLOUDSMITH_API_HOST": host or self.server.host,
            "CLOUDSMITH_NO_KEYRING": "1",
            "CLOUDSMITH_NO_UPDATE_CHECK": "1",
            "CLOUDSMITH_NO_TELEMETRY": "1",
            "CLOUDSMITH_OIDC_DISCOVERY_DISABLED": "1",
            "NO_COLOR": "1",
        })
        env.pop("XDG_CONFIG_HOME", None)
        if key:
            env["CLOUDSMITH_API_KEY"] = key
        return env

    def run(self, *args: str, key: Optional[str] = None, host: Optional[str] = None,
            stdin: str = "") -> CliResult:
        res = subprocess.run([str(cloudsmith_bin()), *args], input=stdin, capture_output=True,
                             text=True, env=self.env(key, host), cwd=self.home,
                             timeout=CLI_TIMEOUT_S)
        return CliResult(res.returncode, strip_ansi(res.stdout), strip_ansi(res.stderr))

    def spawn(self, *args: str, key: Optional[str] = None):
        """The CLI on a terminal (pexpect), for commands that prompt."""
        import pexpect

        return pexpect.spawn(str(cloudsmith_bin()), list(args), env=self.env(key),
                             cwd=str(self.home), encoding="utf-8", timeout=CLI_TIMEOUT_S,
                             dimensions=(50, 400))

    def credentials_file(self) -> Optional[Path]:
        """The credentials.ini the CLI wrote: the first of its search path (the working
        directory, then ~/.config/cloudsmith, then ~/.cloudsmith)."""
        for folder in (self.home, self.home / ".config" / "cloudsmith",
                       self.home / ".cloudsmith"):
            if (folder / "credentials.ini").is_file():
                return folder / "credentials.ini"
        return None


@pytest.fixture
def cli(server, tmp_path) -> Cli:
    return Cli(server, tmp_path / "home")
