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
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cloudsmith_api
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r"^gh_[0-9A-Za-z]+$")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
TOTP_STEP_S = 30

# Filled in by the `server` fixture so the terminal summary can show the server log.
_SERVER_STATE: dict = {}


def gatehouse_bin() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO_ROOT / "target" / "debug" / "gatehouse")
    return path.resolve()


def cloudsmith_bin() -> Path:
    venv = Path(os.environ.get("VENV") or REPO_ROOT / "target" / "cloudsmith-venv")
    return venv / "bin" / "cloudsmith"


def clean_env() -> dict:
    """The environment for gatehouse processes: nothing GATEHOUSE_* or CLOUDSMITH_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEHOUSE_") and not k.startswith("CLOUDSMITH_")}
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:  # pragma: no cover - diagnostics only
        return f"<cannot read {path}: {e}>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def unique(prefix: str = "cs") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


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


@dataclass
class Server:
    base_url: str
    port: int
    data_dir: Path
    bin: Path
    proc: subprocess.Popen
    log_path: Path

    @property
    def host(self) -> str:
        """The SDK/CLI host with the `/v1` prefix (no trailing slash)."""
        return self.base_url + "/v1"

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """Run `gatehouse <args>` and return its stdout, failing the test on a non-zero exit."""
        cmd = [str(self.bin), *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                             env=clean_env(), timeout=CLI_TIMEOUT_S)
        if res.returncode != 0:
            pytest.fail(f"CLI failed (exit {res.returncode}): {' '.join(cmd)}\n"
                        f"stdout: {res.stdout!r}\nstderr: {res.stderr}", pytrace=False)
        return res.stdout

    def create_user(self, username: str, email_address: str) -> str:
        out = self.cli("user", "create", "--data-dir", str(self.data_dir), "--username",
                       username, "--email", email_address, "--password-stdin",
                       stdin=PASSWORD + "\n").strip()
        assert out and "\n" not in out, f"`gatehouse user create` printed {out!r}"
        return out

    def create_token(self, username: str) -> str:
        out = self.cli("token", "create", "--data-dir", str(self.data_dir),
                       "--user", username, "--name", "cloudsmith-suite").strip()
        assert TOKEN_RE.match(out), f"`gatehouse token create` printed {out!r}, not a gh_ token"
        return out

    def native(self, method: str, path: str, key: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base_url}{path}",
                                headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                **kwargs)


def _start_server(tmp_root: Path) -> Server:
    binary = gatehouse_bin()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"gatehouse binary not found or not executable: {binary} "
                    "(build it with `cargo build -p gatehouse` or set GATEHOUSE_BIN)",
                    pytrace=False)
    data_dir = tmp_root / "data"
    data_dir.mkdir()
    log_path = tmp_root / "server.log"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
         "--public-url", base_url],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
        start_new_session=True,
    )
    log.close()
    server = Server(base_url, port, data_dir, binary, proc, log_path)
    _SERVER_STATE["server"] = server

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no attempt"
    while True:
        if proc.poll() is not None:
            _SERVER_STATE["start_failed"] = True
            pytest.fail(f"gatehouse serve exited with code {proc.returncode} before it was "
                        f"ready.\n--- server output ---\n{_tail(log_path)}", pytrace=False)
        try:
            r = requests.get(base_url + "/healthz", timeout=2)
            if r.status_code == 200:
                return server
            last = f"HTTP {r.status_code}: {r.text[:200]!r}"
        except requests.RequestException as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            _stop(proc)
            _SERVER_STATE["start_failed"] = True
            pytest.fail(f"gatehouse serve did not answer GET /healthz with 200 within "
                        f"{STARTUP_TIMEOUT_S:.0f}s (last: {last}).\n--- server output ---\n"
                        f"{_tail(log_path)}", pytrace=False)
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    srv = _start_server(tmp_path_factory.mktemp("gatehouse"))
    yield srv
    still_running = srv.proc.poll() is None
    _stop(srv.proc)
    if not still_running:
        _SERVER_STATE["died"] = srv.proc.returncode


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    srv: Optional[Server] = _SERVER_STATE.get("server")
    if srv is None:
        return
    died = _SERVER_STATE.get("died")
    if died is not None:
        terminalreporter.write_line(
            f"gatehouse serve had exited (code {died}) before the session ended", red=True)
    if exitstatus != 0 and not _SERVER_STATE.get("start_failed"):
        terminalreporter.section("gatehouse serve output")
        terminalreporter.write_line(_tail(srv.log_path, 20000))


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
    """Like `account`, with TOTP turned on through the native API. The enrolment is
    confirmed with the previous step's code, so the current step is still unused."""
    acct = _account(server)
    r = server.native("POST", "/auth/v1/me/second-factor", acct.key)
    assert r.status_code == 200, r.text
    secret_text = r.json()["secret"]
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    r = server.native("POST", "/auth/v1/me/second-factor/confirm", acct.key,
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
        env = clean_env()
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
