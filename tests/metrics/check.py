#!/usr/bin/env python3
"""Starts GATEHOUSE_BIN serve with /metrics on a separate address, makes some traffic (the CLI
makes a user and a token; a token call, a failed and a good sign-in, a sign-up that queues mail),
then runs `promtool check metrics` (argv[1]) on the plain text answer and checks every family
the operations guide documents is there, and that OpenMetrics is served to those who ask.
Standard library only; tests/metrics/run.sh calls it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
FAMILIES = [
    "http_requests_total",
    "http_request_duration_seconds",
    "gatehouse_sign_ins_total",
    "gatehouse_token_cache_hits_total",
    "gatehouse_token_cache_misses_total",
    "gatehouse_password_hash_queue_length",
    "gatehouse_password_hash_busy_threads",
    "gatehouse_password_hash_threads",
    "gatehouse_outbox_messages",
    "gatehouse_outbox_oldest_queued_age_seconds",
    "gatehouse_mail_delivery_failures_total",
    "gatehouse_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
]


def fail(text: str) -> None:
    print(f"check.py: FAILED: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, token: str | None = None,
         accept: str | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if accept:
        request.add_header("accept", accept)
    try:
        with HTTP.open(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main() -> None:
    promtool = sys.argv[1]
    binary = os.environ["GATEHOUSE_BIN"]
    work = Path(tempfile.mkdtemp(prefix="gatehouse-metrics-"))
    data = work / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    port, metrics_port = free_port(), free_port()
    base, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    log = work / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
             "--metrics-listen", f"127.0.0.1:{metrics_port}"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                fail(f"gatehouse serve did not start:\n{log.read_text()}")
            time.sleep(0.1)

        def cli(*args: str, stdin: str = "") -> str:
            res = subprocess.run([binary, *args, "--data-dir", str(data)], input=stdin,
                                 capture_output=True, text=True, env=env, timeout=60)
            if res.returncode != 0:
                fail(f"gatehouse {' '.join(args)}: {res.stderr}")
            return res.stdout.strip()

        password = "metrics-drill-password-9f3k"
        cli("user", "create", "--username", "carol", "--email", "carol@example.com",
            "--password-stdin", stdin=password + "\n")
        token = cli("token", "create", "--user", "carol")
        for _ in range(2):
            assert call(base + "/auth/v1/me", token=token)[0] == 200
        assert call(base + "/auth/v1/login", {"login": "carol", "password": "wrong"})[0] == 401
        assert call(base + "/auth/v1/login", {"login": "carol", "password": password})[0] == 200
        status, text = call(base + "/auth/v1/signup", {"username": "dave",
                                                       "email": "dave@example.com",
                                                       "password": password + "-dave"})
        if status >= 300:
            fail(f"sign-up answered {status}: {text}")

        status, text = call(metrics)
        if status != 200:
            fail(f"/metrics answered {status}: {text}")
        checked = subprocess.run([promtool, "check", "metrics"], input=text,
                                 capture_output=True, text=True, timeout=60)
        if checked.returncode != 0 or checked.stdout.strip() or checked.stderr.strip():
            fail(f"promtool check metrics ({checked.returncode}):\n{checked.stdout}"
                 f"{checked.stderr}\n--- the exposition ---\n{text}")
        missing = [f for f in FAMILIES if f"# TYPE {f} " not in text]
        if missing:
            fail(f"families missing from /metrics: {missing}\n{text}")
        for sample in ['gatehouse_sign_ins_total{outcome="success"} 1',
                       'gatehouse_sign_ins_total{outcome="failure"} 1',
                       'http_requests_total{method="GET",route="/auth/v1/me",status="200"} 2']:
            if sample not in text:
                fail(f"{sample!r} not in /metrics:\n{text}")
        if token in text or password in text:
            fail("a secret is in /metrics")
        status, open_metrics = call(metrics, accept="application/openmetrics-text")
        if status != 200 or not open_metrics.rstrip().endswith("# EOF"):
            fail(f"OpenMetrics answer {status}: {open_metrics[-300:]}")
        print(f"promtool check metrics: clean; {len(FAMILIES)} families present")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    subprocess.run(["rm", "-rf", str(work)], check=False)


def ready(base: str) -> bool:
    try:
        return call(base + "/healthz")[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
