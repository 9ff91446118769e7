"""What the Python client suites (tests/freechat, tests/alsid, tests/cloudsmith, tests/trieve)
share: one real `gatehouse serve` process on a loopback port the system chooses (`--listen
127.0.0.1:0`; the server writes the address it bound to `<data-dir>/listening`) with a fresh
data directory, its readiness check (GET /healthz), the gatehouse CLI run against the same data directory (it
works while the server runs) to make users and tokens, stopping the server, and the server's
log in the pytest summary when something failed.

Each suite's conftest.py puts this directory on sys.path, imports this module, subclasses
`Server` for its own calls and settings (`ENV_DROP`, `TOKEN_NAME`), and takes the `server`
fixture (`server_fixture`) and the `pytest_terminal_summary` hook from here; its other fixtures
stay in the conftest.py. Needs only pytest and requests, which every suite has.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator, Optional, Tuple, Type, TypeVar

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r"^gh_[0-9A-Za-z]+$")
STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0

# Filled in by `start_server` and the `server` fixture for `pytest_terminal_summary`. One pytest
# process runs one suite, so module state is per suite.
_SERVER_STATE: dict = {}


def gatehouse_bin() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO_ROOT / "target" / "debug" / "gatehouse")
    return path.resolve()


def clean_env(drop: Tuple[str, ...] = ("GATEHOUSE_",)) -> dict:
    """The environment for child processes: no inherited variable starting with any of `drop`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:  # pragma: no cover - diagnostics only
        return f"<cannot read {path}: {e}>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Server:
    base_url: str
    port: int
    data_dir: Path
    bin: Path
    proc: subprocess.Popen
    log_path: Path

    #: Prefixes of inherited variables the gatehouse processes (server and CLI) must not see.
    ENV_DROP: ClassVar[Tuple[str, ...]] = ("GATEHOUSE_",)
    #: The `--name` `create_token` gives a token when the caller names none (None: no --name).
    TOKEN_NAME: ClassVar[Optional[str]] = None

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """Run `gatehouse <args>` and return its stdout, failing the test on a non-zero exit."""
        cmd = [str(self.bin), *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                             env=clean_env(self.ENV_DROP), timeout=CLI_TIMEOUT_S)
        if res.returncode != 0:
            pytest.fail(f"CLI failed (exit {res.returncode}): {' '.join(cmd)}\n"
                        f"stdout: {res.stdout!r}\nstderr: {res.stderr}", pytrace=False)
        return res.stdout

    def create_user(self, username: str, email_address: str, admin: bool = False,
                    password: str = PASSWORD) -> str:
        """`gatehouse user create`; returns the new user's id (all the CLI prints)."""
        args = ["user", "create", "--data-dir", str(self.data_dir), "--username", username,
                "--email", email_address, "--password-stdin"]
        if admin:
            args.append("--admin")
        out = self.cli(*args, stdin=password + "\n").strip()
        assert out and "\n" not in out, f"`gatehouse user create` printed {out!r}"
        return out

    def create_token(self, username: str, name: Optional[str] = None,
                     expires_in: Optional[int] = None) -> str:
        """`gatehouse token create`; returns the token."""
        name = self.TOKEN_NAME if name is None else name
        args = ["token", "create", "--data-dir", str(self.data_dir), "--user", username]
        if name is not None:
            args += ["--name", name]
        if expires_in is not None:
            args += ["--expires-in", str(expires_in)]
        out = self.cli(*args).strip()
        assert TOKEN_RE.match(out), f"`gatehouse token create` printed {out!r}, not a gh_ token"
        return out


S = TypeVar("S", bound=Server)


def start_server(tmp_root: Path, server_cls: Type[S] = Server, public_url: bool = True) -> S:
    """Start `gatehouse serve` on `127.0.0.1:0` with its data in `tmp_root`/data and its output
    in `tmp_root`/server.log, read the address it bound from `<data>/listening`, and wait until
    GET /healthz answers 200 (else fail the test). Its public URL is that address either way
    (the default on port 0); `public_url` is kept for callers."""
    binary = gatehouse_bin()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"gatehouse binary not found or not executable: {binary} "
                    "(build it with `cargo build -p gatehouse` or set GATEHOUSE_BIN)",
                    pytrace=False)
    data_dir = tmp_root / "data"
    data_dir.mkdir()
    log_path = tmp_root / "server.log"
    del public_url  # the server's own address is its public URL either way
    cmd = [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=clean_env(server_cls.ENV_DROP), start_new_session=True)
    log.close()

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    listening = data_dir / "listening"
    server = None
    last = "no attempt"
    while True:
        if proc.poll() is not None:
            _SERVER_STATE["start_failed"] = True
            pytest.fail(f"gatehouse serve exited with code {proc.returncode} before it was "
                        f"ready.\n--- server output ---\n{tail(log_path)}", pytrace=False)
        if server is None and listening.is_file():
            # Renamed into place whole once the socket is bound.
            address = listening.read_text().strip()
            port = int(address.rsplit(":", 1)[1])
            server = server_cls(f"http://{address}", port, data_dir, binary, proc, log_path)
            _SERVER_STATE["server"] = server
        if server is None:
            last = f"no {listening} yet"
            if time.monotonic() > deadline:
                stop(proc)
                _SERVER_STATE["start_failed"] = True
                pytest.fail(f"gatehouse serve wrote no {listening} within "
                            f"{STARTUP_TIMEOUT_S:.0f}s.\n--- server output ---\n"
                            f"{tail(log_path)}", pytrace=False)
            time.sleep(0.1)
            continue
        base_url = server.base_url
        try:
            r = requests.get(base_url + "/healthz", timeout=2)
            if r.status_code == 200:
                return server
            last = f"HTTP {r.status_code}: {r.text[:200]!r}"
        except requests.RequestException as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            stop(proc)
            _SERVER_STATE["start_failed"] = True
            pytest.fail(f"gatehouse serve did not answer GET /healthz with 200 within "
                        f"{STARTUP_TIMEOUT_S:.0f}s (last: {last}).\n--- server output ---\n"
                        f"{tail(log_path)}", pytrace=False)
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def server_fixture(server_cls: Type[S] = Server, public_url: bool = True):
    """The session-scoped `server` fixture: `start_server` (arguments as there) in a fresh
    temporary directory, stopped at the end of the session. In conftest.py:
    `server = server_fixture(Server)`."""

    @pytest.fixture(scope="session", name="server")
    def server(tmp_path_factory) -> Iterator[S]:
        srv = start_server(tmp_path_factory.mktemp("gatehouse"), server_cls, public_url)
        yield srv
        still_running = srv.proc.poll() is None
        stop(srv.proc)
        if not still_running:
            _SERVER_STATE["died"] = srv.proc.returncode

    return server


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The pytest hook (import it into conftest.py): say if the server died early, and show
    its log when the session failed (unless the start failure already showed it)."""
    srv: Optional[Server] = _SERVER_STATE.get("server")
    if srv is None:
        return
    died = _SERVER_STATE.get("died")
    if died is not None:
        terminalreporter.write_line(
            f"gatehouse serve had exited (code {died}) before the session ended", red=True)
    if exitstatus != 0 and not _SERVER_STATE.get("start_failed"):
        terminalreporter.section("gatehouse serve output")
        terminalreporter.write_line(tail(srv.log_path, 20000))
