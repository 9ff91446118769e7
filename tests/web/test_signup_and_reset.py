"""A new user's way in: sign-up, e-mail verification (by the link and by the code), sign-in,
an API token made on the tokens page and used against the API; and a forgotten password reset
by the e-mailed code and by the e-mailed link."""

from __future__ import annotations

import re

import requests
from selenium.webdriver.support.ui import Select

from conftest import PASSWORD, unique

TOKEN_RE = re.compile(r"^gh_[0-9A-Za-z]+$")


def sign_up(b, username: str, address: str, name: str = "Web Tester") -> None:
    b.fill("#username", username)
    b.fill("#email", address)
    b.fill("#name", name)
    b.fill("#password", PASSWORD)
    b.submit("#signup")
    b.wait_path("/verify")
    assert "login=" in b.query, f"/signup went to {b.driver.current_url}, not /verify?login=..."


def test_new_user_signs_up_verifies_by_link_signs_in_and_uses_a_token(server, browser):
    b = browser
    username = unique("web")
    address = f"{username}@example.com"

    b.open("/signin")
    b.el("#signin")
    b.shot("signin")

    b.open("/signup")
    b.el("#signup")
    b.shot("signup")
    seen = server.mail_names()
    sign_up(b, username, address)
    b.shot("verify")

    _code, link = server.wait_mail(address, "/verify-email", seen)
    b.open(link)
    b.el("#confirm")
    b.shot("verify-email")
    b.submit("#confirm")
    b.wait_path("/signin")
    assert b.text("p#note"), "no note after confirming the address"
    assert not b.has("#form-error"), b.text("#form-error")

    b.signin(username, PASSWORD)
    b.wait_path("/account")
    assert username in b.body_text(), "/account does not show the username"
    b.el("form#profile-form")
    b.shot("account")

    b.open("/account/tokens")
    b.fill("#token-name", "web-suite")
    expiry = Select(b.el("select#token-expiry"))
    assert expiry.options, "#token-expiry offers no choice"
    b.submit("#create-token")
    token = b.text("code#new-token")
    assert TOKEN_RE.match(token), f"code#new-token shows {token!r}, not a gh_ token"
    assert b.has("#copy-token")
    names = [td.text.strip() for td in b.els("table#tokens tr.token td.token-name")]
    assert "web-suite" in names, f"table#tokens lists {names}"
    b.shot("tokens")

    r = requests.get(server.url("/auth/v1/me"), headers={"Authorization": f"Bearer {token}"},
                     timeout=30)
    assert r.status_code == 200, f"GET /auth/v1/me with the new token: {r.status_code} {r.text}"
    assert r.json().get("username") == username, r.json()

    b.open("/account/sessions")
    assert b.els("table#sessions tr.session"), "table#sessions lists no session"
    b.shot("sessions")

    b.open("/account/password")
    b.el("#change-password")
    b.shot("password")


def test_new_user_verifies_by_code(server, browser):
    b = browser
    username = unique("code")
    address = f"{username}@example.com"
    b.open("/signup")
    seen = server.mail_names()
    sign_up(b, username, address)
    code, _link = server.wait_mail(address, "/verify-email", seen)
    login = b.el("#login").get_attribute("value")
    assert login in (username, address), f"/verify did not keep the login: {login!r}"
    b.fill("#code", code)
    b.submit("#verify")
    assert not b.has("p.error"), [e.text for e in b.els("p.error")]
    b.signin(username, PASSWORD)
    b.wait_path("/account")
    assert username in b.body_text()


def test_password_reset_by_code_and_by_link(server, browser):
    b = browser
    username = unique("reset")
    address = f"{username}@example.com"
    server.create_user(username, address)
    first, second = "a brand new passphrase", "and yet another passphrase"

    # Reset by the code typed on /reset.
    b.open("/forgot")
    b.el("#send-reset")
    b.shot("forgot")
    seen = server.mail_names()
    b.fill("#login", address)
    b.submit("#send-reset")
    b.wait_path("/reset")
    assert "login=" in b.query, f"/forgot went to {b.driver.current_url}, not /reset?login=..."
    code, _link = server.wait_mail(address, "/reset-password", seen)
    if not b.el("#login").get_attribute("value"):
        b.fill("#login", address)
    b.fill("#code", code)
    b.fill("#new_password", first)
    b.shot("reset")
    b.submit("#reset")
    assert not b.has("p.error"), [e.text for e in b.els("p.error")]

    b.signin(username, first)
    b.wait_path("/account")
    b.signout()

    b.signin(username, PASSWORD)
    assert b.path != "/account", "the old password still signs in"
    assert b.text("p#password-error"), "no error next to the password field"

    # Reset by the e-mailed link.
    b.open("/forgot")
    seen = server.mail_names()
    b.fill("#login", username)
    b.submit("#send-reset")
    _code, link = server.wait_mail(address, "/reset-password", seen)
    b.open(link)
    b.fill("#new_password", second)
    b.shot("reset-link")
    b.submit("#reset")
    assert not b.has("p.error"), [e.text for e in b.els("p.error")]
    b.signin(username, second)
    b.wait_path("/account")
