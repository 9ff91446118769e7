"""Fixtures for driving a real `gatehouse serve` process with pyTenable's `tenable.ie`.

The session starts one server on a free loopback port with a fresh data directory (no SMTP
relay, so mail is written as .eml files under <data>/mail, where the tests read reset
links). The first administrator and every key are made with the gatehouse CLI against the
same data directory (the CLI works while the server runs); tests make their own users.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests
from tenable.ie import TenableIE

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r"^gh_[0-9A-Za-z]+$")
LINK_TOKEN_RE = re.compile(r"token=([0-9A-Za-z]+)")
STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
MAIL_TIMEOUT_S = 15.0

# Filled in by the `server` fixture so the terminal summary can show the server log.
_SERVER_STATE: dict = {}


def gatehouse_bin() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO_ROOT / "target" / "debug" / "gatehouse")
    return path.resolve()


def clean_env() -> dict:
    """The environment for gatehouse processes: nothing GATEHOUSE_* or TIE_* is inherited."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEHOUSE_") and not k.startswith("TIE_")}
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


def unique(prefix: str = "ie") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Server:
    base_url: str
    port: int
    data_dir: Path
    bin: Path
    proc: subprocess.Popen
    log_path: Path

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """Run `gatehouse <args>` and return its stdout, failing the test on a non-zero exit."""
        cmd = [str(self.bin), *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                             env=clean_env(), timeout=CLI_TIMEOUT_S)
        if res.returncode != 0:
            pytest.fail(f"CLI failed (exit {res.returncode}): {' '.join(cmd)}\n"
                        f"stdout: {res.stdout!r}\nstderr: {res.stderr}", pytrace=False)
        return res.stdout

    def create_user(self, username: str, email_address: str, admin: bool = False,
                    password: str = PASSWORD) -> str:
        args = ["user", "create", "--data-dir", str(self.data_dir), "--username", username,
                "--email", email_address, "--password-stdin"]
        if admin:
            args.append("--admin")
        out = self.cli(*args, stdin=password + "\n").strip()
        assert out and "\n" not in out, f"`gatehouse user create` printed {out!r}"
        return out

    def create_token(self, username: str) -> str:
        out = self.cli("token", "create", "--data-dir", str(self.data_dir),
                       "--user", username, "--name", "alsid-suite").strip()
        assert TOKEN_RE.match(out), f"`gatehouse token create` printed {out!r}, not a gh_ token"
        return out

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
