"""The published command line (`cloudsmith-cli` 1.30.0) against a real Gatehouse process:
`whoami` (plain, verbose, JSON), `tokens list|create|refresh`, and `login` with and without
a second factor answered at its prompt (on a terminal, through pexpect).
"""

from __future__ import annotations

import configparser
import json
import re

import pexpect

from conftest import PASSWORD, current_step, strip_ansi, wrong_code

KEY_RE = re.compile(r"gh_[0-9A-Za-z]{38}")


def keys_in(text: str) -> list[str]:
    return KEY_RE.findall(text)


# --------------------------------------------------------------------- whoami


def test_whoami_with_a_key(cli, account):
    res = cli.run("whoami", key=account.key)
    assert res.code == 0, res
    assert "You are authenticated as:" in res.out
    assert f"User: {account.username} (slug: {account.username}, email: {account.email})" \
        in res.out


def test_whoami_as_json_and_on_the_bare_origin(cli, server, account):
    for host in (server.host, server.base_url):
        res = cli.run("whoami", "-F", "json", key=account.key, host=host)
        assert res.code == 0, res
        data = json.loads(res.out)["data"]
        assert data == {"is_authenticated": True, "username": account.username,
                        "email": account.email, "name": account.username}


def test_whoami_anonymous_exits_1(cli):
    res = cli.run("whoami")
    assert res.code == 1, res
    assert "Nobody (i.e. anonymous user)" in res.out


def test_whoami_with_a_bad_key_fails_with_the_detail(cli):
    res = cli.run("whoami", key="gh_not_a_real_key")
    assert res.code != 0, res
    assert "401" in res.out + res.err
    assert "Invalid API key" in res.out + res.err


def test_whoami_verbose_shows_the_first_token(cli, server, account):
    res = cli.run("whoami", "-v", key=account.key)
    assert res.code == 0, res
    assert "Authentication Method: API Key" in res.out
    slug = server.native("GET", "/auth/v1/tokens", account.key).json()["tokens"][0]["id"].replace("-", "")
    assert f"Token Slug: {slug}" in res.out
    assert re.search(r"Created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", res.out), res.out


# --------------------------------------------------------------------- tokens


def test_tokens_list(cli, account):
    res = cli.run("tokens", "list", key=account.key)
    assert res.code == 0, res
    assert "OK" in res.out
    lines = [line for line in res.out.splitlines() if line.startswith("Token: ")]
    assert len(lines) == 1
    assert "..." in lines[0] and account.key not in lines[0]
    assert re.search(r"slug_perm: [0-9a-f]{32}$", lines[0]), lines[0]


def test_tokens_create_then_create_again_refreshes_with_force(cli, server, account):
    first = cli.run("tokens", "create", "--force", key=account.key)
    assert first.code == 0, first
    [created] = keys_in(first.out)
    assert server.native("GET", "/auth/v1/me", created).status_code == 200

    # The user already has a key: with --force the CLI lists the tokens and refreshes the
    # first, which is the one it created.
    again = cli.run("tokens", "create", "--force", key=account.key)
    assert again.code == 0, again
    assert "first available" in again.out
    refreshed = keys_in(again.out)[-1]
    assert refreshed != created
    assert server.native("GET", "/auth/v1/me", created).status_code == 401
    assert server.native("GET", "/auth/v1/me", refreshed).status_code == 200
    assert server.native("GET", "/auth/v1/me", account.key).status_code == 200


def test_tokens_refresh_force_and_by_slug(cli, server, account):
    res = cli.run("tokens", "refresh", "--force", key=account.key)
    assert res.code == 0, res
    assert "first available" in res.out
    new_key = keys_in(res.out)[-1]
    assert server.native("GET", "/auth/v1/me", account.key).status_code == 401
    whoami = cli.run("whoami", key=new_key)
    assert whoami.code == 0, whoami

    slug = re.search(r"Using token ([0-9a-f]{32})", res.out).group(1)
    again = cli.run("tokens", "refresh", slug, "--force", key=new_key)
    assert again.code == 0, again
    newer = keys_in(again.out)[-1]
    assert newer != new_key
    assert cli.run("whoami", key=newer).code == 0


