#!/usr/bin/env python3
"""The Debian package as an operator uses it, on this machine (tests/package/run.sh calls this
as root with the .deb it built; Python's standard library only).

Installs the package with dpkg, verifies the installed unit with systemd-analyze (and that its
sandbox keeps an exposure score of 2.5 or less), and runs the installed /usr/bin/gatehouse the
way gatehouse.service does (its User, UMask, Environment and ExecStart read from the installed
unit; systemd itself need not run), with JSON logs to a file.
Through the installed CLI, run as the service user, it makes a user and an API token, calls
/auth/v1/me, enrols a second user in TOTP through the native API and signs them in with a code;
then backs up while serving, restores into a new data directory and serves the same token
and TOTP sign-in from it. It checks the JSON log has one
access line per request it made, with route template and client address, and none of the run's
secrets. Then: an upgrade (dpkg -i again) keeps the data, remove keeps data and config, purge
removes the config, the data and the user.

Every run of gatehouse here names /usr/bin/gatehouse; nothing relies on PATH.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

UNIT = Path("/lib/systemd/system/gatehouse.service")
BIN = "/usr/bin/gatehouse"
CONFIG = Path("/etc/gatehouse/gatehouse.toml")
DATA = Path("/var/lib/gatehouse")
USER = "gatehouse"

HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STARTED = time.monotonic()


def step(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {text}", flush=True)


def fail(text: str) -> None:
    print(f"drill.py: FAILED: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(condition: bool, text: str) -> None:
    if not condition:
        fail(text)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120, **kwargs)


def must(cmd: list[str], **kwargs) -> str:
    res = run(cmd, **kwargs)
    check(res.returncode == 0,
          f"{' '.join(cmd)} exited {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}")
    return res.stdout


class Unit:
    """What gatehouse.service says about how the service runs."""

    def __init__(self, path: Path) -> None:
        self.environment: dict[str, str] = {}
        self.exec_start: list[str] = []
        self.user = self.group = "root"
        self.umask = 0o022
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if key == "Environment":
                for assignment in value.split():
                    name, _, setting = assignment.strip('"').partition("=")
                    self.environment[name] = setting
            elif key == "ExecStart":
                self.exec_start = value.split()
            elif key == "User":
                self.user = value
            elif key == "Group":
                self.group = value
            elif key == "UMask":
                self.umask = int(value, 8)
        check(self.exec_start[:1] == [BIN], f"ExecStart runs {self.exec_start}, not {BIN}")

    def as_service(self, argv: list[str]) -> list[str]:
        """`argv` as the unit's user and group (setpriv, as systemd would set them)."""
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.group}", "--init-groups",
                "--", *argv]

    def env(self, extra: Optional[dict] = None) -> dict:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        env.update(self.environment)
        env.update(extra or {})
        return env

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """The installed CLI as the service user with the service's settings."""
        res = subprocess.run(self.as_service([BIN, *args]), input=stdin or "",
                             capture_output=True, text=True, env=self.env(), timeout=120,
                             preexec_fn=lambda: os.umask(self.umask))
        check(res.returncode == 0,
              f"gatehouse {' '.join(args)} exited {res.returncode}: {res.stderr}")
        return res.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The installed binary serving as the unit runs it, JSON logs into `log`."""

    def __init__(self, unit: Unit, log: Path, extra_env: Optional[dict] = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        # Every request made, for the access-log check: (method, route template, status).
        self.requests: list[tuple[str, str, int]] = []
        env = unit.env({"GATEHOUSE_LISTEN": f"127.0.0.1:{self.port}",
                        "GATEHOUSE_LOG_FORMAT": "json", **(extra_env or {})})
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(unit.as_service(unit.exec_start), env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         preexec_fn=lambda: os.umask(unit.umask),
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            check(self.proc.poll() is None,
                  f"gatehouse serve exited {self.proc.returncode}:\n{log.read_text()}")
            try:
                with HTTP.open(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            check(time.monotonic() < deadline, f"not ready in 30 s:\n{log.read_text()}")
            time.sleep(0.1)

    def call(self, method: str, path: str, route: str, expect: int,
             token: Optional[str] = None, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with HTTP.open(request, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        self.requests.append((method, route, status))
        check(status == expect, f"{method} {path}: {status}, expected {expect}: {text}")
        return json.loads(text) if text.strip().startswith("{") else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                fail("gatehouse serve did not stop within 30 s of SIGTERM")


def totp(secret_b32: str, step_number: int) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits) for one 30-second step."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step_number), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def owned_by_service_and_private(path: Path) -> None:
    uid = pwd.getpwnam(USER).pw_uid
    for p in [path, *path.rglob("*")]:
        st = p.lstat()
        check(st.st_uid == uid, f"{p} belongs to uid {st.st_uid}, not {USER}")
        check(st.st_mode & 0o077 == 0, f"{p} is open to others: {oct(st.st_mode)}")


def access_lines(log: Path) -> list[dict]:
    lines = []
    for n, raw in enumerate(log.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            fail(f"{log} line {n} is not JSON: {raw!r}")
    return [line for line in lines if line.get("target") == "gatehouse::access"]


def check_access_log(server: Server, secrets_used: list[str]) -> None:
    lines = access_lines(server.log)
    seen = collections.Counter()
    for line in lines:
        span = line.get("span", {})
        check(span.get("client") == "127.0.0.1", f"access line without the client: {line}")
        check(isinstance(span.get("route"), str), f"access line without the route: {line}")
        seen[(span.get("method"), span["route"], line.get("status"))] += 1
    made = collections.Counter(server.requests)
    check(seen == made, f"access lines {dict(seen)} differ from the requests made {dict(made)}")
    text = server.log.read_text()
    for secret in secrets_used:
        check(secret not in text, f"a secret of this run is in {server.log}")
    step(f"{server.log.name}: {len(lines)} access lines for {len(server.requests)} requests, "
         f"route and client on each, none of {len(secrets_used)} secrets")


def backup_and_restore(unit: Unit, server: Server, token: str, totp_user: str,
                       totp_password: str, totp_secret: str, used_step: int,
                       secrets_used: list[str]) -> None:
    """While `server` serves, a backup as the service user; restored into a new data
    directory; a second server on it answers the same token and signs `totp_user` in with a
    TOTP code (the sealed secret came back with its key)."""
    import pwd
    service = pwd.getpwnam(unit.user)
    place = Path(tempfile.mkdtemp(prefix="gatehouse-restore-"))
    os.chown(place, service.pw_uid, service.pw_gid)
    os.chmod(place, 0o700)
    try:
        backup = place / "gatehouse.backup"
        unit.cli("backup", "--output", str(backup))
        mode = backup.stat().st_mode & 0o777
        check(mode == 0o600 and backup.stat().st_uid == service.pw_uid,
              f"the backup is {oct(mode)}, owner {backup.stat().st_uid}")
        step(f"backup taken while serving: {backup.stat().st_size} bytes, 0600, {unit.user}'s")
        restored = place / "restored"
        unit.cli("restore", str(backup), "--data-dir", str(restored))
        owned_by_service_and_private(restored)
        again = Server(unit, place / "restored.json.log",
                       {"GATEHOUSE_DATA_DIR": str(restored)})
        try:
            me = again.call("GET", "/auth/v1/me", "/auth/v1/me", 200, token=token)
            check(me.get("username") == "alice", f"the restored server answered {me}")
            # A step later than any code used before the backup (each is accepted once).
            while int(time.time()) // 30 < used_step:
                time.sleep(0.5)
            login = {"login": totp_user, "password": totp_password}
            challenge = again.call("POST", "/auth/v1/login", "/auth/v1/login", 202, body=login)
            signed_in = again.call("POST", "/auth/v1/login/second-factor",
                                   "/auth/v1/login/second-factor", 200,
                                   body={"challenge": challenge["challenge"],
                                         "code": totp(totp_secret, int(time.time()) // 30 + 1)})
            secrets_used += [challenge["challenge"], signed_in["token"]]
        finally:
            again.stop()
        check_access_log(again, secrets_used)
        step("restored into a new data directory: the same token and TOTP sign-in work")
    finally:
        subprocess.run(["rm", "-rf", str(place)], check=False)


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: drill.py PACKAGE.deb")
    deb = sys.argv[1]
    work = Path(tempfile.mkdtemp(prefix="gatehouse-package-"))
    os.chmod(work, 0o700)
    server: Optional[Server] = None
    try:
        step(f"dpkg -i {deb}")
        must(["dpkg", "-i", deb])
        out = run(["systemd-analyze", "verify", str(UNIT)])
        check(out.returncode == 0 and not (out.stdout + out.stderr).strip(),
              f"systemd-analyze verify {UNIT}: {out.returncode}\n{out.stdout}{out.stderr}")
        step("systemd-analyze verify: no complaint")
        # The sandbox stays tight: systemd's own exposure score (0 to 10, shown; the threshold
        # is on its 0 to 100 scale) must stay at 2.5 or below; the unit scores 1.5.
        out = run(["systemd-analyze", "security", "--offline=true", "--threshold=25", str(UNIT)])
        score = (out.stdout.strip().splitlines() or ["?"])[-1]
        check(out.returncode == 0, f"the unit's sandbox loosened: {score}\n{out.stdout}")
        step(f"systemd-analyze security: {score.lstrip('→ ').strip()}")
        entry = pwd.getpwnam(USER)
        check(entry.pw_uid < 1000 and entry.pw_shell.endswith("nologin"),
              f"{USER} is not a system user: {entry}")
        st = CONFIG.stat()
        check(oct(st.st_mode & 0o777) == "0o640" and st.st_uid == 0
              and st.st_gid == entry.pw_gid,
              f"{CONFIG}: mode {oct(st.st_mode)}, owner {st.st_uid}:{st.st_gid}")
        owned_by_service_and_private(DATA)
        unit = Unit(UNIT)

        # Root running an operator command on the service's data is told what to do instead.
        res = run([BIN, "--data-dir", str(DATA), "token", "list", "--user", "nobody"])
        check(res.returncode != 0 and f"sudo -u {USER} gatehouse" in res.stderr,
              f"root on {DATA}: exit {res.returncode}: {res.stderr}")
        owned_by_service_and_private(DATA)
        step("root is refused on the service's data directory, told to use sudo -u gatehouse")

        server = Server(unit, work / "serve.json.log")
        step(f"serving as {unit.user} on {server.base}, JSON log in {server.log}")

        alice_password = "drill-" + secrets.token_hex(12)
        unit.cli("user", "create", "--username", "alice", "--email", "alice@example.com",
                 "--password-stdin", stdin=alice_password + "\n")
        token = unit.cli("token", "create", "--user", "alice", "--name", "drill")
        check(token.startswith("gh_"), f"token create printed {token!r}")
        me = server.call("GET", "/auth/v1/me", "/auth/v1/me", 200, token=token)
        check(me.get("username") == "alice", f"/auth/v1/me answered {me}")
        step("user and token made with the installed CLI; /auth/v1/me answers with the token")

        bob_password = "drill-" + secrets.token_hex(12)
        unit.cli("user", "create", "--username", "bob", "--email", "bob@example.com",
                 "--password-stdin", stdin=bob_password + "\n")
        login = {"login": "bob", "password": bob_password}
        session = server.call("POST", "/auth/v1/login", "/auth/v1/login", 200, body=login)
        enrolment = server.call("POST", "/auth/v1/me/second-factor", "/auth/v1/me/second-factor",
                                200, token=session["token"])
        totp_secret = enrolment["secret"]
        confirmed_step = int(time.time()) // 30
        recovery = server.call("POST", "/auth/v1/me/second-factor/confirm",
                               "/auth/v1/me/second-factor/confirm", 200,
                               token=session["token"],
                               body={"code": totp(totp_secret, confirmed_step)})
        challenge = server.call("POST", "/auth/v1/login", "/auth/v1/login", 202, body=login)
        # A later step than the one confirmed (a code is accepted once; the window allows one
        # step ahead), so no waiting for the clock.
        signed_in = server.call("POST", "/auth/v1/login/second-factor",
                                "/auth/v1/login/second-factor", 200,
                                body={"challenge": challenge["challenge"],
                                      "code": totp(totp_secret, int(time.time()) // 30 + 1)})
        me = server.call("GET", "/auth/v1/me", "/auth/v1/me", 200, token=signed_in["token"])
        check(me.get("username") == "bob", f"/auth/v1/me answered {me}")
        step("TOTP enrolled through the native API; signed in with password and code")

        secrets_used = [token, alice_password, bob_password, totp_secret, session["token"],
                        challenge["challenge"], signed_in["token"],
                        *recovery.get("recovery_codes", [])]
        backup_and_restore(unit, server, token, "bob", bob_password, totp_secret,
                           confirmed_step + 1, secrets_used)

        server.stop()
        owned_by_service_and_private(DATA)
        check_access_log(server, secrets_used)
        server = None

        step("dpkg -i again (an upgrade): the data stays")
        config_before = CONFIG.read_bytes()
        must(["dpkg", "-i", deb])
        check(CONFIG.read_bytes() == config_before, "the upgrade changed the config file")
        check(oct(CONFIG.stat().st_mode & 0o777) == "0o640", "config mode after the upgrade")
        server = Server(unit, work / "upgraded.json.log")
        server.call("GET", "/auth/v1/me", "/auth/v1/me", 200, token=token)
        server.stop()
        check_access_log(server, secrets_used)
        server = None

        step("dpkg -r: the binary goes, data, config and user stay")
        must(["dpkg", "-r", "gatehouse"])
        check(not Path(BIN).exists(), f"{BIN} is still there after remove")
        check(CONFIG.exists() and (DATA / "gatehouse.db").exists(),
              "remove deleted the config or the database")
        pwd.getpwnam(USER)

        step("dpkg --purge: config, data and user go")
        must(["dpkg", "--purge", "gatehouse"])
        check(not CONFIG.parent.exists(), f"{CONFIG.parent} survived the purge")
        check(not DATA.exists(), f"{DATA} survived the purge")
        try:
            pwd.getpwnam(USER)
            fail(f"the user {USER} survived the purge")
        except KeyError:
            pass
        status = run(["dpkg-query", "-W", "-f=${Status}", "gatehouse"])
        check(status.returncode != 0 or "not-installed" in status.stdout,
              f"dpkg still knows the package: {status.stdout}")
        step("package drill passed")
        shutil.rmtree(work)
    finally:
        if server is not None:
            server.stop()
            print(f"--- {server.log} ---\n{server.log.read_text()[-6000:]}", file=sys.stderr)


if __name__ == "__main__":
    main()
