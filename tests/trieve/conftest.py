"""Fixtures for driving a real `gatehouse serve` process with trieve-python-client 1.0.0.

The session starts one server on a free loopback port with a fresh data directory. Users,
their first key and organisations are made with the gatehouse CLI against the same data
directory (the CLI works while the server runs); files and chunks, which the Trieve API only
reads, are written through the native API (`/auth/v1/files`, `/auth/v1/chunks`).

The SDK has no auth scheme (its `auth_settings()` is empty): like every user of it, the
fixtures put the key in the `Authorization` header themselves, raw, as Trieve's server reads it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests
import trieve_python_client as tc

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r"^gh_[0-9A-Za-z]+$")
STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0

# Filled in by the `server` fixture so the terminal summary can show the server log.
_SERVER_STATE: dict = {}


def gatehouse_bin() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO_ROOT / "target" / "debug" / "gatehouse")
    return path.resolve()


def clean_env() -> dict:
    """The environment for gatehouse processes: nothing GATEHOUSE_* is inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
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


def unique(prefix: str = "tr") -> str:
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

    def create_user(self, username: str, email_address: str, admin: bool = False) -> str:
        """`gatehouse user create`; returns the new user's id."""
        args = ["user", "create", "--data-dir", str(self.data_dir), "--username", username,
                "--email", email_address, "--password-stdin"]
        if admin:
            args.append("--admin")
        out = self.cli(*args, stdin=PASSWORD + "\n").strip()
        uuid.UUID(out)  # the CLI prints the id and nothing else
        return out

    def create_token(self, username: str) -> str:
        out = self.cli("token", "create", "--data-dir", str(self.data_dir),
                       "--user", username, "--name", "trieve-suite").strip()
        assert TOKEN_RE.match(out), f"`gatehouse token create` printed {out!r}, not a gh_ token"
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