def test_tokens_create_without_force_answers_the_prompt(cli, server, account):
    assert cli.run("tokens", "create", "--force", key=account.key).code == 0
    # Asked whether to recreate the key, then which slug to refresh: answered on stdin.
    listed = cli.run("tokens", "list", key=account.key)
    slug = re.search(r"slug_perm: ([0-9a-f]{32})", listed.out).group(1)
    res = cli.run("tokens", "create", key=account.key, stdin=f"y\n{slug}\n")
    assert res.code == 0, res
    assert "Would you like to recreate it?" in res.out + res.err
    assert keys_in(res.out)


# --------------------------------------------------------------------- login


def test_login_without_two_factor_writes_the_config(cli, server, account):
    child = cli.spawn("login", "-l", account.email, "-p", PASSWORD)
    child.expect("Your API key/token is: ")
    child.expect(KEY_RE.pattern)
    key = child.after
    child.expect(r"do you want to create them\?")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, strip_ansi(child.before or "")

    assert server.native("GET", "/auth/v1/me", key).status_code == 200
    credentials = cli.credentials_file()
    assert credentials is not None, list(cli.home.rglob("*"))
    parser = configparser.ConfigParser()
    parser.read(credentials)
    assert parser["default"]["api_key"] == key
    # The stored key is what the next command uses (no CLOUDSMITH_API_KEY now).
    res = cli.run("whoami")
    assert res.code == 0, res
    assert f"slug: {account.username}" in res.out


def test_login_prompts_for_the_login_and_password(cli, server, account):
    child = cli.spawn("login")
    child.expect("Login: ")
    child.sendline(account.username)
    child.expect("Password: ")
    child.sendline(PASSWORD)
    child.expect("Repeat for confirmation: ")
    child.sendline(PASSWORD)
    child.expect("Your API key/token is: ")
    child.expect(KEY_RE.pattern)
    key = child.after
    child.expect(r"do you want to create them\?")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert server.native("GET", "/auth/v1/me", key).status_code == 200
    assert cli.credentials_file() is None


def test_login_with_a_wrong_password_fails(cli, account):
    res = cli.run("login", "-l", account.email, "-p", "wrong password")
    # The CLI exits with the HTTP status (401, so 145) and shows the detail.
    assert res.code == 401 % 256, res
    assert "status: 401" in res.out, res
    assert "Detail: Invalid email/password." in res.out, res


def test_login_with_two_factor_answered_at_the_prompt(cli, server, totp_account):
    acct = totp_account
    child = cli.spawn("login", "-l", acct.email, "-p", PASSWORD)
    child.expect("Two-factor authentication is required.")
    child.expect("Enter your two-factor authentication code: ")
    child.sendline(acct.code())
    child.expect("Your API key/token is: ")
    child.expect(KEY_RE.pattern)
    key = child.after
    child.expect(r"do you want to create them\?")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, strip_ansi(child.before or "")
    assert server.native("GET", "/auth/v1/me", key).status_code == 200
    res = cli.run("whoami", "-F", "json")
    assert res.code == 0, res
    assert json.loads(res.out)["data"]["username"] == acct.username


def test_login_with_a_wrong_two_factor_code_fails(cli, server, totp_account):
    acct = totp_account
    child = cli.spawn("login", "-l", acct.username, "-p", PASSWORD)
    child.expect("Enter your two-factor authentication code: ")
    child.sendline(wrong_code(acct.code()))
    # 1.30.0's own "The entered TOTP token is not valid." is unreachable (its inner error
    # handler exits first): it prints the status, the detail and the field, and exits with
    # the status (400, so 144).
    child.expect(r"status: 400")
    child.expect("Detail: Invalid two-factor code.")
    child.expect("wrong or already used")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 400 % 256
    # Nothing was issued: the user still has only the key the suite made.
    assert len(server.native("GET", "/auth/v1/tokens", acct.key).json()["tokens"]) == 1


def test_login_with_a_replayed_two_factor_code_fails(cli, server, totp_account):
    acct = totp_account
    step = current_step()
    # The code for this step is spent by a first login (through stdin this time)...
    first = cli.run("login", "-l", acct.email, "-p", PASSWORD, stdin=f"{acct.code(step)}\nn\n")
    assert first.code == 0, first
    assert keys_in(first.out)
    # ... so the same code is refused on the next attempt.
    again = cli.run("login", "-l", acct.email, "-p", PASSWORD, stdin=f"{acct.code(step)}\nn\n")
    assert again.code == 400 % 256, again
    assert "Detail: Invalid two-factor code." in again.out, again
    assert not keys_in(again.out)
